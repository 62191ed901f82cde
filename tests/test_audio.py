"""The one audio loader on real files, real encodings and every kind of bad input (no mocks: files are written here)."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from ser.audio import load as audio
from ser.audio.load import SAMPLE_RATE, AudioError, load_audio

TONE_HZ = 440.0
FREQ_TOLERANCE_HZ = 2.0
# an MP4/M4A file starts with an `ftyp` box; soundfile cannot read it, only ffmpeg can
M4A_HEAD = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isomiso2\x00\x00\x00\x08free"


def peak_frequency(wave: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Frequency of the largest FFT bin (Hann-windowed, so leakage cannot move the peak)."""
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return float(np.fft.rfftfreq(wave.size, 1 / rate)[spectrum.argmax()])


def assert_tone(wave: np.ndarray, seconds: float, amplitude: float | None = None, tol: float = 0.01) -> None:
    """Mono float32 at 16 kHz, the right length (±1 sample per 1000), peak at 440 Hz, optionally the right amplitude."""
    assert wave.dtype == np.float32 and wave.ndim == 1
    expected = seconds * SAMPLE_RATE
    assert abs(wave.size - expected) <= max(1, expected / 1000), (wave.size, expected)
    assert abs(peak_frequency(wave) - TONE_HZ) <= FREQ_TOLERANCE_HZ
    if amplitude is not None:
        assert np.abs(wave).max() == pytest.approx(amplitude, abs=tol)


def user_error(source, **kwargs) -> str:
    """The message of the `AudioError` the loader raises; any other exception fails the test by propagating."""
    with pytest.raises(AudioError) as info:
        load_audio(source, **kwargs)
    message = str(info.value)
    assert type(info.value) is AudioError
    # one sentence for a person: no traceback, no newline, no exception class names
    assert "\n" not in message and "Traceback" not in message and message.endswith(".")
    return message


# --- real files and encodings ------------------------------------------------------------------------------------


def test_real_ravdess_flac_loads_unchanged_but_for_dc(ravdess_clip):
    wave = load_audio(ravdess_clip)
    raw, rate = sf.read(ravdess_clip, dtype="float32")
    assert rate == SAMPLE_RATE and wave.dtype == np.float32 and wave.shape == raw.shape
    np.testing.assert_allclose(wave, raw - raw.mean(dtype=np.float64), atol=1e-6)
    assert abs(float(wave.mean())) < 1e-6


def test_raw_bytes_of_a_real_flac_equal_the_path(ravdess_clip):
    np.testing.assert_array_equal(load_audio(ravdess_clip.read_bytes()), load_audio(ravdess_clip))
    np.testing.assert_array_equal(load_audio(bytearray(ravdess_clip.read_bytes())), load_audio(ravdess_clip))


@pytest.mark.parametrize(
    "subtype, amplitude_tol",
    [("PCM_U8", 0.02), ("PCM_16", 1e-3), ("PCM_24", 1e-4), ("PCM_32", 1e-4), ("FLOAT", 1e-4), ("DOUBLE", 1e-4)],
)
def test_wav_sample_formats(make_tone, write_audio, subtype, amplitude_tol):
    path = write_audio(f"tone_{subtype}.wav", make_tone(rate=44100), 44100, subtype=subtype)
    assert sf.info(path).subtype == subtype
    assert_tone(load_audio(path), 1.0, amplitude=0.5, tol=amplitude_tol)


