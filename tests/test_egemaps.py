"""openSMILE's eGeMAPS parameters (ser.audio.egemaps), the models on them (egemaps-cnn, egemaps-mlp) and their training
(train/heads/egemaps.py), on real RAVDESS and TESS clips; bad input on the eGeMAPS path through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from safetensors.numpy import load_file

from ser import settings
from ser.audio.load import SAMPLE_RATE, AudioError, load_audio
from ser.evaluation.corpora import load_records
from ser.audio.egemaps import N_FEATURES, VOICED_SEGMENTS_PER_SEC, describe, egemaps_features, feature_names
from ser.labels import EMOTIONS
from ser.evaluation.protocols import corpus_emotions
from ser.models import load_dir, load_model
from ser.models.egemaps import EgemapsModel
from train.heads import egemaps as train_egemaps
from tests.test_models_classic_resnet import pick

ANGRY = "ravdess/Actor_01/03-01-05-02-01-01-01.flac"
CALM = "ravdess/Actor_12/03-01-02-01-01-01-12.flac"


@pytest.fixture(scope="module")
def waves(data_dir):
    return [load_audio(data_dir / ANGRY), load_audio(data_dir / CALM)]


def test_features_of_real_clips_are_88_finite_and_deterministic(waves):
    first = np.stack([egemaps_features(w) for w in waves])
    again = np.stack([egemaps_features(w) for w in waves])
    assert first.shape == (2, N_FEATURES) and first.dtype == np.float32
    assert np.isfinite(first).all()
    assert np.array_equal(first, again)
    assert not np.allclose(first[0], first[1])  # angry and calm clips of two actors are not measured alike
    names = feature_names()
    assert len(names) == N_FEATURES and names[VOICED_SEGMENTS_PER_SEC] == "VoicedSegmentsPerSec"
    loudness = names.index("loudness_sma3_amean")
    assert first[0, loudness] > first[1, loudness]  # the shouted clip is louder than the calm one


def test_every_parameter_has_a_plain_sentence():
    for name in feature_names():
        label, sentence = describe(name)
        assert label != name and sentence.endswith(".") and "openSMILE's eGeMAPS parameter" not in sentence, name


def test_clips_without_voice_or_too_short_are_one_sentence(waves):
    noise = np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE).astype(np.float32)
    with pytest.raises(AudioError, match="too little voiced speech"):
        egemaps_features(noise, require_voice=True)
    with pytest.raises(AudioError, match="too short"):
        egemaps_features(waves[0][:160])  # 10 ms
    assert np.isfinite(egemaps_features(noise)).all()  # a classifier still gets an input (and the app's warm-up works)


# --- training ----------------------------------------------------------------------------------------------------------

def test_masked_loss_ignores_labels_a_corpus_does_not_have():
    """A TESS neutral clip (TESS has no calm) must neither push calm down nor up: its loss runs over the other labels."""
    logits = torch.tensor([[1.0, 2.5, 0.3, -1.0, 0.0, 0.2, 0.1, -0.5]], requires_grad=True)
    target = torch.tensor([EMOTIONS.index("neutral")])
    allowed = torch.ones(1, len(EMOTIONS), dtype=torch.bool)
    allowed[0, EMOTIONS.index("calm")] = False
    loss = train_egemaps.masked_cross_entropy(logits, target, allowed)
    loss.backward()
    assert logits.grad[0, EMOTIONS.index("calm")] == 0
    keep = [i for i in range(len(EMOTIONS)) if i != EMOTIONS.index("calm")]
    expected = torch.nn.functional.cross_entropy(logits[:, keep].detach(), torch.tensor([keep.index(target.item())]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    unmasked = train_egemaps.masked_cross_entropy(logits, target)
    assert unmasked.item() > loss.item()  # calm held probability the mask gave back to neutral


def test_label_masks_follow_each_corpus(data_dir):
    records = [r for r in load_records(["ravdess", "tess"]) if r.emotion == "neutral"][::200]
    masks = train_egemaps.label_masks(records, corpus_emotions(load_records(["ravdess", "tess"])))
    calm = EMOTIONS.index("calm")
    assert {r.corpus for r in records} == {"ravdess", "tess"}
    for record, mask in zip(records, masks):
        assert mask[calm] == (record.corpus == "ravdess") and mask.sum() == (8 if record.corpus == "ravdess" else 7)
    assert train_egemaps.label_masks(records).all()


def test_validation_speakers_are_held_out_whole_in_any_corpus(data_dir):
    records = load_records(["ravdess", "tess"])
    train, val = train_egemaps.speaker_holdout(records, 2, seed=3)
    held = {r.speaker for r in val}
    assert len(held) == 2 and not held & {r.speaker for r in train} and len(train) + len(val) == len(records)
    assert not any(s.startswith("tess") for s in held)  # a 1,400-clip TESS speaker is not a validation speaker
    tess_only = [r for r in records if r.corpus == "tess"]
    assert train_egemaps.speaker_holdout(tess_only, 2, seed=0) == (tess_only, [])  # too few speakers: no split


@pytest.fixture(scope="module")
def tiny(data_dir):
    """A CNN trained on 3 actors (one clip per emotion each), validated on a fourth: saved and reloaded."""
    train, val = pick((1, 2, 3)), pick((4,))
    x = np.stack([egemaps_features(load_audio(r.path)) for r in train])
    x_val = np.stack([egemaps_features(load_audio(r.path)) for r in val])
    y = np.array([EMOTIONS.index(r.emotion) for r in train])
    y_val = np.array([EMOTIONS.index(r.emotion) for r in val])
    args = train_egemaps.EgemapsArgs(max_epochs=60, patience=20, batch_size=8)
    config = {"name": "tiny-egemaps", "labels": list(EMOTIONS), "network": "cnn", "dropout": args.dropout}
    fitted = train_egemaps.train_model(x, y, np.ones((len(y), len(EMOTIONS)), bool), x_val, y_val, args, 0, config)
    return fitted, train, x


def test_trained_model_saves_without_pickle_and_reloads_identically(tiny, tmp_path):
    fitted, train, x = tiny
    assert 1 <= fitted.best_epoch <= 60 and fitted.val_uar is not None
    out = fitted.model.save(tmp_path / "tiny", card="# tiny\n")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "checksums.json", "config.json", "model.safetensors"]
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "egemaps" and len(config["scaler"]["mean"]) == N_FEATURES  # the scaler is JSON
    assert not any(key.startswith("scaler") for key in load_file(str(out / "model.safetensors")))
    mean = np.mean(x, axis=0)
    assert np.allclose(config["scaler"]["mean"], mean, rtol=1e-5, atol=1e-4)  # fitted on the training clips
    loaded = load_dir(out)
    assert isinstance(loaded, EgemapsModel)
    waves = [load_audio(r.path) for r in train[:4]]
    assert np.allclose(loaded.predict(waves), fitted.model.predict(waves), atol=1e-6)


def test_damaged_scaler_is_a_clear_error(tiny, tmp_path):
    from ser.models.base import ModelError

    out = tiny[0].model.save(tmp_path / "damaged")
    config = json.loads((out / "config.json").read_text())
    config["scaler"]["scale"] = config["scaler"]["scale"][:10]
    (out / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="scaler does not hold 88 parameters"):
        load_dir(out)


# --- the shipped model ---------------------------------------------------------------------------------------------------

def test_shipped_egemaps_cnn_loads_and_predicts(waves):
    model = load_model("egemaps-cnn")
    probs = model.predict(waves)
    assert probs.shape == (2, len(EMOTIONS)) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert model.labels[int(probs[0].argmax())] == "angry"  # a strongly acted clip it was trained on
    card = (settings.MODELS_DIR / "egemaps-cnn" / "README.md").read_text()
    assert "audEERING" in card and "non-commercial" in card.lower()
    size = sum(p.stat().st_size for p in (settings.MODELS_DIR / "egemaps-cnn").iterdir())
    assert size < 2e6, f"egemaps-cnn takes {size / 1e6:.1f} MB"


def test_bad_input_on_the_egemaps_path_is_one_sentence(data_dir, tmp_path):
    """Through `python -m ser predict --model egemaps-cnn`: unusable files are rows with the loader's sentence, a
    192-kHz stereo recording is labelled like the same speech at 16 kHz mono."""
    speech = load_audio(data_dir / ANGRY)
    sf.write(tmp_path / "silence.wav", np.zeros(2 * SAMPLE_RATE), SAMPLE_RATE)
    sf.write(tmp_path / "short.wav", speech[: SAMPLE_RATE // 10], SAMPLE_RATE)
    (tmp_path / "notes.wav").write_text("these are meeting notes, not audio\n" * 20)
    high = soxr.resample(speech, SAMPLE_RATE, 192000)
    sf.write(tmp_path / "studio.wav", np.stack([high, 0.8 * high], axis=1), 192000, subtype="PCM_24")
    files = [str(tmp_path / n) for n in ("silence.wav", "short.wav", "notes.wav", "studio.wav")]
    proc = subprocess.run([sys.executable, "-m", "ser", "predict", *files, "--model", "egemaps-cnn", "--format", "json"],
                          capture_output=True, text=True, timeout=300, cwd=settings.PROJECT_ROOT)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout
    rows = {row["file"].rsplit("/", 1)[-1]: row for row in json.loads(proc.stdout)}
    assert "is silent" in rows["silence.wav"]["error"]
    assert "0.10 s long, shorter than the 0.5 s minimum" in rows["short.wav"]["error"]
    assert "is not audio that can be read" in rows["notes.wav"]["error"]
    for name in ("silence.wav", "short.wav", "notes.wav"):
        assert rows[name]["error"].count(". ") == 0 and rows[name]["error"].endswith(".")  # one sentence
    studio = rows["studio.wav"]
    assert not studio.get("error") and studio["label"] == load_model("egemaps-cnn").labels[
        int(load_model("egemaps-cnn").predict([speech])[0].argmax())]
