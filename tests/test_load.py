"""A short but real concurrent run of `bench.load` against the running app: several gradio_client clients at once,
good and bad files mixed. `python -m bench.load` (via `make bench`) does the full 20 x 10 and writes reports/load.json;
this run writes no report (its numbers would be a short run's) and checks correctness, not speed."""

from __future__ import annotations

from bench.load import BAD_EVERY, run_load

CLIENTS = 5
REQUESTS = 4


def test_concurrent_clients_get_every_good_answer_and_every_bad_sentence(app_server, tmp_path):
    report = run_load(app_server, tmp_path, clients=CLIENTS, requests=REQUESTS)
    assert report["failures"] == []
    good, bad = report["good"], report["bad"]
    assert report["requests"] == good["n"] + bad["n"] == CLIENTS * REQUESTS
    assert bad["n"] >= CLIENTS * REQUESTS // BAD_EVERY - 1 and good["n"] > bad["n"]  # both kinds really were sent
    assert good["failures"] == 0
    assert bad["answered_with_their_sentence"] == bad["n"]
    assert report["server_alive"]
    for summary in (good["latency_ms"], bad["latency_ms"], report["latency_ms"]):
        assert 0 < summary["p50"] <= summary["p95"] <= summary["max"]
    assert report["rss_mb"]["peak"] >= report["rss_mb"]["before"] > 0
