"""The calm-vs-neutral lesson measured over every RAVDESS actor: figures and sentences from `reports/calm_neutral.json`
(written by `python -m train.evaluation.calm_neutral`) and `reports/accuracy.json`, and the visitor's clip on the same axes.

    section = build_section()                 # inside a gr.Blocks/gr.Tab: the parameters, their figures, the confusions
    section.wire(analyse_button, audio)       # after an analysis, "your clip" joins every figure

Each figure's y-axis spans the 24 actors, whatever the visitor's clip: an unusual voice (a synthetic one, a long mixed
recording) would otherwise stretch it until the actors' lines squash into a band; a clip outside their range is an
arrow at the edge, with its value.

Nothing here reads the corpora: the page loads two small JSON reports. Only the visitor's own clip is measured (eGeMAPS,
about 0.1 s), in their session.
"""

from __future__ import annotations

import functools
import html
import logging
from dataclasses import dataclass, field

import numpy as np

from ser.evaluation.metrics import ACCURACY_REPORT, read_report

log = logging.getLogger("ser.teaching.lesson")

REPORT = "calm_neutral.json"
SHOWN = 5  # parameters shown: the report's `top`
YOUR_CLIP_COLOR = "#009E73"
CALM_LOWER, CALM_HIGHER = "#56B4E9", "#7f7f7f"  # an actor's line: calm below neutral, or not
AXIS_PAD = 0.05  # the y-axis spans the actors' values and this share of their spread above and below
MISTAKES_SHOWN = 2  # wrong answers named per emotion in the lesson's confusion sentence
NO_REPORT = ("The measurement over all 24 actors has not been generated yet: run `python -m train.evaluation.calm_neutral` "
             "(it writes reports/calm_neutral.json).")


# --- data ------------------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def lesson_report() -> dict:
    """reports/calm_neutral.json, or {} before it is generated (read once per process)."""
    report = read_report(REPORT)
    return report if report.get("top") and report.get("parameters") else {}


def shown_parameters(report: dict | None = None) -> list[str]:
    report = lesson_report() if report is None else report
    return list(report.get("top", []))[:SHOWN]


def confusion_counts(scores: dict) -> dict | None:
    """Calm taken for neutral, neutral taken for calm, and the calm and neutral clips scored, from a report entry."""
    labels, matrix = scores.get("labels"), scores.get("confusion")
    if not labels or not matrix or "calm" not in labels or "neutral" not in labels:
        return None
    calm, neutral = labels.index("calm"), labels.index("neutral")
    return {"calm_as_neutral": int(matrix[calm][neutral]), "neutral_as_calm": int(matrix[neutral][calm]),
            "calm_clips": int(sum(matrix[calm])), "neutral_clips": int(sum(matrix[neutral]))}


def commonest_mistakes(scores: dict, emotion: str, shown: int = MISTAKES_SHOWN) -> list[tuple[str, int, int]]:
    """(heard as, clips, clips of `emotion`) for the `shown` wrong answers `emotion`'s clips got most often in a report
    entry's confusion matrix (ties in the labels' order); [] when the entry has no such row."""
    labels, matrix = scores.get("labels") or [], scores.get("confusion")
    if not matrix or emotion not in labels:
        return []
    row = [int(n) for n in matrix[labels.index(emotion)]]
    wrong = sorted((-n, i) for i, n in enumerate(row) if labels[i] != emotion and n > 0)
    return [(labels[i], -n, sum(row)) for n, i in wrong[:shown]]


def model_confusions(models: list[str]) -> list[tuple[str, dict]]:
    """(model, `confusion_counts`) for each of `models` the accuracy report holds, in that order."""
    scored = read_report(ACCURACY_REPORT).get("models", {})
    return [(name, counts) for name in models if name in scored and (counts := confusion_counts(scored[name]))]


def confusion_sentences(models: list[str]) -> str:
    """Markdown: how often each model mixed calm and neutral up in the cross-validation, with denominators."""
    rows = model_confusions(models)
    if not rows:
        return f"*No cross-validated confusions yet: `reports/{ACCURACY_REPORT}` has not been generated.*"
    lines = ["**How often the models mix them up** (speaker-independent cross-validation, `reports/accuracy.json`):", ""]
    for name, c in rows:
        both = c["calm_clips"] + c["neutral_clips"]
        mixed = c["calm_as_neutral"] + c["neutral_as_calm"]
        lines.append(f"- {html.escape(name)}: {mixed} of {both} calm and neutral clips ({mixed / both:.0%}): calm heard as neutral "
                     f"{c['calm_as_neutral']} of {c['calm_clips']} times, neutral heard as calm {c['neutral_as_calm']} of "
                     f"{c['neutral_clips']}.")
    lines += ["", "How often *people* confuse them is what your class's votes on the pairs above measure. The RAVDESS "
              "validation study's listener figures (Livingstone & Russo 2018) are not quoted on this page: we could not "
              "check them, and a number we cannot source would not teach anything."]
    return "\n".join(lines)


