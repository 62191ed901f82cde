"""The odd files a public demo gets, as tests/test_bad_inputs.py sends them through the library, the CLI and the app:
each case writes its file (numpy, soundfile, or hand-written RIFF bytes for broken headers) and says its outcome, a
prediction within a tolerance of the clean clip's, or the loader's sentence."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import soxr

from ser.audio.load import SAMPLE_RATE

TWENTY_MINUTES_RATE = 8000
UNICODE_NAME = "Grüße – ünïcødé 音声 clip (take 2).wav"
UNICODE_BAD_NAME = "ノート mit Leerzeichen.wav"
TIGHT = 1e-4  # same samples, different container: the probabilities must not move
CLOSE = 1e-3  # the same signal to within float rounding (24-bit, float, an exact downmix)


@dataclass(frozen=True)
class Case:
    """A file a visitor might upload and what must happen to it: `error` is a phrase of the loader's sentence;
    otherwise a prediction, within `tolerance` (max |difference| of any probability) of the reference clip's."""

    write: Callable[[Path, np.ndarray, bytes], bytes | Path]  # (path, speech, reference wav bytes) -> bytes or a written path
    error: str | None = None
    tolerance: float | None = None
    name: str = "clip.wav"


def riff(pcm: bytes, rate: int = SAMPLE_RATE, channels: int = 1, bits: int = 16, fmt: int = 1, claimed: int | None = None) -> bytes:
    """A canonical 44-byte-header WAV written by hand; `claimed` overrides the data chunk's size field."""
    block = channels * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    size = len(pcm) if claimed is None else claimed
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk + b"data" + struct.pack("<I", size) + pcm
    return b"RIFF" + struct.pack("<I", min(4 + 24 + 8 + size, 0xFFFFFFFF)) + body


def pcm16(wave: np.ndarray) -> bytes:
    """16-bit samples exactly as soundfile writes the reference file (its rounding), so "same samples" holds bit for bit."""
    buffer = io.BytesIO()
    sf.write(buffer, wave, SAMPLE_RATE, format="RAW", subtype="PCM_16", endian="LITTLE")
    return buffer.getvalue()


def write(subtype: str, transform=lambda w: w, rate: int = SAMPLE_RATE):
    """A writer of the speech, transformed, with soundfile (the container follows the case's file name)."""

    def writer(path: Path, speech: np.ndarray, _: bytes) -> Path:
        sf.write(path, transform(speech), rate, subtype=subtype)
        return path

    return writer


def with_sample(value: float):
    def spoil(speech: np.ndarray) -> np.ndarray:
        out = speech.copy()
        out[out.size // 2] = value
        return out

    return spoil


def resampled(rate: int):
    return lambda speech: soxr.resample(speech, SAMPLE_RATE, rate, quality="VHQ")


def six_channels(speech: np.ndarray) -> np.ndarray:
    """5.1-style: the voice in every channel at different levels, averaging the original level."""
    return np.stack([g * speech for g in (1.0, 0.9, 1.1, 0.8, 1.2, 1.0)], axis=1)


def twenty_minutes(path: Path, *_) -> Path:
    """20 min at 8 kHz, 8-bit: zeros with a little noise (about 1 LSB), 9.6 MB written in 20-s blocks."""
    rng = np.random.default_rng(0)
    block = 20 * TWENTY_MINUTES_RATE
    with sf.SoundFile(path, "w", TWENTY_MINUTES_RATE, 1, subtype="PCM_U8") as out:
        for _ in range(20 * 60 * TWENTY_MINUTES_RATE // block):
            out.write(rng.normal(0, 0.01, block).astype(np.float32))
    return path


CASES = {
    "empty file": Case(lambda *_: b"", error="is empty (0 bytes)"),
    "text file named .wav": Case(lambda *_: b"Minutes of the meeting: nothing to hear here.\n" * 40, error="is not audio that can be read"),
    "truncated wav header": Case(lambda _, __, wav: wav[:30], error="looks like audio but is truncated or corrupt"),
    # streaming recorders write the data size before they know it: read what is there
    "data chunk larger than the file": Case(lambda _, speech, __: riff(pcm16(speech), claimed=10 * 2 * speech.size), tolerance=TIGHT),
    "data size 0xFFFFFFFF": Case(lambda _, speech, __: riff(pcm16(speech), claimed=0xFFFFFFFF), tolerance=TIGHT),
    "0 samples": Case(write("PCM_16", lambda s: s[:0]), error="contains no samples"),
    "10 ms": Case(write("PCM_16", lambda s: s[: SAMPLE_RATE // 100]), error="0.01 s long, shorter than the 0.5 s minimum"),
    "20 minutes": Case(twenty_minutes, error="20.0 min long, longer than the 10 min limit"),
    "pure silence": Case(write("PCM_16", lambda s: np.zeros(2 * SAMPLE_RATE)), error="is silent"),
    "DC offset only": Case(write("PCM_16", lambda s: np.full(2 * SAMPLE_RATE, 0.25)), error="is silent"),
    "NaN in a float wav": Case(write("FLOAT", with_sample(np.nan)), error="NaN or infinity"),
    "inf in a float wav": Case(write("FLOAT", with_sample(np.inf)), error="NaN or infinity"),
    "huge values in a float wav": Case(write("FLOAT", with_sample(3e30)), error="far beyond full scale"),
    # 8-bit quantisation noise (-48 dB) and an 8-kHz band limit barely move the default model, which trains on noisy and
    # telephone-band copies (ad-hoc measurement: 0.007 and 0.009; 0.13 and 0.06 before it did); other encodings keep the signal
    "8-bit PCM": Case(write("PCM_U8"), tolerance=0.05),
    "24-bit PCM": Case(write("PCM_24"), tolerance=CLOSE),
    "32-bit float PCM": Case(write("FLOAT"), tolerance=CLOSE),
    "6 channels": Case(write("FLOAT", six_channels), tolerance=CLOSE),
    # 0.08 here: the shipped probabilities are temperature-scaled (T of about 9), far from 0 and 1 where a change shows
    "8 kHz": Case(write("PCM_16", resampled(8000), rate=8000), tolerance=0.08),
    "192 kHz": Case(write("PCM_24", resampled(192000), rate=192000), tolerance=0.01),
    "mp3": Case(write("MPEG_LAYER_III", resampled(44100), rate=44100), tolerance=0.02, name="clip.mp3"),
    "ogg": Case(write("VORBIS", resampled(44100), rate=44100), tolerance=0.02, name="clip.ogg"),
    "huge sample-rate field": Case(lambda _, speech, __: riff(pcm16(speech), rate=2**31 - 1),
                                   error="sample rate 2147483647 Hz is outside the supported 8000-192000 Hz"),
    "sample-rate field 0xFFFFFFFF": Case(lambda _, speech, __: riff(pcm16(speech), rate=0xFFFFFFFF),
                                         error="looks like audio but is truncated or corrupt"),
    "unicode and spaces in the name": Case(write("PCM_16"), tolerance=TIGHT, name=UNICODE_NAME),
    "bad file with a unicode name": Case(lambda *_: b"not audio\n" * 50, error=f"The file {UNICODE_BAD_NAME!r} is not audio",
                                         name=UNICODE_BAD_NAME),
}
