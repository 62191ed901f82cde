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
from dataclasses import dataclass
from pathlib import Path

from ser.evaluation.provenance import training_speaker_note
from ser.cli.scale.archive import OUTPUT_FORMATS, ArchiveError, Output, done_keys, list_entries, output_format, prepare

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
                       help="with --engine ray: rows per part file (default 1000; with --timeline a part holds one "
                            "actor call's recordings whole)")


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


@dataclass(frozen=True)
class ModelFound:
    """The model as the driver finds it, without loading it: what each actor loads, and what its files say."""

    ref: str  # a shipped name, an absolute folder path or a Hub id
    name: str
    model_dir: Path
    config: dict  # what `ser.evaluation.provenance` reads (the corpora it was trained on)
    notice: str | None = None  # a sentence for the user: the Hub fell back to the default model


def model_for_workers(ref: str | None) -> ModelFound:
    """The model found here first, so a wrong name is a usage error before any worker starts. A folder is passed on
    as an absolute path (workers must see the same path); a Hub id that cannot be fetched falls back to the default
    model, as the in-process CLI does."""
    from ser import settings
    from ser.models.hub.client import HubUnavailable
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
    config = read_config(directory)
    return ModelFound(ref or settings.default_model(), config.get("name") or Path(directory).name, Path(directory), config,
                      notice)


def voice_profiles(args: argparse.Namespace, model_ref: str, threads: int, entries: list):
    """--profile / --speaker-folders: every file's voice profile, built here once (the model loaded on the actors'
    thread count, since bfloat16 encoders give slightly different numbers on another) and handed to every actor.
    ProfileError (one sentence) when it cannot serve; None without either flag."""
    if not (args.profile or args.speaker_folders):
        return None
    import torch

    from ser.cli.profiles import shared_profile, speaker_folder_profiles
    from ser.models import load_model

    torch.set_num_threads(threads)
    model = load_model(model_ref)
    if args.profile:
        return shared_profile(model, args.profile)
    return speaker_folder_profiles(model, [e.file for e in entries if e.error is None])


@dataclass
class Totals:
    """What the part files written so far hold."""

    files: int = 0
    failed: int = 0
    rows: int = 0
    audio_s: float = 0.0

    def add(self, part: dict) -> None:
        for name in ("files", "failed", "rows", "audio_s"):
            setattr(self, name, getattr(self, name) + part[name])


def label(todo: list, options, output: Output, args: argparse.Namespace, totals: Totals, say) -> None:
    """Run the Ray job on the files to label, a progress bar counting files and hours of audio as parts are written."""
    from tqdm import tqdm

    from ser.cli.scale import job

    with job.ray_session(args.address) as cpus:
        plan = job.JobPlan(args.actors or max(1, math.floor(cpus / options.threads)), float(options.threads),
                           args.rows_per_file or job.ROWS_PER_FILE)
        say(f"Ray: {cpus:g} CPU(s), {plan.actors} actor(s) of {plan.cpus_per_actor:g} CPU")
        with tqdm(total=len(todo), unit="file", file=sys.stderr, disable=args.quiet, dynamic_ncols=True) as bar:
            for part in job.run(todo, options, output, plan):
                totals.add(part)
                bar.set_postfix_str(f"{audio_text(totals.audio_s)} of audio", refresh=False)
                bar.update(part["files"])


def audio_text(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 36 else f"{seconds:.0f} s"


def summary(totals: Totals, to_label: int, skipped: int, wall: float, out: str) -> str:
    speed = f", {totals.audio_s / wall:.0f}x real time" if totals.audio_s else ""
    return (f"{totals.files - totals.failed} of {to_label} file(s) labelled, {totals.failed} failed, {skipped} skipped "
            f"(already labelled); {audio_text(totals.audio_s)} of audio in {wall:.1f} s{speed} -> {out}")


def run_ray(args: argparse.Namespace) -> int:
    """Label the files as a Ray Data job; the summary on standard error; the exit status."""
    from ser.models.base import ModelError
    from ser.profile import ProfileError
    from ser.cli.scale.stages import ClipOptions

    message = usage_error(args)
    if message:
        print(message, file=sys.stderr)
        return EXIT_USAGE
    try:
        import ray  # noqa: F401  (only to say how to install it when missing)
    except ImportError:
        print(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    output = Output(args.out, output_format(args.format, args.out))
    try:
        model = model_for_workers(args.model)
        prepare(output)
    except (ArchiveError, ModelError, OSError) as err:  # ModelError: no such model, or a Hub id that cannot be used
        print(err, file=sys.stderr)
        return EXIT_USAGE
    say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    if model.notice:
        print(model.notice, file=sys.stderr)
    entries = list_entries(args.paths)
    done = done_keys(output)
    todo = [e for e in entries if e.key not in done]
    threads = args.threads or THREADS_PER_ACTOR
    try:  # from every file named, labelled before or not, so that a resumed run scores them alike
        profiles = voice_profiles(args, model.ref, threads, entries)
    except ProfileError as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    options = ClipOptions(model.ref, args.timeline, args.merge_calm_neutral, args.batch_size, threads, profiles)
    say(f"Model {model.name}: {len(entries)} file(s), {len(entries) - len(todo)} already in {args.out}, {len(todo)} to label")
    totals = Totals()
    try:
        if todo:
            label(todo, options, output, args, totals, say)
    except KeyboardInterrupt:
        print(f"Interrupted: {totals.files} file(s) written to {args.out}; rerun the same command to label the rest.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    say(summary(totals, len(todo), len(entries) - len(todo), time.perf_counter() - started, args.out))
    for note in [*(profiles.notes if profiles else []), training_speaker_note([e.file for e in todo], model)]:
        if note:
            say(note)
    return EXIT_FAILED if totals.failed else EXIT_OK
