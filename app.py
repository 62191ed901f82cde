"""Gradio app: record or upload speech, see the emotion the model hears and the features it hears it in.

UI wiring only: analysis lives in `ser.inference`, figures in `ser.plots`. Run `python app.py`; it binds 127.0.0.1
unless GRADIO_SERVER_NAME says otherwise (Spaces sets 0.0.0.0) and takes the port from GRADIO_SERVER_PORT.
"""

from __future__ import annotations

import os

CONCURRENCY = int(os.environ.get("SER_CONCURRENCY") or 2)  # two analyses at once fill the 2 cores a free Space has
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it reads this at import
# one math thread per concurrent analysis: more threads than cores makes every request slower (set before torch loads)
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // CONCURRENCY)))

from app_startup import shipped_audio_is_playable, skip_gradio_stub_writer  # noqa: E402
from ser.memory import limit_malloc_arenas, start_trimming  # noqa: E402

skip_gradio_stub_writer()  # before gradio is imported: app_startup.py says why
limit_malloc_arenas()  # before gradio starts its worker threads: see ser/memory.py

import functools
import html
import logging
import re
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np

from ser import inference, plots, settings
from ser.audio import SAMPLE_RATE, AudioError, load_audio
from ser.labels import CALM_NEUTRAL
from ser.metrics import ACCURACY_REPORT, model_scores, read_report
from ser.models import load_for_visitor, local_models, resolve_for_visitor
from ser.models.base import ModelError

log = logging.getLogger("ser.app")

DEFAULT_HOST = "127.0.0.1"
QUEUE_SIZE = 20  # waiting requests beyond this are turned away at once rather than left to time out
LESSON_PAIR = ("neutral_actor12.flac", "calm_actor12.flac")  # same actor, same statement (see assets/examples/README.md)
MERGE_NOTE = (
    "Calm and neutral differ mostly in arousal (calm is a little softer and slower), and listeners confuse them too; "
    "merging them sums their probabilities."
)
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
LIMITS_TEXT = """
### Limits of this demo
- The models learned from **acted English speech by few speakers** (RAVDESS: 24 actors, two sentences; TESS: two women).
  Acted emotion is more exaggerated than everyday speech: **your own voice, spontaneous speech, noisy recordings and other
  languages score lower** than the cross-validated numbers above.
- Scores are speaker-independent cross-validation (no speaker in both training and test folds), on these corpora only.
- The model reports what a voice *sounds like*, not what a person feels. Do not use it to make decisions about people.

### Licences
- Code: the project's licence (see the repository).
- Trained weights and the example clips inherit the data's **non-commercial** terms: RAVDESS is CC BY-NC-SA 4.0
  (Livingstone & Russo 2018, PLoS ONE 13(5): e0196391), TESS is CC BY-NC-ND 4.0 (Dupuis & Pichora-Fuller 2010).
- The Whisper-base encoder (OpenAI) is MIT-licensed.
"""
CSS = ".plot-row {min-height: 270px}"


# --- errors: one sentence in the page, never a traceback ---------------------------------------------------------
# Messages are HTML-escaped (gr.Error, gr.Warning and Markdown render HTML; file names and model ids come from users).

def _hub_message(err: Exception) -> str | None:
    """The sentence of a `ser.hub` error (bad id, unreachable Hub, unsafe repo), or None for anything else."""
    try:
        from ser.hub import HubError
    except ImportError:
        return None
    return str(err) if isinstance(err, HubError) else None


def model_ref(choice: str | None, hub_id: str | None) -> str:
    """The Hub id when one is typed, else the chosen shipped model, else the default (one name per model:
    `load_model` caches by name, so the default must not also be loaded as None). Whatever a visitor sends is
    checked by `ser.models.visitor_ref` when it is loaded: never a folder or path on this server."""
    return (hub_id or "").strip() or choice or settings.default_model()


_model_lock = threading.Lock()  # concurrent first requests must not load the same model twice
_ready_models: set[str] = set()
WARM_UP_SECONDS = 1.0


def _load(ref: str):
    """`load_for_visitor` (a shipped model, the default or a Hub id; an unreachable Hub falls back to the cache or the
    default model, with a sentence to show), plus one prediction on noise the first time: models load parts lazily
    (the Whisper encoder)."""
    with _model_lock:
        model, notice = load_for_visitor(ref)
        if model.name not in _ready_models:
            model.predict([np.random.default_rng(0).normal(0, 0.1, int(WARM_UP_SECONDS * SAMPLE_RATE)).astype(np.float32)])
            _ready_models.add(model.name)
        return model, notice


def model_for(choice: str | None, hub_id: str | None):
    """The model to use, loaded once per process; any failure is a `ModelError` sentence."""
    ref = model_ref(choice, hub_id)
    try:
        model, notice = _load(ref)
        if notice:
            gr.Info(html.escape(notice, quote=False))  # e.g. "Hub unreachable; falling back to the embedded default model."
        return model
    except ModelError:
        raise
    except ImportError as err:  # e.g. Hub support missing from this install
        raise ModelError(f"Models from the Hub cannot be loaded here ({err.name or 'a module'} is missing); pick a shipped model.") from None
    except Exception as err:
        message = _hub_message(err) or f"The model {ref!r} could not be loaded ({type(err).__name__}); pick another model."
        raise ModelError(message) from None


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


