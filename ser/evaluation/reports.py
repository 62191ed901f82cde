"""Everything the page and the CLI show from `reports/`, read in one place: no number on the page is typed by hand.

    scores, source = cv_scores("whisper-head")        # its speaker-independent cross-validation, and which report
    held_out = held_out_predictions("whisper-head")   # clip name -> what the model said when it had not heard that actor
    count, total = calm_neutral_count(scores)         # 19 of 288: calm/neutral confusions over the calm and neutral clips
    unseen = unseen_corpus_scores("whisper-head")     # leave-one-corpus-out scores, when the report has them

The accuracy report is `reports/accuracy.json` (`python -m train.evaluation.evaluate`); each cross-validated row also keeps
`reports/cv/<row>.json` and the per-clip out-of-fold probabilities `reports/cv/<row>.predictions.csv` (columns clip,
fold, emotion, then one per label).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ser import settings
from ser.evaluation.metrics import ACCURACY_REPORT, model_scores, read_report

CV_FOLDER = "cv"
PREDICTIONS_SUFFIX = ".predictions.csv"
UNSEEN_SUFFIXES = {"loco": "-loco", "emobox": "-emobox"}  # accuracy.json keeps these protocols' rows under their own keys


def cv_scores(name: str) -> tuple[dict | None, str]:
    """A model's speaker-independent cross-validated scores and the report they come from (the accuracy report, else
    the row's own CV report), or (None, "") when neither has it."""
    scores = model_scores(name)
    if scores:
        return scores, f"reports/{ACCURACY_REPORT}"
    own = read_report(f"{CV_FOLDER}/{name}.json")
    return (own, f"reports/{CV_FOLDER}/{name}.json") if "uar" in own else (None, "")


def chance_level(scores: dict) -> float:
    """UAR of guessing: one over the number of labels the scores are over."""
    return 1.0 / max(1, len(scores.get("labels") or ()))


def class_support(scores: dict) -> dict[str, int]:
    """How many test clips each true label had (the confusion matrix's row sums)."""
    return {label: int(sum(row)) for label, row in zip(scores.get("labels", []), scores.get("confusion", []))}


def calm_neutral_count(scores: dict) -> tuple[int, int] | None:
    """(calm<->neutral confusions, calm and neutral test clips in all), or None when the scores lack either."""
    support = class_support(scores)
    if "calm_neutral_confusions" not in scores or "calm" not in support or "neutral" not in support:
        return None
    return int(scores["calm_neutral_confusions"]), support["calm"] + support["neutral"]


def unseen_corpus_scores(name: str, protocol: str = "loco") -> dict | None:
    """The row `<name>-loco` (or `-emobox`) of the accuracy report, under its protocol's key, or None."""
    rows = read_report().get(protocol) or {}
    return rows.get(f"{name}{UNSEEN_SUFFIXES[protocol]}")


@dataclass(frozen=True)
class HeldOut:
    """What a cross-validation fold's model said about a clip whose speaker it had not heard."""

    clip: str  # the file stem, e.g. 03-01-01-01-02-02-07
    fold: int
    emotion: str  # the label the actor was asked to portray
    labels: tuple[str, ...]
    probs: np.ndarray

    @property
    def top(self) -> tuple[str, float]:
        i = int(np.argmax(self.probs))
        return self.labels[i], float(self.probs[i])

    def prob(self, label: str) -> float:
        return float(self.probs[self.labels.index(label)]) if label in self.labels else 0.0


def predictions_path(name: str) -> Path:
    return settings.REPORTS_DIR / CV_FOLDER / f"{name}{PREDICTIONS_SUFFIX}"


def held_out_predictions(name: str) -> dict[str, HeldOut]:
    """Clip stem -> its out-of-fold prediction by the cross-validated row `name`; {} when the row kept none."""
    path = predictions_path(name)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _read_predictions(path, stamp)


@functools.lru_cache(maxsize=8)
def _read_predictions(path: Path, stamp: int) -> dict[str, HeldOut]:  # `stamp`: a regenerated file is read again
    with path.open(newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if not header or header[:3] != ["clip", "fold", "emotion"]:
            return {}
        labels = tuple(header[3:])
        rows = {}
        for row in reader:
            if len(row) == len(header):
                rows[row[0]] = HeldOut(row[0], int(row[1]), row[2], labels, np.array(row[3:], dtype=np.float64))
        return rows
