"""The command line: label audio files with an emotion, or run the evaluation protocol.

    python -m ser predict clips/ talk.mp3 "more/*.wav"            # a table in the terminal
    python -m ser predict clips/ --format csv --out results.csv   # one row per file, every probability
    python -m ser predict talk.wav --timeline                     # one row per 3-s window
    python -m ser eval [--models whisper-head ...]                # = python -m train.evaluate

Files are decoded in worker threads while the main thread runs the model on batches of clips.
A file that cannot be read becomes a row with its reason in the "error" column; the run goes on.
Exit status: 0 all files labelled, 1 some failed (all rows still written), 2 usage error.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import os
import sys
import time
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FORMATS = ("table", "json", "csv")
# what a folder is searched for; load_audio reads the first four with soundfile, the rest through ffmpeg
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".oga", ".opus", ".m4a", ".aac", ".webm")
GLOB_CHARS = set("*?[")
BATCH_SIZE = 8  # clips per model call: amortises per-call overhead, bounded memory
PREFETCH = 2 * BATCH_SIZE  # decoded clips waiting for the model: keeps the model busy without holding a whole folder
TABLE_FILE_WIDTH = 48  # longer paths keep their end (the file name) in the table
DECIMALS = 6  # probabilities in JSON/CSV: more digits are noise


@dataclass
class Row:
    """One output row: a file (or one window of it with --timeline), its probabilities or its error."""

    file: str
    label: str | None = None
    probability: float | None = None
    probs: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    start: float | None = None
    end: float | None = None


# --- inputs ------------------------------------------------------------------------------------------------------

def _is_audio(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".")


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if _is_audio(p))


def expand_paths(patterns: Iterable[str]) -> list[tuple[str, str | None]]:
    """Files, folders (searched recursively) and glob patterns -> (path, error) in order, without duplicates.
    A pattern that names nothing becomes an error entry: it is reported like an unreadable file."""
    entries: dict[str, str | None] = {}
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.exists():
            matches = [path]
        elif GLOB_CHARS & set(pattern):
            matches = [Path(m) for m in sorted(glob.glob(os.path.expanduser(pattern), recursive=True))]
            if not matches:
                entries.setdefault(pattern, f"No file matches the pattern {pattern!r}.")
                continue
        else:
            entries.setdefault(pattern, f"The file {pattern!r} does not exist; check the path.")
            continue
        for match in matches:
            if match.is_dir():
                found = _folder_files(match)
                if not found and match == path:
                    entries.setdefault(str(match), f"The folder {str(match)!r} holds no audio files ({', '.join(AUDIO_SUFFIXES)}).")
                for file in found:
                    entries.setdefault(str(file), None)
            else:
                entries.setdefault(str(match), None)
    return list(entries.items())


def decode(path: str) -> tuple[np.ndarray | None, str | None]:
    """(wave, None) or (None, one sentence): never raises, whatever the file holds."""
    from ser.audio import AudioError, load_audio

    try:
        return load_audio(path), None
    except AudioError as err:
        return None, str(err)
    except Exception as err:  # load_audio already turns decoder failures into sentences; this is the last guard
        return None, f"The file could not be read ({type(err).__name__})."


def decoded(entries: list[tuple[str, str | None]], workers: int) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """(path, wave, error) in input order; `workers` threads decode up to PREFETCH files ahead of the consumer.
    Threads, not processes: soundfile and soxr release the GIL, and a thread costs no start-up or copying."""
    if workers <= 0:
        for path, error in entries:
            yield (path, *(decode(path) if error is None else (None, error)))
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        queue: deque = deque()
        pending = iter(entries)

        def submit(items) -> None:
            for path, error in items:
                queue.append((path, error, pool.submit(decode, path) if error is None else None))

        submit(islice(pending, PREFETCH))
        while queue:
            path, error, future = queue.popleft()
            submit(islice(pending, 1))
            yield (path, None, error) if future is None else (path, *future.result())


# --- model -------------------------------------------------------------------------------------------------------

def load(ref: str | None):
    """The requested model. An unreachable Hub with no cached copy falls back to the default model; that, or the use
    of an offline cached copy, is said on stderr."""
    from ser.models import load_with_fallback

    model, notice = load_with_fallback(ref)
    if notice:
        print(notice, file=sys.stderr)
    return model


def _load_error(err: Exception) -> str | None:
    """The sentence of a model that cannot be found or fetched (a usage error), or None for anything else."""
    from ser.models.base import ModelError

    if isinstance(err, ModelError):
        return str(err)
    if "ser.hub" in sys.modules and isinstance(err, sys.modules["ser.hub"].HubError):
        return str(err)
    return None


def _rows_for_clips(model, items: list[tuple[str, np.ndarray]], merge: bool) -> list[Row]:
    """One model call for the batch; if it fails, clip by clip, so one bad clip cannot take its neighbours down."""
    from ser import inference

    try:
        results = inference.analyse_batch([wave for _, wave in items], model, merge)
    except Exception as err:
        if len(items) == 1:
            return [Row(items[0][0], error=f"The model could not analyse this file ({type(err).__name__}).")]
        return [row for item in items for row in _rows_for_clips(model, [item], merge)]
    return [_row(path, result.labels, result.probs) for (path, _), result in zip(items, results)]


def _row(path: str, labels: list[str], probs: np.ndarray, start: float | None = None, end: float | None = None) -> Row:
    top = int(np.argmax(probs))
    return Row(path, labels[top], float(probs[top]), {label: float(p) for label, p in zip(labels, probs)}, start=start, end=end)


def _rows_for_recording(model, path: str, wave: np.ndarray, merge: bool, per_window: bool) -> list[Row]:
    """A timeline of windows: all of its rows with --timeline, else one row with their average (as the app does)."""
    from ser import inference

    try:
        tl = inference.timeline(wave, model, merge_calm_neutral=merge)
    except Exception as err:
        return [Row(path, error=f"The model could not analyse this file ({type(err).__name__}).")]
    if not per_window:
        return [_row(path, tl.labels, tl.mean())]
    return [_row(path, tl.labels, p, float(s), float(e)) for s, e, p in zip(tl.starts, tl.ends, tl.probs)]


def predict_rows(model, stream, timeline: bool, merge: bool, batch_size: int = BATCH_SIZE, progress=None) -> Iterator[Row]:
    """Rows in input order. Short clips are batched; recordings longer than the app's timeline threshold
    (or every file with --timeline) go through `inference.timeline`."""
    from ser.audio import SAMPLE_RATE
    from ser.inference import LONG_CLIP_S

    batch: list[tuple[str, np.ndarray]] = []

    def flush() -> list[Row]:
        rows = _rows_for_clips(model, batch, merge) if batch else []
        if progress is not None:
            progress.update(len(batch))
        batch.clear()
        return rows

    for path, wave, error in stream:
        if wave is not None and not timeline and wave.size / SAMPLE_RATE <= LONG_CLIP_S:
            batch.append((path, wave))
            if len(batch) >= batch_size:
                yield from flush()
            continue
        yield from flush()  # keep the input order
        yield from [Row(path, error=error)] if wave is None else _rows_for_recording(model, path, wave, merge, timeline)
        if progress is not None:
            progress.update(1)
    yield from flush()


# --- outputs -----------------------------------------------------------------------------------------------------

def columns(labels: list[str], timeline: bool) -> list[str]:
    return ["file"] + (["start", "end"] if timeline else []) + ["label", "probability"] + list(labels) + ["error"]


def _record(row: Row, labels: list[str], timeline: bool) -> dict:
    record = {"file": row.file}
    if timeline:
        record.update(start=row.start, end=row.end)
    record.update(label=row.label, probability=None if row.probability is None else round(row.probability, DECIMALS))
    record.update({label: (round(row.probs[label], DECIMALS) if label in row.probs else None) for label in labels})
    record["error"] = row.error
    return record


def format_json(rows: list[Row], labels: list[str], timeline: bool) -> str:
    return json.dumps([_record(r, labels, timeline) for r in rows], indent=2) + "\n"


def format_csv(rows: list[Row], labels: list[str], timeline: bool) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(labels, timeline), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in _record(row, labels, timeline).items()})
    return out.getvalue()


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]


def format_table(rows: list[Row], labels: list[str], timeline: bool) -> str:
    """Aligned columns for a terminal: percentages, and the error sentence in place of the numbers."""
    file_width = min(TABLE_FILE_WIDTH, max([len("file")] + [len(r.file) for r in rows]))
    label_width = max([len("emotion")] + [len(label) for label in labels])
    widths = [max(4, len(label)) for label in labels]
    head = [f"{'file':<{file_width}}"] + ([f"{'start':>6}", f"{'end':>6}"] if timeline else [])
    lines = ["  ".join(head + [f"{'emotion':<{label_width}}", "prob"] + [f"{l:>{w}}" for l, w in zip(labels, widths)])]
    for row in rows:
        cells = [f"{_shorten(row.file, file_width):<{file_width}}"]
        if timeline:
            cells += [f"{row.start:6.1f}", f"{row.end:6.1f}"] if row.start is not None else [" " * 6, " " * 6]
        if row.error is not None:
            cells.append(f"error: {row.error}")
        else:
            cells += [f"{row.label:<{label_width}}", f"{row.probability:4.0%}"]
            cells += [f"{row.probs[label]:>{w}.0%}" for label, w in zip(labels, widths)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


WRITERS = {"table": format_table, "json": format_json, "csv": format_csv}


def output_format(requested: str | None, out: str | None) -> str:
    """--format, else the --out file's suffix (.json, .csv), else a table."""
    if requested:
        return requested
    suffix = Path(out).suffix.lower().lstrip(".") if out else ""
    return suffix if suffix in ("json", "csv") else "table"


