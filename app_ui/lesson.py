"""The "Calm or neutral?" tab, section by section. `build_pairs_section` is the first: pairs of one actor saying one
sentence neutrally and calmly, chosen from what the cross-validated model really confused (`ser.teaching.pairs`),
played as clip A and clip B so a class can vote before the Reveal button tells which is which; then the default model's
cross-validated confusion matrix. A further section is another module's `build_*_section(demo)`, called by `layout`
after this one.

The figures and predictions are computed once per process (pitch tracking takes a few seconds per clip).
"""

from __future__ import annotations

import functools
import html
import logging
import threading
from dataclasses import dataclass

import gradio as gr

from app_ui.models import model_for
from ser import inference, plots, settings
from ser.audio.load import load_audio
from ser.teaching.pairs import (BOTH_RIGHT, CALM_HEARD_AS_NEUTRAL, NEUTRAL_HEARD_AS_CALM, CalmNeutralPair, clip_file,
                                    describe_difference, lesson_pairs)
from ser.teaching.lesson import commonest_mistakes
from ser.evaluation.provenance import with_temperature
from ser.evaluation.reports import calm_neutral_count, class_support, cv_scores
from ser.audio.voice import VoiceSummary, summarise_voice, voice_tracks

log = logging.getLogger("ser.app")

INTRO = """
**Why might calm and neutral be hard to tell apart?** Emotion shows in the voice mostly through *arousal*: how
activated the speaker is, heard in loudness, pitch range and tempo. Angry and sad are far apart in arousal; calm and
neutral sit next to each other, so listeners and models alike may mix them up. This page checks that idea three ways:
your class's votes on the pairs below, the mistakes the model really makes, and all 24 actors measured.

**Try it as a class.** In each pair below one actor says the same sentence twice, once *neutral* and once *calm*.
Listen to clip A and clip B, vote which one is calm, then press **Reveal**.
"""
KIND_TEXT = {  # what each pair is, said before the vote (it does not tell which clip is which)
    NEUTRAL_HEARD_AS_CALM: "one the model got wrong (it heard the neutral clip as calm)",
    CALM_HEARD_AS_NEUTRAL: "one the model got wrong (it heard the calm clip as neutral)",
    BOTH_RIGHT: "the **control**, a pair the model got right, to hear whether the others are harder",
}
PLOT_CAPTION = ("Top: the pitch of each clip (how high the voice is). Bottom: its energy (how loud, in dB below full "
                "scale). Calm speech is often a little softer, slower and flatter in pitch; see how far apart these "
                "two clips really are. The numbers under each clip summarise these curves.")
CLIPS = ("A", "B")


def pair_name(index: int) -> str:
    """The pair's choice in the radio: "Pair 3 (control)" for the pair the model got right."""
    control = index < len(pairs()) and pairs()[index].kind == BOTH_RIGHT
    return f"Pair {index + 1}" + (" (control)" if control else "")


def pairs_guide() -> str:
    """Which pair is which kind, in one line per pair (none of it tells which clip is calm)."""
    return "\n".join(f"- **Pair {i + 1}**: {KIND_TEXT[pair.kind]}." for i, pair in enumerate(pairs()) if pair.kind in KIND_TEXT)


def model_name() -> str:
    """The model whose cross-validation chose the pairs: the default if the reports keep its predictions."""
    name = settings.default_model()
    return name if lesson_pairs(name) else settings.DEFAULT_MODEL


@functools.lru_cache(maxsize=1)
def pairs() -> tuple[CalmNeutralPair, ...]:
    return tuple(lesson_pairs(model_name()))


def summary_text(summary: VoiceSummary) -> str:
    return (f"speech {summary.speech_s:.1f} s · loudness {summary.loudness_dbfs:.0f} dBFS · mean pitch "
            f"{summary.mean_pitch_hz:.0f} Hz · pitch range {summary.pitch_low_hz:.0f}–{summary.pitch_high_hz:.0f} Hz "
            f"({summary.pitch_range_semitones:.0f} semitones)")


@dataclass(frozen=True)
class PairView:
    files: tuple[str, str]  # clip A, clip B
    summaries: tuple[str, str]
    answer: str
    figures: tuple  # mel A, mel B, pitch and energy


