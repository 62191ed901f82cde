"""Honest examples: the page says when a clip is by a speaker the model was trained on and shows what the same recipe
said when cross-validation held that speaker out; the lesson's calm/neutral pairs are the ones the cross-validated model
really confused (and one it got right), chosen from the reports, shipped as untouched corpus files.

All on the real reports (reports/accuracy.json, reports/cv/*.predictions.csv), the shipped models and the corpora.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ser import settings
from ser.audio.load import load_audio
from ser.teaching.pairs import (BOTH_RIGHT, CALM, CALM_HEARD_AS_NEUTRAL, KINDS, NEUTRAL, NEUTRAL_HEARD_AS_CALM,
                                    all_pairs, choose_pairs, clip_file, corpus_file, lesson_pairs)
from ser.evaluation.corpora import parse_ravdess
from ser.models import load_dir, load_model
from ser.evaluation.provenance import clip_origin, identify, training_corpora, training_speaker_count
from ser.evaluation.reports import calm_neutral_count, chance_level, class_support, cv_scores, held_out_predictions

DEFAULT = settings.DEFAULT_MODEL


@pytest.fixture(scope="module")
def predictions():
    rows = held_out_predictions(DEFAULT)
    assert rows, f"reports/cv/{DEFAULT}.predictions.csv is missing: the lesson and the honest notes need it"
    return rows


# --- the reports, read in one place ---------------------------------------------------------------------------------

def test_the_calm_neutral_count_and_its_denominator_agree_with_the_per_clip_predictions(predictions):
    scores, source = cv_scores(DEFAULT)
    assert source == "reports/accuracy.json"
    count, total = calm_neutral_count(scores)
    confused = sum(1 for held in predictions.values()
                   if {held.emotion, held.top[0]} == {CALM, NEUTRAL})
    assert (count, total) == (confused, sum(held.emotion in (CALM, NEUTRAL) for held in predictions.values()))
    assert total == class_support(scores)["calm"] + class_support(scores)["neutral"]
    assert chance_level(scores) == pytest.approx(1 / len(scores["labels"]))


def test_held_out_predictions_cover_every_ravdess_clip_once(predictions, data_dir):
    clips = {p.stem for p in (data_dir / "ravdess").rglob("*.flac")}
    assert set(predictions) == clips
    for held in list(predictions.values())[:50]:
        assert held.probs.sum() == pytest.approx(1.0, abs=1e-4)
        assert held.emotion == parse_ravdess(held.clip).emotion


def test_a_model_without_kept_predictions_has_none():
    assert held_out_predictions("resnet18") == {}  # its row kept no per-clip file
    assert held_out_predictions("no-such-row") == {}


# --- is this a training speaker? -----------------------------------------------------------------------------------

def test_corpus_file_names_are_recognised_and_others_are_not(data_dir):
    ravdess = identify(data_dir / "ravdess" / "Actor_07" / "03-01-01-01-02-02-07.flac")
    assert (ravdess.corpus, ravdess.speaker, ravdess.emotion) == ("ravdess", "ravdess-07", "neutral")
    tess = identify(data_dir / "tess" / "YAF_back_angry.flac")
    assert (tess.corpus, tess.speaker, tess.emotion) == ("tess", "tess-YAF", "angry")
    for other in ("audio.wav", "recording-2024-05-01.webm", "03-02-01-01-01-01-01.flac", "", None):  # 03-02: the song set
        assert identify(other) is None


@pytest.mark.parametrize("name", ["whisper-head", "classic-mlp", "resnet18"])
def test_the_shipped_models_say_they_learned_from_ravdess_and_tess(name):
    """whisper-head's config says it; the other two say it only in their cards' data section."""
    assert training_corpora(_config_only(name)) == {"ravdess", "tess"}
    if name == "classic-mlp":  # the cheapest to load: a loaded model knows its folder, so its card is found
        assert training_corpora(load_model(name)) == {"ravdess", "tess"}


def _config_only(name: str):
    """The model as the app holds it, without loading weights: its config and its folder."""
    from ser.models.base import read_config

    class Described:  # the two attributes `training_corpora` reads from a loaded model
        config = read_config(settings.MODELS_DIR / name)
        model_dir = settings.MODELS_DIR / name

    return Described()


def test_a_model_that_does_not_say_what_it_learned_from_is_unknown(tmp_path):
    folder = shutil.copytree(settings.MODELS_DIR / "classic-mlp", tmp_path / "model")
    (folder / "README.md").write_text("# someone's model\n\nIt classifies emotions.\n\n## Licence\n\nMIT\n")
    model = load_dir(folder)
    assert training_corpora(model) is None
    origin = clip_origin(settings.EXAMPLES_DIR / "03-01-05-02-02-01-05.flac", model)
    assert origin.trained_on is None and origin.held_out is None


def test_an_example_clip_is_a_training_actors_and_comes_with_its_held_out_answer(predictions):
    model = load_model(DEFAULT)
    path = settings.EXAMPLES_DIR / "03-01-01-01-02-02-07.flac"  # the lesson's neutral clip that was heard as calm
    origin = clip_origin(path, model)
    assert origin.trained_on is True and origin.speaker_name == "actor 7" and origin.corpus_name == "RAVDESS"
    raw = predictions[path.stem]  # the fold model's probabilities, shown at the shipped model's temperature
    assert origin.held_out.clip == raw.clip and origin.held_out.labels == raw.labels
    assert origin.held_out.top[0] == raw.top[0]
    tempered = np.exp(np.log(np.clip(raw.probs, 1e-12, 1)) / model.temperature)
    assert np.allclose(origin.held_out.probs, tempered / tempered.sum())
    assert origin.held_out.top[0] == CALM  # not the shipped model's near-certain "neutral"
    probs = model.predict([load_audio(path)])[0]
    assert model.labels[int(np.argmax(probs))] == NEUTRAL  # the shipped model has heard this very clip


def test_tess_clips_are_training_clips_without_a_held_out_answer(data_dir):
    origin = clip_origin(data_dir / "tess" / "OAF_back_angry.flac", _config_only(DEFAULT))
    assert origin.trained_on is True and origin.held_out is None and origin.speaker_name == "speaker OAF"


def test_the_cli_counts_the_training_speakers_files(data_dir):
    paths = [str(p) for p in sorted((data_dir / "ravdess" / "Actor_01").glob("*.flac"))[:3]] + ["talk.wav"]
    assert training_speaker_count(paths, _config_only(DEFAULT)) == 3


# --- the lesson's pairs --------------------------------------------------------------------------------------------

def test_pairs_are_one_actor_one_statement_neutral_and_normal_calm(predictions):
    pairs = all_pairs(predictions)
    assert len(pairs) == 24 * 2 * 2  # every actor says both statements twice, neutrally and calmly at normal intensity
    for pair in pairs:
        neutral, calm = (parse_ravdess(stem) for stem in pair.clips)
        assert (neutral.emotion, calm.emotion) == (NEUTRAL, CALM)
        assert neutral.speaker == calm.speaker == f"ravdess-{pair.actor:02d}"
        assert neutral.statement == calm.statement and neutral.intensity == calm.intensity == "normal"
        assert pair.neutral.clip.split("-")[5] == pair.calm.clip.split("-")[5] == pair.repetition


def test_the_lesson_shows_the_strongest_confusion_each_way_and_a_pair_it_got_right(predictions):
    chosen = choose_pairs(predictions)
    assert [p.kind for p in chosen] == list(KINDS)
    assert len({p.actor for p in chosen}) == len(chosen)
    by_kind = {p.kind: p for p in chosen}
    heard_calm = by_kind[NEUTRAL_HEARD_AS_CALM]
    assert heard_calm.neutral.top[0] == CALM
    assert heard_calm.neutral.prob(CALM) == max(p.neutral.prob(CALM) for p in all_pairs(predictions) if p.neutral.top[0] == CALM)
    heard_neutral = by_kind[CALM_HEARD_AS_NEUTRAL]
    assert heard_neutral.calm.top[0] == NEUTRAL and heard_neutral.actor != heard_calm.actor
    right = by_kind[BOTH_RIGHT]
    assert right.neutral.top[0] == NEUTRAL and right.calm.top[0] == CALM


def test_clip_a_is_not_always_the_same_emotion():
    orders = {pair.order() for pair in all_pairs(held_out_predictions(DEFAULT))}
    assert orders == {(NEUTRAL, CALM), (CALM, NEUTRAL)}


def test_the_lesson_clips_are_shipped_untouched_and_credited(data_dir):
    """If the default model's reports change, `python -m ser.teaching.pairs --copy` brings the new clips."""
    readme = (settings.EXAMPLES_DIR / "README.md").read_text()
    for pair in lesson_pairs(DEFAULT):
        for stem in pair.clips:
            assert clip_file(stem).is_file(), f"{stem}.flac is not in assets/examples: run python -m ser.teaching.pairs --copy"
            assert clip_file(stem).read_bytes() == corpus_file(stem).read_bytes()
            assert f"`{stem}.flac`" in readme
    for example in settings.EXAMPLES_DIR.glob("*.flac"):  # every example: a corpus file, byte for byte, named as it is
        record = identify(example)
        assert record is not None and example.read_bytes() == corpus_file(example.stem).read_bytes()
        assert f"`{example.name}`" in readme
    assert sum(p.stat().st_size for p in settings.EXAMPLES_DIR.glob("*.flac")) < 1_000_000
