"""Benchmark of the running app: time to ready, analysis time of a 4-s clip, memory after many requests.

    python -m bench.app            # -> reports/bench_app.json

Starts `python app.py` on a free loopback port (like a user would; `bench.load.running_app`), then talks to it only
through gradio_client.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.load import new_client, running_app
from ser import settings
from ser.audio.load import SAMPLE_RATE, load_audio, pad_or_trim
from ser.evaluation.metrics import write_report

CLIP = "ravdess/Actor_01/03-01-05-02-01-01-01.flac"  # a real 4.1-s clip, cut to exactly CLIP_S
CLIP_S = 4.0
TIMED_REQUESTS = 20
WARM_UP_REQUESTS = 3  # first calls pay for lazy imports and caches; a user's first click after warm-up does not
RSS_AFTER_REQUESTS = 50
TARGETS = {"analysis_ms_median": 300, "ready_s": 15, "rss_mb": 1500}
STATUS_TIME = re.compile(r"analysed in ([0-9.]+) (ms|s)\b")  # the app's status line: server time of one analysis


def four_second_clip(folder: Path) -> Path:
    wave = pad_or_trim(load_audio(settings.data_dir() / CLIP), int(CLIP_S * SAMPLE_RATE))
    path = folder / "clip4s.wav"
    sf.write(path, wave, SAMPLE_RATE, subtype="PCM_16")
    return path


def analyse_once(client, clip) -> tuple[float, float]:
    """(server analysis seconds from the status line, client round-trip seconds) of one press of Analyse
    with the default model (no model chosen: the app uses `SER_MODEL` or the shipped default)."""
    from gradio_client import handle_file

    start = time.perf_counter()
    # audio, model, Hub id, merge calm/neutral, guess first (the reference is session state, filled by the app)
    outputs = client.predict(handle_file(str(clip)), None, "", False, False, api_name="/analyse")
    round_trip = time.perf_counter() - start
    status = next(o for o in outputs if isinstance(o, str) and "analysed in" in o)
    value, unit = STATUS_TIME.search(status).groups()
    return float(value) / (1000 if unit == "ms" else 1), round_trip


def summary_ms(values: list[float]) -> dict:
    ms = np.asarray(values) * 1000
    return {"median": round(float(np.median(ms)), 1), "p90": round(float(np.percentile(ms, 90)), 1),
            "min": round(float(ms.min()), 1), "max": round(float(ms.max()), 1), "n": int(ms.size)}


def run(timed: int, total: int) -> dict:
    model = settings.default_model()
    with tempfile.TemporaryDirectory() as tmp:
        clip = four_second_clip(Path(tmp))
        start = time.monotonic()
        with running_app(Path(tmp) / "app") as server:
            ready_s = time.monotonic() - start
            client = new_client(server.url)
            start = time.perf_counter()
            analyse_once(client, clip)  # the first request waits for the model if warm-up has not finished
            first_request_s = time.perf_counter() - start
            for _ in range(WARM_UP_REQUESTS - 1):
                analyse_once(client, clip)
            timings = [analyse_once(client, clip) for _ in range(timed)]
            for _ in range(max(0, total - timed - WARM_UP_REQUESTS)):
                analyse_once(client, clip)
            rss_mb = server.rss_bytes() / 1e6
    analysis = summary_ms([t[0] for t in timings])
    result = {
        "model": model,
        "clip_seconds": CLIP_S,
        "concurrency": 1,
        "ready_s": round(ready_s, 2),
        "first_request_s": round(first_request_s, 2),
        "analysis_ms": analysis,
        "round_trip_ms": summary_ms([t[1] for t in timings]),
        "requests_before_rss": max(total, timed + WARM_UP_REQUESTS),
        "rss_mb": round(rss_mb, 1),
        "targets": TARGETS,
    }
    result["meets_targets"] = {
        "analysis_ms_median": analysis["median"] <= TARGETS["analysis_ms_median"],
        "ready_s": ready_s <= TARGETS["ready_s"],
        "rss_mb": rss_mb <= TARGETS["rss_mb"],
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=TIMED_REQUESTS, help="timed Analyse requests (median reported)")
    parser.add_argument("--total", type=int, default=RSS_AFTER_REQUESTS, help="requests before the server's memory is read")
    args = parser.parse_args()
    result = run(args.requests, args.total)
    notes = ("analysis_ms: server time of one Analyse press on a 4-s clip (decode, model, all five figures), from the app's status "
             "line; round_trip_ms adds upload, queueing, JSON serialisation of the figures and download, seen by gradio_client on "
             "the same machine. ready_s: from starting `python app.py` to its first HTTP 200 (the model loads in the background; "
             "first_request_s shows what the first request waited). rss_mb: resident memory of the server after the requests.")
    path = write_report({"app": result, "notes": notes}, name="bench_app.json",
                        command="python -m bench.app " + " ".join(sys.argv[1:]))
    print(f"{path}: analysis median {result['analysis_ms']['median']} ms, round trip median {result['round_trip_ms']['median']} ms, "
          f"ready {result['ready_s']} s, first request {result['first_request_s']} s, RSS {result['rss_mb']} MB")


if __name__ == "__main__":
    main()
