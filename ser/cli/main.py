"""The command line: label audio files with an emotion, or run the evaluation protocol.

    python -m ser predict clips/ talk.mp3 "more/*.wav"            # a table in the terminal
    python -m ser predict clips/ --format csv --out results.csv   # one row per file, every probability
    python -m ser predict talk.wav --timeline                     # one row per window of speech (3 s, every 1 s)
    python -m ser predict clips/ --profile my-voice/              # relative to one speaker's voice profile (ser.profile)
    python -m ser eval [--models whisper-head ...]                # = python -m train.evaluation.evaluate

Files are decoded in worker threads (`ser.cli.inputs`) while the main thread runs the model on batches of clips
(`ser.cli.rows`); the rows are written as a table, JSON or CSV (`ser.cli.formats`).
A file that cannot be read becomes a row with its reason in the "error" column; the run goes on.
Exit status: 0 all files labelled, 1 some failed (all rows still written), 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ser import settings
from ser.evaluation.provenance import training_speaker_note
from ser.cli.formats import COLUMNS_HELP, FORMATS, WRITERS, output_format
from ser.cli.inputs import decoded, expand_paths
from ser.cli.profiles import Profiles, shared_profile, speaker_folder_profiles
from ser.cli.rows import BATCH_SIZE, load, load_error, predict_rows
from ser.encoders.path import summary as encoder_summary
from ser.encoders.timing import measure_if_needed
from ser.profile import SPEAKER_FOLDER_MIN_CLIPS, ProfileError
from ser.cli.scale.command import add_arguments as add_engine_arguments

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EVAL_PROG = "python -m ser eval"
# The evaluation protocol is the training package's entry point, run in a child process: the library never imports
# train/ (the arrow points from train/ to ser/). -c rather than -m, so that its usage and error lines name the command
# the user typed, as they did when it ran in this process.
EVAL_CODE = (f"import runpy, sys; sys.argv[0] = {EVAL_PROG!r}; "
             "runpy.run_module('train.evaluation.evaluate', run_name='__main__', alter_sys=False)")
EVAL_SCRIPT = settings.PROJECT_ROOT / "train" / "evaluation" / "evaluate.py"


def default_workers() -> int:
    """Decode threads: decoding a clip takes ~2 ms against tens of ms for the model, so one thread per two cores is plenty."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def predict_epilog() -> str:
    """The end of `predict --help`: the shipped models, two examples and what each output column holds."""
    from ser.models import local_models

    return (f"shipped models: {', '.join(local_models()) or 'none installed'} (default {settings.default_model()})\n\n"
            "examples:\n"
            "  python -m ser predict recordings/ --format csv --out emotions.csv   # every file under a folder, one row each\n"
            "  python -m ser predict talk.wav --timeline --model classic-mlp       # one row per window of speech\n\n"
            + COLUMNS_HELP)


