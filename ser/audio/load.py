"""The one audio loader: anything a user hands us becomes mono float32 at 16 kHz, or one clear `AudioError`.

Steps, one function each: read (path / bytes / array / Gradio tuple) -> to float -> downmix -> resample -> validate -> optional trim.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path
from typing import Union

import numpy as np
import soundfile as sf

from ser import settings

SAMPLE_RATE = 16000  # every model and feature in the project works at 16 kHz
# files taken as audio when a folder is searched; load_audio reads the first four with soundfile, the rest through ffmpeg
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".oga", ".opus", ".m4a", ".aac", ".webm")
MIN_INPUT_RATE = 8000  # telephone audio; below that speech is unintelligible
MAX_INPUT_RATE = 192000  # studio audio; above that the header is almost certainly corrupt
SILENCE_PEAK = 1e-3  # peak amplitude (full scale 1.0) under which a clip counts as silence (-60 dBFS)
# +60 dBFS: no recording is this loud; float files beyond it are corrupt (e.g. integer data under a float header),
# and their spectral power overflows float32 into NaN predictions
MAX_PEAK = 1e3
TRIM_TOP_DB = 40  # leading/trailing frames this far below the peak are silence when trimming
FFMPEG_TIMEOUT_S = 60

AudioSource = Union[str, os.PathLike, bytes, bytearray, np.ndarray, tuple]


class AudioError(ValueError):
    """Raised for any input that cannot be used; the message is one sentence meant for the user."""


def load_audio(
    source: AudioSource,
    sample_rate: int | None = None,
    *,
    min_seconds: float | None = None,
    max_seconds: float | None = None,
    trim: bool = False,
) -> np.ndarray:
    """Load a path, raw bytes, an array (with `sample_rate`) or Gradio's `(rate, array)` tuple.

    Returns mono float32 at `SAMPLE_RATE`, DC removed, never clipped. Raises `AudioError` for anything unusable.
    """
    min_seconds = settings.min_duration() if min_seconds is None else min_seconds
    max_seconds = settings.max_duration() if max_seconds is None else max_seconds
    try:
        samples, rate = read_source(source, sample_rate, max_seconds)
        _check_rate(rate)
        samples = to_float(samples)
        samples = to_mono(samples)
        if samples.size == 0:
            raise AudioError("The audio contains no samples; record or upload a clip with sound in it.")
        _check_finite(samples)
        _check_peak(samples)
        _check_length(samples.size / rate, min_seconds, max_seconds)
        samples = resample(samples, rate)
        samples = remove_dc(samples)
        _check_not_silent(samples)
        if trim:
            samples = trim_silence(samples)
        return samples
    except AudioError:
        raise
    except MemoryError:
        raise AudioError("The audio is too large to process; upload a shorter clip.") from None
    except Exception as err:  # a decoder failing in a way we did not foresee still gets one sentence
        raise AudioError(f"The audio could not be read ({type(err).__name__}); try a WAV, FLAC, OGG or MP3 file.") from None


def read_source(source: AudioSource, sample_rate: int | None, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Dispatch on the kind of input; returns (samples, rate) with samples shaped (n,) or (n, channels).

    Files longer than `max_seconds` (default the setting) are refused from their header, before decoding.
    """
    if source is None:
        raise AudioError("No audio was given; record with the microphone or upload a file.")
    if isinstance(source, tuple):
        if len(source) != 2:
            raise AudioError("Audio tuples must be (sample_rate, samples).")
        rate, samples = source
        if isinstance(rate, np.ndarray) and not isinstance(samples, np.ndarray):
            rate, samples = samples, rate  # accept (samples, rate) too
        return _array_input(np.asarray(samples), rate)
    if isinstance(source, np.ndarray):
        if sample_rate is None:
            raise AudioError("An audio array needs its sample rate.")
        return _array_input(source, sample_rate)
    if isinstance(source, (bytes, bytearray)):
        return read_bytes(bytes(source), max_seconds)
    return read_file(Path(source), max_seconds)


def _array_input(samples: np.ndarray, rate) -> tuple[np.ndarray, int]:
    try:
        rate = int(rate)
    except (TypeError, ValueError, OverflowError):  # None, "fast", NaN, infinity
        raise AudioError("The sample rate must be a whole number of samples per second.") from None
    if samples.ndim > 2:
        raise AudioError("Audio arrays must be 1-D (mono) or 2-D (samples x channels).")
    if samples.ndim == 2 and 0 < samples.shape[0] < samples.shape[1] and samples.shape[0] <= 8:
        samples = samples.T  # (channels, samples) -> (samples, channels)
    if not (np.issubdtype(samples.dtype, np.integer) or np.issubdtype(samples.dtype, np.floating)):
        raise AudioError("Audio samples must be integers or floats.")
    return samples, rate


