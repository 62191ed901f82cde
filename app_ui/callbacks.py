"""What the Analyse button and the `/predict` API do: load the model, analyse the audio with `ser.inference`, draw the
figures with `ser.plots`, and turn any failure into one sentence in the page, never a traceback.

Messages are HTML-escaped: gr.Error, gr.Warning and Markdown render HTML, and file names and model ids come from users.
"""

from __future__ import annotations

import html
import logging
import time

import gradio as gr

from app_ui.models import model_for
from ser import inference, plots
from ser.audio import SAMPLE_RATE, AudioError, load_audio
from ser.models.base import ModelError

log = logging.getLogger("ser.app")


def user_message(err: Exception) -> str:
    """The one sentence to show for any failure: ours as written, anything unforeseen as a generic sentence."""
    if isinstance(err, (AudioError, ModelError)):
        return str(err)
    log.error("unexpected error while analysing", exc_info=err)  # the traceback stays in the server log
    return f"Something went wrong while analysing this audio ({type(err).__name__}); try another clip or model."


def run_safely(fn, *args):
    """For API endpoints: the sentence becomes a gr.Error, which gradio_client raises as AppError."""
    try:
        return fn(*args)
    except gr.Error:
        raise
    except Exception as err:
        raise gr.Error(html.escape(user_message(err), quote=False), title="Cannot analyse this", print_exception=False) from None


def _status(model, wave, elapsed: float, tl) -> str:
    seconds = wave.size / SAMPLE_RATE
    what = f"timeline of {len(tl.times)} windows, overall = their average" if tl is not None else "whole clip"
    took = f"{elapsed * 1000:.0f} ms" if elapsed < 1 else f"{elapsed:.1f} s"
    return f"Model **{html.escape(model.name)}** · {seconds:.1f} s of audio · {what} · analysed in {took}"


def _segments_table(tl) -> list[list]:
    return [[f"{s.start:.1f}", f"{s.end:.1f}", s.label, f"{s.prob * 100:.0f}%"] for s in tl.segments]


def analyse_clip(path, choice, hub_id, merge, progress=gr.Progress()):
    """The Analyse button: label, gender, status, probability bars, four feature plots, and the timeline if long.
    A failure empties the outputs and says why in a toast and in the status line (which stays until the next try)."""
    try:
        return _analyse_clip(path, choice, hub_id, merge, progress)
    except Exception as err:
        message = html.escape(user_message(err), quote=False)
    gr.Warning(message, title="Cannot analyse this")
    return (None, gr.Label(value=None, visible=False), f"**Cannot analyse this:** {message}",
            None, None, None, None, None, gr.Column(visible=False), None, [])


def _analyse_clip(path, choice, hub_id, merge, progress):
    start = time.perf_counter()
    model = model_for(choice, hub_id)
    wave = load_audio(path)
    result, tl = inference.analyse_recording(wave, model, bool(merge), progress)
    progress(1.0, desc="Drawing the plots")
    figures = plots.feature_figures(wave)
    bars = plots.probability_bars(result.labels, result.probs)
    gender = gr.Label(value=result.gender, visible=result.gender is not None)
    long_view = gr.Column(visible=tl is not None)
    timeline_fig = plots.timeline_figure(tl) if tl is not None else None
    table = _segments_table(tl) if tl is not None else []
    status = _status(model, wave, time.perf_counter() - start, tl)
    return (result.as_dict(), gender, status, bars, *figures, long_view, timeline_fig, table)


def predict(path, model="", merge_calm_neutral=False) -> dict[str, float]:
    """API endpoint `/predict`: probability of each emotion label for an audio file (a recording's average if long).
    `model` is a shipped model name or a Hub id (empty: the default)."""
    return run_safely(_predict, path, model, merge_calm_neutral)


def _predict(path, model, merge):
    result, _ = inference.analyse_recording(load_audio(path), model_for(None, model), bool(merge))
    return result.as_dict()