def parameter_sentence(name: str, report: dict | None = None) -> str:
    """One plain sentence on what the parameter measures, and what the 24 actors did."""
    report = lesson_report() if report is None else report
    p = report["parameters"][name]
    n = len(report["actors"])
    direction = (f"calm was lower than neutral for {p['actors_calm_lower']} of {n} actors"
                 if p["d_z"] < 0 else f"calm was higher than neutral for {p['actors_calm_higher']} of {n} actors")
    return (f"**{html.escape(p['label'])}.** {html.escape(p['sentence'])} Same actor, same sentence: {direction} "
            f"(paired effect size d = {p['d_z']:+.2f}, 95% CI {p['ci95'][0]:+.2f} to {p['ci95'][1]:+.2f}).")


def your_clip_values(wave: np.ndarray, names: list[str]) -> dict[str, float]:
    """The visitor's clip measured like the actors' (ser.audio.egemaps); AudioError (one sentence) when it cannot be."""
    from ser.audio.egemaps import egemaps_features, feature_names

    values = egemaps_features(wave, require_voice=True)
    index = {n: i for i, n in enumerate(feature_names())}
    return {name: float(values[index[name]]) for name in names}


# --- figures ---------------------------------------------------------------------------------------------------------

def actor_range(p: dict) -> tuple[float, float]:
    """The y-axis of a parameter's figure: the 24 actors' calm and neutral values, padded by AXIS_PAD."""
    values = [*p["per_actor"]["calm"], *p["per_actor"]["neutral"]]
    pad = AXIS_PAD * (max(values) - min(values) or 1.0)
    return min(values) - pad, max(values) + pad


def _your_clip(value: float, low: float, high: float) -> tuple[dict, dict | None]:
    """The visitor's clip: a dashed line inside the actors' range; outside it, triangles and an arrow at the edge it
    lies beyond, labelled with the value (the trace, and the annotation or None)."""
    if low <= value <= high:
        return dict(type="scatter", mode="lines", x=["neutral", "calm"], y=[value, value], name="your clip",
                    line=dict(color=YOUR_CLIP_COLOR, width=3, dash="dash"), hovertemplate="your clip: %{y:.3g}<extra></extra>"), None
    above = value > high
    edge, side = (high, "above") if above else (low, "below")
    trace = dict(type="scatter", mode="markers", x=["neutral", "calm"], y=[edge, edge], name="your clip", cliponaxis=False,
                 marker=dict(symbol="triangle-up" if above else "triangle-down", size=13, color=YOUR_CLIP_COLOR),
                 hovertemplate=f"your clip: {value:.3g} ({side} every actor)<extra></extra>")
    arrow = dict(x=0.5, xref="paper", y=edge, yref="y", text=f"your clip: {value:.3g}, {side} every actor", showarrow=True,
                 arrowhead=2, arrowsize=1.3, arrowwidth=2, arrowcolor=YOUR_CLIP_COLOR, ax=0, ay=30 if above else -30,
                 font=dict(color=YOUR_CLIP_COLOR, size=12), bgcolor="rgba(255,255,255,0.85)")
    return trace, arrow


def parameter_figure(name: str, report: dict | None = None, your_value: float | None = None):
    """Paired dots: each actor's neutral and calm mean joined by a line (blue where calm is lower), the class means in
    bold, and "your clip" on the same axis when given: the axis keeps the actors' range (`actor_range`), so a clip
    beyond it is an arrow at the edge rather than a stretched axis."""
    from ser.plots import _axis, _figure

    report = lesson_report() if report is None else report
    p = report["parameters"][name]
    calm, neutral = p["per_actor"]["calm"], p["per_actor"]["neutral"]
    data = []
    for actor, c, n in zip(report["actors"], calm, neutral):
        data.append(dict(type="scatter", mode="lines+markers", x=["neutral", "calm"], y=[n, c], showlegend=False,
                         line=dict(color=CALM_LOWER if c < n else CALM_HIGHER, width=1), marker=dict(size=5),
                         hovertemplate=f"actor {actor[-2:]}: %{{y:.3g}}<extra></extra>"))
    data.append(dict(type="scatter", mode="lines+markers", x=["neutral", "calm"], y=[float(np.mean(neutral)), float(np.mean(calm))],
                     name="mean of 24 actors", line=dict(color="#222222", width=4), marker=dict(size=10)))
    low, high = actor_range(p)
    annotations = []
    if your_value is not None:
        trace, arrow = _your_clip(your_value, low, high)
        data.append(trace)
        annotations += [arrow] if arrow else []
    return _figure(data, f"{p['label']} (d = {p['d_z']:+.2f})", height=340,
                   x=dict(type="category"), y=_axis(p["label"], range=[low, high]),
                   legend=dict(orientation="h", y=-0.15), annotations=annotations)


