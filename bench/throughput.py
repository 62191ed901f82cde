"""The CLI as a user runs it: `python -m ser predict` on all of RAVDESS, and `--timeline` on a 10-minute recording.

Wall time is end to end (Python start-up, model loading, decoding, the model, writing the CSV); peak RSS is the
largest resident memory of the CLI process and its children, sampled every 20 ms.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile as sf

from ser import settings
from ser.audio.load import SAMPLE_RATE, load_audio
from ser.evaluation.corpora import scan_corpus

RSS_POLL_S = 0.02
RECORDING_S = 600.0  # the 10-minute recording; also the loader's longest accepted input
RECORDING_ACTORS = range(2, 25)  # actor 1 makes the latency clips; the recording walks through the others in turn


def run_cli(args: list[str]) -> dict:
    """Run `python -m ser predict ARGS --quiet`; wall seconds, peak RSS (MB) of its process tree, exit code."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ser", "predict", *args, "--quiet"], cwd=settings.PROJECT_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]))
        except psutil.Error:  # the process ended between poll() and the sample
            pass
        time.sleep(RSS_POLL_S)
    wall = time.perf_counter() - start
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak / 1e6, 1), "exit_status": proc.returncode,
            "stderr": proc.stderr.read().decode(errors="replace")[-2000:]}


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def cli_throughput(limit: int | None = None, model: str | None = None) -> dict:
    """Every RAVDESS clip (or the first `limit`) through the CLI in one run; a one-clip run first gives the fixed start-up cost."""
    paths = [r.path for r in scan_corpus("ravdess")][:limit]
    audio_s = sum(sf.info(p).duration for p in paths)
    model_args = ["--model", model] if model else []
    with tempfile.TemporaryDirectory() as tmp:
        startup = run_cli([paths[0], *model_args, "--out", f"{tmp}/one.csv"])
        if limit is None:
            result = run_cli([str(settings.data_dir() / "ravdess"), *model_args, "--out", f"{tmp}/all.csv"])
        else:
            result = run_cli([*paths, *model_args, "--out", f"{tmp}/all.csv"])
        rows = read_rows(Path(tmp) / "all.csv") if Path(tmp, "all.csv").exists() else []
    failed = sum(1 for r in rows if r["error"])
    wall, fixed = result["wall_s"], startup["wall_s"]
    return {
        "files": len(paths), "rows": len(rows), "failed": failed, "audio_s": round(audio_s, 1), **result,
        "clips_per_s": round(len(paths) / wall, 1), "realtime_factor": round(audio_s / wall, 1),
        "one_clip_wall_s": fixed,
        # what a longer run converges to once start-up and model loading are paid
        "steady_realtime_factor": round(audio_s / max(wall - fixed, 1e-9), 1),
    }


def build_recording(seconds: float = RECORDING_S) -> np.ndarray:
    """A long recording of real speech: RAVDESS clips one after another, pauses and all, cycling through the actors."""
    needed = int(seconds * SAMPLE_RATE)
    by_actor = {}
    for record in scan_corpus("ravdess"):
        by_actor.setdefault(record.speaker, []).append(record.path)
    actors = [f"ravdess-{a:02d}" for a in RECORDING_ACTORS]
    pieces, total, i = [], 0, 0
    while total < needed:
        wave = load_audio(by_actor[actors[i % len(actors)]][i // len(actors)])
        pieces.append(wave)
        total += wave.size
        i += 1
    return np.concatenate(pieces)[:needed]


def timeline(seconds: float = RECORDING_S, model: str | None = None) -> dict:
    """`python -m ser predict recording.flac --timeline` on a `seconds`-long recording."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recording.flac"
        sf.write(path, build_recording(seconds), SAMPLE_RATE, subtype="PCM_16")
        result = run_cli([str(path), "--timeline", *(["--model", model] if model else []), "--out", f"{tmp}/timeline.csv"])
        rows = read_rows(Path(tmp) / "timeline.csv") if Path(tmp, "timeline.csv").exists() else []
    return {"recording_s": seconds, "windows": len(rows), "failed": sum(1 for r in rows if r["error"]), **result,
            "realtime_factor": round(seconds / result["wall_s"], 1)}
