"""The page: an Analyse tab (audio in, emotion, gender, probability bars, feature plots, timeline), a Calm vs neutral
tab and an About tab, and the `/predict` API. Components and wiring only: what they do is in the sibling modules."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from app_ui.about import about_model
from app_ui.callbacks import analyse_clip, predict
from app_ui.lesson import LESSON_PAIR, LESSON_TEXT, lesson_content
from ser import inference, settings
from ser.labels import CALM_NEUTRAL
from ser.models import local_models

MERGE_NOTE = (
    "Calm and neutral differ mostly in arousal (calm is a little softer and slower), and listeners confuse them too; "
    "merging them sums their probabilities."
)
CSS = ".plot-row {min-height: 270px}"


def _limits_line() -> str:
    return (f"Clips from {settings.min_duration():g} s to {settings.max_duration() / 60:g} min, files up to "
            f"{settings.max_upload_mb():g} MB. Recordings longer than {inference.LONG_CLIP_S:g} s also get an emotion timeline.")


def build_app() -> gr.Blocks:
    default = settings.default_model()
    models = local_models()
    models = models if default in models else [default, *models]  # SER_MODEL may name a folder or a Hub id
    examples = sorted(str(p) for p in settings.EXAMPLES_DIR.glob("*.flac"))
    with gr.Blocks(title="Speech emotion recognition") as demo:
        gr.Markdown("# Speech emotion recognition\nRecord or upload a short sentence: the model estimates which of eight acted "
                    "emotions it sounds like, and shows the signal features it listens to.")
        with gr.Tabs():
            with gr.Tab("Analyse", id="analyse"):
                with gr.Row():
                    with gr.Column(scale=1):
                        audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech: record or upload",
                                         elem_id="audio-input")
                        gr.Markdown(_limits_line(), elem_id="limits")
                        with gr.Row():
                            choice = gr.Dropdown(models, value=default, label="Model", elem_id="model-choice", scale=1)
                            hub_id = gr.Textbox(label="…or a Hugging Face Hub model id", placeholder="owner/name",
                                                elem_id="hub-id", scale=1)
                        merge = gr.Checkbox(label=f"Merge calm and neutral into “{CALM_NEUTRAL}”", elem_id="merge")
                        gr.Markdown(MERGE_NOTE)
                        button = gr.Button("Analyse", variant="primary", elem_id="analyse-button")
                        if examples:
                            gr.Examples(examples, inputs=[audio], label="Examples (RAVDESS, CC BY-NC-SA 4.0)",
                                        example_labels=[Path(e).stem.replace("_", " ") for e in examples])
                    with gr.Column(scale=1):
                        emotion = gr.Label(label="Emotion", num_top_classes=3, elem_id="emotion-label")
                        gender = gr.Label(label="Speaker gender (voice)", visible=False, elem_id="gender-label")
                        status = gr.Markdown(elem_id="status")
                        bars = gr.Plot(label="All emotions", show_label=False, elem_id="bars")
                with gr.Column(visible=False) as long_view:
                    timeline_plot = gr.Plot(label="Emotion timeline", show_label=False, elem_id="timeline")
                    segments = gr.Dataframe(headers=["from (s)", "to (s)", "dominant emotion", "mean probability"],
                                            label="Dominant emotion per segment", interactive=False, elem_id="segments")
                with gr.Row(elem_classes="plot-row"):
                    wave_plot = gr.Plot(label="Waveform", show_label=False, elem_id="waveform")
                    spec_plot = gr.Plot(label="Spectrogram", show_label=False, elem_id="spectrogram")
                with gr.Row(elem_classes="plot-row"):
                    mel_plot = gr.Plot(label="Mel spectrogram", show_label=False, elem_id="mel")
                    mfcc_plot = gr.Plot(label="MFCCs", show_label=False, elem_id="mfcc")
            with gr.Tab("Calm vs neutral", id="calm-neutral"):
                gr.Markdown(LESSON_TEXT)
                with gr.Row():
                    for file in LESSON_PAIR:
                        gr.Audio(str(settings.EXAMPLES_DIR / file), label=file.split("_")[0].capitalize(), interactive=False)
                with gr.Row():
                    lesson_plots = []
                    for file in LESSON_PAIR:
                        with gr.Column():
                            lesson_plots += [gr.Plot(label=f"Mel spectrogram ({file.split('_')[0]})", show_label=False),
                                             gr.Plot(label=f"Probabilities ({file.split('_')[0]})", show_label=False)]
                pitch_plot = gr.Plot(label="Pitch and energy", show_label=False, elem_id="pitch-energy")
                report_note = gr.Markdown()
                confusion_plot = gr.Plot(label="Confusion matrix", show_label=False, visible=False, elem_id="confusion")
            with gr.Tab("About the model", id="about"):
                about = gr.Markdown(about_model(default), elem_id="about-text")

        # the button drives the page; /predict is the clean API (probabilities as {label: prob})
        button.click(analyse_clip, [audio, choice, hub_id, merge],
                     [emotion, gender, status, bars, wave_plot, spec_plot, mel_plot, mfcc_plot, long_view, timeline_plot, segments],
                     api_name="analyse", api_visibility="undocumented")
        api_model = gr.Textbox(value="", visible=False)
        api_merge = gr.Checkbox(value=False, visible=False)
        api_output = gr.JSON(visible=False)
        gr.Button(visible=False).click(predict, [audio, api_model, api_merge], api_output, api_name="predict")
        choice.change(about_model, [choice, hub_id], about, api_visibility="private")
        hub_id.submit(about_model, [choice, hub_id], about, api_visibility="private")
        demo.load(lesson_content, None, [confusion_plot, report_note, *lesson_plots, pitch_plot],
                  api_visibility="private", show_progress="minimal")
    return demo
