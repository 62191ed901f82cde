"""Scores against a confusion worked out by hand, the calm+neutral merge, and the JSON report round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ser import settings
from ser.evaluation import metrics
from ser.labels import CALM_NEUTRAL, EMOTIONS, label_index, merge_calm_neutral

LABELS = ["neutral", "calm", "happy", "sad"]
# 10 clips; "sad" never occurs in y_true but is predicted once.
#              true:    neutral x4     calm x3   happy x3
Y_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 1, 3, 1, 1, 0, 2, 2, 2]
CONFUSION = [  # rows true, columns predicted
    [2, 1, 0, 1],
    [1, 2, 0, 0],
    [0, 0, 3, 0],
    [0, 0, 0, 0],
]


def test_confusion_matrix_by_hand():
    assert metrics.confusion_matrix(Y_TRUE, Y_PRED, 4).tolist() == CONFUSION


def test_scores_by_hand():
    scores = metrics.compute_metrics(Y_TRUE, Y_PRED, LABELS)
    assert scores["n"] == 10
    assert scores["accuracy"] == pytest.approx(7 / 10)
    # recall: neutral 2/4, calm 2/3, happy 3/3; sad has no true clip, so it is not averaged in (13/24 if it were)
    assert scores["per_class_recall"] == pytest.approx({"neutral": 1 / 2, "calm": 2 / 3, "happy": 1.0})
    assert scores["uar"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)  # 13/18
    # precision: neutral 2/3, calm 2/3, happy 3/3 -> F1 neutral 2*(2/3)(1/2)/(2/3+1/2) = 4/7, calm 2/3, happy 1
    assert scores["macro_f1"] == pytest.approx((4 / 7 + 2 / 3 + 1) / 3)  # 47/63
    assert scores["calm_neutral_confusions"] == 2  # one calm heard as neutral, one neutral heard as calm
    assert scores["labels"] == LABELS and scores["confusion"] == CONFUSION
    json.dumps(scores)  # plain types only: it goes straight into the report


def test_absent_classes_do_not_change_uar():
    scores = metrics.compute_metrics([0, 0, 1, 1], [0, 1, 1, 1], EMOTIONS)  # 2 of 8 classes present
    assert scores["uar"] == pytest.approx((1 / 2 + 1) / 2)
    assert set(scores["per_class_recall"]) == {"neutral", "calm"}


def test_perfect_and_empty():
    perfect = metrics.compute_metrics([0, 1, 2], [0, 1, 2], LABELS)
    assert perfect["accuracy"] == perfect["uar"] == perfect["macro_f1"] == 1.0
    assert perfect["calm_neutral_confusions"] == 0
    empty = metrics.compute_metrics([], [], LABELS)
    assert (empty["n"], empty["accuracy"], empty["uar"], empty["macro_f1"]) == (0, 0.0, 0.0, 0.0)
    assert metrics.compute_metrics([0, 1], [1, 0], ["angry", "sad"])["calm_neutral_confusions"] == 0


def test_merge_calm_neutral_one_clip():
    probs = np.array([0.10, 0.25, 0.05, 0.20, 0.15, 0.10, 0.05, 0.10])  # in EMOTIONS order
    labels, merged = merge_calm_neutral(list(EMOTIONS), probs)
    assert labels == [CALM_NEUTRAL, "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    np.testing.assert_allclose(merged, [0.35, 0.05, 0.20, 0.15, 0.10, 0.05, 0.10])
    assert merged.sum() == pytest.approx(1.0)


def test_merge_calm_neutral_batch_and_no_calm():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(8), size=5)
    labels, merged = merge_calm_neutral(list(EMOTIONS), probs)
    assert merged.shape == (5, 7)
    np.testing.assert_allclose(merged.sum(axis=1), 1.0)
    np.testing.assert_allclose(merged[:, 0], probs[:, 0] + probs[:, 1])
    np.testing.assert_allclose(merged[:, 1:], probs[:, 2:])
    tess_like = ["angry", "sad"]
    assert merge_calm_neutral(tess_like, [0.4, 0.6]) == (tess_like, [0.4, 0.6])  # nothing to merge


def test_label_index():
    assert label_index("surprised") == 7
    with pytest.raises(ValueError, match="'bored' is not one of the labels neutral, calm"):
        label_index("bored")


def test_report_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "REPORTS_DIR", tmp_path / "reports")
    assert metrics.read_report("missing.json") == {}
    scores = metrics.compute_metrics(Y_TRUE, Y_PRED, LABELS)
    path = metrics.write_report({"models": {"toy": scores}}, name="toy.json", command="pytest")
    assert path == tmp_path / "reports" / "toy.json" and path.is_file()
    report = metrics.read_report("toy.json")
    assert report["models"]["toy"] == scores
    assert report["command"] == "pytest" and report["generated"].endswith("Z")
    assert {"python", "platform", "cpu_model", "cpu_count", "torch"} <= set(report["machine"])
    assert metrics.model_scores("toy", name="toy.json") == scores
    assert metrics.model_scores("other", name="toy.json") is None
    path.write_text("{not json")
    assert metrics.read_report("toy.json") == {}  # a broken report reads as "not generated yet"
