"""The encoder on ONNX Runtime and OpenVINO: the same states and answers as torch, a cached graph that is checked, a
fallback to torch. (Which runtime is fastest, on 100 clips: bench/encoder_runtimes.py, not a test.)"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ser.encoders import runtime as encoder_runtime
from ser.audio.load import load_audio
from ser.evaluation.corpora import scan_corpus
from ser.encoders.runtime import encoder_states, graph_paths, load_graph
from ser.models import load_dir
from ser.models.whisper_head import ENCODER_LAYERS, preprocess
from ser.settings import MODELS_DIR

ACTORS = ("ravdess-03", "ravdess-16")  # a man and a woman
GRAPH_RUNTIMES = ("onnxruntime", "openvino")


@pytest.fixture(scope="module")
def waves(data_dir) -> list[np.ndarray]:
    records = [r for r in scan_corpus("ravdess") if r.speaker in ACTORS]
    return [load_audio(r.path) for r in records[::12][:4]]


@pytest.fixture(scope="module")
def graph_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("graph-cache")


@pytest.fixture
def runtime(monkeypatch, graph_cache):
    """`runtime(name)`: put the encoder on that runtime in float32, graphs cached in this module's folder."""
    monkeypatch.setenv("SER_CACHE_DIR", str(graph_cache))
    monkeypatch.setenv("SER_ENCODER_DTYPE", "float32")

    def use(name: str) -> None:
        monkeypatch.setenv("SER_ENCODER_RUNTIME", name)

    return use


@pytest.mark.parametrize("name", GRAPH_RUNTIMES)
def test_graph_runtimes_compute_the_torch_states(name, runtime, waves):
    for wave in waves[:2]:
        mel = preprocess(wave)
        runtime("torch")
        reference = encoder_states(mel, ENCODER_LAYERS)
        runtime(name)
        states = encoder_states(mel, ENCODER_LAYERS)
        assert states.shape == reference.shape == (ENCODER_LAYERS + 1, (mel.shape[1] + 1) // 2, 512)
        assert states.dtype == torch.float32
        # float32 rounding only: op fusion orders sums differently (observed ~1e-3 on states of magnitude ~20)
        np.testing.assert_allclose(states.numpy(), reference.numpy(), rtol=0, atol=1e-4 * reference.abs().max().item())
    assert encoder_runtime.active_runtime() == name  # not a silent fallback to torch


@pytest.mark.parametrize("name", GRAPH_RUNTIMES)
def test_default_model_answers_the_same_on_every_runtime(name, runtime, waves):
    model = load_dir(MODELS_DIR / "whisper-head")
    runtime("torch")
    reference, reference_gender = model.predict_both(waves)
    runtime(name)
    probs, gender = model.predict_both(waves)
    np.testing.assert_allclose(probs, reference, rtol=0, atol=1e-3)
    np.testing.assert_allclose(gender, reference_gender, rtol=0, atol=1e-3)
    assert (probs.argmax(axis=1) == reference.argmax(axis=1)).all()


def float32_encoder_on(monkeypatch, cache: Path, runtime: str, wave: np.ndarray) -> torch.Tensor:
    """Point the encoder at a fresh cache, float32, on `runtime`; the log-mel input of `wave`."""
    monkeypatch.setenv("SER_CACHE_DIR", str(cache))
    monkeypatch.setenv("SER_ENCODER_DTYPE", "float32")
    monkeypatch.setenv("SER_ENCODER_RUNTIME", runtime)
    return preprocess(wave)


def test_a_broken_cached_graph_is_rebuilt_not_trusted(tmp_path, monkeypatch, waves, caplog):
    mel = float32_encoder_on(monkeypatch, tmp_path, "onnxruntime", waves[0])
    first = encoder_states(mel, ENCODER_LAYERS)
    graph, meta = graph_paths(tmp_path, ENCODER_LAYERS)
    good = graph.read_bytes()
    assert json.loads(meta.read_text())["sha256"] == hashlib.sha256(good).hexdigest()
    # flip bytes in the middle (the weights): a graph that still parses but computes something else
    broken = bytearray(good)
    broken[len(broken) // 2: len(broken) // 2 + 64] = bytes(64)
    graph.write_bytes(bytes(broken))
    encoder_runtime._compiled_locked.cache_clear()  # what a restart does: the next load reads the cache again
    with caplog.at_level(logging.WARNING, logger="ser.encoders.runtime"):
        again = encoder_states(mel, ENCODER_LAYERS)
    assert "does not match its checksum; rebuilding it" in caplog.text
    assert hashlib.sha256(graph.read_bytes()).hexdigest() == json.loads(meta.read_text())["sha256"]
    assert graph.read_bytes() != bytes(broken)
    np.testing.assert_array_equal(again.numpy(), first.numpy())
    assert load_graph(tmp_path, ENCODER_LAYERS) == graph  # now trusted as it is


def test_a_runtime_that_is_not_installed_falls_back_to_torch(tmp_path, monkeypatch, waves, caplog):
    mel = float32_encoder_on(monkeypatch, tmp_path, "torch", waves[0])
    reference = encoder_states(mel, ENCODER_LAYERS)
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now raises ImportError, as when not installed
    monkeypatch.setenv("SER_ENCODER_RUNTIME", "openvino")
    with caplog.at_level(logging.WARNING, logger="ser.encoders.runtime"):
        states = encoder_states(mel, ENCODER_LAYERS)
    np.testing.assert_array_equal(states.numpy(), reference.numpy())
    assert "openvino is not installed" in caplog.text and "runs on torch" in caplog.text
    assert encoder_runtime.active_runtime() == "torch"


def test_runtime_setting_and_precision(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("SER_CACHE_DIR", str(tmp_path))  # no timing of this machine's paths: the safe default
    monkeypatch.setenv("SER_ENCODER_DTYPE", "float32")
    monkeypatch.setenv("SER_ENCODER_RUNTIME", "auto")
    assert encoder_runtime.runtime_for(torch.float32) == encoder_runtime.AUTO_RUNTIME
    monkeypatch.setenv("SER_ENCODER_RUNTIME", " OpenVINO ")
    assert encoder_runtime.runtime_for(torch.float32) == "openvino"
    # the graphs are float32: int8 or bfloat16 run on torch whatever the runtime, and an explicit runtime says so
    monkeypatch.setenv("SER_ENCODER_DTYPE", "int8")
    with caplog.at_level(logging.WARNING, logger="ser.encoders.runtime"):
        assert encoder_runtime.runtime_for(torch.qint8) == "torch"
    assert "runs float32 only" in caplog.text
    monkeypatch.setenv("SER_ENCODER_RUNTIME", "tensorrt")
    with caplog.at_level(logging.WARNING, logger="ser.encoders.runtime"):
        assert encoder_runtime.runtime_for(torch.float32) == encoder_runtime.AUTO_RUNTIME
    assert "SER_ENCODER_RUNTIME='tensorrt' is not one of auto" in caplog.text
