"""Every model kind survives a trip through the Hub: push with `train.cards.push`, pull by id into an empty cache in a fresh
process with `ser.models.load_model`, and predict exactly what the local copy predicts on real clips.
Also: offline with nothing cached falls back to the shipped default model and says so."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ser.audio.load import load_audio
from ser.models import load_dir, local_models
from ser.models.hf import HFAudioModel, tiny_wav2vec2_config
from ser.settings import MODELS_DIR, DEFAULT_MODEL
from tests.hub_server import PROJECT_ROOT, WRITE_TOKEN, HubServer, hub_env

CLIPS = ["Actor_01/03-01-05-02-01-01-01.flac", "Actor_24/03-01-03-02-02-02-24.flac"]
PREDICT_SCRIPT = """
import json, sys
from ser.audio.load import load_audio
from ser.models import load_with_fallback
model, notice = load_with_fallback(sys.argv[1])
probs = model.predict([load_audio(p) for p in sys.argv[2:]])
print(json.dumps({"name": model.name, "kind": model.kind, "labels": model.labels, "probs": probs.tolist(), "notice": notice}))
"""


def predict_in_fresh_process(endpoint: str, hf_home, ref: str, clips: list[str], **env) -> dict:
    proc = subprocess.run([sys.executable, "-c", PREDICT_SCRIPT, ref, *clips], env=hub_env(endpoint, hf_home, **env),
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def model_dirs(tmp_path_factory) -> dict:
    dirs = {name: MODELS_DIR / name for name in local_models()}
    tiny = tmp_path_factory.mktemp("tiny-w2v2") / "tiny-wav2vec2"
    HFAudioModel.from_config(tiny_wav2vec2_config(), ["angry", "happy", "neutral", "sad"]).save(tiny)
    dirs["tiny-wav2vec2"] = tiny
    return dirs


@pytest.fixture(scope="module")
def shipped_and_tiny(tmp_path_factory):
    return model_dirs(tmp_path_factory)


@pytest.mark.parametrize("name", ["whisper-head", "resnet18", "classic-mlp", "egemaps-cnn", "tiny-wav2vec2"])
def test_every_kind_round_trips_with_identical_predictions(name, shipped_and_tiny, data_dir, tmp_path):
    assert name in shipped_and_tiny, f"{name} is not in assets/models"
    model_dir = shutil.copytree(shipped_and_tiny[name], tmp_path / name)  # push writes its card into the folder
    clips = [str(data_dir / "ravdess" / c) for c in CLIPS]
    local = load_dir(model_dir)
    expected = local.predict([load_audio(c) for c in clips])
    repo = f"tester/{name}"
    with HubServer() as hub:
        push = subprocess.run([sys.executable, "-m", "train.cards.push", str(model_dir), repo],
                              env=hub_env(hub.url, tmp_path / "hf-push", HF_TOKEN=WRITE_TOKEN),
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
        assert push.returncode == 0, push.stderr
        pulled = predict_in_fresh_process(hub.url, tmp_path / "hf-pull", repo, clips)
    assert pulled["kind"] == local.kind and pulled["labels"] == local.labels and pulled["notice"] is None
    np.testing.assert_allclose(np.array(pulled["probs"]), expected, atol=1e-5)


def test_offline_without_cache_falls_back_to_the_default_model_and_says_so(data_dir, tmp_path):
    clip = str(data_dir / "ravdess" / CLIPS[0])
    with HubServer() as hub:
        out = predict_in_fresh_process(hub.url, tmp_path / "hf-empty", "tester/never-pulled", [clip], HF_HUB_OFFLINE="1")
    assert out["name"] == DEFAULT_MODEL
    assert "falling back to the embedded default model" in out["notice"]
    assert abs(sum(out["probs"][0]) - 1) < 1e-5
