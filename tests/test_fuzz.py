"""Fuzzing the audio loader and the feature code: whatever comes in, the only exception that escapes is `AudioError`
(one sentence), and whatever comes out keeps the loader's contract (mono float32 at 16 kHz, finite, within range).

Bulk sample data comes from numpy seeded by hypothesis: hypothesis chooses (and shrinks) the shape, dtype, rate, scale
and header fields, numpy fills the arrays quickly. Sized so the whole file runs in well under a minute.
"""

from __future__ import annotations

import functools
import io
import struct
import warnings

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ser.audio import features
from ser.audio.load import MAX_PEAK, SAMPLE_RATE, AudioError, load_audio

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_FILES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # ffmpeg runs per file

# how real decoders recognise a file: random bytes behind these reach each decoder's parser, not just its sniffing
MAGIC = [b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC", b"OggS\x00\x02", b"ID3\x04\x00\x00", b"\xff\xfb\x90\x64", b"FORM\x00\x00\x00\x00AIFF",
         b"\x00\x00\x00\x20ftypM4A "]
SUFFIXES = [".wav", ".flac", ".ogg", ".mp3", ".m4a", ".webm", ".bin", ""]
WAV_FORMATS = [1, 1, 1, 3, 3, 6, 7, 0x11, 0xFFFE, 0, 0xABCD]  # PCM, float, A-law, mu-law, ADPCM, extensible, and nonsense
WAV_BITS = [8, 16, 16, 24, 32, 32, 64, 0, 1, 12, 65535]
DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16", "float32", "float64",
          "longdouble", "bool", "complex64", "object", "<U3", "datetime64[s]"]
SCALES = [0.0, 1e-6, 0.5, 1.0, 2.0, 1e4, 1e30, np.nan, np.inf]
RATES = st.one_of(st.sampled_from([8000, 16000, 22050, 44100, 48000, 192000]), st.integers(-(2**63), 2**63 - 1),
                  st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["16000", "fast", None, b"\x00"]))
