"""What the Analyse tab and the `/predict` API do: load the model, analyse the audio with `ser.inference`, draw the
figures with `ser.plots`, and turn any failure into one sentence in the page, never a traceback.

The Analyse tab's outputs are named in `FIELDS`; `layout` passes its components in that order and every callback here
returns one value per field. Messages are HTML-escaped: gr.Error, gr.Warning and Markdown render HTML, and file names
and model ids come from users.
"""

from __future__ import annotations

import html
import logging
import time

import gradio as gr

from app_ui import notes
from app_ui.models import chosen_model, model_for
from ser import inference, plots
from ser.audio.load import SAMPLE_RATE, AudioError, load_audio
from ser.models.base import ModelError
from ser.evaluation.provenance import clip_origin
from ser.profile import MIN_PROFILE_CLIPS, ProfileError, profile_notes
from ser.teaching.recording_summary import speaking_time_shares

log = logging.getLogger("ser.app")

FIELDS = ("status", "guess_panel", "result", "headline", "profile_compare", "emotion", "gender", "origin", "bars", "bars_caption",
          "long_view", "timeline", "timeline_lines", "timeline_data", "timeline_caption", "segments", "waveform", "spectrogram",
          "mel", "mfcc", "last_path", "is_long",
          "revealed")
REVEAL_FIELDS = ("guess_panel", "result", "long_view", "revealed")
SEGMENT_HEADERS = ["from (s)", "to (s)", "emotion", "mean prob."]
ERROR_TITLE = "Cannot analyse this"


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
        raise gr.Error(html.escape(user_message(err), quote=False), title=ERROR_TITLE, print_exception=False) from None


def _outputs(values: dict) -> tuple:
    return tuple(values[name] for name in FIELDS)


def _segments_table(tl) -> list[list]:
    return [[f"{s.start:.1f}", f"{s.end:.1f}", s.label, plots.percent(s.prob)] for s in tl.segments]


def analyse_clip(path, choice, hub_id, merge, guess=False, recorded=None, progress=gr.Progress()):
    """The Analyse button (and a click on an example): the result, where the clip comes from, the plots, and for a long
    recording its headline and timeline. With `guess` on, the answer waits behind the Reveal button. A failure empties
    the outputs and says why in a toast and in the status line (which stays until the next try)."""
    try:
        return _outputs(_analyse(path, choice, hub_id, bool(merge), bool(guess), recorded, progress))
    except Exception as err:
        message = html.escape(user_message(err), quote=False)
    gr.Warning(message, title=ERROR_TITLE)
    return _outputs(dict(
        status=f"**{ERROR_TITLE}:** {message}", guess_panel=gr.Column(visible=False), result=gr.Column(visible=True),
        headline=gr.Markdown("", visible=False), profile_compare=gr.Markdown("", visible=False),
        emotion=gr.Label(value=None, label="Emotion", show_heading=True),
        origin=gr.Markdown("", visible=False), gender=gr.Markdown("", visible=False), bars=None, bars_caption=notes.CAPTIONS["bars"],
        long_view=gr.Column(visible=False), timeline=None, timeline_lines=False, timeline_data=None, timeline_caption="", segments=[], waveform=None,
        spectrogram=None, mel=None, mfcc=None, last_path=None, is_long=False, revealed=True))


