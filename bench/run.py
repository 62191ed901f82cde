"""`make bench`: every benchmark in one run -> `reports/bench.json` and `reports/bench.md` (the README's Performance section).

    python -m bench.run           # the full suite (~10 min on 2 cores)
    python -m bench.run --quick   # smoke pass: 3 runs, a few clips, a 1-minute recording -> reports/bench_quick.{json,md}

Order: audio loader, per-clip latency of each shipped model, the transformers pipeline peers on the same clips,
the default model's encoder on each runtime (bench.encoder_runtimes), the CLI on RAVDESS, the CLI's timeline of a
10-minute recording, the default model's latency, CLI and timeline again with its encoder in int8
(`SER_ENCODER_DTYPE=int8`), the CLI in-process and through local Ray (bench.scale, one round here: ~4 min), the app
through gradio_client, and the app under concurrent load (bench.load).
A benchmark that fails is recorded with its error; the others still run.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may download; set before transformers is imported
from bench import sleep_openmp_threads_when_busy  # noqa: E402

sleep_openmp_threads_when_busy()  # before torch loads; the CLI and app subprocesses inherit it

import argparse  # noqa: E402
import contextlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from unittest import mock  # noqa: E402

from bench import latency, peer, throughput  # noqa: E402
from bench.report import TARGETS, check_targets, markdown  # noqa: E402
from ser import settings  # noqa: E402
from ser.cli.main import default_workers  # noqa: E402
from ser.encoders.path import chosen_path  # noqa: E402
from ser.encoders.timing import measure_if_needed  # noqa: E402
from ser.evaluation.metrics import read_report, report_path, write_report  # noqa: E402

QUICK = {"runs": 3, "loader_limit": 100, "cli_limit": 48, "recording_s": 60.0, "large_lengths": (4.0,), "app": ["--requests", "3", "--total", "5"],
         "runtimes": ["--clips", "10", "--runs", "3"]}
# the large peer takes seconds per call: measured on the 4-s clip only (the target's clip), to keep the suite near 10 min
FULL = {"runs": latency.RUNS, "loader_limit": None, "cli_limit": None, "recording_s": throughput.RECORDING_S, "large_lengths": (4.0,),
        "app": [], "runtimes": []}


@contextlib.contextmanager
def keeping(report_name: str):
    """Restore a report after a quick pass overwrote it: smoke numbers must not replace real ones."""
    path = report_path(report_name)
    saved = path.read_bytes() if path.exists() else None
    try:
        yield
    finally:
        if saved is not None:
            path.write_bytes(saved)
        else:
            path.unlink(missing_ok=True)


def module_report(module: str, args: list[str], report_name: str, quick: bool) -> dict:
    """Run an existing benchmark (`python -m bench.loader`, `bench.app`) in its own process and fold in its report."""
    with keeping(report_name) if quick else contextlib.nullcontext():
        subprocess.run([sys.executable, "-m", module, *args], cwd=settings.PROJECT_ROOT, check=True)
        report = read_report(report_name)
    return {k: v for k, v in report.items() if k not in ("generated", "machine")}


def step(results: dict, name: str, fn, *args, **kwargs) -> None:
    """Run one benchmark into results[name]; a failure becomes {"error": ...} and the suite goes on."""
    print(f"== {name}", flush=True)
    start = time.perf_counter()
    try:
        results[name] = fn(*args, **kwargs)
    except BaseException as err:  # noqa: BLE001 - including SystemExit from a sub-benchmark
        if isinstance(err, KeyboardInterrupt):
            raise
        traceback.print_exc()
        results[name] = {"error": f"{type(err).__name__}: {err}"}
    results.setdefault("step_s", {})[name] = round(time.perf_counter() - start, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fast smoke pass, written to reports/bench_quick.{json,md}")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL

    import torch

    cli_threads = torch.get_num_threads()  # what the CLI subprocesses get: torch's default for this machine
    torch.set_num_threads(latency.THREADS)
    started = time.perf_counter()
    load_before = os.getloadavg()
    results: dict = {}
    measure_if_needed()  # the serving targets are judged on the auto path: timed first, as the app's first start does
    loader_args = [] if plan["loader_limit"] is None else ["--limit", str(plan["loader_limit"])]
    step(results, "loader", module_report, "bench.loader", loader_args, "bench_loader.json", args.quick)
    waves = latency.clips()
    step(results, "latency", latency.run, plan["runs"], waves)
    step(results, "peer", peer.run, waves, plan["runs"], plan["large_lengths"])
    # torch, ONNX Runtime and OpenVINO under the default model: same answers on 100 clips, and which is fastest
    step(results, "encoder_runtimes", module_report, "bench.encoder_runtimes", plan["runtimes"], "encoder_runtimes.json", args.quick)
    step(results, "cli", throughput.cli_throughput, plan["cli_limit"])
    step(results, "timeline", throughput.timeline, plan["recording_s"])
    # the default model again with SER_ENCODER_DTYPE=int8: faster where the CPU lacks bfloat16, at a cost in accuracy
    # (reports/accuracy.md, whisper-head-int8-test)
    with mock.patch.dict(os.environ, {"SER_ENCODER_DTYPE": "int8"}):  # read per call, here and by the CLI subprocesses
        step(results, "int8_latency", latency.run_model, settings.default_model(), plan["runs"], waves)
        step(results, "int8_cli", throughput.cli_throughput, plan["cli_limit"])
        step(results, "int8_timeline", throughput.timeline, plan["recording_s"])
    # the same RAVDESS clips in-process and through local Ray (reports/scale.md)
    step(results, "scale", module_report, "bench.scale", ["--rounds", "1"] + (["--limit", "48"] if args.quick else []),
         "scale.json", args.quick)
    if (settings.PROJECT_ROOT / "app.py").exists():
        step(results, "app", module_report, "bench.app", plan["app"], "bench_app.json", args.quick)
        step(results, "load", module_report, "bench.load", ["--clients", "5", "--requests", "4"] if args.quick else [],
             "load.json", args.quick)

    report = {
        "quick": args.quick,
        "default_model": settings.default_model(),
        "torch_threads_latency": latency.THREADS,
        "torch_threads_cli": cli_threads,
        "cli_decode_workers": default_workers(),
        "load_average_before": [round(x, 2) for x in load_before],
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default (spin)"),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "encoder_path": {"path": chosen_path().path.name, "why": chosen_path().why},
        "wall_s": round(time.perf_counter() - started, 1),
        **results,
    }
    if plan["large_lengths"] is not None:
        report["notes"] = [f"wav2vec2-large-xlsr pipeline measured on the {', '.join(f'{s:g}-s' for s in plan['large_lengths'])} "
                           f"clip only ({plan['runs']} runs): each call takes seconds, and the suite must stay near 10 minutes."]
    report["targets"] = TARGETS
    report["comparison"], report["meets_targets"], report["meets_targets_int8"] = check_targets(report)
    name = "bench_quick" if args.quick else "bench"
    path = write_report(report, name=f"{name}.json", command="python -m bench.run" + (" --quick" if args.quick else ""))
    md = markdown(read_report(f"{name}.json"))
    (settings.REPORTS_DIR / f"{name}.md").write_text(md)
    print(md)
    print(f"wrote {path.relative_to(settings.PROJECT_ROOT)} and reports/{name}.md in {report['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