def _pair_view(pair: CalmNeutralPair) -> PairView:
    model = model_for(None, None)
    order = pair.order()  # e.g. ("calm", "neutral"): clip A is calm
    waves, tracks, summaries, shipped = {}, {}, {}, {}
    for letter, emotion in zip(CLIPS, order):
        path = clip_file(pair.clip(emotion).clip)
        waves[letter] = load_audio(path)
        tracks[letter] = voice_tracks(waves[letter])
        summaries[letter] = summarise_voice(waves[letter], tracks[letter])
        shipped[letter] = inference.analyse(waves[letter], model).top
    letter_of = dict(zip(order, CLIPS))
    actor = f"actor {pair.actor}"
    # on the shipped model's scale: the report keeps the fold models' raw probabilities (ser.evaluation.provenance says why)
    temperature = getattr(model, "temperature", 1.0)
    held = {c: with_temperature(pair.clip(e), temperature).top for c, e in zip(CLIPS, order)}
    rows = [
        "| | clip A | clip B |", "|---|---|---|",
        "| the actor was asked for | " + " | ".join(f"**{emotion}**" for emotion in order) + " |",
        f"| the model that had not heard {actor} (cross-validation) | "
        + " | ".join(f"{held[c][0]} {plots.percent(held[c][1])}" for c in CLIPS) + " |",
        f"| {html.escape(model.name)}, which was trained on {actor} | "
        + " | ".join(f"{shipped[c][0]} {plots.percent(shipped[c][1])}" for c in CLIPS) + " |",
    ]
    difference = describe_difference(summaries[letter_of["calm"]], summaries[letter_of["neutral"]],
                                     f"the calm clip ({letter_of['calm']})", f"the neutral clip ({letter_of['neutral']})")
    scale = ("\n\nBoth rows are on the same probability scale, the shipped model's calibrated one, as on the Analyse tab."
             if temperature != 1.0 else "")
    answer = (f"**Clip A is {order[0]}, clip B is {order[1]}** (RAVDESS {actor}). This pair was {KIND_TEXT.get(pair.kind, 'chosen by the model')}."
              "\n\n" + "\n".join(rows) + f"{scale}\n\n**What the plots show.** {difference}")
    figures = tuple(plots.mel_figure(*_mel(waves[c]), title=f"Mel spectrogram: clip {c}") for c in CLIPS)
    figures += (plots.pitch_energy_figure({f"clip {c}": tracks[c] for c in CLIPS}),)
    return PairView(tuple(str(clip_file(pair.clip(e).clip)) for e in order),
                    tuple(summary_text(summaries[c]) for c in CLIPS), answer, figures)


def _mel(wave):
    times, _, mel_db, _ = plots.spectra(wave)
    return times, mel_db


@functools.lru_cache(maxsize=8)
def pair_view(index: int) -> PairView:
    return _pair_view(pairs()[index])


def report_note() -> tuple[str, object]:
    """The confusion sentences with their denominators (calm and neutral taken for each other, then the mistakes the
    model really makes most with each), and the confusion-matrix figure, from the accuracy report."""
    name = model_name()
    scores, _ = cv_scores(name)
    if not scores or "confusion" not in scores:
        return f"No cross-validated report for {name} yet.", None
    figure = plots.confusion_figure(scores, "Cross-validated confusions (% of each row)")
    count = calm_neutral_count(scores)
    labels, confusion, support = scores["labels"], scores["confusion"], class_support(scores)
    note = (f"**How often does the model mix them up?** In speaker-independent cross-validation of {name}, each of "
            f"{sum(support.values())} RAVDESS clips was judged by a model that had not heard its actor.")
    if count is not None:
        n, c = labels.index("neutral"), labels.index("calm")
        note += (f" Calm and neutral were mistaken for each other in **{count[0]} of {count[1]}** calm and neutral clips: "
                 f"{confusion[n][c]} of {support['neutral']} neutral clips were heard as calm, {confusion[c][n]} of "
                 f"{support['calm']} calm clips as neutral.")
    return note + mistakes_note(scores), figure


def _mistakes(scores: dict, emotion: str) -> str:
    return " and ".join(f"**{heard}** ({n} of {total}, {plots.percent(n / total)})"
                        for heard, n, total in commonest_mistakes(scores, emotion))


def mistakes_note(scores: dict) -> str:
    """Which mistakes this model makes most with calm and with neutral clips, read off its confusion matrix, and whether
    calm and neutral are really each other's main confusion for it; "" without both rows."""
    calm, neutral = commonest_mistakes(scores, "calm"), commonest_mistakes(scores, "neutral")
    if not calm or not neutral:
        return ""
    note = (f"\n\n**Which mistakes does this model make?** Its calm clips were most often heard as {_mistakes(scores, 'calm')}; "
            f"its neutral clips as {_mistakes(scores, 'neutral')}.")
    if calm[0][0] != "neutral":
        note += f" So for this model, calm is mistaken for {calm[0][0]} more often than for neutral."
    return note + (" What *listeners* mix up is what your class's votes on the pairs above measure: compare them with "
                   "the model's row in the matrix below.")