def _analyse(path, choice, hub_id, merge: bool, hide: bool, recorded, progress) -> dict:
    start = time.perf_counter()
    model, notice = chosen_model(choice, hub_id)
    wave = load_audio(path)
    profile, profile_note = _profile(model, recorded)
    result, tl = inference.analyse_recording(wave, model, merge, progress, profile=profile.vector if profile else None)
    compare = notes.profile_comparison(result, profile, profile_note)
    progress(1.0, desc="Drawing the plots")
    waveform, spectrogram, mel, mfcc = plots.feature_figures(wave)
    shares = speaking_time_shares(tl) if tl is not None else None
    if shares is not None and shares.ranked:  # a long recording: share of the speaking time, not mean probabilities
        emotion = gr.Label(value=dict(shares.ranked), label="Share of the speaking time", show_heading=not shares.mixed)
        bars = plots.probability_bars(list(shares.shares), list(shares.shares.values()), "Share of the speaking time",
                                      "share of the speech (%)")
    else:
        emotion = gr.Label(value=result.as_dict(), label="Emotion", show_heading=True)
        bars = plots.probability_bars(result.labels, result.probs)
    shown = shares.top if shares is not None and shares.ranked else result.top
    origin = notes.origin_note(clip_origin(path, model), model.name, shown, merge)
    seconds = wave.size / SAMPLE_RATE
    sure_level = inference.unsure_threshold(model, profile.vector if profile else None)
    # long: mixed or mostly, and whether it sounds unlike the training; short: sure or not; either: an uncalibrated model
    doubts = ([notes.headline(shares), notes.long_recording_far_note(tl.far_share)] if tl is not None
              else [notes.confidence_note(result, merge, sure_level)])
    headline = "\n\n".join(filter(None, [*doubts, notes.uncalibrated_note(model)]))
    return dict(
        status=notes.status_line(model.name, seconds, time.perf_counter() - start, notice),
        guess_panel=gr.Column(visible=hide), result=gr.Column(visible=not hide),
        headline=gr.Markdown(headline, visible=bool(headline)), profile_compare=gr.Markdown(compare, visible=bool(compare)),
        emotion=emotion,
        origin=gr.Markdown(origin, visible=bool(origin)),
        gender=gr.Markdown(notes.gender_line(model, result.gender), visible=True),
        bars=bars, bars_caption=" ".join(filter(None, [notes.CAPTIONS["shares" if shares is not None else "bars"],
                                                       notes.trust_sentence(model, profile is not None and model.supports_profile)])),
        long_view=gr.Column(visible=tl is not None and not hide),
        timeline=plots.timeline_figure(tl) if tl is not None else None, timeline_lines=False, timeline_data=tl,
        timeline_caption=f"{notes.CAPTIONS['timeline']} Here: {inference.describe_windows(tl)}." if tl is not None else "",
        segments=_segments_table(tl) if tl is not None else [], waveform=waveform, spectrogram=spectrogram, mel=mel,
        mfcc=mfcc, last_path=path, is_long=tl is not None, revealed=not hide)


def _profile(model, recorded):
    """The visitor's voice profile for this model (or None), and what to say about it (or None). `recorded` is the
    session's `app_ui.profile.Recordings`, which keeps the profile it built for the next analysis."""
    if not recorded:
        return None, None
    if len(recorded) < MIN_PROFILE_CLIPS:
        return None, f"Your voice profile needs at least {MIN_PROFILE_CLIPS} moods recorded; this answer is without it."
    try:
        profile = recorded.profile_for(model)
    except ProfileError as err:
        return None, str(err)
    return profile, " ".join(profile_notes(profile, model)) or None


def reanalyse(path, last_path, revealed, choice, hub_id, merge, recorded=None, progress=gr.Progress()):
    """Another model (or merging) was chosen: analyse the clip on show again, so no old result stays under a new
    setting. Nothing happens when no clip has been analysed, or the clip changed since."""
    if not path or path != last_path:
        return tuple(gr.skip() for _ in FIELDS)
    return analyse_clip(path, choice, hub_id, merge, not revealed, recorded, progress)


def timeline_lines(show, tl):
    """The timeline's "each emotion as a line" box: the band alone, or the band above the eight lines."""
    return plots.timeline_figure(tl, lines=bool(show)) if tl is not None else gr.skip()


def reveal(is_long):
    """The Reveal button: the answer, and the timeline of a long recording."""
    return gr.Column(visible=False), gr.Column(visible=True), gr.Column(visible=bool(is_long)), True


def guess_changed(guess, is_long, revealed):
    """Turning guess-first off reveals an answer still hidden; turning it on applies to the next clip."""
    if guess or revealed:
        return tuple(gr.skip() for _ in REVEAL_FIELDS)
    return reveal(is_long)


def predict(path, model="", merge_calm_neutral=False) -> dict[str, float]:
    """API endpoint `/predict`: probability of each emotion label for an audio file (a recording's average if long).
    `model` is a shipped model name or a Hub id (empty: the default)."""
    return run_safely(_predict, path, model, merge_calm_neutral)


def _predict(path, model, merge):
    result, _ = inference.analyse_recording(load_audio(path), model_for(None, model), bool(merge))
    return result.as_dict()