def build_parser() -> argparse.ArgumentParser:
    from ser.inference import WINDOWS_TEXT

    parser = argparse.ArgumentParser(prog="python -m ser", description="Speech emotion recognition from the command line.")
    commands = parser.add_subparsers(dest="command", metavar="{predict,eval}")
    predict = commands.add_parser("predict", help="label audio files, folders or glob patterns with an emotion",
                                  description="Label audio files, folders (searched recursively) or glob patterns with an emotion.",
                                  epilog=predict_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("paths", nargs="+", metavar="PATH", help="audio files, folders, or quoted glob patterns")
    predict.add_argument("--model", default=None, metavar="NAME|DIR|HUB_ID",
                         help="a shipped model name (listed below), a model folder, or a Hub id owner/name[@revision] "
                              "(default: the shipped default)")
    predict.add_argument("--timeline", action="store_true",
                         help=f"one row per window instead of one per file: {WINDOWS_TEXT}".replace("%", "%%"))
    predict.add_argument("--format", choices=FORMATS, default=None, help="output format (default: from --out's suffix, else table)")
    predict.add_argument("--out", metavar="FILE", default=None, help="write the rows here instead of standard output")
    predict.add_argument("--merge-calm-neutral", action="store_true", help="report calm and neutral as one class, calm/neutral")
    profile = predict.add_mutually_exclusive_group()
    profile.add_argument("--profile", metavar="DIR", default=None,
                         help="a folder of one speaker's recordings in mixed moods (e.g. one sentence read neutral, happy, sad "
                              "and angry): every input is scored relative to their average, the speaker's voice profile "
                              "(models with a profile head, such as the default)")
    profile.add_argument("--speaker-folders", action="store_true",
                         help="each folder holding inputs is one speaker: its clips are scored relative to their own average "
                              f"(a folder with fewer than {SPEAKER_FOLDER_MIN_CLIPS} clips without one; about twice the time)")
    predict.add_argument("--workers", type=int, default=default_workers(), metavar="N",
                         help="decoding threads beside the model (0: decode in the main thread; default %(default)s)")
    predict.add_argument("--threads", type=int, default=None, metavar="N",
                         help="torch threads for the model (default: torch's choice, one per core; on a busy machine 1 is faster)")
    predict.add_argument("--batch-size", type=int, default=BATCH_SIZE, metavar="N", help="clips per model call (default %(default)s)")
    predict.add_argument("--quiet", action="store_true", help="no progress bar or summary on standard error")
    predict.add_argument("--verbose", action="store_true", help="also say which path the Whisper encoder runs on, and why")
    add_engine_arguments(predict)  # --engine ray and its flags (ser.cli.scale)
    commands.add_parser("eval", help="run the evaluation protocol (python -m train.evaluation.evaluate); options are passed on", add_help=False)
    return parser


def choose_profiles(args: argparse.Namespace, model, entries: list[tuple[str, str | None]]) -> Profiles | None:
    """--profile / --speaker-folders -> the profile of every input; ProfileError (one sentence) when it cannot serve."""
    if args.profile:
        return shared_profile(model, args.profile)
    if args.speaker_folders:
        return speaker_folder_profiles(model, [path for path, error in entries if error is None])
    return None


def run_predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.engine == "ray":  # the same rows from a Ray Data job (ser.cli.scale)
        from ser.cli.scale.command import run_ray

        return run_ray(args)
    if args.workers < 0 or args.batch_size < 1 or (args.threads is not None and args.threads < 1):
        print("--workers must be 0 or more, --threads and --batch-size 1 or more.", file=sys.stderr)
        return EXIT_USAGE
    if args.out and not Path(args.out).expanduser().resolve().parent.is_dir():
        print(f"Cannot write {args.out!r}: its folder does not exist.", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    entries = expand_paths(args.paths)
    try:
        model = load(args.model)
    except Exception as err:
        message = load_error(err)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return EXIT_USAGE
    # the encoder's paths, timed once per machine (ser/encoders/timing.py)
    measure_if_needed(model, notice=None if args.quiet else lambda text: print(text, file=sys.stderr))
    if args.verbose:
        print(encoder_summary(), file=sys.stderr)
    try:
        profiles = choose_profiles(args, model, entries)
    except ProfileError as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    labels, genders = list(model.labels), list(model.gender_labels or [])
    if args.merge_calm_neutral:
        from ser.labels import merge_calm_neutral

        labels = merge_calm_neutral(labels, np.zeros(len(labels)))[0]
    if not args.quiet:
        print(f"Model {model.name}: {len(entries)} file(s)", file=sys.stderr)
    with tqdm(total=len(entries), unit="file", file=sys.stderr, disable=args.quiet, dynamic_ncols=True) as bar:
        rows = list(predict_rows(model, decoded(entries, args.workers), args.timeline, args.merge_calm_neutral, args.batch_size, bar,
                                 profiles))
    text = WRITERS[output_format(args.format, args.out)](rows, labels, args.timeline, genders)
    if args.out:
        Path(args.out).expanduser().write_text(text)
    else:
        sys.stdout.write(text)
    failed = sorted({r.file for r in rows if r.error is not None})
    if not args.quiet:
        where = f" -> {args.out}" if args.out else ""
        print(f"{len(entries) - len(failed)} of {len(entries)} file(s) labelled, {len(failed)} failed, "
              f"in {time.perf_counter() - started:.1f} s{where}", file=sys.stderr)
        for note in profiles.notes if profiles else []:
            print(note, file=sys.stderr)
        note = training_speaker_note([path for path, _ in entries], model)
        if note:
            print(note, file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def run_eval(argv: list[str]) -> int:
    """`python -m train.evaluation.evaluate ARGV` in a child process that finds the repository's packages; its exit status."""
    if not EVAL_SCRIPT.is_file():
        print(f"`{EVAL_PROG}` runs the evaluation protocol in the repository's train/ folder, which is not at "
              f"{EVAL_SCRIPT.parent}; run it from a clone of the repository.", file=sys.stderr)
        return EXIT_USAGE
    path = os.pathsep.join(filter(None, [str(settings.PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    try:
        return subprocess.run([sys.executable, "-c", EVAL_CODE, *argv], env={**os.environ, "PYTHONPATH": path}).returncode
    except KeyboardInterrupt:  # the child got the same Ctrl-C and says so itself
        return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv[:1] == ["eval"]:  # everything after `eval` belongs to train.evaluation.evaluate's own parser
        return run_eval(argv[1:])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    warnings.filterwarnings("ignore")  # library warnings are not the user's business; errors are reported per file
    try:
        return run_predict(args)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # the last guard: one sentence, never a traceback
        print(f"The run failed ({type(err).__name__}: {err}).", file=sys.stderr)
        return EXIT_FAILED
