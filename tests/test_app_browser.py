"""The Analyse tab as a person uses it: Debian's Chromium (headless, via Playwright) against `python app.py` with the
shipped default model. Uploads a real RAVDESS clip, records one through Chromium's fake microphone, uploads a text file
named .wav, walks the lesson and About tabs, and calibrates to a reference voice; screenshots go to
test-output/screenshots/. The class-in-front-of-the-page and phone tests: tests/test_app_browser_classroom.py.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright import sync_api

from ser import lesson, settings
from ser.audio import SAMPLE_RATE, AudioError, load_audio
from ser.metrics import model_scores, read_report
from ser.models import resolve
from ser.models.base import read_config

from tests.browser_page import (ANALYSE_TIMEOUT_MS, FEATURE_PLOTS, RECORD_S, SCREENSHOTS, UPLOAD_CLIP, UPLOAD_EMOTION,
                                analyse, corpus_clip, plot_state, upload)
from tests.browser_page import browser, labels, mic_wav, page  # noqa: F401 (fixtures: pytest finds them here)


def test_uploaded_clip_gets_label_bars_and_feature_plots(page, labels):
    upload(page, corpus_clip(UPLOAD_CLIP))
    top = analyse(page)
    assert top in labels
    assert top == UPLOAD_EMOTION
    gender_labels = read_config(resolve(None)).get("gender_labels")
    if gender_labels:  # the model has a gender head: the page shows its guess in one line
        assert any(f"sounds {g} (" in page.inner_text("#gender-line") for g in gender_labels)
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
    assert plot_state(page, "waveform-plot")["drawn"] > 0
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
    page.get_by_role("tab", name="Calm or neutral?").click()
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
    page.get_by_role("tab", name="Calm or neutral?").click()
    for i in range(len(lesson.shown_parameters())):
        page.wait_for_function(
            """(sel) => { const gd = document.querySelector(sel);
                          return gd && (gd.data || []).some((t) => t.name === 'your clip'); }""",
            arg=f"#lesson-parameter-{i} .js-plotly-plot", timeout=ANALYSE_TIMEOUT_MS)
    sync_api.expect(page.locator("#lesson-your-clip")).to_contain_text("your clip")
    page.screenshot(path=str(SCREENSHOTS / "calm-vs-neutral-your-clip.png"), full_page=True)


def test_about_tab_shows_the_model_card_and_limits(page):
    page.get_by_role("tab", name="About").click()
    about = page.locator("#about-text")
    about.get_by_text("Limits").first.wait_for(state="visible")
    text = about.inner_text()
    assert settings.default_model() in text
    assert "non-commercial" in text
    page.screenshot(path=str(SCREENSHOTS / "about.png"), full_page=True)


REFERENCE_CLIP = "ravdess/Actor_05/03-01-01-01-01-01-05.flac"  # the upload clip's actor, reading neutrally


def set_reference(page, path: Path) -> str:
    """Open the "Calibrate to my voice" panel, upload `path` as the reference and return the panel's sentence."""
    page.get_by_text("Calibrate to my voice (optional)").first.click()
    page.click("#reference-input button[aria-label='Upload file']")  # the panel opens on the microphone
    with page.expect_response(lambda r: "/gradio_api/upload" in r.url and r.status == 200):
        page.set_input_files("#reference-input input[type=file]", str(path))
    page.click("#reference-use")
    said = page.locator("#reference-status").get_by_text(re.compile(r"^(Reference set|The reference recording)"))
    said.wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    return said.inner_text().strip()


def test_a_reference_recording_is_used_for_the_next_clip_and_can_be_forgotten(page, labels):
    said = set_reference(page, corpus_clip(REFERENCE_CLIP))
    assert said.startswith("Reference set (") and "judged relative to it" in said
    upload(page, corpus_clip(UPLOAD_CLIP))
    assert analyse(page) in labels
    assert "judged relative to your reference recording" in page.inner_text("#status")
    config = read_config(resolve(None))
    if (config.get("unsure_threshold") or 0) >= 1.0:  # no confidence was right more often than wrong on unseen corpora
        assert page.inner_text("#headline").startswith("Unsure; closest to")
    page.screenshot(path=str(SCREENSHOTS / "analyse-reference.png"), full_page=True)
    page.click("#reference-forget")
    page.get_by_text("Reference forgotten").wait_for(state="visible")
    page.click("#analyse-button")
    page.wait_for_function("() => !document.querySelector('#status').innerText.includes('reference recording')",
                           timeout=ANALYSE_TIMEOUT_MS)


def test_a_too_short_reference_gets_one_sentence_and_nothing_is_kept(page, tmp_path):
    short = tmp_path / "short.wav"
    t = np.arange(int(0.8 * SAMPLE_RATE)) / SAMPLE_RATE
    sf.write(short, (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), SAMPLE_RATE)
    said = set_reference(page, short)
    assert said == ("The reference recording is 0.8 s long; read the whole sentence (at least 2 s). "
                    "The analysis goes on without it.")
    assert "Traceback" not in page.content()
    upload(page, corpus_clip(UPLOAD_CLIP))
    analyse(page)
    assert "reference" not in page.inner_text("#status")
