"""Time from `python app.py` to its first answer, this checkout against another revision, started in turns.

    python -m bench.startup                          # against 30a3f35 (before issue #35), 4 rounds -> reports/startup.json
    python -m bench.startup --against HEAD~3 --rounds 6

On a busy machine one start-up time says little; two versions started one after the other (A B A B ...) slow alike,
so their ratio is the figure to read. The other revision is unpacked with `git archive` into a temporary folder and run
with this checkout's Python; each start runs as bench.load.running_app does it (loopback port, own GRADIO_TEMP_DIR) and
is timed to its first HTTP 200, as bench.app's ready_s. CPU: user + system seconds of the app up to then.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from bench.load import running_app
from ser import settings
from ser.evaluation.metrics import write_report

BASELINE = "30a3f35"  # the last commit before issue #35's start-up work
ROUNDS = 4
REPORT = "startup.json"


def unpack(revision: str, folder: Path) -> Path:
    """The files of `revision` (git archive) in `folder`."""
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=settings.PROJECT_ROOT, check=True,
                             capture_output=True).stdout
    folder.mkdir(parents=True, exist_ok=True)
    tar_path = folder.with_suffix(".tar")
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(folder, filter="data")
    tar_path.unlink()
    return folder


def start_once(root: Path, work: Path) -> tuple[float, float]:
    """(seconds to the first HTTP 200, CPU seconds the app used by then) of `python app.py` in `root`."""
    start = time.monotonic()
    with running_app(work, script=root / "app.py") as server:
        ready = time.monotonic() - start
        try:
            times = psutil.Process(server.proc.pid).cpu_times()
            cpu = times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            cpu = float("nan")
    return ready, cpu


def run(against: str, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"this": settings.PROJECT_ROOT, against: unpack(against, Path(tmp) / "other")}
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in roots}
        for i in range(rounds):
            for name, root in roots.items():
                ready, cpu = start_once(root, Path(tmp) / f"run-{name}-{i}")
                samples[name].append((ready, cpu, os.getloadavg()[0]))
                print(f"  {name}: ready {ready:.2f} s, CPU {cpu:.2f} s, load {os.getloadavg()[0]:.1f}", flush=True)
    out = {"rounds": rounds, "against": against, "versions": {}}
    for name, values in samples.items():
        arr = np.asarray(values)
        out["versions"][name] = {"ready_s": [round(v, 2) for v in arr[:, 0]], "cpu_s": [round(v, 2) for v in arr[:, 1]],
                                 "load_average_1min": [round(v, 2) for v in arr[:, 2]],
                                 "median_ready_s": round(float(np.median(arr[:, 0])), 2),
                                 "median_cpu_s": round(float(np.median(arr[:, 1])), 2)}
    this, other = out["versions"]["this"], out["versions"][against]
    out["ready_ratio"] = round(this["median_ready_s"] / other["median_ready_s"], 2)
    out["cpu_ratio"] = round(this["median_cpu_s"] / other["median_cpu_s"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default=BASELINE, help="git revision to compare with (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="start-ups of each version (default %(default)s)")
    args = parser.parse_args(argv)
    result = run(args.against, args.rounds)
    notes = ("ready_s: from starting `python app.py` to its first HTTP 200; the two versions started in turns, so the "
             "ratios (this / the other, medians) are what a busy machine does not distort much.")
    path = write_report({"startup": result, "notes": notes}, name=REPORT,
                        command=" ".join(["python -m bench.startup", *(sys.argv[1:] if argv is None else argv)]))
    print(f"{path}: ready {result['versions']['this']['median_ready_s']} s against "
          f"{result['versions'][args.against]['median_ready_s']} s ({result['ready_ratio']}x), CPU ratio {result['cpu_ratio']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
