"""The default model's answers for voices it never heard: a voice profile of the speaker ("Teach it your voice"), the
temperature and the unsure threshold, and the speaker normalisation the training uses. Real RAVDESS clips, heads fitted
by the real training code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ser import inference
from ser import labels as L
from ser.audio.load import load_audio
from ser.evaluation.corpora import Record, scan_corpus
from ser.models import load_dir
from ser.models.whisper_head import ENCODER_LAYERS, WhisperHeadModel, pooled_statistics
from ser.profile import PROFILE_MOODS, build_profile
from train.inputs.speaker_norm import (corpus_weights, fold_offsets, fold_profiles, profile_eligible, reference_emotion,
                                training_offsets, training_profiles)

ACTORS = ("ravdess-01", "ravdess-02", "ravdess-03")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A head and a profile head fitted on 3 actors' clips (one statement), saved with a profile entry, reloaded."""
    import os

    from train.heads.whisper import HeadArguments, fit_head
    from train.inputs.whisper_states import cached_states

    os.environ["SER_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    try:
        records = [r for r in scan_corpus("ravdess") if r.speaker in ACTORS and r.statement == "Kids are talking by the door"
                   and r.emotion in PROFILE_MOODS and r.path.endswith(("-01-01-01.flac", "-01-01-02.flac", "-01-01-03.flac",
                                                                       "-02-01-01.flac", "-02-01-02.flac", "-02-01-03.flac"))]
        vectors = np.stack([pooled_statistics(s).numpy() for s in cached_states(records)])
    finally:
        os.environ.pop("SER_CACHE_DIR", None)
    emotions = [L.EMOTIONS.index(r.emotion) for r in records]
    genders = [L.GENDERS.index(r.gender) for r in records]
    args = HeadArguments(augment=[])
    index, normalised = training_profiles(records, [""] * len(records), vectors, draws=3)
    every = np.ones((len(records), len(L.EMOTIONS)), dtype=bool)  # 8 outputs, though these clips show 4 moods
    head = fit_head(args, vectors, emotions, genders, every)
    profile_head = fit_head(args, normalised, np.array(emotions)[index], np.array(genders)[index], every[index])
    profile_head.gender = None
    config = {"name": "smoke", "labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS), "encoder_layers": ENCODER_LAYERS,
              "profile": {"moods": list(PROFILE_MOODS), "temperature": 3.0, "unsure_threshold": 0.3},
              "temperature": 2.0, "unsure_threshold": 0.5}
    model = WhisperHeadModel(config, head)
    model.profile_head = profile_head
    out = model.save(tmp_path_factory.mktemp("model") / "smoke")
    return model, load_dir(out), out, records


def actor_moods(records, actor: str) -> dict[str, np.ndarray]:
    """One clip of each of the app's moods of one actor, as a visitor records them."""
    return {m: load_audio(next(r.path for r in records if r.speaker == actor and r.emotion == m)) for m in PROFILE_MOODS}


def test_profile_head_round_trips_and_changes_the_answer(fitted):
    model, loaded, out, records = fitted
    assert loaded.supports_profile and json.loads((out / "config.json").read_text())["profile"]
    profile = build_profile(list(actor_moods(records, "ravdess-01").values()), loaded)
    assert profile.clips == 4 and profile.vector.shape == (loaded.head.mean.numel(),)
    assert np.allclose(profile.vector, build_profile(list(actor_moods(records, "ravdess-01").values()), model).vector)
    angry = next(r for r in records if r.speaker == "ravdess-01" and r.emotion == "angry" and r.intensity == "strong")
    wave = load_audio(angry.path)
    plain, gender = loaded.predict_both([wave])
    relative, gender_relative = loaded.predict_both([wave], profile.vector)
    assert np.allclose(relative, model.predict_both([wave], profile.vector)[0], atol=1e-6)
    assert not np.allclose(plain, relative)  # the profile head answered, not the plain one
    assert np.allclose(gender, gender_relative)  # gender always comes from the main head
    result = inference.analyse(wave, loaded, profile=profile.vector)  # the app shows both answers from one pass
    assert np.allclose(result.probs, relative[0], atol=1e-6) and np.allclose(result.plain.probs, plain[0], atol=1e-6)
    assert inference.analyse(wave, loaded).plain is None


def test_a_clip_scored_against_itself_is_the_profile_heads_centre_at_the_profile_temperature(fitted):
    """A clip whose profile is itself sits at the centre of the profile head; its temperature is the profile mode's (3)."""
    _, loaded, _, records = fitted
    wave = load_audio(records[0].path)
    probs, _ = loaded.predict_both([wave], loaded.clip_statistics([wave])[0])
    zero_input = loaded.profile_head.emotion.bias.detach().numpy() - (
        loaded.profile_head.mean.numpy() / loaded.profile_head.scale.numpy()) @ loaded.profile_head.emotion.weight.detach().numpy().T
    expected = np.exp(zero_input / 3.0) / np.exp(zero_input / 3.0).sum()
    assert np.allclose(probs[0], expected, atol=1e-5)


def test_profile_spread_tells_one_mood_from_four(fitted):
    _, loaded, _, records = fitted
    moods = actor_moods(records, "ravdess-02")
    angry = [load_audio(r.path) for r in records if r.speaker == "ravdess-02" and r.emotion == "angry"][:4]
    same = build_profile([moods["neutral"]] * 4, loaded)
    assert same.spread == pytest.approx(0.0, abs=1e-6)  # one clip four times: nothing apart
    assert build_profile(angry, loaded).spread < build_profile(list(moods.values()), loaded).spread


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
    # a threshold of 1 or more means no level separated right from wrong: no answer is singled out as unsure (the app
    # says how often that mode is right instead, on every answer alike)
    loaded.unsure_threshold = 1.0
    try:
        assert not any(r.unsure for r in inference.analyse_batch([load_audio(records[0].path)], loaded))
    finally:
        loaded.unsure_threshold = 0.5
    # with a profile, the profile mode's own threshold (0.3 in the config) decides
    profile = build_profile(list(actor_moods(records, "ravdess-03").values()), loaded).vector
    results = inference.analyse_batch([load_audio(r.path) for r in records], loaded, profile=profile)
    assert [r.unsure for r in results] == [float(r.probs.max()) < 0.3 for r in results]
    assert [r.plain.unsure for r in results] == [float(r.plain.probs.max()) < 0.5 for r in results]


def test_models_without_a_profile_head_ignore_a_profile(fitted):
    _, loaded, _, records = fitted
    classic = load_dir("assets/models/classic-mlp")
    wave = load_audio(records[0].path)
    assert not classic.supports_profile
    result = inference.analyse(wave, classic, profile=loaded.clip_statistics([wave])[0])
    assert np.allclose(result.probs, inference.analyse(wave, classic).probs) and result.plain is None


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


def test_training_profiles_mix_moods_and_leave_their_own_clips_out():
    moods = ["neutral", "happy", "sad", "angry", "fearful"]
    records = [rec("a", m) for m in moods for _ in range(3)] + [rec("u", "angry")] * 6 + [rec("v", "sad"), rec("v", "happy")] * 3
    vectors = np.arange(len(records), dtype=float)[:, None]
    index, normalised = training_profiles(records, [""] * len(records), vectors, draws=20, seed=1)
    speakers = {records[i].speaker for i in index}
    assert speakers == {"a"}  # u shows one mood, v two: neither has a mixed-mood profile
    starts = [0, *np.flatnonzero(np.diff(index) < 0) + 1, len(index)]  # a's rows come in order, one block per draw
    assert len(starts) == 21
    for start, end in zip(starts, starts[1:]):  # each draw: a's clips minus one clip per mood of 3 or more moods, left out
        rows = index[start:end]
        offsets = vectors[rows, 0] - normalised[start:end, 0]
        assert len(set(offsets.round(9))) == 1
        left_out = sorted(set(range(15)) - set(rows.tolist()))
        assert 3 <= len(left_out) <= len(moods) and len({records[i].emotion for i in left_out}) == len(left_out)
        assert offsets[0] == pytest.approx(vectors[left_out, 0].mean())


def test_fold_profiles_follow_the_protocol():
    emotions = {"neutral", "happy", "sad", "angry"}
    records = ([rec("a", m) for m in sorted(emotions) for _ in range(2)] + [rec("b", m) for m in sorted(emotions)]
               + [rec("c", "angry")] * 8)
    vectors = np.arange(len(records), dtype=float)[:, None]
    offsets, has, in_profile = fold_profiles(records, vectors, {"ravdess": emotions})
    assert profile_eligible(records, list(range(8)), emotions) and not profile_eligible(records, list(range(8, 12)), emotions)
    assert in_profile.sum() == 4 and {records[i].emotion for i in np.flatnonzero(in_profile)} == emotions
    assert has.tolist() == [not p for p in in_profile[:8]] + [False] * 12  # b: one clip per emotion; c: one emotion
    assert offsets[0, 0] == pytest.approx(vectors[in_profile, 0].mean())
    _, has_two, in_two = fold_profiles(records, vectors, {"ravdess": emotions}, moods="app", size=2)
    assert in_two.sum() == 2 and has_two.sum() == 6


def test_corpus_weights_give_every_corpus_the_same_total():
    records = [rec("a", "sad", "tess")] * 6 + [rec("b", "sad", "ravdess")] * 2
    weights = corpus_weights(records)
    assert weights[:6].sum() == pytest.approx(weights[6:].sum()) and weights.sum() == pytest.approx(len(records))


def test_unsure_threshold_is_where_answers_start_being_more_often_right():
    from train.calibration.emotion import unsure_threshold

    top = np.linspace(0.0, 1.0, 1001, endpoint=False)
    # right exactly when the top probability is at least 0.6: the clips above t are right (1 - 0.6) / (1 - t) of the
    # time, at least half from t = 0.2 on
    assert unsure_threshold(top, top >= 0.6) == pytest.approx(0.2)
    # never right more often than wrong at any confidence (as on corpora the default model never heard): always unsure
    assert unsure_threshold(top, top >= 0.99) == 1.0
    # a handful of confident right answers is not enough to call the rest sure
    assert unsure_threshold(top, top >= 0.98) == 1.0


def test_temperature_is_fitted_where_the_likelihood_is_best():
    from train.calibration.emotion import fit_temperature, with_temperature

    rng = np.random.default_rng(0)
    labels = ["neutral", "happy", "sad", "angry"]
    logits = rng.normal(0, 1, (2000, 4))
    truth_probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    emotions = [labels[rng.choice(4, p=p)] for p in truth_probs]  # labels drawn from softmax(logits): T = 1 is right
    overconfident = with_temperature(truth_probs, 1 / 3)  # what an overconfident model reports: softmax(3 * logits)
    assert fit_temperature([(overconfident, emotions, set(labels))], labels) == pytest.approx(3.0, rel=0.15)
