"""The shared pieces of the browser tests: Debian's Chromium (headless, via Playwright) with a fake microphone playing
a real clip, a page on `python app.py` (the session's app server, tests/conftest.py), and the steps a person takes on it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright import sync_api

from bench.browser import CHROMIUM, CHROMIUM_ARGS, MISSING
from ser import settings
from ser.audio.load import load_audio
from ser.models import resolve
from ser.models.base import read_config

# A strongly acted clip the shipped default model gets right with high confidence (whisper-head: angry 0.99 when chosen).
UPLOAD_CLIP, UPLOAD_EMOTION = "ravdess/Actor_05/03-01-05-02-01-01-05.flac", "angry"
MIC_CLIP = "ravdess/Actor_08/03-01-03-02-01-01-08.flac"  # played by the fake microphone
MIC_RATE = 48000  # what a real microphone delivers
RECORD_S = 3.5
SCREENSHOTS = settings.PROJECT_ROOT / "test-output" / "screenshots"
ANALYSE_TIMEOUT_MS = 120_000
FEATURE_PLOTS = ("bars", "waveform-plot", "spectrogram", "mel", "mfcc")


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
        pytest.fail(MISSING)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    args = CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                            f"--use-file-for-fake-audio-capture={mic_wav}"]
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield chromium
        chromium.close()


@contextlib.contextmanager
def opened_page(browser, app_url: str, viewport: dict, **context_args):
    """The app's page in a fresh browser context of `viewport`, once its Analyse button is there."""
    context = browser.new_context(viewport=viewport, **context_args)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(app_url)
        page.wait_for_selector("#analyse-button")
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, app_url):
    with opened_page(browser, app_url, {"width": 1400, "height": 1000}, permissions=["microphone"]) as page:
        yield page


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
