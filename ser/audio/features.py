"""The one implementation of waveform -> spectral features, used by the plots, the models and training alike.

All functions take mono float32 audio at `SAMPLE_RATE` (what `ser.audio.load.load_audio` returns) and return
arrays shaped (features, frames) with frames every `HOP_LENGTH` samples. Any other input raises `AudioError`.
"""

from __future__ import annotations

import functools

import librosa
import numpy as np

from ser import settings
from ser.audio.load import SAMPLE_RATE, check_wave, frame_rms

N_FFT = 400  # 25 ms window: the usual speech analysis frame, and Whisper's
HOP_LENGTH = 160  # 10 ms hop -> 100 frames per second
N_MELS = 64  # mel bands for plots, the ResNet input and the classic features
WHISPER_N_MELS = 80  # Whisper-base was trained on 80 bands
N_MFCC = 40
N_CHROMA = 12
TOP_DB = 80.0  # dynamic range kept in dB displays
FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH
F_MIN, F_MAX = 0.0, SAMPLE_RATE / 2
PITCH_FMIN, PITCH_FMAX = 65.0, 500.0  # covers adult speech, low male to high female/child


# periodic Hann, as librosa.stft and torch.stft use
HANN_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def power_spectrogram(wave: np.ndarray) -> np.ndarray:
    """|STFT|^2, shape (1 + N_FFT // 2, frames); centred frames with reflect padding, as Whisper does.

    numpy's FFT rather than librosa.stft: the same numbers (tests/test_features.py compares them) without librosa's
    ~2 s first-call import of numba and scikit-learn, which every CLI run would pay.
    """
    wave = check_wave(wave)
    pad = N_FFT // 2
    padded = np.pad(wave, pad, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    spectrum = np.fft.rfft(frames * HANN_WINDOW, axis=-1)
    return (spectrum.real ** 2 + spectrum.imag ** 2).T.astype(np.float32)


def spectrogram_db(wave: np.ndarray) -> np.ndarray:
    """Power spectrogram in dB relative to the clip's peak, floored `TOP_DB` below it."""
    return power_db(power_spectrogram(wave))


def power_db(power: np.ndarray) -> np.ndarray:
    """`librosa.power_to_db(power, ref=np.max, top_db=TOP_DB)` in numpy: librosa's first call imports numba and scipy,
    ~120 MB of resident memory in every app process that draws a spectrogram (tests/test_features.py compares them)."""
    db = 10.0 * np.log10(np.maximum(power, 1e-10) / max(float(power.max()), 1e-10))
    return np.maximum(db, -TOP_DB).astype(np.float32)


MEL_FILTERS_FILE = settings.ASSETS_DIR / "mel_filters.npz"  # written by `write_mel_filters`, as openai/whisper ships its own


@functools.lru_cache(maxsize=None)
def mel_filters(n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-normalised mel filterbank (librosa's default, the same filters Whisper uses), shape (n_mels, 1 + N_FFT // 2).

    Read from `MEL_FILTERS_FILE` for the band counts we use: computing them with librosa imports numba and scipy.signal
    (~1 s), which every CLI run would pay. Other band counts are computed by librosa.
    """
    with np.load(MEL_FILTERS_FILE, allow_pickle=False) as stored:
        if f"mel_{n_mels}" in stored:
            return stored[f"mel_{n_mels}"]
    return _librosa_mel_filters(n_mels)


def _librosa_mel_filters(n_mels: int) -> np.ndarray:
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels).astype(np.float32)


def write_mel_filters() -> None:
    """Regenerate `MEL_FILTERS_FILE` (after changing N_FFT or SAMPLE_RATE): `python -c "from ser.audio.features import *; write_mel_filters()"`."""
    np.savez_compressed(MEL_FILTERS_FILE, **{f"mel_{n}": _librosa_mel_filters(n) for n in (N_MELS, WHISPER_N_MELS)})


def mel_power(wave: np.ndarray, n_mels: int = N_MELS, power: np.ndarray | None = None) -> np.ndarray:
    """Mel-band power, shape (n_mels, frames). Pass `power` to reuse an already computed spectrogram."""
    power = power_spectrogram(wave) if power is None else power
    return mel_filters(n_mels) @ power


def log_mel(wave: np.ndarray, n_mels: int = N_MELS, power: np.ndarray | None = None) -> np.ndarray:
    """Mel spectrogram in dB (absolute: 0 dB = full-scale power), floored at -100 dB."""
    return (10.0 * np.log10(np.maximum(mel_power(wave, n_mels, power), 1e-10))).astype(np.float32)


def whisper_log_mel(wave: np.ndarray) -> np.ndarray:
    """Whisper's input features: log10 mel power, floored 8 below the peak, scaled to about [-1, 1]. Shape (80, frames)."""
    mel = mel_power(wave, WHISPER_N_MELS)
    mel = mel[:, :-1] if mel.shape[1] > 1 else mel  # Whisper drops the last (padding) frame; a 1-frame clip keeps it
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


@functools.lru_cache(maxsize=None)
def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II basis (n_out, n_in): what `scipy.fft.dct(x, type=2, norm="ortho", axis=0)[:n_out]` computes."""
    k, n = np.arange(n_out)[:, None], np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def mfcc(wave: np.ndarray, n_mfcc: int = N_MFCC, deltas: bool = False, mel_db: np.ndarray | None = None) -> np.ndarray:
    """MFCCs (DCT of the log-mel), shape (n_mfcc, frames); with `deltas`, first and second derivatives stacked below."""
    mel_db = log_mel(wave) if mel_db is None else mel_db
    coeffs = dct_matrix(n_mfcc, mel_db.shape[0]) @ mel_db  # librosa.feature.mfcc's numbers, without its imports (see power_db)
    if deltas:
        width = min(9, coeffs.shape[1] - (1 - coeffs.shape[1] % 2))  # delta needs an odd width <= frames
        if width >= 3:
            coeffs = np.vstack([coeffs, librosa.feature.delta(coeffs, width=width), librosa.feature.delta(coeffs, order=2, width=width)])
        else:
            coeffs = np.vstack([coeffs, np.zeros_like(coeffs), np.zeros_like(coeffs)])
    return coeffs.astype(np.float32)


def chroma(wave: np.ndarray, power: np.ndarray | None = None) -> np.ndarray:
    """Energy in each of the 12 pitch classes, shape (12, frames)."""
    power = power_spectrogram(wave) if power is None else power
    return librosa.feature.chroma_stft(S=power, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_chroma=N_CHROMA).astype(np.float32)


def rms_energy(wave: np.ndarray) -> np.ndarray:
    """Frame RMS, shape (frames,)."""
    return frame_rms(check_wave(wave), N_FFT, HOP_LENGTH)


# pitch contours of the shipped example clips (the lesson tab compares two of them), keyed by the sha256 of the samples:
# pyin is numba code, whose import and compilation cost the app ~190 MB of resident memory and seconds at start-up
PITCH_CONTOURS_FILE = settings.ASSETS_DIR / "pitch_contours.npz"


def pitch_contour(wave: np.ndarray) -> np.ndarray:
    """Fundamental frequency per frame in Hz (NaN where unvoiced), by probabilistic YIN. Shipped clips' contours come
    from `PITCH_CONTOURS_FILE` (written by `write_pitch_contours`, checked against pyin by tests/test_features.py)."""
    wave = check_wave(wave)
    shipped = _shipped_pitch_contours().get(_samples_sha256(wave))
    return shipped.copy() if shipped is not None else _pyin(wave)


def _samples_sha256(wave: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(wave, dtype=np.float32).tobytes()).hexdigest()


@functools.lru_cache(maxsize=1)
def _shipped_pitch_contours() -> dict[str, np.ndarray]:
    try:
        with np.load(PITCH_CONTOURS_FILE, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError):  # no file: every contour is computed
        return {}


def write_pitch_contours() -> None:
    """Regenerate `PITCH_CONTOURS_FILE` from the example clips: `python -c "from ser.audio.features import *; write_pitch_contours()"`."""
    from ser.audio.load import load_audio

    waves = [load_audio(path) for path in sorted(settings.EXAMPLES_DIR.glob("*.flac"))]
    np.savez_compressed(PITCH_CONTOURS_FILE, **{_samples_sha256(wave): _pyin(wave) for wave in waves})
    _shipped_pitch_contours.cache_clear()


def _pyin(wave: np.ndarray) -> np.ndarray:
    f0, _, _ = librosa.pyin(
        wave, fmin=PITCH_FMIN, fmax=PITCH_FMAX, sr=SAMPLE_RATE, frame_length=1024, hop_length=HOP_LENGTH, center=True
    )
    return f0.astype(np.float32)


def summary_features(wave: np.ndarray) -> np.ndarray:
    """Fixed-length vector for the classic model: mean and std of MFCC (+deltas), chroma, log-mel, RMS, ZCR, centroid."""
    wave = check_wave(wave)
    power = power_spectrogram(wave)
    mel_db = log_mel(wave, power=power)
    parts = [
        mfcc(wave, deltas=True, mel_db=mel_db),
        chroma(wave, power=power),
        mel_db,
        rms_energy(wave)[None],
        librosa.feature.zero_crossing_rate(wave, frame_length=N_FFT, hop_length=HOP_LENGTH),
        librosa.feature.spectral_centroid(S=np.sqrt(power), sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH) / 1000.0,
    ]
    stats = [np.concatenate([p.mean(axis=1), p.std(axis=1)]) for p in parts]
    return np.concatenate(stats).astype(np.float32)


SUMMARY_SIZE = 2 * (3 * N_MFCC + N_CHROMA + N_MELS + 3)


def warm_up_summary_features() -> float:
    """Run `summary_features` once on a second of noise; returns the seconds it took. Its librosa calls (chroma's
    tuning estimate, the zero-crossing rate) are numba code compiled on first use: 45-85 s on a busy 2-core machine
    with an empty numba cache (ad-hoc timing, NUMBA_CACHE_DIR empty), ~1.5 s once numba cached them. The app calls this
    in the background at start-up, so the first visitor to pick the classic model does not wait for a compiler; it
    costs the server ~250 MB of resident memory (numba, llvmlite, scipy), which the classic model needs anyway."""
    import time

    started = time.perf_counter()
    summary_features(np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE).astype(np.float32))
    return time.perf_counter() - started


def frame_times(n_frames: int) -> np.ndarray:
    """Time in seconds at the centre of each frame."""
    return np.arange(n_frames, dtype=np.float32) / FRAMES_PER_SECOND


def fft_frequencies() -> np.ndarray:
    """Frequency in Hz of each spectrogram row (librosa.fft_frequencies's)."""
    return np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE).astype(np.float32)


# Slaney's mel scale (librosa's default, htk=False): linear up to 1 kHz, logarithmic above. In numpy because the plots
# need it and librosa's first call imports numba (see power_db); tests/test_features.py compares it with librosa's.
MEL_LINEAR_HZ_PER_MEL = 200.0 / 3
MEL_LOG_START_HZ = 1000.0
MEL_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    start = MEL_LOG_START_HZ / MEL_LINEAR_HZ_PER_MEL
    logs = start + np.log(np.maximum(hz, MEL_LOG_START_HZ) / MEL_LOG_START_HZ) / MEL_LOG_STEP
    return np.where(hz >= MEL_LOG_START_HZ, logs, hz / MEL_LINEAR_HZ_PER_MEL)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    start = MEL_LOG_START_HZ / MEL_LINEAR_HZ_PER_MEL
    return np.where(mel >= start, MEL_LOG_START_HZ * np.exp(MEL_LOG_STEP * (mel - start)), mel * MEL_LINEAR_HZ_PER_MEL)


def mel_frequencies(n_mels: int = N_MELS) -> np.ndarray:
    """Centre frequency in Hz of each mel band (librosa.mel_frequencies(n_mels + 2)[1:-1])."""
    mels = np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), n_mels + 2)
    return _mel_to_hz(mels)[1:-1].astype(np.float32)
