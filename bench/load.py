"""Concurrent load on the running app: many gradio_client clients at once, good and bad files mixed.

    python -m bench.load                              # 20 clients x 10 requests -> reports/load.json
    python -m bench.load --clients 5 --requests 4     # a short run (what `make test` does, without writing the report)

Starts `python app.py` on 127.0.0.1 with its own GRADIO_TEMP_DIR, warms it up with one request, then every client
sends its requests one after another while all clients run at once. About one request in three is a bad file
(text named .wav, a 10-ms blip, silence, NaN samples): each must come back as the loader's own sentence, and no good
request may fail. Reported: latency percentiles of good and bad requests (upload + queue + analysis, as a client
sees it) and the server's resident memory (children included) before, at its peak (sampled every 0.1 s) and after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import psutil
import soundfile as sf

from ser import settings
from ser.audio.load import SAMPLE_RATE, AudioError, load_audio
from ser.evaluation.metrics import write_report

CLIENTS = 20
REQUESTS = 10
BAD_EVERY = 3  # one request in three sends a bad file
READY_TIMEOUT_S = 180
STOP_TIMEOUT_S = 20
RSS_SAMPLE_S = 0.1
SETTLE_S = 8.0  # after the run, before "after" is read: the app hands freed memory back every 5 s (ser/memory.py)
REPORT = "load.json"
# real clips of different actors, emotions and lengths (2.9-4.3 s): the good requests
GOOD_CLIPS = (
    "ravdess/Actor_01/03-01-05-02-01-01-01.flac",
    "ravdess/Actor_02/03-01-03-01-02-01-02.flac",
    "ravdess/Actor_11/03-01-04-02-02-02-11.flac",
    "ravdess/Actor_20/03-01-06-01-01-02-20.flac",
    "tess/OAF_back_angry.flac",
)


# --- the app in a subprocess ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    """A running `python app.py`: where it answers, where it keeps uploads, and the environment it was given."""

    proc: subprocess.Popen
    url: str
    temp_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_bytes(self) -> int:
        """Resident memory of the server and any children (ffmpeg decodes)."""
        try:
            server = psutil.Process(self.proc.pid)
            return sum(p.memory_info().rss for p in [server, *server.children(recursive=True)])
        except psutil.Error:
            return 0

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]


@contextlib.contextmanager
def running_app(folder: Path, script: str | Path = "app.py", **env: str) -> Iterator[AppServer]:
    """Start the app (`script`, run from the project root) on a free loopback port with GRADIO_TEMP_DIR under `folder`
    and `env` added to the environment; stop it afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    temp_dir = folder / "gradio-tmp"
    settings_env = {"GRADIO_TEMP_DIR": str(temp_dir), "HF_HUB_OFFLINE": "1", **env}
    full_env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
                "GRADIO_ANALYTICS_ENABLED": "False", **settings_env}
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(script)], cwd=settings.PROJECT_ROOT, env=full_env, stdout=log,
                                stderr=subprocess.STDOUT)
    server = AppServer(proc, f"http://127.0.0.1:{port}/", temp_dir, log_path, settings_env)
    try:
        _wait_ready(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(server: AppServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"the app exited with code {server.proc.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(server.url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # bench.app reports the time to ready
    raise RuntimeError(f"the app did not answer within {READY_TIMEOUT_S} s:\n{server.log_tail()}")


def new_client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, analytics_enabled=False, download_files=False)


# --- the files -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: Path
    expected_error: str | None  # the loader's sentence for a bad file, None for a good one


def write_files(folder: Path) -> tuple[list[Request], list[Request]]:
    """Good requests (real clips) and bad ones (generated here), each bad one with the sentence load_audio gives."""
    folder.mkdir(parents=True, exist_ok=True)
    good = []
    for name in GOOD_CLIPS:
        source = settings.data_dir() / name
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: the load run needs the shared corpora (set SER_DATA_DIR)")
        good.append(Request(source, None))
    rng = np.random.default_rng(0)
    speech = load_audio(good[0].path)
    nan = speech.copy()
    nan[len(nan) // 2] = np.nan
    bad_files = {"notes.wav": None, "blip.wav": (speech[: SAMPLE_RATE // 100], "PCM_16"),
                 "silence.wav": (np.zeros(2 * SAMPLE_RATE, dtype=np.float32), "PCM_16"), "nan.wav": (nan, "FLOAT")}
    bad = []
    for name, content in bad_files.items():
        path = folder / name
        if content is None:
            path.write_text("meeting notes, not audio\n" * int(rng.integers(5, 50)))
        else:
            sf.write(path, content[0], SAMPLE_RATE, subtype=content[1])
        bad.append(Request(path, loader_sentence(path)))
    return good, bad


def loader_sentence(path: Path) -> str:
    try:
        load_audio(path)
    except AudioError as err:
        return str(err)
    raise ValueError(f"{path} was meant to be refused by the loader, but it loads")


def plan(client: int, requests: int, good: list[Request], bad: list[Request]) -> list[Request]:
    """Client `client`'s requests: mostly good files, a bad one every BAD_EVERY-th (offset per client so they interleave)."""
    out = []
    for i in range(requests):
        k = client * requests + i
        out.append(bad[k // BAD_EVERY % len(bad)] if (client + i) % BAD_EVERY == BAD_EVERY - 1 else good[k % len(good)])
    return out


# --- the run -------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    client: int
    request: Request
    seconds: float
    ok: bool
    detail: str  # what came back: the top label, the sentence, or the failure


def ask(client, request: Request, labels: list[str]) -> tuple[bool, str]:
    """One /predict call, judged: a good file needs probabilities over `labels`; a bad one exactly its sentence."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    try:
        probs = client.predict(handle_file(str(request.path)), api_name="/predict")
    except AppError as err:
        return request.expected_error == str(err), str(err)
    except Exception as err:  # a failure of the server or the transport: never acceptable
        return False, f"{type(err).__name__}: {err}"
    if request.expected_error is not None:
        return False, f"answered {probs} instead of refusing"
    valid = isinstance(probs, dict) and sorted(probs) == sorted(labels) and abs(sum(probs.values()) - 1) < 1e-3
    return valid, max(probs, key=probs.get) if valid else f"not a probability per label: {probs}"


def _client_loop(index: int, url: str, requests: list[Request], labels: list[str], start: threading.Barrier,
                 outcomes: list[Outcome]) -> None:
    try:
        client = new_client(url)
    except Exception as err:
        start.wait()
        outcomes.extend(Outcome(index, r, 0.0, False, f"client could not connect: {type(err).__name__}: {err}") for r in requests)
        return
    start.wait()  # every client is connected: now they all send at once
    for request in requests:
        began = time.perf_counter()
        ok, detail = ask(client, request, labels)
        outcomes.append(Outcome(index, request, time.perf_counter() - began, ok, detail))


class PeakRSS:
    """Samples a server's resident memory in a thread; `peak` is the largest seen."""

    def __init__(self, server: AppServer):
        self.server, self.peak = server, server.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_S):
            self.peak = max(self.peak, self.server.rss_bytes())

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def percentiles_ms(seconds: list[float]) -> dict:
    if not seconds:
        return {"n": 0}
    ms = np.asarray(seconds) * 1000
    return {"n": int(ms.size), "p50": round(float(np.percentile(ms, 50)), 1), "p95": round(float(np.percentile(ms, 95)), 1),
            "max": round(float(ms.max()), 1)}


def default_labels() -> list[str]:
    from ser.models import resolve
    from ser.models.base import read_config

    return list(read_config(resolve(None))["labels"])


def run_load(server: AppServer, folder: Path, clients: int = CLIENTS, requests: int = REQUESTS) -> dict:
    """Warm the app up, run `clients` x `requests` at once, and summarise. Failures are listed, never raised."""
    good, bad = write_files(folder)
    labels = default_labels()
    ok, detail = ask(new_client(server.url), good[0], labels)  # the model is loaded before the clock starts
    if not ok:
        raise RuntimeError(f"the warm-up request failed: {detail}")
    rss_before = server.rss_bytes()
    outcomes: list[Outcome] = []
    start = threading.Barrier(clients)
    threads = [threading.Thread(target=_client_loop, args=(c, server.url, plan(c, requests, good, bad), labels, start, outcomes))
               for c in range(clients)]
    with PeakRSS(server) as rss:
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    time.sleep(SETTLE_S)
    rss_after = server.rss_bytes()
    goods = [o for o in outcomes if o.request.expected_error is None]
    bads = [o for o in outcomes if o.request.expected_error is not None]
    failures = [o for o in outcomes if not o.ok]
    return {
        "model": settings.default_model(),
        "clients": clients,
        "requests_per_client": requests,
        "requests": len(outcomes),
        "good": {"n": len(goods), "failures": sum(not o.ok for o in goods), "latency_ms": percentiles_ms([o.seconds for o in goods])},
        "bad": {"n": len(bads), "answered_with_their_sentence": sum(o.ok for o in bads),
                "latency_ms": percentiles_ms([o.seconds for o in bads])},
        "latency_ms": percentiles_ms([o.seconds for o in outcomes]),
        "wall_s": round(wall, 1),
        "requests_per_s": round(len(outcomes) / wall, 2) if wall else None,
        "rss_mb": {"before": round(rss_before / 1e6, 1), "peak": round(rss.peak / 1e6, 1), "after": round(rss_after / 1e6, 1)},
        "server_alive": server.alive(),
        "concurrency_limit": int(os.environ.get("SER_CONCURRENCY") or 2),  # app.py's default
        "failures": [{"client": o.client, "file": o.request.path.name, "detail": o.detail[:300]} for o in failures[:20]],
    }


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=CLIENTS, help="clients sending at once (default %(default)s)")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="requests per client, one after another (default %(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, running_app(Path(tmp) / "app") as server:
        report = run_load(server, Path(tmp) / "files", args.clients, args.requests)
    notes = ("Latency: from the client's call to its answer, so it includes the upload, the wait in the app's queue "
             f"(concurrency {report['concurrency_limit']}, the rest wait) and the analysis; clients run on the same machine as "
             "the server and share its CPU. RSS: the server process (and children); before the run, its peak (sampled every 0.1 s "
             f"during the run) and after it, once the app has been idle for {SETTLE_S:g} s (steady).")
    path = write_report({"load": report, "notes": notes}, name=REPORT,
                        command=" ".join(["python -m bench.load", *(sys.argv[1:] if argv is None else argv)]))
    good, bad = report["good"], report["bad"]
    print(f"{path}: {report['requests']} requests from {report['clients']} clients in {report['wall_s']} s; "
          f"good {good['n']} ({good['failures']} failed), p50 {good['latency_ms'].get('p50')} ms, p95 {good['latency_ms'].get('p95')} ms; "
          f"bad {bad['n']} ({bad['answered_with_their_sentence']} with their sentence); peak RSS {report['rss_mb']['peak']} MB")
    return 0 if good["failures"] == 0 and bad["answered_with_their_sentence"] == bad["n"] and report["server_alive"] else 1


if __name__ == "__main__":
    sys.exit(main())