@pytest.mark.parametrize("suffix", ["flac", "ogg", "mp3"])
def test_compressed_formats_written_by_soundfile(make_tone, write_audio, suffix):
    path = write_audio(f"tone.{suffix}", make_tone(seconds=2.0, rate=44100), 44100)
    wave = load_audio(path)
    # lossy codecs add encoder delay/padding: length within 50 ms, amplitude within 5 %
    assert abs(wave.size - 2 * SAMPLE_RATE) <= 0.05 * SAMPLE_RATE
    assert abs(peak_frequency(wave) - TONE_HZ) <= FREQ_TOLERANCE_HZ
    assert np.abs(wave[SAMPLE_RATE // 2 : -SAMPLE_RATE // 2]).max() == pytest.approx(0.5, rel=0.05)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed; the m4a path needs it")
def test_m4a_through_ffmpeg(make_tone, write_audio, tmp_path):
    wav = write_audio("tone.wav", make_tone(seconds=2.0, rate=44100), 44100)
    m4a = tmp_path / "tone.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), str(m4a)], check=True, timeout=60)
    wave = load_audio(m4a)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(wave.size - 2 * SAMPLE_RATE) <= 0.05 * SAMPLE_RATE  # AAC priming adds a few ms
    assert abs(peak_frequency(wave) - TONE_HZ) <= FREQ_TOLERANCE_HZ


def test_m4a_without_ffmpeg_says_it_needs_ffmpeg(write_bytes, tmp_path, monkeypatch):
    path = write_bytes("voice.m4a", M4A_HEAD + bytes(4096))
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: ffmpeg is not found
    assert shutil.which("ffmpeg") is None
    message = user_error(path)
    assert "needs ffmpeg" in message and "'voice.m4a'" in message


# --- arrays and Gradio tuples --------------------------------------------------------------------------------------

CHANNEL_WEIGHTS = {1: [1.0], 2: [1.0, 0.5], 6: [1.0, 0.8, 0.6, 0.4, 0.2, 0.0]}  # distinct channels: the mean is checked


def _pcm(values: np.ndarray, dtype) -> np.ndarray:
    """Quantise [-1, 1] floats as a recorder would for `dtype` (unsigned 8-bit is centred on 128)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return np.round(values * 127 + 128).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        return np.round(values * np.iinfo(dtype).max).astype(dtype)
    return values.astype(dtype)


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint8, np.float32, np.float64])
def test_gradio_tuples_of_every_dtype_and_shape(make_tone, dtype, channels):
    tone = make_tone(rate=44100)
    weights = CHANNEL_WEIGHTS[channels]
    values = np.stack([w * tone for w in weights], axis=1)
    samples = _pcm(values[:, 0] if channels == 1 else values, dtype)
    assert samples.shape == ((44100,) if channels == 1 else (44100, channels))
    tol = 0.02 if dtype == np.uint8 else 2e-3
    assert_tone(load_audio((44100, samples)), 1.0, amplitude=0.5 * float(np.mean(weights)), tol=tol)


def test_array_with_rate_and_channels_first(make_tone):
    tone = make_tone(rate=22050).astype(np.float32)
    assert_tone(load_audio(tone, 22050), 1.0, amplitude=0.5, tol=2e-3)
    assert_tone(load_audio(np.stack([tone, tone]), 22050), 1.0, amplitude=0.5, tol=2e-3)  # (channels, n)
    assert_tone(load_audio((tone, 22050)), 1.0, amplitude=0.5, tol=2e-3)  # (samples, rate) order too


# --- conversion, checked numerically -------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 44100, 192000])
def test_stereo_tone_becomes_mono_16k_at_the_same_pitch(make_tone, write_audio, rate):
    tone = make_tone(seconds=2.0, rate=rate)
    path = write_audio(f"stereo_{rate}.wav", np.stack([tone, tone], axis=1), rate, subtype="FLOAT")
    assert sf.info(path).channels == 2
    assert_tone(load_audio(path), 2.0, amplitude=0.5, tol=0.01)


def test_loud_float_input_is_never_clipped(make_tone, write_audio):
    loud = make_tone(amplitude=1.5, rate=44100)
    assert np.abs(load_audio((44100, loud.astype(np.float32)))).max() == pytest.approx(1.5, abs=0.01)
    path = write_audio("loud.wav", loud, 44100, subtype="FLOAT")
    assert np.abs(load_audio(path)).max() == pytest.approx(1.5, abs=0.01)
    assert np.abs(load_audio((16000, make_tone(amplitude=1.5)))).max() == pytest.approx(1.5, abs=1e-4)


def test_dc_offset_is_removed(make_tone):
    wave = load_audio((44100, (make_tone(rate=44100) + 0.3).astype(np.float32)))
    assert abs(float(wave.mean())) < 1e-4
    assert np.abs(wave).max() == pytest.approx(0.5, abs=0.01)  # the tone itself is untouched


def test_trim_removes_leading_and_trailing_silence(make_tone):
    silence = np.zeros(SAMPLE_RATE)
    clip = np.concatenate([silence, make_tone(seconds=1.0), silence])
    assert load_audio((SAMPLE_RATE, clip)).size == 3 * SAMPLE_RATE
    trimmed = load_audio((SAMPLE_RATE, clip), trim=True)
    assert abs(trimmed.size - SAMPLE_RATE) <= 0.1 * SAMPLE_RATE
    assert abs(peak_frequency(trimmed) - TONE_HZ) <= FREQ_TOLERANCE_HZ


def test_trim_cuts_where_librosa_trim_cuts(data_dir):
    """Our numpy trim (librosa's would import numba and scikit-learn in every CLI run) keeps librosa's exact samples."""
    import librosa

    from ser.audio.load import trim_silence
    from ser.evaluation.corpora import scan_corpus

    records = list(scan_corpus("ravdess"))[::60] + list(scan_corpus("tess"))[::200]
    for record in records:
        wave = load_audio(record.path)
        expected, _ = librosa.effects.trim(wave, top_db=40, frame_length=1024, hop_length=256)
        np.testing.assert_array_equal(trim_silence(wave), expected, err_msg=record.path)
    silent = np.zeros(SAMPLE_RATE, dtype=np.float32)
    assert trim_silence(silent) is silent  # nothing to keep: the clip is left whole, as before


def test_pad_or_trim():
    wave = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(audio.pad_or_trim(wave, 3), [0, 1, 2])
    np.testing.assert_array_equal(audio.pad_or_trim(wave, 7), [0, 1, 2, 3, 4, 0, 0])
    assert audio.pad_or_trim(np.ones((2, 5)), 8).shape == (2, 8)


# --- bad input: one AudioError each, with its own sentence -----------------------------------------------------------


def _wav_bytes(make_tone, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, make_tone(seconds=2.0, rate=rate), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture
def bad_inputs(make_tone, write_audio, write_bytes, tmp_path):
    """name -> (source, substring its message must contain). Every name is a distinct failure a user can hit."""
    tone = make_tone(seconds=2.0)
    wav = _wav_bytes(make_tone)
    flac = write_audio("whole.flac", make_tone(seconds=2.0, rate=44100), 44100).read_bytes()
    nan, inf = tone.copy(), tone.copy()
    nan[1000], inf[2000] = np.nan, np.inf
    return {
        "missing": (tmp_path / "nowhere.wav", "does not exist"),
        "folder": (tmp_path, "is a folder"),
        "empty file": (write_bytes("empty.wav", b""), "is empty (0 bytes)"),
        "text named .wav": (write_bytes("notes.wav", b"this is a text file, not audio\n" * 20), "is not audio that can be read"),
        "wav cut in its header": (write_bytes("cut.wav", wav[:24]), "truncated or corrupt"),
        "flac cut in half": (write_bytes("cut.flac", flac[: len(flac) // 2]), "truncated or corrupt"),
        "zero frames": (write_audio("zero.wav", np.zeros(0), 16000, subtype="PCM_16"), "contains no samples"),
        "too short": (write_audio("short.wav", make_tone(seconds=0.2), 16000), "shorter than the 0.5 s minimum"),
        "silence": (write_audio("silent.wav", np.zeros(2 * 16000), 16000), "is silent"),
        "nan": (write_audio("nan.wav", nan, 16000, subtype="FLOAT"), "NaN or infinity"),
        "inf": (write_audio("inf.wav", inf, 16000, subtype="FLOAT"), "NaN or infinity"),
        "rate too low": (write_audio("slow.wav", make_tone(seconds=2.0, rate=4000), 4000), "sample rate 4000 Hz is outside"),
        "rate too high": ((384000, make_tone(seconds=1.0, rate=384000)), "sample rate 384000 Hz is outside"),
        "empty bytes": (b"", "uploaded audio is empty"),
        "garbage bytes": (b"\x00\x01garbage" * 100, "not a readable audio file"),
        "none": (None, "No audio was given"),
        "array without rate": (tone, "needs its sample rate"),
        "3-d array": ((16000, np.zeros((2, 2, 16000))), "must be 1-D (mono) or 2-D"),
        "text array": ((16000, np.array(["a", "b"])), "must be integers or floats"),
        "bad rate": (("fast", tone), "whole number"),
        "empty gradio recording": ((44100, np.zeros((0, 2), dtype=np.int16)), "contains no samples"),
    }


BAD_INPUT_NAMES = [
    "missing", "folder", "empty file", "text named .wav", "wav cut in its header", "flac cut in half", "zero frames",
    "too short", "silence", "nan", "inf", "rate too low", "rate too high", "empty bytes", "garbage bytes", "none",
    "array without rate", "3-d array", "text array", "bad rate", "empty gradio recording",
]


@pytest.mark.parametrize("name", BAD_INPUT_NAMES)
def test_bad_input_gets_its_own_sentence(bad_inputs, name):
    source, expected = bad_inputs[name]
    assert expected in user_error(source)


def test_bad_input_messages_are_distinct(bad_inputs):
    assert sorted(bad_inputs) == sorted(BAD_INPUT_NAMES)
    # the same failure in two forms may share a sentence; every other pair must read differently
    same = [{"nan", "inf"}, {"rate too low", "rate too high"}, {"wav cut in its header", "flac cut in half"},
            {"zero frames", "empty gradio recording"}]
    messages = {}
    for name, (source, _) in bad_inputs.items():
        text = user_error(source)
        for word in ("nowhere.wav", "empty.wav", "notes.wav", "cut.wav", "cut.flac"):
            text = text.replace(word, "<x>")  # a file name alone must not make two sentences differ
        messages[name] = text
    for a in messages:
        for b in messages:
            if a < b and {a, b} not in same:
                assert messages[a] != messages[b], (a, b)


def test_too_long_by_setting_and_by_argument(make_tone, write_audio, monkeypatch):
    path = write_audio("two_seconds.wav", make_tone(seconds=2.0), 16000)
    monkeypatch.setenv("SER_MAX_SECONDS", "1")
    assert "2.0 s long, longer than the 1 s limit" in user_error(path)
    assert "longer than the 1 s limit" in user_error((16000, make_tone(seconds=2.0)))
    assert load_audio(path, max_seconds=5).size == 2 * SAMPLE_RATE  # the caller's limit wins over the setting


def test_twenty_minute_file_is_refused_from_its_header(tmp_path):
    path = tmp_path / "twenty_minutes.wav"
    rate, seconds = 8000, 20 * 60
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_U8") as handle:  # 9.6 MB of zeros, written in one go
        handle.write(np.zeros(rate * seconds, dtype=np.int16))
    assert sf.info(path).duration == seconds
    assert "20.0 min long, longer than the 10 min limit" in user_error(path)


def test_too_large_upload_is_refused_before_decoding(write_audio, monkeypatch):
    path = write_audio("big.wav", np.zeros(80 * 16000), 16000, subtype="PCM_16")  # 2.56 MB
    monkeypatch.setenv("SER_MAX_UPLOAD_MB", "1")
    assert "'big.wav' is 3 MB, more than the 1 MB limit" in user_error(path)