def read_file(path: Path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Read a file with soundfile (wav, flac, ogg, mp3), falling back to ffmpeg for m4a/webm/aac."""
    if not path.exists():
        raise AudioError(f"The file {path.name!r} does not exist; check the path.")
    if path.is_dir():
        raise AudioError(f"{path.name!r} is a folder, not an audio file.")
    size = path.stat().st_size
    if size == 0:
        raise AudioError(f"The file {path.name!r} is empty (0 bytes); upload a recording that contains audio.")
    if size > settings.max_upload_mb() * 1e6:
        raise AudioError(
            f"The file {path.name!r} is {size / 1e6:.0f} MB, more than the {settings.max_upload_mb():.0f} MB limit; "
            "upload a shorter clip."
        )
    try:
        return _soundfile_read(path, max_seconds)
    except AudioError:
        raise
    except Exception:
        pass
    decoded = _ffmpeg_decode(path, max_seconds)
    if decoded is not None:
        return decoded
    raise AudioError(_unreadable_message(path))


def read_bytes(data: bytes, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Read an in-memory file (e.g. an HTTP upload)."""
    if len(data) == 0:
        raise AudioError("The uploaded audio is empty (0 bytes); upload a recording that contains audio.")
    try:
        return _soundfile_read(io.BytesIO(data), max_seconds)
    except AudioError:
        raise
    except Exception:
        raise AudioError("The data is not a readable audio file; use WAV, FLAC, OGG or MP3.") from None


def _soundfile_read(file, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    max_seconds = settings.max_duration() if max_seconds is None else max_seconds
    with sf.SoundFile(file) as handle:
        rate = handle.samplerate
        _check_rate(rate)
        frames = handle.frames
        if 0 < frames < 2**62 and frames / rate > max_seconds * 1.01:  # refuse before reading it all
            raise AudioError(_too_long_message(frames / rate, max_seconds))
        samples = handle.read(dtype="float32", always_2d=True)
        if frames > 0 and samples.shape[0] < frames * 0.9:
            raise AudioError("The audio file is truncated or corrupt (it ends before its header says); export it again.")
    return samples, rate


def _ffmpeg_decode(path: Path, max_seconds: float | None = None) -> tuple[np.ndarray, int] | None:
    """Decode with ffmpeg when installed (m4a, webm, aac); None when ffmpeg is missing or fails."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    max_s = str((settings.max_duration() if max_seconds is None else max_seconds) + 1)
    # -xerror: a decoding error fails the run; otherwise ffmpeg exits 0 with whatever it salvaged from a corrupt file
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-xerror", "-t", max_s, "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0 or not out.stdout:
        return None
    return np.frombuffer(out.stdout, dtype="<f4").copy(), SAMPLE_RATE


def _unreadable_message(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(12)
    if head[:4] in (b"RIFF", b"fLaC", b"OggS") or head[:3] == b"ID3":
        return f"The file {path.name!r} looks like audio but is truncated or corrupt; export it again."
    suffix = path.suffix.lower()
    if suffix in (".m4a", ".aac", ".webm", ".mp4") and shutil.which("ffmpeg") is None:
        return f"Reading {suffix} files needs ffmpeg, which is not installed; convert {path.name!r} to WAV or install ffmpeg."
    return f"The file {path.name!r} is not audio that can be read; upload a WAV, FLAC, OGG or MP3 file."


def to_float(samples: np.ndarray) -> np.ndarray:
    """Scale integer PCM of any width to [-1, 1); keep floats as they are (never clip: loud input stays loud)."""
    if np.issubdtype(samples.dtype, np.integer):
        info = np.iinfo(samples.dtype)
        if info.min == 0:  # unsigned (8-bit WAV): centre on zero
            return ((samples.astype(np.float64) - (info.max + 1) / 2) / ((info.max + 1) / 2)).astype(np.float32)
        return (samples.astype(np.float64) / -float(info.min)).astype(np.float32)
    return samples.astype(np.float32, copy=False)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average any number of channels (none at all means no samples)."""
    if samples.ndim == 2 and samples.shape[1] == 0:
        return np.zeros(0, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float64).astype(np.float32) if samples.shape[1] > 1 else samples[:, 0]
    return np.ascontiguousarray(samples, dtype=np.float32)


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample to `SAMPLE_RATE` with soxr (high quality, fast)."""
    if rate == SAMPLE_RATE:
        return samples
    import soxr  # installed with librosa

    return soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)


def remove_dc(samples: np.ndarray) -> np.ndarray:
    """Subtract the mean: a DC offset carries no emotion but skews energy and silence checks."""
    return (samples - samples.mean(dtype=np.float64)).astype(np.float32)


def frame_rms(samples: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """RMS of centred frames (zero-padded by half a frame at both ends), shape (frames,): librosa.feature.rms's numbers.

    Written in numpy rather than called from librosa because librosa's first call imports numba, scipy.signal and
    scikit-learn (~2 s): the CLI and the default model would pay that on every start for a few lines of arithmetic.
    tests/test_features.py checks that the numbers are librosa's.
    """
    padded = np.pad(np.asarray(samples, dtype=np.float32), frame_length // 2)
    if padded.size < frame_length:
        return np.zeros(0, dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length]
    return np.sqrt(np.mean(np.square(frames), axis=-1)).astype(np.float32)


TRIM_FRAME, TRIM_HOP = 1024, 256


def trim_silence(samples: np.ndarray, top_db: float = TRIM_TOP_DB) -> np.ndarray:
    """Cut leading and trailing frames quieter than `top_db` below the loudest frame (librosa.effects.trim's rule)."""
    power = frame_rms(samples, TRIM_FRAME, TRIM_HOP) ** 2
    if power.size == 0 or power.max() <= 0:
        return samples
    loud = np.flatnonzero(10 * np.log10(np.maximum(power, 1e-10) / power.max()) > -top_db)
    if loud.size == 0:
        return samples
    start, end = loud[0] * TRIM_HOP, min(samples.size, (loud[-1] + 1) * TRIM_HOP)
    trimmed = samples[start:end]
    return trimmed if trimmed.size >= SAMPLE_RATE // 10 else samples


def check_wave(wave) -> np.ndarray:
    """The loader's output contract, for code handed a waveform directly (the features): a non-empty 1-D float
    array, finite and within `MAX_PEAK`. Returns it as float32; raises `AudioError` otherwise."""
    if not isinstance(wave, np.ndarray) or wave.ndim != 1:
        raise AudioError("A waveform must be a 1-D array of samples; load audio with ser.audio.load.load_audio.")
    if not np.issubdtype(wave.dtype, np.floating):
        raise AudioError("A waveform must hold float samples; load audio with ser.audio.load.load_audio.")
    if wave.size == 0:
        raise AudioError("The audio contains no samples; record or upload a clip with sound in it.")
    wave = wave.astype(np.float32, copy=False)  # float64 beyond float32's range becomes inf, refused next
    _check_finite(wave)
    _check_peak(wave)
    return wave


def pad_or_trim(samples: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad or cut at the end to exactly `length` samples."""
    if samples.shape[-1] >= length:
        return samples[..., :length]
    return np.pad(samples, [(0, 0)] * (samples.ndim - 1) + [(0, length - samples.shape[-1])])


def _check_rate(rate: int) -> None:
    if not MIN_INPUT_RATE <= rate <= MAX_INPUT_RATE:
        raise AudioError(
            f"The sample rate {rate} Hz is outside the supported {MIN_INPUT_RATE}-{MAX_INPUT_RATE} Hz; "
            "re-export the audio at a normal rate such as 16000 or 44100 Hz."
        )


def _check_finite(samples: np.ndarray) -> None:
    if not np.isfinite(samples).all():
        raise AudioError("The audio contains invalid samples (NaN or infinity); re-export it from your recorder.")


def _check_peak(samples: np.ndarray) -> None:
    peak = float(np.abs(samples).max())
    if peak > MAX_PEAK:
        raise AudioError(f"The audio's samples reach {peak:.3g}, far beyond full scale (1.0); the file is corrupt, so re-export it.")


def _check_length(seconds: float, min_seconds: float, max_seconds: float) -> None:
    if seconds < min_seconds:
        raise AudioError(f"The clip is {seconds:.2f} s long, shorter than the {min_seconds:g} s minimum; record a longer sentence.")
    if seconds > max_seconds:
        raise AudioError(_too_long_message(seconds, max_seconds))


def _too_long_message(seconds: float, max_seconds: float) -> str:
    if max_seconds < 60:  # a limit under a minute reads as nonsense in minutes ("0.0166667 min")
        return f"The clip is {seconds:.1f} s long, longer than the {max_seconds:g} s limit; upload a shorter part."
    return f"The clip is {seconds / 60:.1f} min long, longer than the {max_seconds / 60:g} min limit; upload a shorter part."


def _check_not_silent(samples: np.ndarray) -> None:
    if np.abs(samples).max() < SILENCE_PEAK:
        raise AudioError("The clip is silent (no sound above -60 dBFS); check your microphone and record again.")
