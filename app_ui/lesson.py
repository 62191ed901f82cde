"""The Calm vs neutral tab: two clips of the same actor and sentence, their mel spectrograms, pitch and energy, what the
default model hears in each, and its cross-validated confusion matrix. Computed once per process."""

from __future__ import annotations

import functools
import logging
import threading

import gradio as gr
import numpy as np

from app_ui.models import cv_scores, model_for
from ser import inference, plots, settings
from ser.audio import load_audio
from ser.metrics import ACCURACY_REPORT

log = logging.getLogger("ser.app")

LESSON_PAIR = ("neutral_actor12.flac", "calm_actor12.flac")  # same actor, same statement (see assets/examples/README.md)
LESSON_TEXT = """
**Why are calm and neutral so easy to confuse?** Both are low-arousal ways of speaking. Emotion shows in the voice mostly through
*arousal* (how activated the speaker is: loudness, pitch range, tempo) and less through *valence* (pleasant or not). Angry and sad
are far apart in arousal; calm and neutral sit next to each other. Compare the two clips: the same actor says the same sentence,
and the pitch contour and energy differ only a little (calm is often slightly softer and slower, with a smoother pitch),
while the mel spectrograms look much alike.

People find this hard as well: in the RAVDESS validation study (Livingstone & Russo 2018), calm was among the least accurately
identified categories. That is why the app offers to merge the two classes. The model's cross-validated confusion matrix below shows how often it
mixes them up.
"""


_lesson_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _lesson_content() -> tuple:
    name = settings.default_model()
    scores, source = cv_scores(name)
    if scores and "confusion" in scores:
        confusion = plots.confusion_figure(scores, f"{name}: cross-validated confusion matrix (% of each true class)")
        n = scores.get("n") or int(np.sum(scores["confusion"]))
        report_note = f"Speaker-independent cross-validation of **{name}** from `{source}` ({n} clips)."
        pairs = scores.get("calm_neutral_confusions")
        if pairs is not None:
            report_note += f" Calm and neutral were mistaken for each other {pairs} times."
    else:
        confusion = None
        report_note = f"No cross-validated report for {name} yet: `reports/{ACCURACY_REPORT}` has not been generated."
    model = model_for(None, None)
    waves, outputs = {}, []
    for file in LESSON_PAIR:
        wave = load_audio(settings.EXAMPLES_DIR / file)
        label = file.split("_")[0]
        waves[label] = wave
        result = inference.analyse(wave, model)
        times, _, mel_db, _ = plots.spectra(wave)
        outputs += [plots.mel_figure(times, mel_db, f"Mel spectrogram: {label}"),
                    plots.probability_bars(result.labels, result.probs, f"{name} on the {label} clip")]
    return (gr.Plot(confusion, visible=confusion is not None), report_note, *outputs, plots.pitch_energy_figure(waves))


def lesson_content() -> tuple:
    """Figures of the lesson tab; the first caller computes them (pitch tracking takes a few seconds), the rest wait."""
    with _lesson_lock:
        try:
            return _lesson_content()
        except Exception:
            log.exception("could not prepare the calm-vs-neutral tab")
            return (None, "The calm-vs-neutral comparison could not be prepared; see the server log.", None, None, None, None, None)