_lesson_lock = threading.Lock()
LESSON_LANE = "lesson-pairs"  # the queue lane of the pair events (build_pairs_section says why)
PAIR_OUTPUTS = 9  # clip A, clip B, summary A, summary B, answer text, answer column, mel A, mel B, pitch and energy


def _index(choice: str | None) -> int:
    return next((i for i in range(len(pairs())) if pair_name(i) == choice), 0)


def show_pair(choice: str | None) -> tuple:
    """A pair's clips, numbers and plots, with its answer hidden again."""
    with _lesson_lock:
        try:
            view = pair_view(_index(choice))
            return (*view.files, *view.summaries, view.answer, gr.Column(visible=False), *view.figures)
        except Exception:
            log.exception("could not prepare the calm-vs-neutral pair %s", choice)
            message = "This pair could not be prepared; see the server log."
            return (None, None, message, "", "", gr.Column(visible=False), None, None, None)


def reveal_pair(choice: str | None) -> tuple:
    """The answer of the pair now chosen, shown: read from the choice, not left from whichever pair was shown last."""
    with _lesson_lock:
        try:
            return pair_view(_index(choice)).answer, gr.Column(visible=True)
        except Exception:
            log.exception("could not prepare the calm-vs-neutral pair %s", choice)
            return "This pair could not be prepared; see the server log.", gr.Column(visible=True)


def lesson_content() -> tuple:
    """Everything the section shows when the page opens: the report note, the confusion matrix and the first pair."""
    if not pairs():
        return ("No cross-validated predictions are kept for this model, so no pairs can be chosen.", gr.Plot(visible=False),
                None, None, "", "", "", gr.Column(visible=False), None, None, None)
    note, figure = report_note()
    return (note, gr.Plot(figure, visible=figure is not None), *show_pair(pair_name(0)))


def warm_up() -> None:
    """Prepare every pair once, so switching pairs in class does not wait for pitch tracking."""
    for index in range(len(pairs())):
        with _lesson_lock:
            pair_view(index)


def build_pairs_section(demo: gr.Blocks) -> None:
    """The pairs and the guess-first flow, then the confusion matrix; filled when the page loads."""
    gr.Markdown(INTRO + pairs_guide(), elem_id="lesson-top")
    choices = [pair_name(i) for i in range(len(pairs()))]
    choice = gr.Radio(choices, value=choices[0] if choices else None, label="Pair", elem_id="lesson-pair")
    clips, summaries = [], []
    with gr.Row():
        for letter in CLIPS:
            with gr.Column(min_width=240):
                clips.append(gr.Audio(label=f"Clip {letter}", interactive=False, elem_id=f"lesson-clip-{letter.lower()}"))
                summaries.append(gr.Markdown(elem_id=f"lesson-summary-{letter.lower()}"))
    reveal = gr.Button("Reveal which is calm", variant="primary", elem_id="lesson-reveal")
    with gr.Column(visible=False, elem_id="lesson-answer") as answer_column:
        answer = gr.Markdown(elem_id="lesson-answer-text")
    with gr.Row(elem_classes="plot-row"):
        mels = [gr.Plot(label=f"Mel spectrogram (clip {c})", show_label=False, elem_id=f"lesson-mel-{c.lower()}") for c in CLIPS]
    pitch = gr.Plot(label="Pitch and energy", show_label=False, elem_id="pitch-energy")
    gr.Markdown(PLOT_CAPTION, elem_classes="caption")
    note = gr.Markdown(elem_id="lesson-report")
    confusion = gr.Plot(label="Confusion matrix", show_label=False, visible=False, elem_id="confusion")
    pair_outputs = [*clips, *summaries, answer, answer_column, *mels, pitch]
    assert len(pair_outputs) == PAIR_OUTPUTS
    # One lane for the three, in the order they were asked: a Reveal pressed while a newly chosen pair is still being
    # prepared waits for it, instead of showing the previous pair's answer or being hidden again by the late pair.
    lane = dict(api_visibility="private", concurrency_id=LESSON_LANE, concurrency_limit=1)
    choice.change(show_pair, choice, pair_outputs, show_progress="minimal", **lane)
    reveal.click(reveal_pair, choice, [answer, answer_column], show_progress="hidden", **lane)
    demo.load(lesson_content, None, [note, confusion, *pair_outputs], show_progress="minimal", **lane)
