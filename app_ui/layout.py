"""The page: an Analyse tab (audio in, emotion, a gender line, probability bars, feature plots, timeline), a "Calm or
neutral?" tab and an About tab, and the `/predict` API. Components and wiring only: what they do is in the sibling modules.

At 1280x900 the first screen holds what a newcomer needs: the recorder, Analyse, the named examples (a click analyses
one), the model picker and guess-first; the Hub id, the limits and merging wait in the "Options" fold.

It reads on a phone: the tabs wrap instead of hiding in an overflow menu, the plots' toolbar (which covers their titles
at phone width) is hidden on small screens, and only the newest error toast is shown.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from app_ui import callbacks, lesson
from app_ui.about import about_model
from app_ui.models import model_choices
from app_ui.notes import CAPTIONS, GUESS_PROMPT
from app_ui.profile import build_profile_panel
from ser import inference, settings
from ser.teaching import lesson as measured_lesson
from ser.labels import CALM_NEUTRAL
from ser.models import local_models
from ser.evaluation.provenance import identify

MERGE_NOTE = (
    "Calm and neutral differ mostly in arousal (calm is a little softer and slower), and listeners confuse them too; "
    "merging them sums their probabilities."
)
PHONE_PX = 640
CSS = f"""
.plot-row {{min-height: 270px}}
.caption p {{font-size: var(--text-md); color: var(--body-text-color); opacity: 0.85; margin-top: 0}}
@media (max-width: {PHONE_PX}px) {{ .modebar-container {{display: none !important}} }}
.toast-messages > .toast-message-item:not(:last-child), .toast-messages > .toast-separator, .toast-count {{display: none !important}}
#lesson-answer-text :is(td, th) {{overflow-wrap: normal; word-break: normal}}
.toast-title.warning {{font-size: 0 !important}}
.toast-title.warning::before {{content: "{callbacks.ERROR_TITLE}"; font-size: var(--text-lg)}}
"""
# gradio 6.31 heads a toast with its level ("Warning") and drops gr.Warning's title: the CSS above shows the title
# instead (the page's only warning toast is a clip that cannot be analysed)
# plotly draws a figure updated inside a hidden tab at its default 700 px, and gradio's plots refit only on a window
# resize: showing a tab sends one, once the tab is laid out
REFIT_PLOTS_JS = """() => { const refit = () => window.dispatchEvent(new Event('resize'));
                            requestAnimationFrame(() => requestAnimationFrame(refit)); setTimeout(refit, 300); }"""


def _limits_line() -> str:
    return (f"Clips from {settings.min_duration():g} s to {settings.max_duration() / 60:g} min, files up to "
            f"{settings.max_upload_mb():g} MB. Recordings longer than {inference.LONG_CLIP_S:g} s also get an emotion "
            f"timeline ({inference.WINDOWS_TEXT}).")


# one clip per emotion, four actors and four actresses (assets/examples/README.md); the other shipped clips are the lesson's
EXAMPLE_STEMS = ("03-01-01-01-02-02-07", "03-01-02-01-02-02-06", "03-01-03-02-01-01-08", "03-01-04-02-02-01-15",
                 "03-01-05-02-02-01-05", "03-01-06-02-01-02-22", "03-01-07-02-01-02-19", "03-01-08-02-02-01-02")


def example_clips() -> list[str]:
    """The example clips, in the order of the emotions they portray (the ones shipped)."""
    return [str(path) for stem in EXAMPLE_STEMS if (path := settings.EXAMPLES_DIR / f"{stem}.flac").exists()]


def example_label(path: str) -> str:
    """What an example is: "angry, actor 5"."""
    record = identify(path)
    return f"{record.emotion}, actor {int(record.speaker.rsplit('-', 1)[1])}" if record else Path(path).stem


def example_labels(examples: list[str], hide: bool = False) -> list[str]:
    """The examples' names; numbered only while guess-first is on, so the name does not give the vote away."""
    return [f"Clip {i + 1}" if hide else example_label(path) for i, path in enumerate(examples)]


def _plot(name: str, label: str):
    with gr.Column(min_width=300):
        # "waveform" is already the id of a div inside gr.Audio: ids must be unique in the page
        plot = gr.Plot(label=label, show_label=False, elem_id="waveform-plot" if name == "waveform" else name)
        gr.Markdown(CAPTIONS[name], elem_classes="caption", elem_id=f"{name}-caption")
    return plot


