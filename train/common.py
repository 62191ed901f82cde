"""What every training script shares: seeds, dataclass arguments, the actor-disjoint cross-validation loop,
the `reports/cv/<model>.json` result files, and the model card.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ser import settings
from ser.evaluation.corpora import RAVDESS_FOLDS, Record, validation_split
from ser.labels import EMOTIONS
from ser.evaluation import protocols
from ser.evaluation.metrics import compute_metrics, unseen_corpus_scores
from ser.models.base import LICENSE, EmotionModel  # noqa: F401 (LICENSE: used by the training scripts)

CV_DIR = settings.REPORTS_DIR / "cv"
# exactly these keys go into reports/cv/<model>.json, which train/evaluation/evaluate.py merges into reports/accuracy.json
CV_KEYS = ("uar", "accuracy", "macro_f1", "per_class_recall", "confusion", "labels", "calm_neutral_confusions", "folds",
           "train_time_s", "eval_wall_time_s", "protocol")
@dataclass
class CommonArgs:
    """Arguments every training script takes."""

    corpora: list[str] = field(default_factory=lambda: ["ravdess", "tess"], metadata={"help": "corpora to train on"})
    out: Optional[str] = field(default=None, metadata={"help": "model directory (default assets/models/<name>)"})
    name: Optional[str] = field(default=None, metadata={"help": "model name (default: the script's, or the out folder's name)"})
    seed: int = field(default=0, metadata={"help": "seed for numpy, random and torch"})
    cv: bool = field(default=False, metadata={"help": "cross-validate first (the protocol: --protocol)"})
    protocol: str = field(default="ravdess6", metadata={"help": "the --cv protocol: ravdess6 (6-fold actor-disjoint RAVDESS), emobox "
                                                                "(EmoBox's RAVDESS folds) or loco (leave one corpus out: the unseen-corpus test)"})
    final: bool = field(default=True, metadata={"help": "fit on all clips and save the model (--no_final for CV only)"})
    folds: Optional[list[int]] = field(default=None, metadata={"help": "CV folds to run (quick experiments; a subset writes no report)"})
    push_to_hub: Optional[str] = field(default=None, metadata={"help": "Hub repo to upload the saved model to"})

    def resolve(self, default_name: str) -> None:
        """Fill `name` and `out` from each other."""
        self.name = self.name or (Path(self.out).name if self.out else default_name)
        self.out = self.out or str(settings.MODELS_DIR / self.name)


def set_seed(seed: int) -> None:
    """Seed Python, numpy and (when imported) torch."""
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:  # seed torch only when the script uses it: the classic model never imports it
        sys.modules["torch"].manual_seed(seed)


def parse_args(*dataclass_types, argv: list[str] | None = None) -> tuple:
    """One instance per dataclass, from the command line (`--field value`, `--flag`, `--no_flag`)."""
    from transformers import HfArgumentParser

    return tuple(HfArgumentParser(dataclass_types).parse_args_into_dataclasses(args=argv))


def protocol_text(corpora: list[str], protocol: str = "ravdess6") -> str:
    others = [c for c in corpora if c != "ravdess"]
    folds = ("EmoBox's 6 RAVDESS folds (test actors " + " / ".join(" ".join(f"{a:02d}" for a in f) for f in protocols.EMOBOX_FOLDS) + ")"
             if protocol == "emobox" else "test folds are actors 1-4, 5-8, ..., 21-24")
    return (
        f"{RAVDESS_FOLDS}-fold actor-disjoint cross-validation on RAVDESS speech: {folds} "
        f"(every RAVDESS clip is tested once, by a model that never heard its speaker); "
        + (f"{', '.join(others).upper()} clips are only ever in the training folds; " if others else "")
        + "scores are pooled over all test predictions; train_time_s is the summed fitting time of the folds, "
        "eval_wall_time_s the wall time of the cross-validation run"
    )


def cross_validate(
    records: list[Record],
    fit: Callable[[list[Record], list[Record]], EmotionModel],
    predict: Callable[[EmotionModel, list[Record]], np.ndarray] | None = None,
    *,
    labels: tuple[str, ...] = EMOTIONS,
    val_speakers: int = 2,
    seed: int = 0,
    folds: list[int] | None = None,
    started: float | None = None,
    log: Callable[[str], None] = print,
    protocol: str = "ravdess6",
    train_corpora: list[str] | None = None,
) -> dict:
    """Fit one model per fold of `protocol` (ser.evaluation.protocols) and score its test clips.

    `fit(train, val)` gets the training records split by speaker (`val_speakers` RAVDESS actors held out for early
    stopping; 0 = none); `predict(model, records)` returns probabilities (default: load the audio, `model.predict`).
    Only clips of `train_corpora` (default: every corpus in `records` but the test-only ones) are trained on.
    `started` (a `time.perf_counter()` value) makes features computed once beforehand count in the wall time.
    Returns the CV_KEYS scores (under `loco`: per unseen corpus, see `cross_corpus_scores`) plus `predictions`
    (per fold: test indices, clip names, true emotions, probabilities).
    """
    predict = predict or predict_records
    started = time.perf_counter() if started is None else started
    splits = protocols.folds(protocol, records, train_corpora)
    fold_rows, predictions, train_time = [], [], 0.0
    for k, split in enumerate(splits):
        if folds is not None and k not in folds:
            continue
        train_idx, val_idx = validation_split(records, split.train, n_speakers=val_speakers, seed=seed + k)
        tick = time.perf_counter()
        model = fit([records[i] for i in train_idx], [records[i] for i in val_idx])
        train_time += time.perf_counter() - tick
        probs = np.asarray(predict(model, [records[i] for i in split.test]), dtype=np.float64)
        scored = ~np.isnan(probs).any(axis=1)  # NaN rows: clips a family used otherwise (e.g. as a speaker's profile)
        if not scored.any():  # e.g. URDU under a voice profile: no speaker there shows every emotion of the corpus
            log(f"fold {k} ({split.name}): no clip scored under this row's rules; left out of the row")
            continue
        indices, probs = split.test[scored], probs[scored]
        test = [records[i] for i in indices]
        predictions.append({"fold": k, "name": split.name, "indices": indices, "clips": [Path(r.path).stem for r in test],
                            "emotions": [r.emotion for r in test], "labels": list(model.labels), "probabilities": probs,
                            "train_corpora": sorted({records[i].corpus for i in train_idx}), "not_scored": int((~scored).sum())})
        truth = [labels.index(r.emotion) for r in test]
        guess = [labels.index(model.labels[j]) for j in np.argmax(probs, axis=1)]
        scores = compute_metrics(truth, guess, labels)
        speakers = sorted({r.speaker for r in test})
        fold_rows.append({"fold": k, "name": split.name, "test_speakers": speakers, "n": scores["n"], "uar": scores["uar"],
                          "accuracy": scores["accuracy"], **({"not_scored": int((~scored).sum())} if not scored.all() else {})})
        log(f"fold {k} ({split.name}): UAR {scores['uar']:.3f}, accuracy {scores['accuracy']:.3f} (all {len(labels)} labels)")
    times = {"train_time_s": round(train_time, 1), "eval_wall_time_s": round(time.perf_counter() - started, 1)}
    if protocol == "loco":
        return {**cross_corpus_scores(predictions, records), **times, "predictions": predictions}
    y_true = [labels.index(e) for p in predictions for e in p["emotions"]]
    y_pred = [labels.index(p["labels"][j]) for p in predictions for j in np.argmax(p["probabilities"], axis=1)]
    result = compute_metrics(y_true, y_pred, labels)
    result.update(folds=fold_rows, **times, protocol=protocol_text(sorted({r.corpus for r in records}), protocol),
                  protocol_id=protocol, mean_fold_uar=float(np.mean([f["uar"] for f in fold_rows])) if fold_rows else 0.0,
                  predictions=predictions)
    return result


def cross_corpus_scores(predictions: list[dict], records: list[Record]) -> dict:
    """Per unseen corpus: `ser.evaluation.metrics.unseen_corpus_scores` (argmax over the labels it has, neutral recall, ECE,
    share of each predicted label) and what trained its model; `mean_uar` is their mean."""
    has = protocols.corpus_emotions(records)
    corpora = {}
    for fold in predictions:
        scores = unseen_corpus_scores(fold["emotions"], fold["probabilities"], fold["labels"], has[fold["name"]])
        test = [records[i] for i in fold["indices"]]
        corpora[fold["name"]] = {**scores, "speakers": len({r.speaker for r in test}), "train_corpora": fold["train_corpora"],
                                 **({"not_scored": fold["not_scored"]} if fold.get("not_scored") else {})}
    return {"protocol_id": "loco", "protocol": LOCO_TEXT, "corpora": corpora,
            "mean_uar": float(np.mean([c["uar"] for c in corpora.values()])) if corpora else 0.0}


LOCO_TEXT = ("leave one corpus out: each of " + ", ".join(c.upper() for c in protocols.LOCO_CORPORA) + " is tested by a model "
             "trained on the recipe's other corpora, and " + ", ".join(c.upper() for c in protocols.TEST_ONLY_CORPORA)
             + " (never trained on) by one trained on all of them; each corpus is scored with the argmax over the labels "
             "it has (calm folded into neutral where it has no calm, neutral into calm where it has no neutral)")


def predict_records(model: EmotionModel, records: list[Record]) -> np.ndarray:
    from ser.evaluation.corpora import load_clip

    return model.predict([load_clip(r.path) for r in records])


OPTIONAL_CV_KEYS = ("noisy_test", "protocol_id", "mean_fold_uar")  # noisy_test: noisy copies of the test clips (train.heads.whisper)
LOCO_KEYS = ("protocol_id", "protocol", "corpora", "mean_uar", "train_time_s", "eval_wall_time_s")
OPTIONAL_LOCO_KEYS = ("temperature", "unsure_threshold", "calibrated_from", "plain_accuracy")  # rows of train/calibration/emotion.py
PREDICTIONS_SUFFIX = ".predictions.csv"  # reports/cv/<name>.predictions.csv: every test clip's probabilities


def write_cv_result(name: str, result: dict, cv_dir: Path | None = None) -> Path:
    """Write `reports/cv/<name>.json` (or `<cv_dir>/<name>.json`) with exactly the CV_KEYS (and the optional robustness
    check when a family ran it), and beside it every test clip's probabilities, from which train/evaluation/evaluate.py scores
    ensembles of rows."""
    cv_dir = CV_DIR if cv_dir is None else Path(cv_dir)
    path = cv_dir / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = (LOCO_KEYS + tuple(k for k in OPTIONAL_LOCO_KEYS if k in result) if result.get("protocol_id") == "loco"
            else CV_KEYS + tuple(k for k in OPTIONAL_CV_KEYS if k in result))
    path.write_text(json.dumps({key: result[key] for key in keys}, indent=2) + "\n")
    if result.get("predictions"):
        write_cv_predictions(cv_dir / f"{name}{PREDICTIONS_SUFFIX}", result["predictions"], result.get("labels", list(EMOTIONS)))
    return path


def write_cv_predictions(path: Path, predictions: list[dict], labels: list[str]) -> None:
    """One row per test clip: its name (the file stem), fold and true emotion, and the probability of each of `labels`
    (0 for a label the fold's model does not have)."""
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["clip", "fold", "emotion", *labels])  # fold: its index in the protocol's folds
        for fold in predictions:
            probs = np.asarray(fold["probabilities"], dtype=np.float64)
            columns = [fold["labels"].index(label) if label in fold["labels"] else None for label in labels]
            ordered = np.stack([probs[:, j] if j is not None else np.zeros(len(probs)) for j in columns], axis=1)
            # 6 significant digits, not 6 decimals: scoring over a corpus's own labels renormalises probabilities as small
            # as 1e-13 (a clip the model files almost wholly under a label the corpus lacks), which 6 decimals round to 0
            writer.writerows([clip, fold["fold"], emotion, *(f"{p:.6g}" for p in row)]
                             for clip, emotion, row in zip(fold["clips"], fold["emotions"], ordered))


