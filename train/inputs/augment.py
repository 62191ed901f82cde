"""Augmented copies of training clips, shared by the training scripts: other speeds or pitches, white noise, telephone band,
a room and a laptop microphone, a low-bitrate codec.

Every copy is a pure function of the clip's samples (noise is seeded by them), so a copy is the same in every run and
every fold, and the Whisper head can cache the encoder states of each copy on disk.
"""

from __future__ import annotations

import hashlib
import random
import io

import numpy as np

from ser.audio.load import SAMPLE_RATE

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


RT60_RANGE = (0.2, 0.9)  # seconds: a furnished living room to a bare classroom
OPUS_KBPS = (8, 12, 16, 24)  # what video calls and voice messages drop to on a poor connection
MP3_KBPS = (16, 24, 32)


def room_impulse_response(rng: np.random.Generator, rt60: float, direct_to_reverb_db: float) -> np.ndarray:
    """A synthetic room impulse response: the direct sound, a few early reflections in the first 50 ms, and a tail of
    Gaussian noise decaying by 60 dB in `rt60` seconds (the statistical model of late reverberation, Polack 1988).
    Written here because pyroomacoustics' image-source rooms (through audiomentations.RoomSimulator) took 0.4-1.3 s
    per clip on these 2 cores, longer than encoding the clip."""
    length = int(rt60 * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.normal(size=length) * 10 ** (-3 * t / rt60)  # -60 dB at rt60
    early = rng.integers(int(0.002 * SAMPLE_RATE), int(0.05 * SAMPLE_RATE), size=6)
    tail[early] += rng.uniform(-0.5, 0.5, size=early.size) * np.sqrt(np.sum(tail**2))
    tail *= 10 ** (-direct_to_reverb_db / 20) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    return tail


def room_microphone(wave: np.ndarray) -> np.ndarray:
    """The clip as a laptop or phone in a room would take it: reverberation, a microphone's colouring (7-band EQ) and
    band limits, coloured (not white) background noise, and another recording level."""
    import audiomentations as A
    from scipy.signal import fftconvolve

    rng = _rng(wave, salt=2)
    rir = room_impulse_response(rng, rng.uniform(*RT60_RANGE), rng.uniform(0.0, 12.0))
    wet = fftconvolve(wave.astype(np.float64), rir)[: wave.size].astype(np.float32)
    seed = int(rng.integers(2**31))
    random.seed(seed)  # audiomentations draws its parameters from the global generators of random and numpy
    np.random.seed(seed)
    chain = A.Compose([
        A.SevenBandParametricEQ(min_gain_db=-6.0, max_gain_db=6.0, p=1.0),
        A.BandPassFilter(min_center_freq=1000.0, max_center_freq=2000.0, min_bandwidth_fraction=1.2, max_bandwidth_fraction=1.9, p=0.7),
        A.AddColorNoise(min_snr_db=10.0, max_snr_db=30.0, min_f_decay=-6.0, max_f_decay=-1.5, p=1.0),  # pink to brown
    ])
    out = chain(samples=wet, sample_rate=SAMPLE_RATE)
    out *= 10 ** (rng.uniform(-18.0, 6.0) / 20) * np.abs(wave).max() / max(np.abs(out).max(), 1e-9)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def codec(wave: np.ndarray) -> np.ndarray:
    """Through a low-bitrate Opus or MP3 encoder and back (ffmpeg), as voice messages and video calls deliver speech."""
    import subprocess

    import soundfile as sf

    rng = _rng(wave, salt=3)
    if rng.random() < 0.6:
        encode = ["-c:a", "libopus", "-b:a", f"{rng.choice(OPUS_KBPS)}k", "-f", "ogg"]
    else:
        encode = ["-c:a", "libmp3lame", "-b:a", f"{rng.choice(MP3_KBPS)}k", "-f", "mp3"]
    buffer = io.BytesIO()
    sf.write(buffer, wave, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    ffmpeg = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
    coded = subprocess.run([*ffmpeg, "-i", "pipe:0", *encode, "pipe:1"], input=buffer.getvalue(), capture_output=True, check=True).stdout
    raw = subprocess.run([*ffmpeg, "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "pipe:1"],
                         input=coded, capture_output=True, check=True).stdout
    out = np.frombuffer(raw, dtype=np.float32)
    out = np.pad(out, (0, max(0, wave.size - out.size)))[: wave.size]  # codecs pad and delay by a few ms
    return (out * 10 ** (rng.uniform(-12.0, 0.0) / 20)).astype(np.float32)


NOISY_TEST = "noise20-test"
# name -> how the copy is made; the Whisper head's state cache is keyed by these names
AUGMENTATIONS = {
    "speed0.9": lambda wave: speed_perturb(wave, 0.9),
    "speed1.1": lambda wave: speed_perturb(wave, 1.1),
    "noise": add_noise,
    "telephone": telephone,
    "pitch-2": lambda wave: pitch_shift(wave, -2.0),
    "pitch+2": lambda wave: pitch_shift(wave, 2.0),
    "room": room_microphone,
    "codec": codec,
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
