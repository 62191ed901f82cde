"""Which path the encoder runs on: the candidates a CPU's real flags offer, the settings that narrow them, the timing
kept per machine, and the same labels whichever path runs. (Which path is fastest where: bench/encoder_runtimes.py.)"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ser import settings
from ser.cli import main as cli
from ser.encoders import path as encoder_path
from ser.encoders import timing as encoder_timing
from ser.audio.load import load_audio
from ser.evaluation.corpora import scan_corpus
from ser.encoders.path import (
    SAFE_DEFAULT, EncoderPath, allowed_paths, candidate_paths, chosen_path, fastest, parse_cpu_flags, stored_timing,
)
from ser.models import load_dir
from tests.cpu_flag_sets import ICE_LAKE, SAPPHIRE_RAPIDS, ZEN3, ZEN4, flags

ORT, OV, TORCH = (EncoderPath(r, "float32") for r in ("onnxruntime", "openvino", "torch"))
TORCH_BF16 = EncoderPath("torch", "bfloat16")
pytestmark = pytest.mark.usefixtures("one_math_thread")  # as the app gives each request
SHARED_CACHE_FILES = ("whisper-base-encoder.safetensors", "whisper-base-encoder.json", "whisper-base-encoder-4layers.onnx",
                      "whisper-base-encoder-4layers.json")


@pytest.mark.parametrize("cpu, expected", [
    (ICE_LAKE, [ORT, OV, TORCH]),  # AVX512-BW without AVX512_BF16/AMX: bfloat16 would be emulated, 2.5x slower
    (SAPPHIRE_RAPIDS, [ORT, OV, TORCH, TORCH_BF16]),
    (ZEN3, [ORT, OV, TORCH]),
    (ZEN4, [ORT, OV, TORCH, TORCH_BF16]),  # AVX512_BF16 without AMX is native too
], ids=["ice-lake", "sapphire-rapids", "zen3", "zen4"])
def test_a_cpu_is_offered_bfloat16_only_where_its_flags_say_it_is_native(cpu, expected):
    cpu_flags = parse_cpu_flags(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {' '.join(flags(cpu))}\nbugs\t\t: x\n")
    assert cpu_flags == flags(cpu)
    assert candidate_paths(cpu_flags) == expected
    assert candidate_paths(cpu_flags, installed=["torch"]) == [p for p in expected if p.runtime == "torch"]
    assert EncoderPath("torch", "int8") not in candidate_paths(cpu_flags)  # costs accuracy: asked for, never chosen


def test_the_ice_lake_flags_are_the_case_torchs_own_check_gets_wrong():
    """torch's oneDNN check answers True on any AVX512-BW CPU; the flag set above is one (so the test above tests
    what issue 44 is about)."""
    assert "avx512bw" in flags(ICE_LAKE) and not {"avx512_bf16", "amx_bf16"} & flags(ICE_LAKE)


def test_settings_narrow_the_candidates():
    every = [ORT, OV, TORCH, TORCH_BF16]
    assert allowed_paths(every) == every
    assert allowed_paths(every, dtype="float32") == [ORT, OV, TORCH]
    assert allowed_paths(every, runtime="torch") == [TORCH, TORCH_BF16]
    assert allowed_paths(every, runtime="openvino") == [OV]  # the graphs are float32
    assert allowed_paths(every, dtype="int8", runtime="onnxruntime") == [EncoderPath("torch", "int8")]
    assert allowed_paths([ORT, OV, TORCH], dtype="bfloat16") == [TORCH_BF16]  # asked for, even where emulated


def test_the_fastest_path_keeps_the_order_of_preference_within_the_margin():
    every = [ORT, OV, TORCH, TORCH_BF16]
    # issue 44's Ice Lake: no bfloat16 candidate, ONNX Runtime fastest
    assert fastest([ORT, OV, TORCH], {"onnxruntime float32": 39, "openvino float32": 41, "torch float32": 60}) == ORT
    # a native-bfloat16 CPU: bfloat16 far ahead
    assert fastest(every, {"onnxruntime float32": 53, "openvino float32": 47, "torch float32": 60, "torch bfloat16": 23}) == TORCH_BF16
    # within 5% of the fastest, the earlier path wins (no flip-flopping between near-equal paths)
    assert fastest(every, {"onnxruntime float32": 48, "openvino float32": 46.5, "torch float32": 60}) == ORT
    assert fastest(every, {}) is None


@pytest.fixture(scope="module")
def timed_cache(tmp_path_factory):
    """A cache folder holding a real timing of this machine's paths. The converted weights and the ONNX graph come from
    the user's cache when it has them (both are checked by sha256 when read), so that the test does not rebuild them."""
    cache = tmp_path_factory.mktemp("encoder-path")
    for name in SHARED_CACHE_FILES:
        if (settings.cache_dir() / name).is_file():
            shutil.copy(settings.cache_dir() / name, cache / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SER_CACHE_DIR", str(cache))
        patch.delenv("SER_ENCODER_DTYPE", raising=False)
        patch.delenv("SER_ENCODER_RUNTIME", raising=False)
        assert chosen_path().path == candidate_paths(encoder_path.cpu_flags(), encoder_path.installed_runtimes())[0]
        assert not chosen_path().measured and encoder_timing.needs_timing()
        patch.setattr(encoder_timing, "_started", False)  # once per process: this module's cache is a new machine
        timing = encoder_timing.measure_if_needed(background=True)  # as the app does after its warm-up
        timing.join(timeout=600)
        record = stored_timing()
        assert record is not None and encoder_timing.measure_if_needed() is None  # timed once, not again
    return cache, record


@pytest.fixture
def auto(monkeypatch, timed_cache):
    monkeypatch.setenv("SER_CACHE_DIR", str(timed_cache[0]))
    monkeypatch.delenv("SER_ENCODER_DTYPE", raising=False)
    monkeypatch.delenv("SER_ENCODER_RUNTIME", raising=False)
    return timed_cache[1]


def test_the_timing_covers_every_candidate_and_the_next_start_reads_it(auto):
    offered = candidate_paths(encoder_path.cpu_flags(), encoder_path.installed_runtimes())
    assert sorted(auto["ms"]) == sorted(p.name for p in offered) and not auto["failed"]
    assert all(0 < ms < 5000 for ms in auto["ms"].values()) and auto["rounds"] >= encoder_timing.MIN_ROUNDS
    encoder_path._timings.clear()  # what a new process sees: only the file
    choice = chosen_path()
    assert choice.measured and choice.path == fastest(offered, auto["ms"])
    assert not encoder_timing.needs_timing()
    assert choice.path.name in encoder_path.summary(choice) and "fastest here when timed" in choice.why


def test_a_timing_from_another_cpu_or_library_is_not_used(auto):
    path = encoder_path.timing_path()
    record = json.loads(path.read_text())
    try:
        path.write_text(json.dumps({**record, "key": {**record["key"], "cpu_model": "Another CPU"}}))
        encoder_path._timings.clear()
        assert stored_timing() is None and chosen_path().path == SAFE_DEFAULT and encoder_timing.needs_timing()
    finally:
        path.write_text(json.dumps(record))
        encoder_path._timings.clear()
    assert chosen_path().measured


def test_the_settings_override_the_timing(auto, monkeypatch):
    monkeypatch.setenv("SER_ENCODER_DTYPE", "float32")
    choice = chosen_path()
    assert choice.path.dtype == "float32" and choice.measured
    assert "fastest of the paths SER_ENCODER_DTYPE=float32 leaves" in choice.why and "bfloat16" not in choice.why
    monkeypatch.setenv("SER_ENCODER_RUNTIME", "openvino")
    choice = chosen_path()
    assert choice.path == OV and not choice.measured and "SER_ENCODER_RUNTIME=openvino" in choice.why
    monkeypatch.setenv("SER_ENCODER_DTYPE", "int8")
    assert chosen_path().path == EncoderPath("torch", "int8")
    assert not encoder_timing.needs_timing()  # one path left: nothing to time


def spread_clips(n: int) -> list[np.ndarray]:
    records = sorted(scan_corpus("ravdess"), key=lambda r: str(r.path))
    return [load_audio(r.path) for r in records[:: len(records) // n][:n]]


def test_every_candidate_and_the_auto_path_give_the_float32_labels(auto, data_dir, monkeypatch):
    model = load_dir(settings.MODELS_DIR / "whisper-head")
    waves = spread_clips(8)
    monkeypatch.setenv("SER_ENCODER_DTYPE", "float32")
    monkeypatch.setenv("SER_ENCODER_RUNTIME", "torch")
    reference = model.predict_both(waves)[0].argmax(axis=1)
    for path in candidate_paths(encoder_path.cpu_flags(), encoder_path.installed_runtimes()):
        monkeypatch.setenv("SER_ENCODER_DTYPE", path.dtype)
        monkeypatch.setenv("SER_ENCODER_RUNTIME", path.runtime)
        assert (model.predict_both(waves)[0].argmax(axis=1) == reference).all(), path.name
    monkeypatch.delenv("SER_ENCODER_DTYPE")
    monkeypatch.delenv("SER_ENCODER_RUNTIME")
    assert chosen_path().measured
    assert (model.predict_both(waves)[0].argmax(axis=1) == reference).all()


def test_the_cli_says_which_path_runs_and_why(auto, ravdess_clip, capsys):
    assert cli.main(["predict", str(ravdess_clip), "--verbose"]) == 0
    err = capsys.readouterr().err
    choice = chosen_path()
    assert f"The Whisper encoder runs on {choice.path.name}: it was the fastest here when timed" in err
    assert encoder_timing.NOTICE not in err  # this machine's timing was read, not redone