def build_app() -> gr.Blocks:
    default = settings.default_model()
    models = local_models()
    models = models if default in models else [default, *models]  # SER_MODEL may name a folder or a Hub id
    examples = example_clips()
    parts: dict[str, gr.components.Component] = {}
    with gr.Blocks(title="Speech emotion recognition") as demo:
        gr.Markdown("# Speech emotion recognition\nRecord or upload a short sentence: the model estimates which of eight acted "
                    "emotions it sounds like, and shows the signal features it listens to.")
        with gr.Tabs(overflow_behavior="wrap", elem_id="tabs") as tabs:
            with gr.Tab("Analyse", id="analyse"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech: record or upload",
                                         elem_id="audio-input")
                        button = gr.Button("Analyse", variant="primary", elem_id="analyse-button")
                        if examples:  # a click analyses the clip (wired below)
                            example_set = gr.Examples(examples, inputs=[audio], label="Examples: click one to analyse it "
                                                      "(RAVDESS actors, CC BY-NC-SA 4.0)", example_labels=example_labels(examples),
                                                      elem_id="examples")
                        choice = gr.Dropdown(model_choices(models), value=default, label="Model", elem_id="model-choice")
                        guess = gr.Checkbox(label="Guess first: hide the answer until Reveal (for a class vote)",
                                            elem_id="guess-first")
                        voice_profile = build_profile_panel()
                        with gr.Accordion("Options", open=False, elem_id="options"):
                            gr.Markdown(_limits_line(), elem_id="limits")
                            hub_id = gr.Textbox(label="…or a model from the Hugging Face Hub (its id)", placeholder="owner/name",
                                                elem_id="hub-id")
                            merge = gr.Checkbox(label=f"Merge calm and neutral into “{CALM_NEUTRAL}”", elem_id="merge")
                            gr.Markdown(MERGE_NOTE)
                    with gr.Column(scale=1, min_width=300):
                        parts["status"] = gr.Markdown(elem_id="status")
                        with gr.Column(visible=False, elem_id="guess-panel") as parts["guess_panel"]:
                            gr.Markdown(GUESS_PROMPT)
                            reveal = gr.Button("Reveal", variant="primary", elem_id="reveal-button")
                        with gr.Column(elem_id="result") as parts["result"]:
                            parts["headline"] = gr.Markdown(visible=False, elem_id="headline")
                            parts["profile_compare"] = gr.Markdown(visible=False, elem_id="profile-compare")
                            parts["emotion"] = gr.Label(label="Emotion", num_top_classes=3, elem_id="emotion-label")
                            parts["gender"] = gr.Markdown(visible=False, elem_id="gender-line")  # secondary: one line
                            parts["origin"] = gr.Markdown(visible=False, elem_id="origin")
                            parts["bars"] = gr.Plot(label="All emotions", show_label=False, elem_id="bars")
                            parts["bars_caption"] = gr.Markdown(CAPTIONS["bars"], elem_classes="caption", elem_id="bars-caption")
                with gr.Column(visible=False, elem_id="long-view") as parts["long_view"]:
                    parts["timeline"] = gr.Plot(label="Emotion timeline", show_label=False, elem_id="timeline")
                    parts["timeline_lines"] = gr.Checkbox(label="Also show each emotion's probability as a line",
                                                          elem_id="timeline-lines")
                    parts["timeline_caption"] = gr.Markdown(elem_classes="caption", elem_id="timeline-caption")
                    parts["segments"] = gr.Dataframe(headers=callbacks.SEGMENT_HEADERS, label="Dominant emotion per stretch",
                                                     interactive=False, wrap=True, elem_id="segments")
                with gr.Row(elem_classes="plot-row"):
                    parts["waveform"] = _plot("waveform", "Waveform")
                    parts["spectrogram"] = _plot("spectrogram", "Spectrogram")
                with gr.Row(elem_classes="plot-row"):
                    parts["mel"] = _plot("mel", "Mel spectrogram")
                    parts["mfcc"] = _plot("mfcc", "Timbre (MFCCs)")
            with gr.Tab("Calm or neutral?", id="calm-neutral"):
                lesson.build_pairs_section(demo)
                # every actor's calm and neutral, measured with eGeMAPS (from reports/calm_neutral.json)
                measured = measured_lesson.build_section()
            with gr.Tab("About", id="about"):
                about = gr.Markdown(about_model(default), elem_id="about-text")
        parts["last_path"], parts["is_long"], parts["revealed"] = gr.State(None), gr.State(False), gr.State(True)
        parts["timeline_data"] = gr.State(None)  # the long recording's windows, to redraw its timeline on demand
        outputs = [parts[name] for name in callbacks.FIELDS]
        analyse_inputs = [audio, choice, hub_id, merge, guess, voice_profile]

        # the button drives the page; /predict is the clean API (probabilities as {label: prob})
        button.click(callbacks.analyse_clip, analyse_inputs, outputs, api_name="analyse", api_visibility="undocumented")
        measured.wire(button, audio)  # "your clip" on the lesson's figures after each analysis
        if examples:  # a click on an example analyses it
            example_set.load_input_event.then(callbacks.analyse_clip, analyse_inputs, outputs, api_visibility="private")
        parts["timeline_lines"].input(callbacks.timeline_lines, [parts["timeline_lines"], parts["timeline_data"]], parts["timeline"],
                                      api_visibility="private")
        reveal_outputs = [parts[name] for name in callbacks.REVEAL_FIELDS]
        reveal.click(callbacks.reveal, parts["is_long"], reveal_outputs, api_visibility="private", queue=False)
        guess.change(callbacks.guess_changed, [guess, parts["is_long"], parts["revealed"]], reveal_outputs,
                     api_visibility="private", queue=False)
        if examples:  # guess-first numbers the examples, so their names do not give the vote away
            guess.change(lambda hide: gr.Dataset(sample_labels=example_labels(examples, bool(hide))), guess,
                         example_set.dataset, api_visibility="private", queue=False)
        rerun_inputs = [audio, parts["last_path"], parts["revealed"], choice, hub_id, merge, voice_profile]
        for event in (choice.change, hub_id.submit, merge.change):  # a new setting re-analyses the clip on show
            event(callbacks.reanalyse, rerun_inputs, outputs, api_visibility="private")
        tabs.select(None, None, None, js=REFIT_PLOTS_JS, queue=False, api_visibility="private")
        api_model = gr.Textbox(value="", visible=False)
        api_merge = gr.Checkbox(value=False, visible=False)
        api_output = gr.JSON(visible=False)
        gr.Button(visible=False).click(callbacks.predict, [audio, api_model, api_merge], api_output, api_name="predict")
        choice.change(about_model, [choice, hub_id], about, api_visibility="private")
        hub_id.submit(about_model, [choice, hub_id], about, api_visibility="private")
        demo.load(about_model, [choice, hub_id], about, api_visibility="private")  # each visit: the encoder path may be timed by now
    return demo
