"""`python -m ser predict PATH... --engine ray --out labels.parquet`: the flags, and the run from request to summary.

    python -m ser predict recordings/ --engine ray --out labels.parquet                 # Ray started on this machine
    python -m ser predict s3://calls/2024/ --engine ray --address ray://head:10001 --out s3://calls-labels/2024.parquet

The output is a folder of part files; a rerun with the same --out labels only the files it does not hold yet.
Exit status as the in-process CLI: 0 all labelled, 1 some failed (their rows are written), 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from ser.scale.archive import OUTPUT_FORMATS, ArchiveError, Output, done_keys, list_entries, output_format, prepare

ENGINES = ("process", "ray")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
INSTALL_HINT = "pip install -r requirements-scale.txt"
# torch threads per actor, and the CPUs it holds: on 2 cores two one-thread actors outran one two-thread actor
# (reports/scale.md); --threads changes both
THREADS_PER_ACTOR = 1


def add_arguments(predict: argparse.ArgumentParser) -> None:
    """The engine flags of `python -m ser predict`."""
    group = predict.add_argument_group("engine (docs/scale.md)")
    group.add_argument("--engine", choices=ENGINES, default="process",
                       help="process: this process (default); ray: a Ray Data job writing a folder of Parquet or CSV "
                            "part files to --out, resumable")
    group.add_argument("--address", default=None, metavar="ADDR",
                       help="with --engine ray: the Ray cluster to run on (default: $RAY_ADDRESS, else Ray on this machine)")
    group.add_argument("--actors", type=int, default=None, metavar="N",
                       help="with --engine ray: model copies working at once (default: the cluster's CPUs / --threads, "
                            "each actor one torch thread unless --threads)")
    group.add_argument("--rows-per-file", type=int, default=None, metavar="N",
                       help="with --engine ray: rows per part file (default 1000)")


def usage_error(args: argparse.Namespace) -> str | None:
    """The one sentence that refuses the request before anything starts, or None."""
    if not args.out:
        return "--engine ray writes a folder of part files: give --out, e.g. --out labels.parquet (or labels.csv)."
    if args.format not in (None, *OUTPUT_FORMATS):
        return (f"--engine ray writes Parquet part files (CSV with --format csv or a .csv folder), not {args.format}: "
                "drop --format.")
    if args.batch_size < 1 or (args.threads is not None and args.threads < 1):
        return "--threads and --batch-size must be 1 or more."
    if (args.actors is not None and args.actors < 1) or (args.rows_per_file is not None and args.rows_per_file < 1):
        return "--actors and --rows-per-file must be 1 or more."
    return None


def model_for_workers(ref: str | None) -> tuple[str, str, str | None]:
    """(what each actor loads, the model's name, a sentence for the user or None): the model is found here first, so a
    wrong name is a usage error before any worker starts. A folder is passed on as an absolute path (workers must see
    the same path); a Hub id that cannot be fetched falls back to the default model, as the in-process CLI does."""
    from pathlib import Path

    from ser import settings
    from ser.hub import HubUnavailable
    from ser.models import resolve
    from ser.models.base import read_config

    try:
        directory = resolve(ref)
    except HubUnavailable as err:
        ref, directory, notice = settings.default_model(), resolve(settings.default_model()), err.fallback_message()
    else:
        notice = None
    if ref and Path(ref).expanduser().is_dir() and not (settings.MODELS_DIR / ref / "config.json").exists():
        ref = str(Path(ref).expanduser().resolve())
    name = read_config(directory).get("name") or Path(directory).name
    return ref or settings.default_model(), name, notice


def reference_profile(path: str | None, model_ref: str):
    """The speaker's reference profile, computed here once (as the in-process CLI does) and handed to every actor."""
    if not path:
        return None
    from ser.models import load_model
    from ser.reference import ReferenceError, reference_profile as profile

    try:
        return profile(path, load_model(model_ref))
    except ReferenceError as err:
        print(err, file=sys.stderr)
        return None


def run_ray(args: argparse.Namespace) -> int:
    """Label the files as a Ray Data job; the summary on standard error; the exit status."""
    from tqdm import tqdm

    from ser.cli_rows import load_error
    from ser.scale.stages import ClipOptions

    message = usage_error(args)
    if message:
        print(message, file=sys.stderr)
        return EXIT_USAGE
    try:
        import ray  # noqa: F401  (only to say how to install it when missing)
    except ImportError:
        print(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_USAGE
    from ser.scale import job

    started = time.perf_counter()
    output = Output(args.out, output_format(args.format, args.out))
    try:
        prepare(output)
        model, name, notice = model_for_workers(args.model)
    except (ArchiveError, OSError) as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:
        message = load_error(err)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return EXIT_USAGE
    if notice:
        print(notice, file=sys.stderr)
    entries = list_entries(args.paths)
    done = done_keys(output)
    todo = [e for e in entries if e.key not in done]
    threads = args.threads or THREADS_PER_ACTOR
    options = ClipOptions(model, args.timeline, args.merge_calm_neutral, args.batch_size, threads,
                          reference_profile(args.reference, model))
    totals = {"files": 0, "failed": 0, "rows": 0, "audio_s": 0.0}
    say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    say(f"Model {name}: {len(entries)} file(s), {len(entries) - len(todo)} already in {args.out}, {len(todo)} to label")
    if todo:
        try:
            with job.ray_session(args.address) as cpus:
                plan = job.JobPlan(args.actors or max(1, math.floor(cpus / threads)), float(threads),
                                   args.rows_per_file or job.ROWS_PER_FILE)
                say(f"Ray: {cpus:g} CPU(s), {plan.actors} actor(s) of {plan.cpus_per_actor:g} CPU")
                with tqdm(total=len(todo), unit="file", file=sys.stderr, disable=args.quiet, dynamic_ncols=True) as bar:
                    for part in job.run(todo, options, output, plan):
                        for key in totals:
                            totals[key] += part[key]
                        bar.set_postfix_str(f"{totals['audio_s'] / 3600:.2f} h of audio", refresh=False)
                        bar.update(part["files"])
        except KeyboardInterrupt:
            print(f"Interrupted: {totals['files']} file(s) written to {args.out}; rerun the same command to label the rest.",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
    wall = time.perf_counter() - started
    speed = f", {totals['audio_s'] / wall:.0f}x real time" if totals["audio_s"] else ""
    say(f"{totals['files'] - totals['failed']} of {len(todo)} file(s) labelled, {totals['failed']} failed, "
        f"{len(entries) - len(todo)} skipped (already labelled); {totals['audio_s'] / 3600:.2f} h of audio in {wall:.1f} s"
        f"{speed} -> {args.out}")
    return EXIT_FAILED if totals["failed"] else EXIT_OK
