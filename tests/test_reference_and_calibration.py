"""The default model's answers for voices it never heard: a reference recording of the speaker ("calibrate to my
voice"), the temperature and the unsure threshold, and the speaker normalisation the training uses. Real RAVDESS clips,
heads fitted by the real training code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ser import inference
from ser import labels as L
from ser.audio import load_audio
from ser.corpora import Record, scan_corpus
from ser.models import load_dir
from ser.models.whisper_head import ENCODER_LAYERS, WhisperHeadModel, pooled_statistics
from train.speaker_norm import corpus_weights, fold_offsets, reference_emotion, training_offsets

ACTORS = ("ravdess-01", "ravdess-02", "ravdess-03")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A head and a reference head fitted on 3 actors' clips (one statement), saved with a reference entry, reloaded."""
    import os

    from train.whisper_head import HeadArguments, fit_head
    from train.whisper_states import cached_states

    os.environ["SER_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    try:
        records = [r for r in scan_corpus("ravdess") if r.speaker in ACTORS and r.statement == "Kids are talking by the door"
                   and r.path.endswith(("-01-01-01.flac", "-01-01-02.flac", "-01-01-03.flac", "-02-01-01.flac",
                                        "-02-01-02.flac", "-02-01-03.flac"))]
        vectors = np.stack([pooled_statistics(s).numpy() for s in cached_states(records)])
    finally:
        os.environ.pop("SER_CACHE_DIR", None)
    emotions = [L.EMOTIONS.index(r.emotion) for r in records]
    genders = [L.GENDERS.index(r.gender) for r in records]
    args = HeadArguments(augment=[])
    offsets, has = training_offsets(records, [""] * len(records), vectors, "reference", {"ravdess": set(L.EMOTIONS)})
    head = fit_head(args, vectors, emotions, genders)
    reference_head = fit_head(args, vectors[has] - offsets[has], np.array(emotions)[has], np.array(genders)[has])
    reference_head.gender = None
    config = {"name": "smoke", "labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS), "encoder_layers": ENCODER_LAYERS,
              "reference": {"anchor": "neutral"}, "temperature": 2.0, "unsure_threshold": 0.5}
    model = WhisperHeadModel(config, head)
    model.reference_head = reference_head
    out = model.save(tmp_path_factory.mktemp("model") / "smoke")
    return model, load_dir(out), out, records


def test_reference_head_round_trips_and_changes_the_answer(fitted):
    model, loaded, out, records = fitted
    assert loaded.supports_reference and json.loads((out / "config.json").read_text())["reference"]
    neutral = next(r for r in records if r.speaker == "ravdess-01" and r.emotion == "neutral")
    angry = next(r for r in records if r.speaker == "ravdess-01" and r.emotion == "angry")
    profile = loaded.reference_profile(load_audio(neutral.path))
    assert np.allclose(profile, model.reference_profile(load_audio(neutral.path)))
    wave = load_audio(angry.path)
    plain, gender = loaded.predict_both([wave])
    relative, gender_relative = loaded.predict_both([wave], profile)
    assert np.allclose(relative, model.predict_both([wave], profile)[0], atol=1e-6)
    assert not np.allclose(plain, relative)  # the reference head answered, not the plain one
    assert np.allclose(gender, gender_relative)  # gender always comes from the main head


def test_reference_of_the_same_clip_is_the_reference_heads_neutral_point(fitted):
    """A clip scored against itself as the reference is exactly the speaker's 'neutral' point of the reference head."""
    _, loaded, _, records = fitted
    wave = load_audio(records[0].path)
    probs, _ = loaded.predict_both([wave], loaded.reference_profile(wave))
    zero_input = loaded.reference_head.emotion.bias.detach().numpy() - (
        loaded.reference_head.mean.numpy() / loaded.reference_head.scale.numpy()) @ loaded.reference_head.emotion.weight.detach().numpy().T
    expected = np.exp(zero_input / 2.0) / np.exp(zero_input / 2.0).sum()  # the config's temperature is 2
    assert np.allclose(probs[0], expected, atol=1e-5)


def test_temperature_softens_without_changing_the_top_label(fitted):
    model, loaded, _, records = fitted
    waves = [load_audio(r.path) for r in records[:6]]
    logits = model.predict_logits(waves)
    sharp = np.exp(logits - logits.max(axis=1, keepdims=True))
    sharp /= sharp.sum(axis=1, keepdims=True)
    soft = loaded.predict(waves)
    assert np.array_equal(sharp.argmax(axis=1), soft.argmax(axis=1)) and (soft.max(axis=1) < sharp.max(axis=1)).all()


def test_analysis_says_unsure_below_the_threshold(fitted):
    _, loaded, _, records = fitted
    results = inference.analyse_batch([load_audio(r.path) for r in records], loaded)
    assert [r.unsure for r in results] == [float(r.probs.max()) < 0.5 for r in results]
    loaded.unsure_threshold = 1.01  # everything is below: every answer is unsure
    try:
        assert all(r.unsure for r in inference.analyse_batch([load_audio(records[0].path)], loaded))
    finally:
        loaded.unsure_threshold = 0.5


def test_models_without_a_reference_head_ignore_a_reference(fitted):
    _, loaded, _, records = fitted
    classic = load_dir("assets/models/classic-mlp")
    wave = load_audio(records[0].path)
    assert not classic.supports_reference
    assert np.allclose(inference.analyse(wave, classic, reference=loaded.reference_profile(wave)).probs,
                       inference.analyse(wave, classic).probs)


# --- the normalisation the training and the cross-validation use -------------------------------------------------------

def rec(speaker: str, emotion: str, corpus: str = "ravdess") -> Record:
    return Record(f"/x/{speaker}-{emotion}.wav", corpus, emotion, speaker)


def test_reference_emotion_is_neutral_else_calm():
    assert reference_emotion({"neutral", "calm", "sad"}) == "neutral"
    assert reference_emotion({"calm", "sad"}) == "calm"  # TurEV-DB has no neutral
    assert reference_emotion({"sad", "angry"}) is None


def test_training_offsets_known_answer():
    records = [rec("a", "neutral"), rec("a", "neutral"), rec("a", "angry"), rec("b", "sad"), rec("b", "angry")]
    vectors = np.array([[1.0], [3.0], [10.0], [5.0], [7.0]])
    known = {"ravdess": {"neutral", "sad", "angry"}}
    offsets, has = training_offsets(records, [""] * 5, vectors, "reference", known)
    assert offsets[:3, 0].tolist() == [2.0, 2.0, 2.0] and has.tolist() == [True, True, True, False, False]  # b: no neutral
    offsets, has = training_offsets(records, [""] * 5, vectors, "speaker", known)
    assert offsets[:, 0].tolist() == [14 / 3] * 3 + [6.0, 6.0] and has.all()
    # a copy of a clip (another speed, a room) is another voice: it is normalised by its own kind's clips
    offsets, _ = training_offsets(records[:3] * 2, [""] * 3 + ["room"] * 3, np.vstack([vectors[:3], vectors[:3] + 100]), "speaker", known)
    assert offsets[3:, 0].tolist() == [100 + 14 / 3] * 3


def test_test_offsets_take_references_out_of_scoring():
    records = [rec("a", "neutral"), rec("a", "neutral"), rec("a", "angry"), rec("b", "angry")]
    vectors = np.array([[1.0], [3.0], [10.0], [7.0]])
    offsets, has, is_reference = fold_offsets(records, vectors, "reference", {"ravdess": {"neutral", "angry"}}, reference_clips=1)
    assert is_reference.sum() == 1 and is_reference[:2].any()  # one of a's neutral clips
    assert has.tolist() == [not is_reference[0], not is_reference[1], True, False]  # b has no reference: plain head
    assert offsets[2, 0] == vectors[is_reference][0, 0]


def test_corpus_weights_give_every_corpus_the_same_total():
    records = [rec("a", "sad", "tess")] * 6 + [rec("b", "sad", "ravdess")] * 2
    weights = corpus_weights(records)
    assert weights[:6].sum() == pytest.approx(weights[6:].sum()) and weights.sum() == pytest.approx(len(records))


def test_unsure_threshold_is_where_answers_start_being_more_often_right():
    from train.calibrate import unsure_threshold

    top = np.linspace(0.0, 1.0, 1001, endpoint=False)
    # right exactly when the top probability is at least 0.6: the clips above t are right (1 - 0.6) / (1 - t) of the
    # time, at least half from t = 0.2 on
    assert unsure_threshold(top, top >= 0.6) == pytest.approx(0.2)
    # never right more often than wrong at any confidence (as on corpora the default model never heard): always unsure
    assert unsure_threshold(top, top >= 0.99) == 1.0
    # a handful of confident right answers is not enough to call the rest sure
    assert unsure_threshold(top, top >= 0.98) == 1.0


def test_temperature_is_fitted_where_the_likelihood_is_best():
    from train.calibrate import fit_temperature, with_temperature

    rng = np.random.default_rng(0)
    labels = ["neutral", "happy", "sad", "angry"]
    logits = rng.normal(0, 1, (2000, 4))
    truth_probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    emotions = [labels[rng.choice(4, p=p)] for p in truth_probs]  # labels drawn from softmax(logits): T = 1 is right
    overconfident = with_temperature(truth_probs, 1 / 3)  # what an overconfident model reports: softmax(3 * logits)
    assert fit_temperature([(overconfident, emotions, set(labels))], labels) == pytest.approx(3.0, rel=0.15)
