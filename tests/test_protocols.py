"""The unseen-corpus evaluation: URDU/TurEV-DB/ASED parsers, the three protocols' folds, scoring over a corpus's own
labels, ECE, and the label-masked losses, on hand-made inputs whose answer is known (and the real corpus folders)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from ser.evaluation import corpora as C
from ser.evaluation import protocols as P
from ser.labels import EMOTIONS
from ser.evaluation.metrics import expected_calibration_error, restrict_probabilities, unseen_corpus_scores
from train.masked.logistic import fit_masked_logistic
from train.masked.loss import masked_cross_entropy


# --- parsers -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, emotion, speaker, gender", [
    ("Angry/SM1_F10_A010.flac", "angry", "urdu-SM1", "male"),
    ("Happy/SF11_F3_H08.wav", "happy", "urdu-SF11", "female"),  # zero-padding of the running number varies
    ("Neutral/SM27_F1_N1.flac", "neutral", "urdu-SM27", "male"),
    ("Sad/SF2_F5_S100.flac", "sad", "urdu-SF2", "female"),
])
def test_urdu_names(path, emotion, speaker, gender):
    record = C.parse_urdu(path)
    assert (record.corpus, record.emotion, record.speaker, record.gender) == ("urdu", emotion, speaker, gender)


@pytest.mark.parametrize("path, emotion, speaker, word", [
    ("Angry/1157_kz_acik.flac", "angry", "turev-1157", "acik"),
    ("Calm/1234_sk_beste.flac", "calm", "turev-1234", "beste"),
    ("Happy/6783_mt_cay.flac", "happy", "turev-6783", "cay"),
    ("Sad/7895_HL_algi.flac", "sad", "turev-7895", "algi"),
])
def test_turev_names(path, emotion, speaker, word):
    record = C.parse_turev(path)
    assert (record.corpus, record.emotion, record.speaker, record.statement, record.gender) == ("turev", emotion, speaker, word, None)


@pytest.mark.parametrize("path, emotion, speaker, gender, sentence", [
    ("01Neutral/n1-01-01-01-01.flac", "neutral", "ased-01", "female", "01"),
    ("02Fearful/f2-07-02-02-65.flac", "fearful", "ased-65", "male", "07"),
    ("04Sad/S4-04-02-01-29.flac", "sad", "ased-29", "female", "04"),  # the one upper-case file of the release
    ("05Angry/a5-03-01-02-09.flac", "angry", "ased-09", "male", "03"),
])
def test_ased_names(path, emotion, speaker, gender, sentence):
    record = C.parse_ased(path)
    assert (record.corpus, record.emotion, record.speaker, record.gender, record.statement) == ("ased", emotion, speaker, gender, sentence)


@pytest.mark.parametrize("parse, name", [
    (C.parse_urdu, "SX1_F10_A010"), (C.parse_urdu, "SM1_F10_C010"), (C.parse_urdu, "SM1-F10-A010"),
    (C.parse_turev, "1157_xx_acik"), (C.parse_turev, "115_kz_acik"), (C.parse_turev, "1157_kz"),
    (C.parse_ased, "x1-01-01-01-01"), (C.parse_ased, "n1-01-01-03-01"), (C.parse_ased, "n1-01-01-01"),
])
def test_parsers_refuse_other_names(parse, name):
    with pytest.raises(C.CorpusError, match="is not an? "):
        parse(f"{name}.flac")


@pytest.mark.parametrize("corpus, clips, speakers, emotions", [
    ("urdu", 400, 29, {"angry": 100, "happy": 100, "neutral": 100, "sad": 100}),
    ("turev", 1735, 6, {"angry": 487, "calm": 408, "happy": 357, "sad": 483}),
    ("ased", 805, 65, {"neutral": 183, "fearful": 165, "happy": 159, "angry": 154, "sad": 144}),
])
def test_real_corpus_folders(data_dir, corpus, clips, speakers, emotions):
    records = C.scan_corpus(corpus, data_dir / corpus)
    assert len(records) == clips and len({r.speaker for r in records}) == speakers
    assert Counter(r.emotion for r in records) == emotions


def test_short_corpus_clips_load(data_dir):
    """TurEV-DB's single words run down to 0.35 s, under the app's 0.5-s minimum: corpus clips still load."""
    shortest = C.load_clip(data_dir / "turev" / "Sad" / min(p.name for p in (data_dir / "turev" / "Sad").iterdir()))
    assert shortest.size > 0


# --- protocols ---------------------------------------------------------------------------------------------------------

def record(corpus: str, speaker: str, emotion: str) -> C.Record:
    return C.Record(f"/x/{corpus}/{speaker}-{emotion}.wav", corpus, emotion, f"{corpus}-{speaker}")


@pytest.fixture
def mixed() -> list[C.Record]:
    out = [record("ravdess", f"{a:02d}", e) for a in range(1, 25) for e in ("neutral", "calm")]
    out += [record("tess", "OAF", e) for e in ("neutral", "angry")]
    out += [record("urdu", "SM1", "sad"), record("turev", "1157", "calm"), record("ased", "01", "happy")]
    return out


def test_loco_folds_hold_each_corpus_out(mixed):
    folds = P.folds("loco", mixed, train_corpora=["ravdess", "tess"])
    assert [f.name for f in folds] == ["ravdess", "tess", "urdu", "turev", "ased"]
    for fold in folds:
        tested = {mixed[i].corpus for i in fold.test}
        trained = {mixed[i].corpus for i in fold.train}
        assert tested == {fold.name} and fold.name not in trained
        assert trained == {"ravdess", "tess"} - {fold.name}  # the recipe's corpora only: never ASED, URDU, TurEV-DB


def test_loco_never_trains_on_a_test_only_corpus(mixed):
    for fold in P.folds("loco", mixed):  # default: every corpus but ASED trains
        assert "ased" not in {mixed[i].corpus for i in fold.train}


def test_loco_with_nothing_left_to_train_says_so(mixed):
    with pytest.raises(P.ProtocolError, match="Leaving ravdess out leaves nothing to train on"):
        P.folds("loco", mixed, train_corpora=["ravdess"])


def test_emobox_folds_are_the_published_actors(mixed):
    folds = P.folds("emobox", mixed, train_corpora=["ravdess", "tess"])
    assert [sorted({int(mixed[i].speaker[-2:]) for i in f.test}) for f in folds] == [sorted(a) for a in P.EMOBOX_FOLDS]
    assert sorted(a for actors in P.EMOBOX_FOLDS for a in actors) == list(range(1, 25))
    for fold in folds:
        assert not {mixed[i].speaker for i in fold.train} & {mixed[i].speaker for i in fold.test}
        assert {mixed[i].corpus for i in fold.train} == {"ravdess", "tess"}


def test_ravdess6_folds_are_consecutive_actors(mixed):
    folds = P.folds("ravdess6", mixed, train_corpora=["ravdess", "tess"])
    assert [f.name for f in folds] == ["actors 01-04", "actors 05-08", "actors 09-12", "actors 13-16", "actors 17-20", "actors 21-24"]


def test_unknown_protocol_is_one_sentence():
    with pytest.raises(P.ProtocolError, match="Unknown protocol 'random'; choose from ravdess6, emobox, loco."):
        P.folds("random", [])


def test_allowed_labels_follow_each_corpus(mixed):
    mask = P.allowed_labels_mask(mixed, EMOTIONS)
    tess = next(i for i, r in enumerate(mixed) if r.corpus == "tess")
    ravdess = next(i for i, r in enumerate(mixed) if r.corpus == "ravdess")
    assert mask[ravdess, EMOTIONS.index("calm")] and not mask[tess, EMOTIONS.index("calm")]
    assert mask[tess, EMOTIONS.index("angry")] and not mask[ravdess, EMOTIONS.index("angry")]  # only what these records hold


# --- scoring over a corpus's own labels --------------------------------------------------------------------------------

LABELS = ["neutral", "calm", "happy", "sad"]


def test_calm_is_folded_into_neutral_where_a_corpus_has_no_calm():
    kept, probs = restrict_probabilities([[0.1, 0.5, 0.2, 0.2]], LABELS, {"neutral", "happy", "sad"})
    assert kept == ["neutral", "happy", "sad"] and np.allclose(probs, [[0.6, 0.2, 0.2]])


def test_neutral_is_folded_into_calm_where_a_corpus_has_no_neutral():
    kept, probs = restrict_probabilities([[0.5, 0.1, 0.3, 0.1]], LABELS, {"calm", "happy", "sad"})
    assert kept == ["calm", "happy", "sad"] and np.allclose(probs, [[0.6, 0.3, 0.1]])


def test_other_missing_labels_are_dropped_and_renormalised():
    kept, probs = restrict_probabilities([[0.1, 0.1, 0.4, 0.4]], LABELS, {"happy", "sad"})
    assert kept == ["happy", "sad"] and np.allclose(probs, [[0.5, 0.5]])


def test_unseen_corpus_scores_known_answer():
    probs = np.array([[0.1, 0.5, 0.2, 0.2],   # neutral clip: calm folds into neutral -> right
                      [0.1, 0.1, 0.7, 0.1],   # happy clip -> right
                      [0.0, 0.0, 0.9, 0.1],   # sad clip -> called happy
                      [0.3, 0.0, 0.0, 0.7]])  # sad clip -> right
    scores = unseen_corpus_scores(["neutral", "happy", "sad", "sad"], probs, LABELS, {"neutral", "happy", "sad"})
    assert scores["labels"] == ["neutral", "happy", "sad"]
    assert scores["uar"] == pytest.approx((1 + 1 + 0.5) / 3) and scores["neutral_recall"] == 1.0
    # the plain argmax over all four labels (what the app shows): calm, happy, happy, sad
    assert scores["prediction_shares"] == {"neutral": 0.0, "calm": 0.25, "happy": 0.5, "sad": 0.25}
    assert (scores["top_share_label"], scores["top_share"]) == ("happy", 0.5)
    # restricted confidences 0.6, 0.7, 0.9, 0.7 with correctness 1, 1, 0, 1
    assert scores["ece"] == pytest.approx(expected_calibration_error([0.6, 0.7, 0.9, 0.7], [1, 1, 0, 1]))


def test_ece_known_answers():
    assert expected_calibration_error([0.7] * 10, [1] * 7 + [0] * 3) == pytest.approx(0.0)  # says 70%, right 70%
    assert expected_calibration_error([0.9] * 4, [1, 0, 0, 0]) == pytest.approx(0.65)  # says 90%, right 25%
    # two bins, half the clips each: |1.0 - 0.95| and |0.0 - 0.55|
    assert expected_calibration_error([0.95, 0.95, 0.55, 0.55], [1, 1, 0, 0]) == pytest.approx(0.5 * 0.05 + 0.5 * 0.55)


# --- masked losses -----------------------------------------------------------------------------------------------------

def test_masked_cross_entropy_ignores_the_labels_a_clip_lacks():
    logits = torch.tensor([[2.0, 1.0, -1.0]], requires_grad=True)
    allowed = torch.tensor([[True, False, True]])
    loss = masked_cross_entropy(logits, torch.tensor([0]), allowed)
    assert loss.item() == pytest.approx(-np.log(np.exp(2) / (np.exp(2) + np.exp(-1))))
    loss.backward()
    assert logits.grad[0, 1] == 0.0  # the missing label is neither pushed down nor up


def test_masked_cross_entropy_equals_torch_when_nothing_is_masked():
    logits, target = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 1, 0])
    weight = torch.tensor([1.0, 2.0, 0.5, 1.5])
    ours = masked_cross_entropy(logits, target, torch.ones(6, 4, dtype=torch.bool), weight)
    assert ours.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, target, weight=weight).item(), rel=1e-6)


def test_masked_logistic_equals_scikit_learn_without_masks():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    coef, intercept = fit_masked_logistic(x, y, c=0.5)
    reference = LogisticRegression(C=0.5, max_iter=5000, tol=1e-10).fit(x, y)
    ours = np.exp(x @ coef.T + intercept)
    ours /= ours.sum(axis=1, keepdims=True)
    assert np.abs(ours - reference.predict_proba(x)).max() < 1e-3


def test_masked_logistic_leaves_a_label_no_clip_allows_untrained():
    """Clips of a corpus without label 2 neither teach nor forbid it: its weights stay at 0. Unmasked, the same clips
    push label 2 down."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    allowed = np.tile([True, True, False], (60, 1))
    coef, intercept = fit_masked_logistic(x, y, allowed, c=1.0)
    assert not coef[2].any() and intercept[2] == 0.0
    _, unmasked = fit_masked_logistic(x, y, np.ones((60, 3), dtype=bool), c=1.0)
    assert unmasked[2] < -1.0
