"""The default family (head on frozen Whisper-base) — training smoke run, save/load — and every shipped model's sanity check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ser import labels as L
from ser.audio.load import SAMPLE_RATE, load_audio
from ser.evaluation.corpora import scan_corpus
from ser.models import load_dir, local_models
from ser.models.whisper_head import ENCODER_LAYERS, WhisperHeadModel, n_features, pooled_statistics
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

    from train.heads.whisper import HeadArguments, cached_states, fit_head

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
        head = fit_head(HeadArguments(augment=[]), vectors, [L.EMOTIONS.index(r.emotion) for r in records],
                        [L.GENDERS.index(r.gender) for r in records])
        model = WhisperHeadModel({"name": "smoke", "labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS),
                                  "encoder_layers": ENCODER_LAYERS}, head)
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

    states = torch.randn(ENCODER_LAYERS + 1, 50, 512)
    vector = pooled_statistics(states)
    assert vector.shape == (n_features(),)
    np.testing.assert_allclose(vector[:512].numpy(), states[0].mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(vector[512:1024].numpy(), states[0].std(0, correction=0).numpy(), atol=1e-5)
    quantiles = torch.quantile(states[0], torch.tensor([0.1, 0.5, 0.9]), dim=0).flatten()
    np.testing.assert_allclose(vector[1024:2560].numpy(), quantiles.numpy(), atol=1e-5)
    with_gradients = pooled_statistics(states.clone().requires_grad_())  # the fine-tuning path sorts instead
    np.testing.assert_allclose(with_gradients.detach().numpy(), vector.numpy(), atol=1e-5)
    np.testing.assert_allclose(vector[2560:3072].numpy(), states[1].mean(0).numpy(), atol=1e-5)  # state by state
    assert pooled_statistics(states, ()).shape == (n_features(quantiles=()),) == ((ENCODER_LAYERS + 1) * 1024,)


def test_heads_pooling_mean_and_std_only_still_load_and_predict(trained, tmp_path):
    """Heads trained before quantile pooling (config without `pooling_quantiles`) keep working."""
    from train.heads.whisper import HeadArguments, cached_states, fit_head

    _, _, records = trained
    vectors = np.stack([pooled_statistics(s, ()).numpy() for s in cached_states(records)])
    head = fit_head(HeadArguments(augment=[], mean_std_only=True), vectors, [L.EMOTIONS.index(r.emotion) for r in records],
                    [L.GENDERS.index(r.gender) for r in records])
    config = {"name": "old", "labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS), "encoder_layers": ENCODER_LAYERS}
    out = WhisperHeadModel(config, head).save(tmp_path / "old")
    config = json.loads((out / "config.json").read_text())
    assert config.pop("pooling_quantiles") == []
    (out / "config.json").write_text(json.dumps(config))
    reloaded = load_dir(out)
    probs = reloaded.predict([load_audio(r.path) for r in records])
    assert np.mean(probs.argmax(axis=1) == [L.EMOTIONS.index(r.emotion) for r in records]) >= 0.9


def test_state_cache_follows_the_audio_not_the_file(trained, tmp_path, monkeypatch):
    """A corpus copied elsewhere (or re-provisioned with new modification times) reuses its cached states; a clip whose
    audio changed does not. Before, the key was path + mtime, and every copy of the corpus re-encoded all its clips."""
    import dataclasses
    import os
    import shutil

    import soundfile as sf

    from train.heads.whisper import cached_states

    monkeypatch.setenv("SER_CACHE_DIR", str(tmp_path / "cache"))
    record = trained[2][0]
    first = cached_states([record])[0]
    copy = tmp_path / "elsewhere" / Path(record.path).name
    copy.parent.mkdir()
    shutil.copyfile(record.path, copy)
    os.utime(copy, (1e9, 1e9))  # another path, another mtime, the same bytes
    again = cached_states([dataclasses.replace(record, path=str(copy))])[0]
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1
    assert np.array_equal(first.numpy(), again.numpy())
    quieter = tmp_path / "quieter.flac"
    sf.write(quieter, load_audio(record.path) * 0.5, 16000)
    cached_states([dataclasses.replace(record, path=str(quieter))])
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2


def test_states_of_each_encoder_dtype_are_cached_apart(trained, tmp_path, monkeypatch):
    """A cache shared by a bfloat16 CPU and a float32 one (or filled with `--states_dtype`) keeps both kinds of states:
    they are close but not equal, and a head must be tested on the kind it says it was."""
    import torch

    from train.heads.whisper import cached_states

    monkeypatch.setenv("SER_CACHE_DIR", str(tmp_path))
    record = trained[2][0]
    full = cached_states([record], dtype=torch.float32)[0].float()
    half = cached_states([record], dtype=torch.bfloat16)[0].float()
    assert len(list(tmp_path.rglob("*.npy"))) == 2
    assert not torch.equal(full, half)
    for state, reference in zip(half, full):  # the encoder tests bound bfloat16's distance the same way
        assert (state - reference).norm() / reference.norm() < 0.06


def test_training_reads_float32_states_whatever_the_cpu_or_setting(monkeypatch):
    """The report and the shipped head come out the same on any machine: training encodes in float32 unless told
    otherwise, even where the app would use bfloat16 (CPUs that run it natively) or SER_ENCODER_DTYPE says int8."""
    import torch

    from train import common
    from train.heads.whisper import HeadArguments

    monkeypatch.setenv("SER_ENCODER_DTYPE", "int8")
    _, args = common.parse_args(common.CommonArgs, HeadArguments, argv=[])
    assert args.dtype == args.test_dtype == torch.float32
    _, args = common.parse_args(common.CommonArgs, HeadArguments, argv=["--states_dtype", "auto"])
    assert args.dtype == torch.qint8  # "auto" follows the app's setting


@pytest.mark.parametrize("option", ["--states_dtype", "--test_states_dtype"])
def test_training_refuses_an_unknown_encoder_dtype(option, capsys):
    from train.heads import whisper as whisper_head

    with pytest.raises(SystemExit):
        whisper_head.main(["--cv", "--no_final", option, "float16"])
    assert "invalid choice: 'float16' (choose from" in capsys.readouterr().err.splitlines()[-1]


def test_states_cached_for_training_match_what_inference_computes(trained):
    """The head is trained on cached states and applied to fresh ones: for one precision setting both must be the same
    encoder pass (same layers, same dtype), or the CV would score inputs other than those the app computes."""
    from ser.models.whisper_head import hidden_states
    from train.heads.whisper import cached_states

    _, _, records = trained
    cached = cached_states(records[:2])
    for record, states in zip(records[:2], cached):
        fresh = hidden_states(load_audio(record.path))
        assert states.shape == fresh.shape and states.shape[0] == ENCODER_LAYERS + 1
        np.testing.assert_allclose(states.float().numpy(), fresh.float().numpy(), rtol=0, atol=5e-2 + 2e-3 * fresh.abs().max().item())


def assert_config_refused(model_dir, tmp_path, match: str, **changes) -> None:
    """A copy of `model_dir` whose config.json has `changes` must fail to load with a one-sentence ModelError."""
    import shutil

    from ser.models.base import ModelError

    broken = tmp_path / "broken"
    shutil.rmtree(broken, ignore_errors=True)
    shutil.copytree(model_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, **changes}))
    with pytest.raises(ModelError, match=match):
        load_dir(broken)


def test_config_and_weights_that_disagree_are_a_clear_error(trained, tmp_path):
    _, out, _ = trained
    assert_config_refused(out, tmp_path, "do not match", encoder_layers=6)  # weights were trained on 4
    assert_config_refused(out, tmp_path, "1 to 6", encoder_layers=9)
    assert_config_refused(out, tmp_path, "do not match", pooling_quantiles=[])  # weights pool 3 quantiles too
    for bad in ("median", [0.5, "high"], [1.5]):
        assert_config_refused(out, tmp_path, "numbers from 0 to 1", pooling_quantiles=bad)


@pytest.mark.parametrize("name", ["whisper-head", "resnet18", "classic-mlp", "egemaps-cnn"])
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


def test_default_model_on_an_int8_encoder_still_labels_real_clips(monkeypatch):
    """`SER_ENCODER_DTYPE=int8` (faster on CPUs without bfloat16) feeds the shipped head states it was not trained
    on: it must still label the sanity clips far above chance, and not exactly as on float32 states."""
    model = load_dir(MODELS_DIR / "whisper-head")
    records = clips_of(SANITY_ACTORS)
    waves = [load_audio(r.path) for r in records]
    monkeypatch.setenv("SER_ENCODER_DTYPE", "float32")
    full = model.predict(waves)
    monkeypatch.setenv("SER_ENCODER_DTYPE", "int8")
    int8 = model.predict(waves)
    assert not np.allclose(full, int8, atol=1e-4)  # the setting reached the encoder
    hits = np.mean([model.labels[i] == r.emotion for i, r in zip(int8.argmax(axis=1), records)])
    assert hits >= 0.5, f"{hits:.0%} of {len(waves)} clips right on int8 states (chance 12.5%)"


def test_training_copies_are_what_their_names_say():
    """The augmented copies the default model is trained on: noise at the stated SNR (the same noise every run),
    a telephone band without energy above 4 kHz, speed copies of the right length, and pitch copies of the same length
    whose tone is 2 semitones lower or higher."""
    from ser.audio.features import fft_frequencies, power_spectrogram
    from train.inputs.augment import AUGMENTATIONS, add_noise

    wave = load_audio(clips_of(("ravdess-05",))[0].path)
    noisy = add_noise(wave, snr_db=20.0)
    snr = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean((noisy - wave).astype(np.float64) ** 2))
    assert abs(snr - 20.0) < 0.3
    np.testing.assert_array_equal(AUGMENTATIONS["noise"](wave), AUGMENTATIONS["noise"](wave.copy()))  # reproducible
    assert not np.array_equal(AUGMENTATIONS["noise"](wave), AUGMENTATIONS["noise20-test"](wave))  # test noise differs
    high = fft_frequencies() > 4200
    before, after = power_spectrogram(wave)[high].sum(), power_spectrogram(AUGMENTATIONS["telephone"](wave))[high].sum()
    assert after < 1e-3 * before
    assert abs(AUGMENTATIONS["speed1.1"](wave).size - wave.size / 1.1) <= 2
    tone = (0.3 * np.sin(2 * np.pi * 220.0 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)  # 1 s of A3
    for name, semitones in (("pitch-2", -2), ("pitch+2", 2)):
        shifted = AUGMENTATIONS[name](tone)
        assert shifted.size == tone.size  # same tempo
        spectrum = np.abs(np.fft.rfft(shifted[SAMPLE_RATE // 4 : 3 * SAMPLE_RATE // 4]))  # the middle, away from edge effects
        peak = np.fft.rfftfreq(SAMPLE_RATE // 2, 1 / SAMPLE_RATE)[spectrum.argmax()]
        assert abs(peak - 220.0 * 2 ** (semitones / 12)) < 4.0, (name, peak)


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """The optional fine-tuning path, run by the real training code on the 16 clips: top layer + outputs, saved, reloaded."""
    from ser.models.whisper_head import hidden_states
    from train.finetune.top_layers import finetune
    from train.heads.whisper import HeadArguments

    records = clips_of(TRAIN_ACTORS)
    states = [hidden_states(load_audio(r.path)) for r in records]
    frozen = ENCODER_LAYERS - 1
    args = HeadArguments(finetune_layers=1, finetune_epochs=12, head_lr=1e-2, batch_size=8)
    head = finetune(args, np.stack([pooled_statistics(s[:frozen + 1]).numpy() for s in states]), [s[frozen] for s in states],
                    [L.EMOTIONS.index(r.emotion) for r in records], [L.GENDERS.index(r.gender) for r in records])
    model = WhisperHeadModel({"name": "smoke-ft", "labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS),
                              "encoder_layers": ENCODER_LAYERS, "finetuned_layers": 1}, head)
    out = model.save(tmp_path_factory.mktemp("model") / "smoke-ft")
    return model, out, records


def test_pretrained_top_layers_reproduce_the_frozen_encoder():
    """Before any training, a head's copies of the top layers must compute what the frozen encoder computes
    (same weights, same wiring, same dtype), or fine-tuning would start from something else than Whisper."""
    from ser.models.whisper_head import hidden_states
    from train.finetune.top_layers import new_head, pooled_vectors

    wave = load_audio(clips_of(("ravdess-07",))[0].path)
    for k in (1, 2):
        frozen_states = hidden_states(wave, ENCODER_LAYERS - k)
        vector = pooled_vectors(new_head(k, 0.0), pooled_statistics(frozen_states).numpy()[None], [frozen_states[-1]])[0]
        reference = pooled_statistics(hidden_states(wave))
        assert vector.shape == reference.shape == (n_features(),)
        np.testing.assert_allclose(vector.numpy(), reference.numpy(), rtol=0, atol=2e-2 * reference.abs().max().item())


def test_finetuning_smoke_run_fits_its_clips_and_reloads_identically(finetuned):
    from safetensors import safe_open

    model, out, records = finetuned
    waves = [load_audio(r.path) for r in records]
    probs, genders = model.predict_both(waves)
    assert np.mean([model.labels[i] == r.emotion for i, r in zip(probs.argmax(axis=1), records)]) >= 0.9
    reloaded = load_dir(out)
    assert reloaded.finetuned_layers == 1
    e2, g2 = reloaded.predict_both(waves)
    np.testing.assert_allclose(probs, e2, atol=1e-6)
    np.testing.assert_allclose(genders, g2, atol=1e-6)
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        top = [name for name in weights.keys() if name.startswith("top.")]
        assert top and all(weights.get_tensor(name).dtype.is_floating_point and weights.get_tensor(name).itemsize == 2 for name in top)


def test_finetuned_layer_count_that_does_not_fit_is_a_clear_error(finetuned, tmp_path):
    _, out, _ = finetuned
    assert_config_refused(out, tmp_path, "do not match", finetuned_layers=0)  # weights carry a trained layer
    assert_config_refused(out, tmp_path, "0 to 3", finetuned_layers=4)