def lesson_figures(report: dict | None = None, your_values: dict[str, float] | None = None) -> list:
    report = lesson_report() if report is None else report
    return [parameter_figure(name, report, (your_values or {}).get(name)) for name in shown_parameters(report)]


# --- the Gradio section ----------------------------------------------------------------------------------------------

@dataclass
class LessonSection:
    """The components `build_section` made; `wire` connects them to the Analyse tab."""

    plots: list = field(default_factory=list)
    note: object = None

    @property
    def outputs(self) -> list:
        return [*self.plots, self.note]

    def place_clip(self, path) -> list:
        """The figures with the visitor's clip on them, and a sentence; never raises (the Analyse tab reports errors)."""
        names = shown_parameters()
        if not names:
            return [None] * len(self.plots) + [NO_REPORT]
        if not path:
            return [*lesson_figures(), ""]
        from ser.audio.load import AudioError, load_audio

        try:
            values = your_clip_values(load_audio(path), names)
        except AudioError as err:
            return [*lesson_figures(), f"*Your clip is not on the figures: {html.escape(str(err), quote=False)}*"]
        except Exception:
            log.exception("could not measure the visitor's clip for the lesson")
            return [*lesson_figures(), "*Your clip could not be measured for these figures.*"]
        return [*lesson_figures(your_values=values), "The green dashed line on each figure is **your clip**, the last one "
                "you analysed, measured the same way (after trimming silence); where it lies beyond every actor, a green "
                "arrow at the edge gives its value. One clip of one speaker is not a class: compare it with the spread of "
                "the actors, not with one dot."]

    def wire(self, analyse_button, audio) -> None:
        """After each click on Analyse, measure the same clip and put it on the figures (this visitor's page only)."""
        analyse_button.click(self.place_clip, [audio], self.outputs, api_visibility="private", show_progress="hidden")


INTRO = """
### Measured over all 24 actors
The two clips above are one actor. Below, every RAVDESS actor's calm and neutral clips, matched (same actor, same
sentence, same repetition, calm at normal intensity), measured with openSMILE's eGeMAPS parameters. These are the
parameters that separate calm from neutral the most, one line per actor: the pattern holds for most actors, but the
actors differ from each other far more than their calm differs from their neutral.
"""


def build_section(models: list[str] | None = None) -> LessonSection:
    """The new lesson section, built inside the caller's gr.Blocks (e.g. in the Calm vs neutral tab). Its figures come
    from reports/calm_neutral.json when the app starts; `models` are those whose confusions it quotes (default: the
    shipped ones)."""
    import gradio as gr

    from ser.models import local_models

    report = lesson_report()
    section = LessonSection()
    gr.Markdown(INTRO, elem_id="lesson-intro")
    if not report:
        gr.Markdown(NO_REPORT, elem_id="lesson-missing")
    names = shown_parameters(report)
    figures = lesson_figures(report) if report else []
    for start in range(0, len(names), 3):
        with gr.Row():
            for i in range(start, min(start + 3, len(names))):
                with gr.Column(min_width=300):
                    section.plots.append(gr.Plot(figures[i], show_label=False, elem_id=f"lesson-parameter-{i}"))
                    gr.Markdown(parameter_sentence(names[i], report))
    section.note = gr.Markdown("Analyse a clip in the first tab to see where **your clip** falls on these figures.",
                               elem_id="lesson-your-clip")
    gr.Markdown(confusion_sentences(models if models is not None else local_models()), elem_id="lesson-confusions")
    if report:
        with gr.Accordion("How this was measured", open=False, elem_id="lesson-methods"):
            gr.Markdown(methods_text(report))
    return section


def methods_text(report: dict) -> str:
    """The statistics behind the figures in plain words, then the report's own protocol line and the source."""
    n = len(report["actors"])
    return (f"**Pairs.** {report['pairs']} pairs of clips from {n} actors: the same actor saying the same sentence neutrally "
            "and calmly (calm at normal intensity). Each parameter's calm-minus-neutral difference is averaged within "
            f"each actor first, so every actor counts once.\n\n"
            f"**d** is the paired effect size (Cohen's d_z): the mean of the {n} actors' differences divided by how much "
            "those differences vary from actor to actor. Negative: calm is lower. Around 0.2 is small, 0.8 or more large.\n\n"
            f"**95% CI** is a bootstrap confidence interval: the {n} actors are drawn again at random, with replacement, "
            "thousands of times, and d recomputed each time; the interval holds the middle 95% of those values.\n\n"
            f"**Many comparisons.** {len(report['parameters'])} parameters were compared and the figures show the most "
            "separating ones; with that many, some differences look large by chance alone, and the p-values in the report "
            "are not corrected for it. Trust the large, consistent effects more than the small ones.\n\n"
            f"<small>Protocol, as the report states it: {html.escape(report.get('protocol', ''))}. "
            f"{html.escape(report.get('features', ''))}. Source: `reports/{REPORT}` (`{html.escape(report.get('command', ''))}`). "
            "openSMILE is free for non-commercial use only (audEERING research licence).</small>")
