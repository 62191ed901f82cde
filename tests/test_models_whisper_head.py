"""The default family (head on frozen Whisper-base) — training smoke run, save/load — and every shipped model's sanity check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ser import labels as L
from ser.audio import load_audio
from ser.corpora import scan_corpus
from ser.models import load_dir, local_models
from ser.models.whisper_head import N_FEATURES, WhisperHeadModel, pooled_statistics
from ser.settings import MODELS_DIR

# one strongly acted clip per emotion for each of these actors (odd = male, even = female)
TRAIN_ACTORS = ("ravdess-01", "ravdess-02")
SANITY_ACTORS = tuple(f"ravdess-{a:02d}" for a in (3, 6, 9, 12, 15, 18, 21, 24))


def clips_of(actors, statement="Kids are talking by the door"):
    """First strongly acted clip per (actor, emotion) of one statement (neutral exists at normal intensity only)."""
    chosen = {}
    for r in scan_corpus("ravdess"):  # sorted by path: repetition 01 comes first
        if r.speaker in actors and r.statement == statement and (r.intensity == "strong" or r.emotion == "neutral"):
            chosen.setdefault((r.speaker, r.emotion), r)
    return list(chosen.values())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A head trained by the real training code on 16 real clips (2 actors x 8 emotions), saved and reloaded."""
    import os

    from train.whisper_head import HeadArguments, cached_states, fit_head

    cache = tmp_path_factory.mktemp("cache")
    os.environ["SER_CACHE_DIR"] = str(cache)  # states of these clips are computed and cached here, not in ~/.cache
    try:
        records = clips_of(TRAIN_ACTORS)
        assert len(records) == 16
        states = cached_states(records)
        assert len(list(cache.rglob("*.npy"))) == 16  # cached once ...
        again = cached_states(records)  # ... and read back identically
        assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(states, again))
        vectors = np.stack([pooled_statistics(s).numpy() for s in states])
        head = fit_head(HeadArguments(speeds=[]), vectors, [L.EMOTIONS.index(r.emotion) for r in records],
                        [L.GENDERS.index(r.gender) for r in records])
        model = WhisperHeadModel({"name": "smoke", "labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS)}, head)
        out = model.save(tmp_path_factory.mktemp("model") / "smoke")
        return model, out, records
    finally:
        os.environ.pop("SER_CACHE_DIR", None)


def test_training_smoke_run_fits_its_clips(trained):
    model, _, records = trained
    probs = model.predict([load_audio(r.path) for r in records])
    guesses = [model.labels[i] for i in probs.argmax(axis=1)]
    assert np.mean([g == r.emotion for g, r in zip(guesses, records)]) >= 0.9
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_save_load_gives_identical_predictions_and_gender(trained, data_dir):
    model, out, _ = trained
    assert json.loads((out / "config.json").read_text())["kind"] == "whisper_head"
    reloaded = load_dir(out)
    waves = [load_audio(r.path) for r in clips_of(("ravdess-23",))[:4]]
    e1, g1 = model.predict_both(waves)
    e2, g2 = reloaded.predict_both(waves)
    np.testing.assert_allclose(e1, e2, atol=1e-6)
    np.testing.assert_allclose(g1, g2, atol=1e-6)
    assert g2.shape == (4, 2) and reloaded.gender_labels == ["female", "male"]


def test_long_clips_are_scored_in_30_second_pieces(trained):
    model, _, records = trained
    wave = np.concatenate([load_audio(r.path) for r in records[:12]])  # ~40 s: two pieces
    assert len(wave) > 30 * 16000
    probs = model.predict([wave])
    assert probs.shape == (1, 8) and np.isfinite(probs).all()


def test_pooled_statistics_shape():
    import torch

    states = torch.randn(7, 50, 512)
    vector = pooled_statistics(states)
    assert vector.shape == (N_FEATURES,)
    np.testing.assert_allclose(vector[:512].numpy(), states[0].mean(0).numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ["whisper-head", "resnet18", "classic-mlp"])
def test_shipped_model_labels_real_clips_far_above_chance(name):
    """Sanity check that the shipped weights are the trained ones (accuracy itself is reports/accuracy.json's business)."""
    assert name in local_models(), f"assets/models/{name} is missing"
    model = load_dir(MODELS_DIR / name)
    records = clips_of(SANITY_ACTORS)
    probs = model.predict([load_audio(r.path) for r in records])
    hits = np.mean([model.labels[i] == r.emotion for i, r in zip(probs.argmax(axis=1), records)])
    assert hits >= 0.5, f"{name}: {hits:.0%} of {len(records)} clips right (chance 12.5%)"
    card = (MODELS_DIR / name / "README.md").read_text()
    assert "non-commercial" in card.lower() and "actor-disjoint" in card