# --- the Analyse tab -------------------------------------------------------------------------------------------

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


def cv_scores(name: str) -> tuple[dict | None, str]:
    """A model's cross-validated scores and where they come from: the accuracy report, else its own CV report."""
    scores = model_scores(name)
    if scores:
        return scores, f"reports/{ACCURACY_REPORT}"
    own = read_report(f"cv/{name}.json")
    return (own, f"reports/cv/{name}.json") if "uar" in own else (None, "")


# --- the Calm vs neutral tab: computed once per process ------------------------------------------------------------

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


# --- the About tab -------------------------------------------------------------------------------------------------

def about_model(choice: str | None, hub_id: str | None = "") -> str:
    """Model card + cross-validated scores from the report, then the limits and licences."""
    ref = model_ref(choice, hub_id)
    try:
        model_dir = resolve_for_visitor(ref)
    except Exception as err:
        message = str(err) if isinstance(err, ModelError) else _hub_message(err) or f"The model {ref!r} could not be found."
        return f"**{html.escape(message, quote=False)}**\n{LIMITS_TEXT}"
    name = model_dir.name
    card_path = Path(model_dir) / "README.md"
    card = card_path.read_text(encoding="utf-8", errors="replace") if card_path.exists() else f"*{name} has no model card.*"
    card = _demote_headings(_strip_front_matter(card))
    scores, source = cv_scores(name)
    if scores:
        numbers = (f"**Cross-validated (speaker-independent) scores of {name}** from `{source}`: "
                   f"UAR {scores['uar']:.3f}, accuracy {scores['accuracy']:.3f}"
                   + (f", macro-F1 {scores['macro_f1']:.3f}" if "macro_f1" in scores else "")
                   + (f", {scores['n']} clips." if scores.get("n") else "."))
    else:
        numbers = f"*No cross-validated scores for {name} in `reports/{ACCURACY_REPORT}` yet.*"
    return f"{numbers}\n\n---\n\n{card}\n\n---\n{LIMITS_TEXT}"


def _strip_front_matter(card: str) -> str:
    """Hub model cards start with YAML metadata between `---` lines; it is not meant to be read."""
    if card.startswith("---"):
        end = card.find("\n---", 3)
        if end != -1:
            return card[end + 4:].lstrip()
    return card


def _demote_headings(card: str) -> str:
    """Cards start at `#`; two levels down they sit under the tab instead of shouting over it (code blocks untouched)."""
    lines, in_code = [], False
    for line in card.splitlines():
        in_code ^= line.lstrip().startswith("```")
        lines.append(re.sub(r"^(#{1,4}) ", r"##\1 ", line) if not in_code else line)
    return "\n".join(lines)


# --- layout ------------------------------------------------------------------------------------------------------

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


def warm_up() -> None:
    """Load the default model and prepare the lesson tab once the server is up, so the first analysis does not wait."""
    try:
        model_for(None, None)
        lesson_content()
    except Exception:
        log.exception("warm-up failed; the first request will report the problem")


UPLOAD_SWEEP_MAX_S = 60.0  # look for expired uploads at least this often


def sweep_uploads(demo: gr.Blocks, ttl: float) -> None:
    """Forever (a daemon thread): delete users' uploads older than `ttl` seconds. Gradio keeps every upload in
    GRADIO_TEMP_DIR until told otherwise; `delete_cache` would also delete the cached example clips that
    gr.Examples keeps pointing at, and deleting right after a request could remove a concurrent request's file
    (identical uploads share one path), so only files gradio registered as uploads go, once they are old."""
    while True:
        time.sleep(max(1.0, min(UPLOAD_SWEEP_MAX_S, ttl / 2)))
        now = time.time()
        for path in list(demo.upload_file_set):
            try:
                if now - os.path.getctime(path) > ttl:  # a re-upload of the same bytes renews ctime
                    os.remove(path)
                    os.rmdir(os.path.dirname(path))  # its hash folder, unless something else is in it
            except OSError:
                pass
            if not os.path.exists(path):
                demo.upload_file_set.discard(path)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio polls itself at startup; those lines are noise
    with shipped_audio_is_playable(settings.EXAMPLES_DIR):  # no ffprobe of our own clips before the first answer
        demo = build_app()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    demo.launch(
        prevent_thread_lock=True,  # serve first, then warm up: loading torch while starting would delay the page
        server_name=os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST,
        server_port=None,  # gradio reads GRADIO_SERVER_PORT, else the first free port from 7860
        share=False,
        show_error=True,
        max_file_size=int(settings.max_upload_mb() * 1e6),
        ssr_mode=False,
        run_history=False,  # do not keep users' recordings in the browser
        footer_links=["api"],
        allowed_paths=[str(settings.EXAMPLES_DIR)],  # the lesson tab plays the example clips
        css=CSS,
    )
    threading.Thread(target=sweep_uploads, args=(demo, settings.upload_ttl()), daemon=True, name="upload-sweeper").start()
    warm_up()
    start_trimming()  # freed request memory goes back to the system (ser/memory.py)
    demo.block_thread()


if __name__ == "__main__":
    main()
