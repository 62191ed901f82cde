"""The command line's outputs: rows as an aligned table, JSON or CSV, every probability in its own column; whether the
model is unsure (its top probability under the threshold chosen on unseen corpora) and whether the clip is unlike every
clip it was trained on; for a model with a gender head, the speaker's gender and its probabilities as the app shows them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ser.cli_rows import Row

FORMATS = ("table", "json", "csv")
TABLE_FILE_WIDTH = 48  # longer paths keep their end (the file name) in the table
DECIMALS = 6  # probabilities in JSON/CSV: more digits are noise
UNSURE_MARKS = {True: "yes", False: "no", None: "-"}  # "-": the model has no unsure threshold


def columns(labels: list[str], timeline: bool, genders: list[str] = ()) -> list[str]:
    gender = ["gender", *genders] if genders else []
    return (["file"] + (["start", "end"] if timeline else []) + ["label", "probability", "unsure", "unlike_training", "profile"] + list(labels)
            + gender + ["error"])


def _record(row: Row, labels: list[str], timeline: bool, genders: list[str] = ()) -> dict:
    record = {"file": row.file}
    if timeline:
        record.update(start=row.start, end=row.end)
    record.update(label=row.label, probability=None if row.probability is None else round(row.probability, DECIMALS),
                  unsure=row.unsure, unlike_training=row.far, profile=None if row.error is not None else row.profile)
    record.update({label: (round(row.probs[label], DECIMALS) if label in row.probs else None) for label in labels})
    if genders:
        record["gender"] = row.gender
        record.update({g: (round(row.gender_probs[g], DECIMALS) if g in row.gender_probs else None) for g in genders})
    record["error"] = row.error
    return record


def format_json(rows: list[Row], labels: list[str], timeline: bool, genders: list[str] = ()) -> str:
    return json.dumps([_record(r, labels, timeline, genders) for r in rows], indent=2) + "\n"


def format_csv(rows: list[Row], labels: list[str], timeline: bool, genders: list[str] = ()) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(labels, timeline, genders), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in _record(row, labels, timeline, genders).items()})
    return out.getvalue()


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]


def format_table(rows: list[Row], labels: list[str], timeline: bool, genders: list[str] = ()) -> str:
    """Aligned columns for a terminal: percentages, and the error sentence in place of the numbers."""
    file_width = min(TABLE_FILE_WIDTH, max([len("file")] + [len(r.file) for r in rows]))
    label_width = max([len("emotion")] + [len(label) for label in labels])
    widths = [max(4, len(label)) for label in labels]
    head = [f"{'file':<{file_width}}"] + ([f"{'start':>6}", f"{'end':>6}"] if timeline else [])
    gender_head = [f"{'gender':<6}"] if genders else []
    lines = ["  ".join(head + [f"{'emotion':<{label_width}}", "prob", "unsure"] + [f"{l:>{w}}" for l, w in zip(labels, widths)]
                       + gender_head)]
    for row in rows:
        cells = [f"{_shorten(row.file, file_width):<{file_width}}"]
        if timeline:
            cells += [f"{row.start:6.1f}", f"{row.end:6.1f}"] if row.start is not None else [" " * 6, " " * 6]
        if row.error is not None:
            cells.append(f"error: {row.error}")
        else:
            cells += [f"{row.label:<{label_width}}", f"{row.probability:4.0%}", f"{UNSURE_MARKS[row.unsure]:<6}"]
            cells += [f"{row.probs[label]:>{w}.0%}" for label, w in zip(labels, widths)]
            cells += [f"{row.gender or '-':<6}"] if genders else []
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


WRITERS = {"table": format_table, "json": format_json, "csv": format_csv}


def output_format(requested: str | None, out: str | None) -> str:
    """--format, else the --out file's suffix (.json, .csv), else a table."""
    if requested:
        return requested
    suffix = Path(out).suffix.lower().lstrip(".") if out else ""
    return suffix if suffix in ("json", "csv") else "table"
