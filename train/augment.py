"""Augmented copies of training clips, shared by the training scripts: other speeds or pitches, white noise, telephone band.

Every copy is a pure function of the clip's samples (noise is seeded by them), so a copy is the same in every run and
every fold, and the Whisper head can cache the encoder states of each copy on disk.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ser.audio import SAMPLE_RATE

TELEPHONE_RATE = 8000


def speed_perturb(wave: np.ndarray, factor: float) -> np.ndarray:
    """Play the clip `factor` times faster (pitch and formants shift with it): a cheap stand-in for new speakers
    (Ko et al. 2015)."""
    import soxr

    return wave if factor == 1.0 else soxr.resample(wave, SAMPLE_RATE * factor, SAMPLE_RATE, quality="HQ").astype(np.float32)


def pitch_shift(wave: np.ndarray, semitones: float) -> np.ndarray:
    """Raise (or lower) the voice by `semitones` at the same tempo: another speaker's pitch without speed's faster
    speech (librosa's phase vocoder + resampling)."""
    import librosa

    return librosa.effects.pitch_shift(wave, sr=SAMPLE_RATE, n_steps=semitones).astype(np.float32)


def _rng(wave: np.ndarray, salt: int) -> np.random.Generator:
    """Seeded by the clip's own samples, so a copy is the same in every run and every fold."""
    return np.random.default_rng([salt, int(hashlib.sha1(wave.tobytes()).hexdigest()[:8], 16)])


def add_noise(wave: np.ndarray, snr_db: float | None = None, salt: int = 0) -> np.ndarray:
    """Add white noise at `snr_db` below the clip's power (default: random, 10-30 dB): a laptop fan, a cheap microphone."""
    rng = _rng(wave, salt)
    snr_db = rng.uniform(10.0, 30.0) if snr_db is None else snr_db
    power = float(np.mean(wave.astype(np.float64) ** 2))
    return (wave + rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), wave.size)).astype(np.float32)


def telephone(wave: np.ndarray) -> np.ndarray:
    """Down to 8 kHz and back: the 4-kHz bandwidth of a phone call or an 8-kHz recording."""
    import soxr

    narrow = soxr.resample(wave, SAMPLE_RATE, TELEPHONE_RATE, quality="HQ")
    return soxr.resample(narrow, TELEPHONE_RATE, SAMPLE_RATE, quality="HQ").astype(np.float32)


NOISY_TEST = "noise20-test"
# name -> how the copy is made; the Whisper head's state cache is keyed by these names
AUGMENTATIONS = {
    "speed0.9": lambda wave: speed_perturb(wave, 0.9),
    "speed1.1": lambda wave: speed_perturb(wave, 1.1),
    "noise": add_noise,
    "telephone": telephone,
    "pitch-2": lambda wave: pitch_shift(wave, -2.0),
    "pitch+2": lambda wave: pitch_shift(wave, 2.0),
    NOISY_TEST: lambda wave: add_noise(wave, 20.0, salt=1),  # the robustness check's test copies (another draw)
}
TRAINING_COPIES = [name for name in AUGMENTATIONS if name != NOISY_TEST]


NO_COPIES = "none"  # `--augment none`: train on the clips only (a list argument cannot be given empty)


def chosen_copies(names: list[str]) -> list[str]:
    """The copies to make for `--augment names`; stops with one sentence when a name does not exist."""
    unknown = [name for name in names if name not in (*TRAINING_COPIES, NO_COPIES)]
    if unknown:
        raise SystemExit(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(TRAINING_COPIES)} or {NO_COPIES}")
    return [name for name in names if name != NO_COPIES]
