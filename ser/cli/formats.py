"""The command line's outputs: rows as an aligned table, JSON or CSV, with the same columns under the same names in
all three (`columns`, documented in `COLUMNS_HELP`): every probability in its own column; whether the model is unsure
(its top probability under the threshold chosen on unseen corpora) and whether the clip is unlike every clip it was
trained on; for a model with a gender head, the speaker's gender and its probabilities as the app shows them.
A column that does not apply is empty in CSV, null in JSON and "-" in the table; the table writes a failed row's error
sentence in place of its numbers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ser.cli.rows import Row

FORMATS = ("table", "json", "csv")
TABLE_FILE_WIDTH = 48  # longer paths keep their end (the file name) in the table
DECIMALS = 6  # probabilities in JSON/CSV: more digits are noise
TIME_DECIMALS = 3  # window bounds in JSON/CSV, in seconds (a millisecond)
FLAG_MARKS = {True: "yes", False: "no", None: "-"}  # the table's unsure and unlike_training; "-": the model cannot tell
COLUMNS_HELP = """columns (the same names in table, CSV and JSON; probabilities from 0 to 1 (the table: percentages), flags
true/false (the table: yes/no); "-" in the table, empty in CSV and null in JSON where a column does not apply):
  file               the input path, as given or as found in a folder
  start, end         with --timeline only: the window, in seconds from the start of the file
  label              the most probable emotion (of a long recording: of the mean over its windows, as in the app)
  probability        that emotion's probability
  unsure             true when that probability is under the model's unsure threshold, chosen on corpora it never heard
                     (answers like it were more often wrong than right there, in every corpus); "-" for a model without
                     one, or where no level told right answers from wrong (the default model without a profile)
  unlike_training    true when the clip is unlike every clip the model learned from (another kind of voice, language,
                     microphone or room); of a long recording: when most of its windows are; "-" for a model that
                     cannot tell
  profile            the voice profile the row was scored with: "<folder> (<n> clips)" with --profile or
                     --speaker-folders, else none
  <emotion>          one column per emotion of the model: its probability
  gender, <gender>   for a model with a gender head only: the likelier gender of the voice and each one's probability
  error              why a file could not be labelled, in one sentence (then every other column but file is empty;
                     the table writes it in place of the numbers); empty when the file was labelled"""


def columns(labels: list[str], timeline: bool, genders: list[str] = ()) -> list[str]:
    gender = ["gender", *genders] if genders else []
    return (["file"] + (["start", "end"] if timeline else []) + ["label", "probability", "unsure", "unlike_training", "profile"]
            + list(labels) + gender + ["error"])


def _record(row: Row, labels: list[str], timeline: bool, genders: list[str] = ()) -> dict:
    record = {"file": row.file}
    if timeline:
        record.update({k: None if v is None else round(v, TIME_DECIMALS) for k, v in (("start", row.start), ("end", row.end))})
    record.update(label=row.label, probability=None if row.probability is None else round(row.probability, DECIMALS),
                  unsure=row.unsure, unlike_training=row.far, profile=None if row.error is not None else row.profile)
    record.update({label: (round(row.probs[label], DECIMALS) if label in row.probs else None) for label in labels})
    if genders:
        record["gender"] = row.gender
        record.update({g: (round(row.gender_probs[g], DECIMALS) if g in row.gender_probs else None) for g in genders})
    record["error"] = row.error
    return record


def records(rows: list[Row], labels: list[str], timeline: bool, genders: list[str] = ()) -> list[dict]:
    """Rows as dicts in column order with unformatted values (None when empty): what JSON, CSV and Parquet hold."""
    return [_record(r, labels, timeline, genders) for r in rows]


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


def _table_cell(row: Row, column: str, labels: list[str], genders: list[str]) -> str:
    """One column of a labelled row as the table shows it: probabilities as percentages, flags as yes/no/-."""
    if column == "file":
        return row.file
    if column in ("start", "end"):
        value = getattr(row, column)
        return "" if value is None else f"{value:.1f}"
    if column == "label":
        return row.label or "-"
    if column == "probability":
        return "-" if row.probability is None else f"{row.probability:.0%}"
    if column in ("unsure", "unlike_training"):
        return FLAG_MARKS[row.unsure if column == "unsure" else row.far]
    if column == "gender":
        return row.gender or "-"
    if column == "profile":
        return row.profile
    values = row.probs if column in labels else row.gender_probs
    return f"{values[column]:.0%}" if column in values else "-"


LEFT_ALIGNED = ("file", "label", "unsure", "unlike_training", "profile", "gender")


def format_table(rows: list[Row], labels: list[str], timeline: bool, genders: list[str] = ()) -> str:
    """Aligned columns for a terminal, named as in CSV and JSON; a failed row's error sentence in place of its numbers."""
    names = [c for c in columns(labels, timeline, genders) if c != "error"]
    cells = [[_table_cell(row, c, labels, genders) for c in names] for row in rows]
    widths = [max([len(name)] + [len(r[i]) for r, row in zip(cells, rows) if row.error is None]) for i, name in enumerate(names)]
    widths[0] = min(TABLE_FILE_WIDTH, max([len("file")] + [len(row.file) for row in rows]))

    def line(values: list[str]) -> str:
        return "  ".join(f"{v:<{w}}" if n in LEFT_ALIGNED else f"{v:>{w}}" for n, v, w in zip(names, values, widths)).rstrip()

    lines = [line(names)]
    for row, values in zip(rows, cells):
        values[0] = _shorten(row.file, widths[0])
        lines.append(f"{values[0]:<{widths[0]}}  error: {row.error}" if row.error is not None else line(values))
    return "\n".join(lines) + "\n"


WRITERS = {"table": format_table, "json": format_json, "csv": format_csv}


def output_format(requested: str | None, out: str | None) -> str:
    """--format, else the --out file's suffix (.json, .csv), else a table."""
    if requested:
        return requested
    suffix = Path(out).suffix.lower().lstrip(".") if out else ""
    return suffix if suffix in ("json", "csv") else "table"
