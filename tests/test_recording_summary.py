"""What the page says about a recording beyond the model's probabilities: the share of the speaking time each emotion
held in a long recording (mixed or not), the windows the timeline really used, and the four numbers beside the lesson's
plots. Real RAVDESS audio and the shipped default model; generated tones where the answer must be exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from ser import inference
from ser.audio.load import SAMPLE_RATE, load_audio
from ser.teaching.pairs import describe_difference
from ser.inference import Timeline, describe_windows, window_bounds
from ser.models import load_model
from ser.teaching.recording_summary import DOMINANT_SHARE, speaking_time_shares
from ser.audio.voice import summarise_voice

ANGRY = [f"ravdess/Actor_05/03-01-05-02-0{s}-0{r}-05.flac" for s in (1, 2) for r in (1, 2)]
SAD = [f"ravdess/Actor_15/03-01-04-02-0{s}-0{r}-15.flac" for s in (1, 2) for r in (1, 2)]
PAUSE_S = 0.6


def joined(data_dir, names: list[str]) -> np.ndarray:
    pause = np.zeros(int(PAUSE_S * SAMPLE_RATE), dtype=np.float32)
    return np.concatenate([np.concatenate([load_audio(data_dir / n), pause]) for n in names])


def hand_timeline(starts, ends, probs, labels=("angry", "sad")) -> Timeline:
    starts, ends = np.asarray(starts, float), np.asarray(ends, float)
    return Timeline((starts + ends) / 2, list(labels), np.asarray(probs, float), [], starts, ends, float(ends.max()))


def test_overlapping_windows_are_averaged_where_they_overlap():
    # window 1 (0-3 s) says angry, window 2 (1-4 s) says sad more weakly: 0-1 s angry, 1-3 s the mean (angry), 3-4 s sad
    shares = speaking_time_shares(hand_timeline([0, 1], [3, 4], [[0.9, 0.1], [0.4, 0.6]]))
    assert shares.speech_s == pytest.approx(4.0)
    assert shares.seconds == pytest.approx([3.0, 1.0])
    assert shares.top == ("angry", pytest.approx(0.75)) and not shares.mixed


def test_silence_between_windows_is_not_speaking_time():
    shares = speaking_time_shares(hand_timeline([0, 10], [2, 12], [[1, 0], [0, 1]]))
    assert shares.speech_s == pytest.approx(4.0) and shares.mixed
    assert shares.ranked == [("angry", pytest.approx(0.5)), ("sad", pytest.approx(0.5))]


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_half_angry_half_sad_is_mixed_and_all_angry_is_not(data_dir, model):
    """Actors 5 and 15 were in training, so the shipped model is sure of each clip: what is tested is the summary."""
    mixed = speaking_time_shares(inference.timeline(joined(data_dir, ANGRY[:2] + SAD[:2]), model))
    assert mixed.mixed and {label for label, _ in mixed.ranked[:2]} == {"angry", "sad"}
    assert sum(mixed.shares.values()) == pytest.approx(1.0)
    angry = speaking_time_shares(inference.timeline(joined(data_dir, ANGRY), model))
    assert not angry.mixed and angry.top[0] == "angry" and angry.top[1] >= DOMINANT_SHARE


def test_the_window_wording_matches_the_windows(data_dir, model):
    """A sentence shorter than 3 s is one shorter window (said so); longer speech gets 3-s windows every 1 s."""
    short = load_audio(data_dir / SAD[0])
    tl = inference.timeline(np.concatenate([short, np.zeros(4 * SAMPLE_RATE, np.float32), short]), model)
    lengths = tl.ends - tl.starts
    assert np.all(lengths < inference.WINDOW_S) and len(lengths) == 2  # two short stretches of speech, one window each
    assert describe_windows(tl) == "2 windows, one per stretch of speech (each shorter than 3 s, so taken whole)"
    tl = inference.timeline(tone(180.0, 8.0, 0.1), model)  # one 8-s stretch of sound: 3-s windows every 1 s
    assert len(tl.starts) >= 2 and np.allclose(tl.ends - tl.starts, inference.WINDOW_S)
    assert describe_windows(tl) == f"{len(tl.starts)} windows of 3 s every 1 s over the speech"
    bounds = window_bounds([(0.0, 10.0)])
    assert [s for s, _ in bounds] == [0, 1, 2, 3, 4, 5, 6, 7] and all(e - s == 3.0 for s, e in bounds)
    assert "3-s windows every 1 s over the speech only; a stretch of speech shorter than 3 s is one window" in inference.WINDOWS_TEXT


# --- the lesson's numbers -------------------------------------------------------------------------------------------

def tone(freq: float, seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = amplitude * np.sin(2 * np.pi * freq * t)
    return np.concatenate([np.zeros(SAMPLE_RATE // 2), wave, np.zeros(SAMPLE_RATE // 2)]).astype(np.float32)


def test_a_tone_has_its_pitch_level_and_length():
    summary = summarise_voice(tone(200.0, 1.5, 0.1))
    assert summary.mean_pitch_hz == pytest.approx(200.0, rel=0.01)
    assert summary.pitch_range_semitones == pytest.approx(0.0, abs=0.2)
    assert summary.loudness_dbfs == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.5)  # a sine's RMS
    assert summary.speech_s == pytest.approx(1.5, abs=0.1)  # the silence around it is not speech


def test_a_softer_copy_is_described_as_softer_and_nothing_else(data_dir):
    voice = load_audio(data_dir / "ravdess/Actor_07/03-01-01-01-02-02-07.flac")
    loud, soft = summarise_voice(voice), summarise_voice(voice * 0.5)
    assert soft.loudness_dbfs - loud.loudness_dbfs == pytest.approx(-6.02, abs=0.05)
    assert soft.mean_pitch_hz == pytest.approx(loud.mean_pitch_hz, rel=0.02)
    text = describe_difference(calm=soft, neutral=loud)
    assert text.startswith("Against the neutral clip, the calm clip is 6 dB softer, about as long, at about the same mean "
                           "pitch, with a similar pitch range.")
    assert "hardly differ" in text  # three of the four measures are the same


def glide(low: float, high: float, seconds: float, amplitude: float) -> np.ndarray:
    """A tone whose pitch rises evenly from `low` to `high` Hz."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = amplitude * np.sin(2 * np.pi * (low * t + (high - low) * t ** 2 / (2 * seconds)))
    return np.concatenate([np.zeros(SAMPLE_RATE // 2), wave, np.zeros(SAMPLE_RATE // 2)]).astype(np.float32)


def test_lower_and_flatter_pitch_is_described():
    wide = summarise_voice(glide(160.0, 320.0, 2.0, 0.1))  # an octave: 12 semitones, of which the 10-90% range is ~9.5
    flat = summarise_voice(tone(180.0, 2.5, 0.1))
    assert wide.pitch_range_semitones == pytest.approx(12 * np.log2((160 + 0.9 * 160) / (160 + 0.1 * 160)), abs=0.5)
    text = describe_difference(calm=flat, neutral=wide, calm_name="clip A", neutral_name="clip B")
    assert text.startswith("Against clip B, clip A is about as loud, 0.5 s longer, lower in pitch (")
    assert (f"against {wide.mean_pitch_hz:.0f} Hz), with a narrower pitch range (0 semitones against "
            f"{wide.pitch_range_semitones:.0f}).") in text