# --- commands ----------------------------------------------------------------------------------------------------

def default_workers() -> int:
    """Decode threads: decoding a clip takes ~2 ms against tens of ms for the model, so one thread per two cores is plenty."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ser", description="Speech emotion recognition from the command line.")
    commands = parser.add_subparsers(dest="command", metavar="{predict,eval}")
    predict = commands.add_parser("predict", help="label audio files, folders or glob patterns with an emotion",
                                  description="Label audio files, folders (searched recursively) or glob patterns with an emotion.")
    predict.add_argument("paths", nargs="+", metavar="PATH", help="audio files, folders, or quoted glob patterns")
    predict.add_argument("--model", default=None, metavar="NAME|DIR|HUB_ID",
                         help="a shipped model name, a model folder, or a Hub id owner/name[@revision] (default: the shipped default)")
    predict.add_argument("--timeline", action="store_true", help="one row per 3-s window over the speech instead of one per file")
    predict.add_argument("--format", choices=FORMATS, default=None, help="output format (default: from --out's suffix, else table)")
    predict.add_argument("--out", metavar="FILE", default=None, help="write the rows here instead of standard output")
    predict.add_argument("--merge-calm-neutral", action="store_true", help="report calm and neutral as one class, calm/neutral")
    predict.add_argument("--workers", type=int, default=default_workers(), metavar="N",
                         help="decoding threads beside the model (0: decode in the main thread; default %(default)s)")
    predict.add_argument("--threads", type=int, default=None, metavar="N",
                         help="torch threads for the model (default: torch's choice, one per core; on a busy machine 1 is faster)")
    predict.add_argument("--batch-size", type=int, default=BATCH_SIZE, metavar="N", help="clips per model call (default %(default)s)")
    predict.add_argument("--quiet", action="store_true", help="no progress bar or summary on standard error")
    commands.add_parser("eval", help="run the evaluation protocol (python -m train.evaluate); options are passed on", add_help=False)
    return parser


def run_predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

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
        message = _load_error(err)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return EXIT_USAGE
    labels = list(model.labels)
    if args.merge_calm_neutral:
        from ser.labels import merge_calm_neutral

        labels = merge_calm_neutral(labels, np.zeros(len(labels)))[0]
    if not args.quiet:
        print(f"Model {model.name}: {len(entries)} file(s)", file=sys.stderr)
    with tqdm(total=len(entries), unit="file", file=sys.stderr, disable=args.quiet, dynamic_ncols=True) as bar:
        rows = list(predict_rows(model, decoded(entries, args.workers), args.timeline, args.merge_calm_neutral, args.batch_size, bar))
    text = WRITERS[output_format(args.format, args.out)](rows, labels, args.timeline)
    if args.out:
        Path(args.out).expanduser().write_text(text)
    else:
        sys.stdout.write(text)
    failed = sorted({r.file for r in rows if r.error is not None})
    if not args.quiet:
        where = f" -> {args.out}" if args.out else ""
        print(f"{len(entries) - len(failed)} of {len(entries)} file(s) labelled, {len(failed)} failed, "
              f"in {time.perf_counter() - started:.1f} s{where}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def run_eval(argv: list[str]) -> int:
    from train import evaluate

    sys.argv[0] = "python -m ser eval"  # its parser names the program from argv[0]
    evaluate.main(argv)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv[:1] == ["eval"]:  # everything after `eval` belongs to train.evaluate's own parser
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
