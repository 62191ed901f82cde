"""Clip analysis and the emotion timeline of long recordings, shared by the app and the CLI.

    result = analyse(wave, model)                  # one clip -> ClipResult(labels, probs, gender)
    tl = timeline(wave, model)                     # long recording -> windows over the voiced parts
    result, tl = analyse_recording(wave, model)    # picks one or the other by length
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ser.audio import features
from ser.audio.load import SAMPLE_RATE
from ser.labels import merge_calm_neutral as merge_labels

LONG_CLIP_S = 6.0  # above this one label for the whole recording hides changes: show a timeline
WINDOW_S = 3.0  # about one acted sentence, the length the models were trained on
HOP_S = 1.0
MAX_WINDOWS = 200  # long recordings widen the hop so a 10-minute file costs ~200 windows (seconds, not minutes)
BATCH_SIZE = 16  # windows per model call: bounded memory, still amortises per-call overhead
VOICED_TOP_DB = 35.0  # frames this far below the loud frames count as silence
VOICED_REFERENCE_PERCENTILE = 99.0  # "loud" = this percentile of frame RMS, so one click does not set the bar
MIN_GAP_S = 0.5  # pauses shorter than this stay inside an utterance (breaths, stops)
MIN_VOICED_S = 0.5  # shorter bursts are clicks or bumps, not speech
WARM_UP_S = 1.0  # noise analysed once after loading a model, so a visitor's first clip does not wait for lazy parts

Progress = Callable[..., object]  # called as progress(fraction, desc=...), like gr.Progress


@dataclass
class ClipResult:
    """Probabilities over `labels` for one clip (or a whole recording), and speaker gender when the model has that head."""

    labels: list[str]
    probs: np.ndarray
    gender: dict[str, float] | None = None
    unsure: bool = False  # the top probability is below the model's unsure threshold (chosen on unseen corpora)
    far: bool = False  # the clip is unlike everything the model was trained on (novelty above its threshold)
    plain: "ClipResult | None" = None  # with a voice profile: the answer without it, to show beside it

    def as_dict(self) -> dict[str, float]:
        return {label: float(p) for label, p in zip(self.labels, self.probs)}

    @property
    def top(self) -> tuple[str, float]:
        i = int(np.argmax(self.probs))
        return self.labels[i], float(self.probs[i])


@dataclass
class Segment:
    """A stretch of the recording whose windows agree on the most likely emotion."""

    start: float
    end: float
    label: str
    prob: float  # mean probability of `label` over the segment's windows


@dataclass
class Timeline:
    """Per-window probabilities: `times` are window centres in seconds, `probs` is (windows, labels)."""

    times: np.ndarray
    labels: list[str]
    probs: np.ndarray
    segments: list[Segment]
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0))
    duration: float = 0.0
    gender: dict[str, float] | None = None  # mean over windows, when the model has a gender head
    window_s: float = WINDOW_S
    hop_s: float = HOP_S
    gender_probs: np.ndarray | None = None  # (windows, genders), when the model has a gender head
    far: np.ndarray | None = None  # per window: unlike every clip the model learned from (None: the model cannot tell)

    @property
    def far_share(self) -> float | None:
        """The share of windows unlike the model's training clips, or None for a model without a novelty measure."""
        return None if self.far is None or len(self.far) == 0 else float(np.mean(self.far))

    def mean(self) -> np.ndarray:
        """Average over windows: the recording's overall profile."""
        return self.probs.mean(axis=0) if len(self.probs) else np.zeros(len(self.labels))


def _report(progress: Progress | None, fraction: float, desc: str) -> None:
    if progress is not None:
        progress(fraction, desc=desc)


def _merge(labels: list[str], probs: np.ndarray, merge: bool) -> tuple[list[str], np.ndarray]:
    if not merge:
        return list(labels), np.asarray(probs, dtype=np.float64)
    new_labels, new_probs = merge_labels(list(labels), probs)
    return list(new_labels), np.asarray(new_probs, dtype=np.float64)


def predict_details(model, waves: list[np.ndarray], profile: np.ndarray | None = None):
    """Emotion probabilities (clips, labels), gender probabilities (clips, genders) or None, and per clip whether it is
    far from everything the model was trained on, in one model pass; relative to the speaker's voice `profile`
    (`ser.profile.VoiceProfile.vector`) where the model supports one (other models ignore it: the app says so)."""
    probs, gender, far, _ = predict_modes(model, waves, profile)
    return probs, gender, far


def predict_modes(model, waves: list[np.ndarray], profile: np.ndarray | None = None):
    """`predict_details`, and the probabilities without the profile when one was used (else None), in one model pass."""
    plain = None
    if profile is not None and getattr(model, "supports_profile", False):
        probs, plain, gender, novelty = model.predict_modes(waves, profile)
        plain = np.asarray(plain, dtype=np.float64)
    else:
        probs, gender, novelty = model.predict_details(waves)
    gender = None if gender is None else np.asarray(gender, dtype=np.float64).reshape(len(waves), -1)
    threshold = getattr(model, "far_threshold", None)
    far = np.zeros(len(waves), dtype=bool) if novelty is None or threshold is None else np.asarray(novelty) > threshold
    return np.asarray(probs, dtype=np.float64), gender, far, plain


