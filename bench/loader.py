"""Benchmark the audio loader: every RAVDESS clip through `ser.audio.load.load_audio` on one core.

Run `python -m bench.loader`; writes `reports/bench_loader.json` and prints one line.
"""

from __future__ import annotations

import os

# one core, decided before numpy loads its thread pools: the number must not depend on how many cores are free
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from ser import settings  # noqa: E402
from ser.audio.load import SAMPLE_RATE, load_audio  # noqa: E402
from ser.evaluation.corpora import scan_corpus  # noqa: E402
from ser.evaluation.metrics import write_report  # noqa: E402

REPORT_NAME = "bench_loader.json"
EXPECTED_FILES = 1440  # the whole RAVDESS speech set


def pin_to_one_core() -> int | None:
    """Pin this process to the first core it may use (Linux); returns that core, or None where unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def run(paths: list[str]) -> tuple[list[float], float]:
    """Per-file load times in seconds, and the seconds of audio loaded."""
    load_audio(paths[0])  # warm-up: imports and first-call setup are not the loader's steady cost
    times, audio_seconds = [], 0.0
    for path in paths:
        start = time.perf_counter()
        wave = load_audio(path)
        times.append(time.perf_counter() - start)
        audio_seconds += wave.size / SAMPLE_RATE
    return times, audio_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="load only the first N clips (a quick check)")
    args = parser.parse_args(argv)

    records = scan_corpus("ravdess")
    if len(records) != EXPECTED_FILES and args.limit is None:
        print(f"Expected {EXPECTED_FILES} RAVDESS clips under {settings.data_dir()}, found {len(records)}.", file=sys.stderr)
        return 1
    paths = [r.path for r in records[: args.limit]]
    core = pin_to_one_core()
    times, audio_seconds = run(paths)
    total = sum(times)
    result = {
        "benchmark": "ser.audio.load.load_audio on RAVDESS (16 kHz mono FLAC)",
        "files": len(paths),
        "audio_seconds": round(audio_seconds, 1),
        "total_s": round(total, 3),
        "median_ms": round(1000 * statistics.median(times), 3),
        "p95_ms": round(1000 * sorted(times)[int(0.95 * (len(times) - 1))], 3),
        "max_ms": round(1000 * max(times), 3),
        "files_per_s": round(len(times) / total, 1),
        "realtime_factor": round(audio_seconds / total, 1),
        "pinned_core": core,
    }
    command = "python -m bench.loader" + (f" --limit {args.limit}" if args.limit is not None else "")
    path = write_report(result, name=REPORT_NAME, command=command)
    print(
        f"loader: {result['files']} files ({result['audio_seconds']:.0f} s of audio) in {result['total_s']:.2f} s on 1 core: "
        f"median {result['median_ms']:.2f} ms/file, {result['files_per_s']:.0f} files/s, "
        f"{result['realtime_factor']:.0f}x real time -> {path.relative_to(settings.PROJECT_ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
