"""The transformers audio-classification kind: train a tiny random wav2vec2 with the real Trainer on real RAVDESS clips,
save, reload through `ser.models.load_dir`, and refuse folders that ask for code or lack a trained head."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ser.audio.load import load_audio
from ser.labels import EMOTIONS
from ser.models import load_dir
from ser.models.base import ModelError, sha256_file
from ser.models.hf import HFAudioModel, labels_from_id2label, normalise_label, tiny_wav2vec2_config
from train.heads import hf_classifier

HELD_OUT = ["03-01-05-01-01-01-24", "03-01-03-02-02-01-24", "03-01-01-01-01-01-23", "03-01-08-02-01-02-23"]
OUR_KEYS = ("kind", "labels", "name", "metrics", "training_data", "license")
pytestmark = pytest.mark.usefixtures("one_math_thread")


def tiny_args(tmp: Path, *extra: str) -> list[str]:
    """A few Trainer steps on 12 real RAVDESS clips, 1-s crops: seconds on one CPU core."""
    return ["--config_only", "tiny", "--corpora", "ravdess", "--max_train_samples", "12", "--max_steps", "3",
            "--per_device_train_batch_size", "4", "--max_length_seconds", "1", "--learning_rate", "1e-2",
            "--output_dir", str(tmp / "trainer"), "--disable_tqdm", "true", *extra]


@pytest.fixture(scope="module")
def waves(data_dir) -> list[np.ndarray]:
    """Real clips of actors 23 and 24, whom the 12 training clips (seed 0) never include."""
    return [load_audio(data_dir / "ravdess" / f"Actor_{name[-2:]}" / f"{name}.flac") for name in HELD_OUT]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir) -> tuple[HFAudioModel, HFAudioModel, Path]:
    """(fresh model, the same model after training, its saved folder), built with the training script's functions."""
    tmp = tmp_path_factory.mktemp("hf")
    cargs, margs, dargs, targs = hf_classifier.parse_arguments(tiny_args(tmp, "--out", str(tmp / "model")))
    records = hf_classifier.subsample(hf_classifier.load_records(cargs.corpora), dargs.max_train_samples, cargs.seed)
    config = {"labels": list(EMOTIONS), "trim_silence": dargs.trim_silence, "name": "tiny-test"}
    fresh = hf_classifier.build_model(margs, list(EMOTIONS), config, cargs.seed)
    model = hf_classifier.train_model(hf_classifier.build_model(margs, list(EMOTIONS), config, cargs.seed),
                                      records, [], targs, dargs)
    model.save(cargs.out, card="# tiny-test\n")
    return fresh, model, Path(cargs.out)


def test_training_changes_the_weights(trained):
    fresh, model, _ = trained
    before, after = fresh.model.state_dict(), model.model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any(k.startswith("classifier") for k in changed)
    assert not any("feature_extractor" in k for k in changed)  # --freeze_feature_encoder is the default


def test_reload_gives_identical_outputs(trained, waves):
    _, model, folder = trained
    loaded = load_dir(folder)
    assert isinstance(loaded, HFAudioModel) and loaded.kind == "hf_audio_classification"
    assert loaded.labels == list(EMOTIONS) and loaded.name == "tiny-test" and loaded.config["trim_silence"] is True
    expected, got = model.predict_logits(waves), loaded.predict_logits(waves)
    assert got.shape == (len(waves), len(EMOTIONS))
    assert np.allclose(expected, got, atol=1e-6)
    probs = loaded.predict(waves)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5) and (probs >= 0).all()
    assert not np.allclose(probs[0], probs[1])  # the model listens: different clips, different answers


def test_batching_does_not_change_outputs(trained, waves):
    _, model, _ = trained
    one_by_one = np.concatenate([model.predict_logits([w]) for w in waves])
    assert np.allclose(model.predict_logits(waves), one_by_one, atol=1e-5)


def test_saved_folder_is_a_plain_hf_checkpoint_with_our_keys(trained):
    from transformers import AutoModelForAudioClassification

    _, model, folder = trained
    config = json.loads((folder / "config.json").read_text())
    assert config["kind"] == "hf_audio_classification" and config["name"] == "tiny-test"
    assert config["labels"] == list(EMOTIONS) and config["architectures"] == ["Wav2Vec2ForSequenceClassification"]
    assert config["id2label"] == {str(i): label for i, label in enumerate(EMOTIONS)}
    checksums = json.loads((folder / "checksums.json").read_text())
    assert checksums == {"model.safetensors": sha256_file(folder / "model.safetensors")}
    assert (folder / "preprocessor_config.json").is_file() and (folder / "README.md").is_file()
    hf = AutoModelForAudioClassification.from_pretrained(folder, use_safetensors=True, local_files_only=True)
    assert hf.config.kind == "hf_audio_classification" and hf.config.labels == list(EMOTIONS)
    assert all(torch.equal(v, hf.state_dict()[k]) for k, v in model.model.state_dict().items())


