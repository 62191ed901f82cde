"""A voice in four numbers (how long the speech lasts, how loud it is, its mean pitch and pitch range), and the pitch
and energy tracks they come from, so that the numbers beside a plot are the plot's own.

    tracks = voice_tracks(wave)           # per-frame pitch (Hz, NaN where unvoiced) and energy (dBFS)
    summary = summarise_voice(wave, tracks)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ser.audio import features
from ser.audio.load import SAMPLE_RATE, trim_silence

PITCH_FLOOR_DB = 40.0  # pitch counts only where the frame is within this many dB of the clip's loudest frame
ENERGY_FLOOR = 1e-5  # RMS under this (-100 dBFS) is digital silence
RANGE_PERCENTILES = (10, 90)  # the pitch range: from the 10th to the 90th percentile, so one octave error does not set it


@dataclass(frozen=True)
class VoiceTracks:
    times: np.ndarray  # frame centres, seconds
    pitch_hz: np.ndarray  # NaN where unvoiced or too quiet to trust
    energy_db: np.ndarray  # frame RMS in dBFS


def voice_tracks(wave: np.ndarray) -> VoiceTracks:
    """Pitch (probabilistic YIN) and frame energy of a clip; pitch "found" in near-silence is dropped as noise."""
    energy_db = 20 * np.log10(np.maximum(features.rms_energy(wave), ENERGY_FLOOR))
    f0 = features.pitch_contour(wave)
    n = min(f0.size, energy_db.size)
    f0, energy_db = f0[:n].copy(), energy_db[:n].astype(np.float32)
    f0[energy_db < energy_db.max() - PITCH_FLOOR_DB] = np.nan
    return VoiceTracks(features.frame_times(n), f0, energy_db)


@dataclass(frozen=True)
class VoiceSummary:
    speech_s: float  # from the first to the last sound (silence at either end trimmed)
    loudness_dbfs: float  # RMS level of that speech
    mean_pitch_hz: float  # NaN when no frame is voiced
    pitch_low_hz: float  # RANGE_PERCENTILES of the voiced frames
    pitch_high_hz: float

    @property
    def pitch_range_semitones(self) -> float:
        return float(12 * np.log2(self.pitch_high_hz / self.pitch_low_hz)) if self.pitch_low_hz > 0 else float("nan")


def summarise_voice(wave: np.ndarray, tracks: VoiceTracks | None = None) -> VoiceSummary:
    tracks = voice_tracks(wave) if tracks is None else tracks
    speech = trim_silence(np.asarray(wave, dtype=np.float32))
    rms = float(np.sqrt(np.mean(np.square(speech, dtype=np.float64)))) if speech.size else 0.0
    voiced = tracks.pitch_hz[np.isfinite(tracks.pitch_hz)]
    low, high = (np.percentile(voiced, RANGE_PERCENTILES) if voiced.size else (np.nan, np.nan))
    return VoiceSummary(speech.size / SAMPLE_RATE, float(20 * np.log10(max(rms, ENERGY_FLOOR))),
                        float(voiced.mean()) if voiced.size else float("nan"), float(low), float(high))