def predict_both(model, waves: list[np.ndarray], profile: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Emotion probabilities (clips, labels) and gender probabilities (clips, genders) or None, in one model pass."""
    return predict_details(model, waves, profile)[:2]


def _gender_dict(model, gender: np.ndarray | None) -> dict[str, float] | None:
    """Mean gender probabilities over clips, as {label: prob}; None when the model has no gender head."""
    if gender is None or len(gender) == 0 or not getattr(model, "gender_labels", None):
        return None
    return {label: float(p) for label, p in zip(model.gender_labels, gender.mean(axis=0))}


def unsure_threshold(model, profile: np.ndarray | None = None) -> float | None:
    """The top probability under which the model's answers were more often wrong than right on corpora it never heard,
    for the mode that answers: with the speaker's profile (fitted on the profile rows) or plain. None where no level
    separated right from wrong there (a threshold of 1: every answer would be "unsure", which tells a visitor nothing
    about this one; the app states how often that mode is right instead)."""
    if profile is not None and getattr(model, "supports_profile", False):
        threshold = getattr(model, "config", {}).get("profile", {}).get("unsure_threshold")
    else:
        threshold = getattr(model, "unsure_threshold", None)
    return None if threshold is None or threshold >= 1.0 else threshold


def is_unsure(model, probs: np.ndarray, profile: np.ndarray | None = None) -> bool:
    """Whether the model's top probability (before merging calm and neutral) is below its unsure threshold."""
    threshold = unsure_threshold(model, profile)
    return threshold is not None and float(np.max(probs)) < threshold


def analyse(wave: np.ndarray, model, merge_calm_neutral: bool = False, profile: np.ndarray | None = None) -> ClipResult:
    """Emotion (and gender) probabilities for one clip, taken whole."""
    return analyse_batch([wave], model, merge_calm_neutral, profile)[0]


def warm_up(model) -> None:
    """One prediction on a second of noise: models load parts lazily (the Whisper encoder), and the app does this once
    per model before a visitor waits for it."""
    model.predict([np.random.default_rng(0).normal(0, 0.1, int(WARM_UP_S * SAMPLE_RATE)).astype(np.float32)])


def analyse_batch(waves: list[np.ndarray], model, merge_calm_neutral: bool = False,
                  profile: np.ndarray | None = None) -> list[ClipResult]:
    """`analyse` for several clips in one model call (the CLI batches files this way)."""
    probs, gender, far, plain = predict_modes(model, list(waves), profile)
    labels, merged = _merge(model.labels, probs, merge_calm_neutral)
    results = [ClipResult(labels, merged[i], _gender_dict(model, None if gender is None else gender[i:i + 1]),
                          is_unsure(model, probs[i], profile), bool(far[i])) for i in range(len(waves))]
    if plain is not None:
        _, plain_merged = _merge(model.labels, plain, merge_calm_neutral)
        for i, result in enumerate(results):
            result.plain = ClipResult(labels, plain_merged[i], result.gender, is_unsure(model, plain[i]), result.far)
    return results


def voiced_intervals(wave: np.ndarray, top_db: float = VOICED_TOP_DB) -> list[tuple[float, float]]:
    """(start, end) seconds of the parts with speech energy; short pauses are bridged, short bursts dropped."""
    rms = features.rms_energy(wave)
    if rms.size == 0:
        return []
    reference = float(np.percentile(rms, VOICED_REFERENCE_PERCENTILE))
    if reference <= 0:
        return []
    loud = rms > reference * 10 ** (-top_db / 20)
    # edges of runs of loud frames -> [start, end) frame pairs
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    runs = edges.reshape(-1, 2) / features.FRAMES_PER_SECOND
    duration = wave.size / SAMPLE_RATE
    merged: list[list[float]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] < MIN_GAP_S:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return [(float(s), float(min(e, duration))) for s, e in merged if e - s >= MIN_VOICED_S]


def window_bounds(intervals: list[tuple[float, float]], window_s: float = WINDOW_S, hop_s: float = HOP_S) -> list[tuple[float, float]]:
    """Windows of `window_s` every `hop_s` inside each interval; the last one is flush with the interval's end
    so no speech is left out, and an interval shorter than a window is one window."""
    bounds: list[tuple[float, float]] = []
    for start, end in intervals:
        if end - start <= window_s:
            bounds.append((start, end))
            continue
        starts = list(np.arange(start, end - window_s + 1e-9, hop_s))
        if end - (starts[-1] + window_s) > 1e-6:
            starts.append(end - window_s)
        bounds.extend((float(s), float(s) + window_s) for s in starts)
    return bounds


def segments_of(times_start: np.ndarray, times_end: np.ndarray, labels: list[str], probs: np.ndarray) -> list[Segment]:
    """Runs of consecutive windows with the same top emotion. A run ends where the next run's first window starts
    (windows overlap, so the table would otherwise too), or at its last window's end when silence follows."""
    if len(probs) == 0:
        return []
    top = probs.argmax(axis=1)
    cuts = [0] + [i for i in range(1, len(top)) if top[i] != top[i - 1]] + [len(top)]
    segments = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        end = float(times_end[b - 1]) if b == len(top) else min(float(times_start[b]), float(times_end[b - 1]))
        segments.append(Segment(float(times_start[a]), max(end, float(times_start[a])), labels[top[a]], float(probs[a:b, top[a]].mean())))
    return segments


def timeline(
    wave: np.ndarray,
    model,
    window_s: float = WINDOW_S,
    hop_s: float = HOP_S,
    progress: Progress | None = None,
    merge_calm_neutral: bool = False,
    profile: np.ndarray | None = None,
) -> Timeline:
    """Emotion probabilities in windows over the voiced parts of a recording, batched through the model."""
    duration = wave.size / SAMPLE_RATE
    _report(progress, 0.0, "Finding speech")
    intervals = voiced_intervals(wave) or [(0.0, duration)]  # nothing above the bar: use it all rather than nothing
    voiced = sum(end - start for start, end in intervals)
    hop_s = max(hop_s, voiced / MAX_WINDOWS)
    bounds = window_bounds(intervals, window_s, hop_s)
    chunks, genders, fars = [], [], []
    for first in range(0, len(bounds), BATCH_SIZE):
        batch = bounds[first:first + BATCH_SIZE]
        probs, gender, far = predict_details(model, [wave[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)] for s, e in batch], profile)
        chunks.append(probs)
        fars.append(far)
        if gender is not None:
            genders.append(gender)
        done = first + len(batch)
        _report(progress, done / len(bounds), f"Window {done} of {len(bounds)}")
    probs = np.concatenate(chunks) if chunks else np.zeros((0, len(model.labels)))
    labels, probs = _merge(model.labels, probs, merge_calm_neutral)
    starts = np.array([s for s, _ in bounds], dtype=np.float64)
    ends = np.array([e for _, e in bounds], dtype=np.float64)
    gender_probs = np.concatenate(genders) if genders and getattr(model, "gender_labels", None) else None
    gender = _gender_dict(model, gender_probs)
    far = np.concatenate(fars) if fars and getattr(model, "far_threshold", None) is not None else None
    return Timeline((starts + ends) / 2, labels, probs, segments_of(starts, ends, labels, probs), starts, ends, duration, gender,
                    window_s, hop_s, gender_probs, far)