@dataclass
class CVPredictions:
    """reports/cv/<name>.predictions.csv: per test clip its name, fold and true emotion, and the probabilities over `labels`."""

    clips: list[str]
    folds: np.ndarray
    emotions: list[str]
    probabilities: np.ndarray
    labels: list[str]


def read_cv_predictions(name: str) -> CVPredictions | None:
    """The per-clip probabilities of row `name`, or None when its run kept none (rows from before 2026-11-30)."""
    path = CV_DIR / f"{name}{PREDICTIONS_SUFFIX}"
    if not path.exists():
        return None
    with path.open(newline="") as file:
        header, *cells = list(csv.reader(file))
    return CVPredictions([c[0] for c in cells], np.array([int(c[1]) for c in cells]), [c[2] for c in cells],
                         np.array([[float(v) for v in c[3:]] for c in cells]), header[3:])


def read_cv_result(name: str) -> dict | None:
    try:
        return json.loads((CV_DIR / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


SEED_SUFFIX = "-seed"  # a recipe run with seed N > 0 is the row <recipe>-seed<N>


def seed_row(recipe: str, seed: int) -> str:
    """The CV row of `recipe` run with `seed` (seed 0 is the recipe's own row)."""
    return f"{recipe}{SEED_SUFFIX}{seed}" if seed else recipe


def other_seeds(name: str) -> dict[int, dict]:
    """CV results of `name`'s recipe run with other seeds (reports/cv/<name>-seed<N>.json), by seed."""
    found = {}
    for path in CV_DIR.glob(f"{name}{SEED_SUFFIX}*.json"):
        suffix = path.stem.removeprefix(name + SEED_SUFFIX)
        if suffix.isdigit() and (result := read_cv_result(path.stem)):
            found[int(suffix)] = result
    return dict(sorted(found.items()))


TEST_PRECISIONS = {"bfloat16": "-bf16-test", "int8": "-int8-test"}  # row suffixes: the fold models on other encoder states


def other_precisions(name: str) -> dict[str, dict]:
    """CV results of `name`'s fold models scoring test states of the encoder in another precision
    (reports/cv/<name>-bf16-test.json, ...), by precision: what the model meets where the app encodes that way."""
    return {precision: result for precision, suffix in TEST_PRECISIONS.items() if (result := read_cv_result(name + suffix))}



def maybe_push(args: CommonArgs, out_dir: str | Path) -> None:
    """Upload with `train.cards.push.maybe_push` when `--push_to_hub` is given and that module exists."""
    if not args.push_to_hub:
        return
    if importlib.util.find_spec("train.cards.push") is None:
        print("train/cards/push.py is not available; not pushing.", file=sys.stderr)
        return
    importlib.import_module("train.cards.push").maybe_push(args, out_dir)