def test_main_trains_cross_validates_and_saves(tmp_path, waves):
    out = tmp_path / "tiny-ser"
    hf_classifier.main(tiny_args(tmp_path, "--out", str(out), "--cv", "--folds", "5"))
    config = json.loads((out / "config.json").read_text())
    assert all(key in config for key in OUR_KEYS) and config["kind"] == "hf_audio_classification"
    assert config["name"] == "tiny-ser" and config["license"] == "cc-by-nc-sa-4.0"
    assert config["training_data"]["clips"] == 12 and config["training_data"]["corpora"] == ["ravdess"]
    assert config["metrics"] is None  # a subset of folds writes no cross-validation report
    assert "# tiny-ser" in (out / "README.md").read_text()
    probs = load_dir(out).predict(waves)
    assert probs.shape == (len(waves), len(EMOTIONS)) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def _copy(folder: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def test_config_asking_for_custom_code_is_refused(trained, tmp_path):
    folder = _copy(trained[2], tmp_path, "custom")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForAudioClassification": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="custom code") as err:
        load_dir(folder)
    assert "\n" not in str(err.value)


def test_python_file_is_refused(trained, tmp_path):
    folder = _copy(trained[2], tmp_path, "with-code")
    (folder / "modeling_evil.py").write_text("import os\nos.system('echo pwned')\n")
    with pytest.raises(ModelError, match="modeling_evil.py"):
        load_dir(folder)


def test_checkpoint_without_a_trained_head_is_refused(tmp_path):
    from transformers import Wav2Vec2Model

    from ser.models.hf import wav2vec2_feature_extractor

    folder = tmp_path / "encoder-only"
    Wav2Vec2Model(tiny_wav2vec2_config()).save_pretrained(folder)  # e.g. a pretraining checkpoint: no classifier
    wav2vec2_feature_extractor().save_pretrained(folder)
    with pytest.raises(ModelError, match="not a trained audio classifier"):
        load_dir(folder)


def test_hub_checkpoint_labels_are_normalised(tmp_path, waves):
    torch.manual_seed(0)
    hub = HFAudioModel.from_config(tiny_wav2vec2_config(), ["ang", "hap", "neu", "sad"])
    folder = tmp_path / "hub-ser"
    hub.model.save_pretrained(folder)  # exactly what a Hub repo holds: no "kind", raw IEMOCAP label codes
    hub.feature_extractor.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    assert "kind" not in config and config["id2label"] == {"0": "ang", "1": "hap", "2": "neu", "3": "sad"}
    loaded = load_dir(folder)
    assert loaded.kind == "hf_audio_classification" and loaded.name == "hub-ser"
    assert loaded.labels == ["angry", "happy", "neutral", "sad"]
    assert np.allclose(loaded.predict_logits(waves), hub.predict_logits(waves), atol=1e-6)


@pytest.mark.parametrize("raw, name", [("ANGRY", "angry"), ("anger", "angry"), ("happiness", "happy"), ("Neu", "neutral"),
                                       ("sadness", "sad"), ("fear", "fearful"), ("Fearful", "fearful"), ("disgust", "disgust"),
                                       ("sur", "surprised"), ("Surprise", "surprised"), ("calm", "calm"), ("Excited", "excited")])
def test_normalise_label(raw, name):
    assert normalise_label(raw) == name


def test_labels_that_would_merge_keep_their_own_names():
    assert labels_from_id2label({"0": "neu", "1": "Neutral", "2": "ang"}) == ["neu", "neutral", "ang"]
    with pytest.raises(ModelError):
        labels_from_id2label({"0": "ang", "2": "sad"})


def test_hub_id_offline_is_one_sentence(tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # the documented switch, as on a machine offline
    out = tmp_path / "never"
    argv = ["--model_name_or_path", "facebook/wav2vec2-base", "--cache_dir", str(tmp_path / "empty-cache"),
            "--corpora", "ravdess", "--max_train_samples", "4", "--out", str(out), "--output_dir", str(tmp_path / "t")]
    with pytest.raises(SystemExit) as err:
        hf_classifier.main(argv)
    message = str(err.value.code)
    assert message.startswith("error: Could not get facebook/wav2vec2-base from the Hugging Face Hub") and "\n" not in message
    assert not out.exists()


def test_local_folder_that_is_no_checkpoint_is_one_sentence(tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(SystemExit) as err:
        hf_classifier.main(["--model_name_or_path", str(empty), "--corpora", "ravdess", "--max_train_samples", "4",
                            "--out", str(tmp_path / "never"), "--output_dir", str(tmp_path / "t")])
    message = str(err.value.code)
    assert message.startswith("error: ") and "not-a-model" in message and "\n" not in message