def _seconds(value: float) -> str:
    return f"{value:g} s" if float(value).is_integer() else f"{value:.1f} s"


# what --timeline and the app's timeline do, in words (checked against `window_bounds` by tests/test_recording_summary.py)
WINDOWS_TEXT = (f"{WINDOW_S:g}-s windows every {HOP_S:g} s over the speech only; a stretch of speech shorter than "
                f"{WINDOW_S:g} s is one window, and beyond {MAX_WINDOWS * HOP_S:g} s of speech the step widens to keep "
                f"about {MAX_WINDOWS} windows")


def describe_windows(tl: Timeline) -> str:
    """The windows this timeline really used, in words: their length and step, and whether short stretches of speech
    were taken whole (shorter windows)."""
    if len(tl.starts) == 0:
        return "no windows"
    lengths = tl.ends - tl.starts
    short = int(np.sum(lengths < tl.window_s - 1e-6))
    if short == len(lengths):
        return (f"{len(lengths)} window{'s' if short > 1 else ''}, one per stretch of speech (each shorter than "
                f"{_seconds(tl.window_s)}, so taken whole)")
    text = f"{len(lengths)} windows of {_seconds(tl.window_s)} every {_seconds(tl.hop_s)} over the speech"
    if short:
        text += (f"; {short} stretch{'es' if short > 1 else ''} of speech shorter than {_seconds(tl.window_s)} "
                 f"{'were' if short > 1 else 'was'} taken whole")
    return text


FAR_SHARE = 0.5  # a recording is "unlike the training" when at least this share of its windows is


def summarise(tl: Timeline) -> ClipResult:
    """The recording as a whole: mean probabilities (and gender) over the timeline's windows; unlike the training clips
    when most of its windows are."""
    share = tl.far_share
    return ClipResult(list(tl.labels), tl.mean(), tl.gender, far=share is not None and share >= FAR_SHARE)


def analyse_recording(
    wave: np.ndarray, model, merge_calm_neutral: bool = False, progress: Progress | None = None,
    profile: np.ndarray | None = None,
) -> tuple[ClipResult, Timeline | None]:
    """Short clips are analysed whole; longer ones get a timeline, and the overall result is its average."""
    if wave.size / SAMPLE_RATE <= LONG_CLIP_S:
        _report(progress, 0.0, "Analysing")
        return analyse(wave, model, merge_calm_neutral, profile), None
    tl = timeline(wave, model, progress=progress, merge_calm_neutral=merge_calm_neutral, profile=profile)
    return summarise(tl), tl