FEATURES = {  # name -> function of a 1-D float wave, and the shape of its output for n samples
    "power_spectrogram": (features.power_spectrogram, lambda n: (1 + features.N_FFT // 2, 1 + n // features.HOP_LENGTH)),
    "spectrogram_db": (features.spectrogram_db, lambda n: (1 + features.N_FFT // 2, 1 + n // features.HOP_LENGTH)),
    "log_mel": (features.log_mel, lambda n: (features.N_MELS, 1 + n // features.HOP_LENGTH)),
    "whisper_log_mel": (features.whisper_log_mel, lambda n: (features.WHISPER_N_MELS, max(1, n // features.HOP_LENGTH))),
    "mfcc": (lambda w: features.mfcc(w, deltas=True), lambda n: (3 * features.N_MFCC, 1 + n // features.HOP_LENGTH)),
    "chroma": (features.chroma, lambda n: (features.N_CHROMA, 1 + n // features.HOP_LENGTH)),
    "rms_energy": (features.rms_energy, lambda n: (1 + n // features.HOP_LENGTH,)),
    "summary_features": (features.summary_features, lambda n: (features.SUMMARY_SIZE,)),
}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns on tiny inputs; warnings are not what is tested here
        yield


def assert_contract(wave: np.ndarray) -> None:
    """What every caller of load_audio relies on."""
    assert isinstance(wave, np.ndarray) and wave.dtype == np.float32 and wave.ndim == 1
    assert wave.size >= 0.5 * SAMPLE_RATE - 1  # the default minimum duration
    assert np.isfinite(wave).all()
    assert float(np.abs(wave).max()) <= 2 * MAX_PEAK  # resampling may overshoot a little, never by orders of magnitude


# the loader's last-resort sentence for a decoder failing in a way nobody foresaw: an array never needs it
UNFORESEEN = "could not be read ("


def load_or_refuse(source, *args, foreseen: bool = False) -> np.ndarray | None:
    """load_audio's result, or None for an AudioError with a one-line sentence; any other exception fails the test.
    `foreseen`: the input is one the loader checks itself, so its sentence must not be the last-resort one."""
    try:
        wave = load_audio(source, *args)
    except AudioError as err:
        message = str(err)
        assert type(err) is AudioError and message and "\n" not in message and "Traceback" not in message
        assert not (foreseen and UNFORESEEN in message), message
        event(f"refused: {message.split(';')[0].split(' ')[1:4]}")  # --hypothesis-show-statistics: which sentences were hit
        return None
    assert_contract(wave)
    event("loaded")
    return wave


def samples(seed: int, shape: tuple[int, ...], dtype: str, scale: float) -> np.ndarray:
    """Noise of `shape` cast to `dtype` (integers use their whole range when scale >= 1, wrapping included)."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape) * scale
    if dtype == "object":
        return values.astype(object)
    if dtype.startswith("<U") or dtype.startswith("datetime"):
        return np.zeros(shape, dtype=dtype)
    with np.errstate(all="ignore"):
        if np.issubdtype(np.dtype(dtype), np.integer):
            info = np.iinfo(dtype)
            values = np.nan_to_num(values * info.max, nan=0.0, posinf=info.max, neginf=info.min)
            return np.clip(values, info.min, info.max).astype(dtype)
        return values.astype(dtype)


def riff(fmt: int, channels: int, rate: int, bits: int, data: bytes, claimed: int | None, riff_size: int | None) -> bytes:
    """A WAV file written field by field, so every header field can hold anything."""
    block = (channels * bits // 8) & 0xFFFF
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    body += b"data" + struct.pack("<I", len(data) if claimed is None else claimed) + data
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


@functools.lru_cache(maxsize=None)
def real_file(kind: str) -> bytes:
    """0.8 s of a tone in noise, encoded by libsndfile: valid files for the mutation tests to break."""
    rng = np.random.default_rng(0)
    t = np.arange(int(0.8 * 22050)) / 22050
    wave = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.02 * rng.standard_normal(t.size)
    container, subtype = REAL_KINDS[kind]
    buffer = io.BytesIO()
    sf.write(buffer, np.stack([wave, 0.5 * wave], axis=1), 22050, format=container, subtype=subtype)
    return buffer.getvalue()


REAL_KINDS = {"wav16": ("WAV", "PCM_16"), "wavfloat": ("WAV", "FLOAT"), "wav8": ("WAV", "PCM_U8"), "flac": ("FLAC", "PCM_16"),
              "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III"), "aiff": ("AIFF", "PCM_24")}
MUTATIONS = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8)


def mutate(data: bytes, changes: list[tuple[float, int]], keep: float) -> bytes:
    """Overwrite bytes at relative positions, then keep the first `keep` fraction of the file."""
    blob = bytearray(data)
    for where, value in changes:
        blob[int(where * len(blob))] = value
    return bytes(blob[: max(0, int(keep * len(blob)))])


# --- the loader ---------------------------------------------------------------------------------------------------


@FUZZ
@given(magic=st.sampled_from(MAGIC), tail=st.binary(max_size=2048))
def test_random_bytes_are_audio_or_one_sentence(magic, tail):
    load_or_refuse(magic + tail)


@FUZZ_FILES
@given(magic=st.sampled_from(MAGIC), tail=st.binary(max_size=2048), suffix=st.sampled_from(SUFFIXES))
def test_random_files_of_any_name_are_audio_or_one_sentence(tmp_path_factory, magic, tail, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"upload{suffix}"
    path.write_bytes(magic + tail)
    load_or_refuse(path)  # soundfile first, then the ffmpeg fallback


@FUZZ
@given(
    fmt=st.sampled_from(WAV_FORMATS), channels=st.one_of(st.integers(1, 8), st.integers(0, 65535)),
    rate=st.one_of(st.sampled_from([8000, 16000, 44100, 192000]), st.integers(0, 2**32 - 1)), bits=st.sampled_from(WAV_BITS),
    seconds=st.floats(0, 1.5), seed=st.integers(0, 2**32 - 1), claimed=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    riff_size=st.one_of(st.none(), st.integers(0, 2**32 - 1)), cut=st.one_of(st.none(), st.integers(0, 4096)),
)
def test_wav_headers_with_any_field_values_are_audio_or_one_sentence(fmt, channels, rate, bits, seconds, seed, claimed, riff_size, cut):
    data = np.random.default_rng(seed).bytes(int(seconds * 16000) * 2)
    blob = riff(fmt, channels, rate, bits, data, claimed, riff_size)
    load_or_refuse(blob if cut is None else blob[: 44 + cut])


@FUZZ
@given(
    dims=st.lists(st.integers(0, 8), max_size=3), length=st.integers(0, 24000), dtype=st.one_of(st.just("float32"), st.sampled_from(DTYPES)),
    scale=st.sampled_from(SCALES), seed=st.integers(0, 2**32 - 1), rate=RATES, form=st.sampled_from(["tuple", "reversed", "array"]),
)
def test_arrays_of_any_shape_dtype_and_rate_are_audio_or_one_sentence(dims, length, dtype, scale, seed, rate, form):
    shape = tuple([length] + dims) if dims else (length,)  # samples first; the loader also accepts channels first
    wave = samples(seed, shape[:3], dtype, scale)
    source = {"tuple": (rate, wave), "reversed": (wave, rate)}.get(form)
    loaded = load_or_refuse(wave, rate, foreseen=True) if source is None else load_or_refuse(source, foreseen=True)
    if loaded is not None:  # what the loader accepts, the features must take without fault
        assert np.isfinite(features.whisper_log_mel(loaded)).all()
        assert np.isfinite(features.summary_features(loaded)).all()


@FUZZ
@given(kind=st.sampled_from(sorted(REAL_KINDS)), changes=MUTATIONS, keep=st.one_of(st.just(1.0), st.floats(0, 1)))
def test_real_files_with_flipped_bytes_or_cut_short_are_audio_or_one_sentence(kind, changes, keep):
    load_or_refuse(mutate(real_file(kind), changes, keep))


@FUZZ_FILES
@given(kind=st.sampled_from(sorted(REAL_KINDS)), changes=MUTATIONS, keep=st.one_of(st.just(1.0), st.floats(0, 1)))
def test_mutated_files_on_disk_are_audio_or_one_sentence(tmp_path_factory, kind, changes, keep):
    path = tmp_path_factory.mktemp("mutated") / f"clip.{REAL_KINDS[kind][0].lower()}"
    path.write_bytes(mutate(real_file(kind), changes, keep))
    load_or_refuse(path)  # soundfile, then ffmpeg when soundfile refuses


# --- the features ---------------------------------------------------------------------------------------------------


def feature_or_refusal(name: str, wave) -> np.ndarray | None:
    """The feature, or None for an AudioError sentence; any other exception fails the test."""
    try:
        out = FEATURES[name][0](wave)
    except AudioError as err:
        assert type(err) is AudioError and "\n" not in str(err) and str(err).endswith(".")
        event("refused")
        return None
    event("computed")
    return out


@FUZZ
@given(
    name=st.sampled_from(sorted(FEATURES)), dims=st.lists(st.integers(0, 3), max_size=3), length=st.integers(0, 2000),
    dtype=st.sampled_from(DTYPES), scale=st.sampled_from(SCALES), seed=st.integers(0, 2**32 - 1), as_list=st.booleans(),
)
def test_features_of_arrays_of_any_shape_and_dtype_compute_or_refuse(name, dims, length, dtype, scale, seed, as_list):
    wave = samples(seed, tuple([length] + dims), dtype, scale)
    out = feature_or_refusal(name, wave.tolist() if as_list else wave)
    if out is not None:  # only a real 1-D float array may get through
        assert not as_list and wave.ndim == 1 and np.issubdtype(wave.dtype, np.floating) and wave.size > 0


@FUZZ
@given(
    name=st.sampled_from(sorted(FEATURES)), length=st.integers(1, 8000), dtype=st.sampled_from(["float16", "float32", "float64"]),
    scale=st.sampled_from([0.0, 1e-30, 1e-6, 0.5, 1.0, 3.0, 100.0]), seed=st.integers(0, 2**32 - 1),
    spoil=st.sampled_from([None, None, None, np.nan, np.inf, -np.inf, 1e6, 1e300]),
)
def test_features_of_any_float_wave_are_finite_with_the_documented_shape(name, length, dtype, scale, seed, spoil):
    wave = samples(seed, (length,), dtype, scale)
    if spoil is not None:  # one bad sample anywhere: NaN, infinity, or far beyond full scale
        with np.errstate(over="ignore"):
            wave[seed % length] = spoil
    out = feature_or_refusal(name, wave)
    if spoil is not None:
        assert out is None, "a wave with a non-finite or out-of-range sample must be refused"
        return
    assert out is not None and out.dtype == np.float32 and out.shape == FEATURES[name][1](length)
    assert np.isfinite(out).all()


@settings(max_examples=8, deadline=None)
@given(length=st.integers(1, 2000), scale=st.sampled_from([0.0, 1e-6, 0.5, 100.0]), seed=st.integers(0, 2**32 - 1))
def test_pitch_contour_of_any_short_wave_is_a_contour(length, scale, seed):
    wave = samples(seed, (length,), "float32", scale)
    f0 = features.pitch_contour(wave)
    assert f0.shape == (1 + length // features.HOP_LENGTH,)
    voiced = f0[~np.isnan(f0)]
    assert ((voiced >= features.PITCH_FMIN - 1) & (voiced <= features.PITCH_FMAX + 1)).all()
