"""The app as a person uses it: Debian's Chromium (headless, via Playwright) against `python app.py` with the shipped default model.

Uploads a real RAVDESS clip, records one through Chromium's fake microphone, uploads a text file named .wav, and
screenshots each tab to test-output/screenshots/.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright import sync_api

from ser import lesson, settings
from ser.audio import AudioError, load_audio
from ser.metrics import model_scores, read_report
from ser.models import resolve
from ser.models.base import read_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# A strongly acted clip the shipped default model gets right with high confidence (whisper-head: angry 0.99 when chosen).
UPLOAD_CLIP, UPLOAD_EMOTION = "ravdess/Actor_05/03-01-05-02-01-01-05.flac", "angry"
MIC_CLIP = "ravdess/Actor_08/03-01-03-02-01-01-08.flac"  # played by the fake microphone
MIC_RATE = 48000  # what a real microphone delivers
RECORD_S = 3.5
SCREENSHOTS = settings.PROJECT_ROOT / "test-output" / "screenshots"
ANALYSE_TIMEOUT_MS = 120_000
FEATURE_PLOTS = ("bars", "waveform", "spectrogram", "mel", "mfcc")


def corpus_clip(name: str) -> Path:
    path = settings.data_dir() / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need the shared corpora (set SER_DATA_DIR)")
    return path


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory) -> Path:
    """A real clip as a 48-kHz 16-bit WAV, which Chromium's fake capture device plays in a loop."""
    import soxr

    wave = load_audio(corpus_clip(MIC_CLIP))
    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    sf.write(path, soxr.resample(wave, 16000, MIC_RATE).astype(np.float32), MIC_RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(mic_wav):
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run `apt-get install -y chromium` (the Makefile does this).")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    args = CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                            f"--use-file-for-fake-audio-capture={mic_wav}"]
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, permissions=["microphone"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(app_url)
    page.wait_for_selector("#analyse-button")
    yield page
    context.close()


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return list(read_config(resolve(None))["labels"])


def upload(page, path: Path) -> None:
    with page.expect_response(lambda r: "/gradio_api/upload" in r.url and r.status == 200):
        page.set_input_files("#audio-input input[type=file]", str(path))


def analyse(page) -> str:
    """Press Analyse and return the top label's text once it is shown."""
    page.click("#analyse-button")
    top = page.locator("#emotion-label [data-testid=label-output-value]")
    top.wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    return top.inner_text().strip()


def plot_state(page, elem_id: str) -> dict:
    """How many data traces the plotly figure in `#elem_id` has, and how many it drew."""
    selector = f"#{elem_id} .js-plotly-plot"
    page.wait_for_selector(selector, timeout=ANALYSE_TIMEOUT_MS)
    return page.evaluate(
        """(sel) => { const gd = document.querySelector(sel);
                      return {traces: (gd.data || []).length,
                              drawn: gd.querySelectorAll('.cartesianlayer .trace, .cartesianlayer .hm').length}; }""",
        selector,
    )


def test_uploaded_clip_gets_label_bars_and_feature_plots(page, labels):
    upload(page, corpus_clip(UPLOAD_CLIP))
    top = analyse(page)
    assert top in labels
    assert top == UPLOAD_EMOTION
    gender_labels = read_config(resolve(None)).get("gender_labels")
    if gender_labels:  # the model has a gender head: the page shows it
        assert page.inner_text("#gender-label [data-testid=label-output-value]").strip() in gender_labels
    for elem_id in FEATURE_PLOTS:
        state = plot_state(page, elem_id)
        assert state["traces"] > 0 and state["drawn"] > 0, f"#{elem_id} has no drawn data: {state}"
    assert "analysed in" in page.inner_text("#status")
    page.screenshot(path=str(SCREENSHOTS / "analyse-upload.png"), full_page=True)


def test_microphone_recording_is_analysed(page, labels):
    page.click("#audio-input button[aria-label='Record audio']")
    page.get_by_role("button", name="Record", exact=True).click()
    time.sleep(RECORD_S)  # the fake device plays the clip; this is the length of the recording
    with page.expect_response(lambda r: "/gradio_api/upload" in r.url and r.status == 200):
        page.locator("#audio-input button:visible", has_text="Stop").first.click()
    top = analyse(page)
    assert top in labels
    assert plot_state(page, "waveform")["drawn"] > 0
    page.screenshot(path=str(SCREENSHOTS / "analyse-microphone.png"), full_page=True)


def test_unreadable_file_shows_one_sentence(page, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("these are meeting notes, not audio")
    with pytest.raises(AudioError) as expected:
        load_audio(bad)
    upload(page, bad)
    page.click("#analyse-button")
    page.get_by_text(str(expected.value)).first.wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    # the status box keeps the sentence after the toast fades (it may still show "processing" when the toast appears)
    sync_api.expect(page.locator("#status")).to_contain_text(str(expected.value), timeout=ANALYSE_TIMEOUT_MS)
    assert "Traceback" not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "analyse-bad-file.png"), full_page=True)
    # the page still works afterwards
    page.click("#audio-input button[aria-label='Clear']")
    upload(page, corpus_clip(UPLOAD_CLIP))
    assert analyse(page) == UPLOAD_EMOTION


def test_calm_vs_neutral_tab(page):
    page.get_by_role("tab", name="Calm vs neutral").click()
    state = plot_state(page, "pitch-energy")
    assert state["traces"] == 4 and state["drawn"] > 0  # pitch and energy of both clips
    name = settings.default_model()
    if model_scores(name) or "confusion" in read_report(f"cv/{name}.json"):  # the app shows either report
        assert plot_state(page, "confusion")["drawn"] > 0
    else:
        page.get_by_text("No cross-validated report").wait_for(state="visible")
    # every actor measured (reports/calm_neutral.json): one line per actor and the class means, per parameter
    shown = lesson.shown_parameters()
    assert len(shown) == 5, "reports/calm_neutral.json is missing: run python -m train.calm_neutral"
    for i in range(len(shown)):
        state = plot_state(page, f"lesson-parameter-{i}")
        assert state["traces"] == 24 + 1 and state["drawn"] > 0, f"lesson figure {i}: {state}"
    sync_api.expect(page.locator("#lesson-confusions")).to_contain_text("of 288 calm and neutral clips")
    page.screenshot(path=str(SCREENSHOTS / "calm-vs-neutral.png"), full_page=True)


def test_lesson_puts_the_analysed_clip_on_the_actors_axes(page):
    upload(page, corpus_clip(UPLOAD_CLIP))
    assert analyse(page) == UPLOAD_EMOTION
    page.get_by_role("tab", name="Calm vs neutral").click()
    for i in range(len(lesson.shown_parameters())):
        page.wait_for_function(
            """(sel) => { const gd = document.querySelector(sel);
                          return gd && (gd.data || []).some((t) => t.name === 'your clip'); }""",
            arg=f"#lesson-parameter-{i} .js-plotly-plot", timeout=ANALYSE_TIMEOUT_MS)
    sync_api.expect(page.locator("#lesson-your-clip")).to_contain_text("your clip")
    page.screenshot(path=str(SCREENSHOTS / "calm-vs-neutral-your-clip.png"), full_page=True)


def test_about_tab_shows_the_model_card_and_limits(page):
    page.get_by_role("tab", name="About the model").click()
    about = page.locator("#about-text")
    about.get_by_text("Limits").first.wait_for(state="visible")
    text = about.inner_text()
    assert settings.default_model() in text
    assert "non-commercial" in text
    page.screenshot(path=str(SCREENSHOTS / "about.png"), full_page=True)
