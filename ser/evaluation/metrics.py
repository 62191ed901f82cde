"""Scores for speaker-independent evaluation, and the one JSON report format read by the README, model cards and app."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from ser import settings
from ser.encoders.path import cpu_model

ACCURACY_REPORT = "accuracy.json"


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return matrix


def scores_from_confusion(matrix: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, UAR (mean of per-class recall over classes present), macro-F1, per-class recall, calm<->neutral count."""
    matrix = np.asarray(matrix, dtype=np.int64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    hits = np.diag(matrix)
    present = support > 0
    recall = np.divide(hits, support, out=np.zeros(len(labels)), where=present)
    precision = np.divide(hits, predicted, out=np.zeros(len(labels)), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(labels)), where=(precision + recall) > 0)
    calm_neutral = 0
    if "calm" in labels and "neutral" in labels:
        c, n = labels.index("calm"), labels.index("neutral")
        calm_neutral = int(matrix[c, n] + matrix[n, c])
    total = int(matrix.sum())
    return {
        "n": total,
        "accuracy": float(hits.sum() / total) if total else 0.0,
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class_recall": {label: float(r) for label, r, p in zip(labels, recall, present) if p},
        "calm_neutral_confusions": calm_neutral,
        "labels": list(labels),
        "confusion": matrix.tolist(),
    }


def compute_metrics(y_true, y_pred, labels: list[str]) -> dict:
    """All scores for integer class ids `y_true`, `y_pred` over `labels`."""
    return scores_from_confusion(confusion_matrix(y_true, y_pred, len(labels)), list(labels))


def machine_info() -> dict:
    import os

    import torch

    from ser.encoders.runtime import planned_runtime
    from ser.encoders.precision import fast_dtype, precision_name

    return {
        "python": platform.python_version(), "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        # the default model's speed and its states depend on it: bfloat16 only where the CPU runs it natively
        "whisper_encoder_dtype": precision_name(fast_dtype()),
        "whisper_encoder_runtime": planned_runtime(),  # SER_ENCODER_RUNTIME: torch, onnxruntime or openvino
    }


def report_path(name: str = ACCURACY_REPORT) -> Path:
    return settings.REPORTS_DIR / name


def write_report(report: dict, name: str = ACCURACY_REPORT, command: str | None = None) -> Path:
    """Write `reports/<name>` with when, how and on what machine it was made."""
    report = {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": command, "machine": machine_info(), **report}
    path = report_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def read_report(name: str = ACCURACY_REPORT) -> dict:
    """The report, or {} when it has not been generated yet."""
    path = report_path(name)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def model_scores(model_name: str, name: str = ACCURACY_REPORT) -> dict | None:
    """One model's cross-validated entry of the accuracy report, or None."""
    return read_report(name).get("models", {}).get(model_name)


ECE_BINS = 15  # equal-width confidence bins, as in Guo et al. (2017)


def restrict_probabilities(probs, labels: list[str], allowed: set[str]) -> tuple[list[str], np.ndarray]:
    """Probabilities over the labels a test corpus has, renormalised. Where it has only one of calm and neutral, the
    other's probability is added to it first: a corpus without calm files its calm-sounding clips as neutral (and
    TurEV-DB, without neutral, files neutral-sounding ones as calm)."""
    probs = np.array(probs, dtype=np.float64, ndmin=2)
    labels = list(labels)
    for keep, fold_in in (("neutral", "calm"), ("calm", "neutral")):
        if keep in allowed and fold_in not in allowed and keep in labels and fold_in in labels:
            probs[:, labels.index(keep)] += probs[:, labels.index(fold_in)]
    kept = [label for label in labels if label in allowed]
    out = probs[:, [labels.index(label) for label in kept]]
    total = out.sum(axis=1, keepdims=True)
    return kept, np.divide(out, total, out=np.full_like(out, 1.0 / max(len(kept), 1)), where=total > 0)


def expected_calibration_error(confidence, correct, n_bins: int = ECE_BINS) -> float:
    """Sum over equal-width confidence bins of (share of clips in the bin) x |accuracy - mean confidence| in the bin:
    0 when a model that says 70% is right 70% of the time."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if not confidence.size:
        return 0.0
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        here = bins == b
        ece += here.mean() * abs(correct[here].mean() - confidence[here].mean())
    return float(ece)


def prediction_shares(predicted: list[str], labels: list[str]) -> dict[str, float]:
    """How often each label is predicted (share of clips): a model that answers one label for everything shows here."""
    n = max(len(predicted), 1)
    return {label: sum(p == label for p in predicted) / n for label in labels}


def unseen_corpus_scores(emotions: list[str], probs, labels: list[str], allowed: set[str]) -> dict:
    """Scores of one test corpus: UAR etc. of the argmax over the labels the corpus has (calm/neutral folded as in
    `restrict_probabilities`), neutral recall, ECE of those restricted probabilities, and the share of each label among
    the plain argmax over all the model's labels (what the app would show)."""
    kept, restricted = restrict_probabilities(probs, labels, allowed)
    truth = [kept.index(e) for e in emotions]
    guess = restricted.argmax(axis=1)
    scores = compute_metrics(truth, guess, kept)
    plain = [labels[i] for i in np.asarray(probs).argmax(axis=1)]
    shares = prediction_shares(plain, labels)
    scores.update(
        neutral_recall=scores["per_class_recall"].get("neutral"),
        ece=expected_calibration_error(restricted.max(axis=1), guess == np.asarray(truth)),
        prediction_shares=shares, top_share_label=max(shares, key=shares.get), top_share=max(shares.values()),
    )
    return scores
