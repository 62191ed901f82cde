"""The command line's rows: the model loaded once, clips analysed in batches, long recordings as timelines."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ser.cli.profiles import NO_PROFILE, PLAIN, ProfileChoice, Profiles

BATCH_SIZE = 8  # clips per model call: amortises per-call overhead, bounded memory


@dataclass
class Row:
    """One output row: a file (or one window of it with --timeline), its probabilities or its error."""

    file: str
    label: str | None = None
    probability: float | None = None
    probs: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    start: float | None = None
    end: float | None = None
    gender_probs: dict[str, float] = field(default_factory=dict)  # empty when the model has no gender head
    unsure: bool | None = None  # top probability under the model's unsure threshold (None: the model has none)
    far: bool | None = None  # unlike every clip the model was trained on (None: not measured)
    profile: str = "none"  # the voice profile it was scored with (ser.cli.profiles), or none

    @property
    def gender(self) -> str | None:
        return max(self.gender_probs, key=self.gender_probs.get) if self.gender_probs else None


def load(ref: str | None):
    """The requested model. An unreachable Hub with no cached copy falls back to the default model; that, or the use
    of an offline cached copy, is said on stderr."""
    from ser.models import load_with_fallback

    model, notice = load_with_fallback(ref)
    if notice:
        print(notice, file=sys.stderr)
    return model


def load_error(err: Exception) -> str | None:
    """The sentence of a model that cannot be found or fetched (a usage error), or None for anything else."""
    from ser.models.base import ModelError

    if isinstance(err, ModelError):
        return str(err)
    if "ser.models.hub.client" in sys.modules and isinstance(err, sys.modules["ser.models.hub.client"].HubError):
        return str(err)
    return None


def _rows_for_clips(model, items: list[tuple[str, np.ndarray]], merge: bool, profile: ProfileChoice = PLAIN) -> list[Row]:
    """One model call for the batch; if it fails, clip by clip, so one bad clip cannot take its neighbours down."""
    from ser import inference

    try:
        results = inference.analyse_batch([wave for _, wave in items], model, merge, profile.vector)
    except Exception as err:
        if len(items) == 1:
            return [Row(items[0][0], error=f"The model could not analyse this file ({type(err).__name__}).")]
        return [row for item in items for row in _rows_for_clips(model, [item], merge, profile)]
    measured = inference.unsure_threshold(model, profile.vector) is not None
    far_measured = getattr(model, "far_threshold", None) is not None
    return [_row(path, result.labels, result.probs, gender=result.gender, unsure=result.unsure if measured else None,
                 far=result.far if far_measured else None, profile=profile.text) for (path, _), result in zip(items, results)]


def _row(path: str, labels: list[str], probs: np.ndarray, start: float | None = None, end: float | None = None,
         gender: dict[str, float] | None = None, unsure: bool | None = None, far: bool | None = None,
         profile: str = NO_PROFILE) -> Row:
    top = int(np.argmax(probs))
    return Row(path, labels[top], float(probs[top]), {label: float(p) for label, p in zip(labels, probs)}, start=start, end=end,
               gender_probs=dict(gender or {}), unsure=unsure, far=far, profile=profile)


def _unsure(model, probs: np.ndarray, profile: np.ndarray | None = None) -> bool | None:
    from ser.inference import unsure_threshold

    threshold = unsure_threshold(model, profile)
    return None if threshold is None else bool(np.max(probs) < threshold)


def _rows_for_recording(model, path: str, wave: np.ndarray, merge: bool, per_window: bool,
                        profile: ProfileChoice = PLAIN) -> list[Row]:
    """A timeline of windows: all of its rows with --timeline, else one row with their average (as the app does)."""
    from ser import inference

    try:
        tl = inference.timeline(wave, model, merge_calm_neutral=merge, profile=profile.vector)
    except Exception as err:
        return [Row(path, error=f"The model could not analyse this file ({type(err).__name__}).")]
    if not per_window:
        share = tl.far_share  # the recording is unlike the training when most of its windows are, as in the app
        return [_row(path, tl.labels, tl.mean(), gender=tl.gender, unsure=_unsure(model, tl.mean(), profile.vector),
                     far=None if share is None else share >= inference.FAR_SHARE, profile=profile.text)]
    return [_row(path, tl.labels, p, float(s), float(e), _window_gender(model, tl, i), _unsure(model, p, profile.vector),
                 None if tl.far is None else bool(tl.far[i]), profile=profile.text)
            for i, (s, e, p) in enumerate(zip(tl.starts, tl.ends, tl.probs))]


def _window_gender(model, tl, index: int) -> dict[str, float] | None:
    """Gender probabilities of one timeline window, or None when the model has no gender head."""
    if tl.gender_probs is None or not model.gender_labels:
        return None
    return {label: float(p) for label, p in zip(model.gender_labels, tl.gender_probs[index])}


def predict_rows(model, stream, timeline: bool, merge: bool, batch_size: int = BATCH_SIZE, progress=None,
                 profiles: Profiles | None = None) -> Iterator[Row]:
    """Rows in input order. Short clips are batched (a batch holds files of one voice profile); recordings longer
    than the app's timeline threshold (or every file with --timeline) go through `inference.timeline`."""
    from ser.audio.load import SAMPLE_RATE
    from ser.inference import LONG_CLIP_S

    batch: list[tuple[str, np.ndarray]] = []
    profiles = profiles or Profiles()
    current = PLAIN

    def flush() -> list[Row]:
        rows = _rows_for_clips(model, batch, merge, current) if batch else []
        if progress is not None:
            progress.update(len(batch))
        batch.clear()
        return rows

    for path, wave, error in stream:
        profile = profiles.for_file(path)
        if profile is not current:
            yield from flush()
            current = profile
        if wave is not None and not timeline and wave.size / SAMPLE_RATE <= LONG_CLIP_S:
            batch.append((path, wave))
            if len(batch) >= batch_size:
                yield from flush()
            continue
        yield from flush()  # keep the input order
        yield from [Row(path, error=error)] if wave is None else _rows_for_recording(model, path, wave, merge, timeline, profile)
        if progress is not None:
            progress.update(1)
    yield from flush()
