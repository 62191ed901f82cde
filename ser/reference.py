"""A speaker's reference recording ("calibrate to my voice"): a few seconds of them reading a neutral sentence, against
which the default model scores their other clips. The same voice, microphone and room then weigh less in the answer.

Used by the app (kept only in the visitor's session) and by `python -m ser predict --reference FILE`. A reference that
cannot serve gets one sentence, and the analysis goes on without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ser.audio import SAMPLE_RATE, AudioError, load_audio

MIN_REFERENCE_S = 2.0  # shorter is too little speech to stand for a voice
MAX_REFERENCE_S = 30.0  # one sentence or a few: longer ones are more likely to hold emotions of their own
REFERENCE_SENTENCE = ("Read this in your everyday voice, neither happy nor sad: \u201cThe bus to the station leaves at "
                      "half past nine, and the next one comes an hour later.\u201d")


class ReferenceError(ValueError):
    """A reference recording that cannot be used; the message is one sentence for the user."""


def reference_wave(source: str | Path | np.ndarray) -> np.ndarray:
    """The reference as 16-kHz samples; ReferenceError (one sentence) when it is unreadable, silent, too short or too long."""
    try:
        wave = load_audio(source) if not isinstance(source, np.ndarray) else source
    except AudioError as err:
        raise ReferenceError(f"The reference recording cannot be used: {err} The analysis goes on without it.") from None
    seconds = wave.size / SAMPLE_RATE
    if seconds < MIN_REFERENCE_S:
        raise ReferenceError(f"The reference recording is {seconds:.1f} s long; read the whole sentence (at least "
                             f"{MIN_REFERENCE_S:g} s). The analysis goes on without it.")
    if seconds > MAX_REFERENCE_S:
        raise ReferenceError(f"The reference recording is {seconds:.0f} s long; one sentence of at most {MAX_REFERENCE_S:g} s "
                             "is enough. The analysis goes on without it.")
    return wave


def reference_profile(source: str | Path | np.ndarray, model) -> np.ndarray:
    """What the reference sounds like to `model` (its pooled encoder statistics); ReferenceError when the recording
    cannot serve or the model has no reference head."""
    if not getattr(model, "supports_reference", False):
        raise ReferenceError(f"The model {model.name} cannot use a reference recording (only models trained with one can, "
                             "such as the default model); the analysis goes on without it.")
    return model.reference_profile(reference_wave(source))
