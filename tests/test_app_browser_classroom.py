"""The app in front of a class and on a phone: the examples' honest note, guess-first, the lesson's reveal, a mixed
recording's headline, error toasts, switching models, and the page at 390x844 (Chromium via Playwright, as in
tests/test_app_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright import sync_api

from ser import settings
from ser.audio.load import SAMPLE_RATE, AudioError, load_audio
from ser.labels import EMOTIONS

from tests.browser_page import ANALYSE_TIMEOUT_MS, SCREENSHOTS, corpus_clip, plot_state, upload
from tests.browser_page import browser, mic_wav, page  # noqa: F401 (fixtures: pytest finds them here)


# --- a class in front of the page -----------------------------------------------------------------------------------

LESSON_NEUTRAL_CLIP = "03-01-01-01-02-02-07"  # the lesson's neutral clip the cross-validated model heard as calm


def click_example(page, stem: str) -> None:
    """Click the example of `stem`: named by what it is ("angry, actor 5"), or numbered while guess-first is on."""
    from app_ui.layout import example_clips, example_labels

    paths = example_clips()
    index = [Path(p).stem for p in paths].index(stem)
    hidden = page.locator("#guess-first input").is_checked()
    page.locator("#examples button", has_text=re.compile(rf"^{re.escape(example_labels(paths, hidden)[index])}$")).click()


def test_examples_are_named_and_a_click_analyses_and_says_the_actor_was_heard(page):
    from ser.plots import percent
    from ser.evaluation.reports import held_out_predictions

    labels = page.locator("#examples button").all_inner_texts()
    assert "neutral, actor 7" in [text.strip() for text in labels], labels
    click_example(page, LESSON_NEUTRAL_CLIP)
    origin = page.locator("#origin")
    origin.wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    text = origin.inner_text()
    assert "This is a RAVDESS recording: actor 7, asked to sound neutral." in text
    from ser.models import load_model
    from ser.evaluation.provenance import with_temperature

    # shown as the shipped model would show it: at the temperature it was calibrated with
    held = with_temperature(held_out_predictions(settings.default_model())[LESSON_NEUTRAL_CLIP], load_model(None).temperature)
    assert held.top[0] == "calm"
    assert f"held out\t{held.top[0]} {percent(held.top[1])}" in text  # the table row, as the browser reads it
    shown = page.inner_text("#emotion-label [data-testid=label-output-value]").strip()
    assert shown == "neutral"  # the shipped model has heard this very clip
    label_percent = page.locator("#emotion-label .confidence").first.inner_text().strip()
    plot_state(page, "bars")
    bar_text = page.evaluate("""() => { const gd = document.querySelector('#bars .js-plotly-plot');
                                        const bar = gd.data[0]; return bar.text[bar.y.indexOf('neutral')]; }""")
    assert bar_text == label_percent  # the label and the bar show the same rounded number
    page.screenshot(path=str(SCREENSHOTS / "analyse-example-honest-note.png"), full_page=True)


def test_guess_first_hides_the_answer_until_reveal(page):
    page.click("#guess-first input")
    click_example(page, "03-01-05-02-02-01-05")
    page.locator("#reveal-button").wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    prompt = page.inner_text("#guess-panel")
    assert all(emotion in prompt for emotion in EMOTIONS), prompt  # the eight to vote among
    assert plot_state(page, "waveform-plot")["drawn"] > 0  # the signal is there to look at...
    for hidden in ("#emotion-label", "#origin", "#bars"):  # ...the answer is not
        assert not page.locator(hidden).is_visible(), hidden
    page.screenshot(path=str(SCREENSHOTS / "analyse-guess-first.png"), full_page=True)
    page.click("#reveal-button")
    page.locator("#emotion-label [data-testid=label-output-value]").wait_for(state="visible")
    assert "asked to sound angry" in page.inner_text("#origin")
    assert not page.locator("#reveal-button").is_visible()


def test_the_lesson_hides_which_clip_is_calm_until_reveal(page):
    from ser.teaching.pairs import lesson_pairs
    from ser.evaluation.reports import calm_neutral_count, cv_scores

    page.get_by_role("tab", name="Calm or neutral?").click()
    plot_state(page, "pitch-energy")
    sync_api.expect(page.locator("#lesson-summary-a")).to_contain_text("mean pitch")
    assert "pitch range" in page.inner_text("#lesson-summary-b")
    assert not page.locator("#lesson-answer-text").is_visible()
    count, total = calm_neutral_count(cv_scores(settings.default_model())[0])
    assert f"{count} of {total}" in page.inner_text("#lesson-report")
    page.click("#lesson-reveal")
    answer = page.locator("#lesson-answer-text")
    answer.wait_for(state="visible")
    pair = lesson_pairs(settings.default_model())[0]
    first, second = pair.order()
    text = answer.inner_text()
    assert f"Clip A is {first}, clip B is {second} (RAVDESS actor {pair.actor})." in text
    assert f"had not heard actor {pair.actor}" in text and "What the plots show." in text
    page.screenshot(path=str(SCREENSHOTS / "calm-vs-neutral-revealed.png"), full_page=True)
    page.locator("#lesson-pair label", has_text="Pair 2").click()  # the next pair starts hidden again
    sync_api.expect(answer).to_be_hidden()


MIXED_PARTS = ["ravdess/Actor_05/03-01-05-02-01-01-05.flac", "ravdess/Actor_05/03-01-05-02-02-01-05.flac",
               "ravdess/Actor_15/03-01-04-02-01-01-15.flac", "ravdess/Actor_15/03-01-04-02-02-01-15.flac"]


@pytest.fixture(scope="module")
def mixed_recording(tmp_path_factory) -> Path:
    """Two angry sentences then two sad ones (~16 s): a recording no single emotion sums up."""
    pause = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    wave = np.concatenate([np.concatenate([load_audio(corpus_clip(name)), pause]) for name in MIXED_PARTS])
    path = tmp_path_factory.mktemp("mixed") / "meeting.wav"
    sf.write(path, wave, SAMPLE_RATE, subtype="PCM_16")
    return path


def test_a_mixed_recording_is_headlined_as_mixed_with_the_time_each_emotion_held(page, mixed_recording):
    upload(page, mixed_recording)
    page.click("#analyse-button")
    headline = page.locator("#headline")
    headline.wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    text = headline.inner_text()
    assert text.startswith("Mixed recording") and "angry" in text and "sad" in text and "of speech" in text
    assert page.locator("#emotion-label [data-testid=label-output-value]").count() == 0  # no single emotion as the title
    assert "one per stretch of speech" in page.inner_text("#timeline-caption")  # RAVDESS sentences: shorter than 3 s
    assert "speaking time each emotion held" in page.inner_text("#bars-caption")
    assert plot_state(page, "timeline")["drawn"] > 0
    page.screenshot(path=str(SCREENSHOTS / "analyse-mixed-recording.png"), full_page=True)


def test_error_toasts_do_not_pile_up(page, tmp_path):
    first, second = tmp_path / "notes.wav", tmp_path / "quiet.wav"
    first.write_text("these are meeting notes, not audio")
    sf.write(second, np.zeros(2 * SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE, subtype="PCM_16")
    messages = []
    for bad in (first, second):
        with pytest.raises(AudioError) as expected:
            load_audio(bad)
        messages.append(str(expected.value))
        upload(page, bad)
        page.click("#analyse-button")
        sync_api.expect(page.locator("#status")).to_contain_text(messages[-1], timeout=ANALYSE_TIMEOUT_MS)
        page.click("#audio-input button[aria-label='Clear']")
    toasts = page.locator("[data-testid=toast-body]")
    sync_api.expect(toasts.get_by_text(messages[1])).to_be_visible()
    assert not toasts.get_by_text(messages[0]).is_visible()


def test_switching_the_model_reanalyses_the_clip_and_a_missing_gender_head_is_said(page):
    click_example(page, "03-01-05-02-02-01-05")
    sync_api.expect(page.locator("#status")).to_contain_text(f"Model {settings.default_model()}", timeout=ANALYSE_TIMEOUT_MS)
    page.locator("#model-choice input").click()
    page.get_by_role("option", name="classic-mlp").click()
    sync_api.expect(page.locator("#status")).to_contain_text("Model classic-mlp", timeout=ANALYSE_TIMEOUT_MS)
    sync_api.expect(page.locator("#gender-line")).to_contain_text("classic-mlp has no gender output")


# --- a phone ------------------------------------------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}


def assert_title_readable(page, elem_id: str) -> None:
    """The plot's title lies on the screen, and neither plotly's toolbar (shown by a tap) nor the legend covers it."""
    plot_state(page, elem_id)
    page.locator(f"#{elem_id}").scroll_into_view_if_needed()
    title = page.locator(f"#{elem_id} .gtitle").bounding_box()
    assert title and title["x"] >= 0 and title["x"] + title["width"] <= PHONE["width"], (elem_id, title)
    page.locator(f"#{elem_id} .js-plotly-plot .nsewdrag").first.tap()  # a tap shows plotly's toolbar, if it is there
    page.wait_for_timeout(200)
    covered = page.evaluate("""(sel) => {
        const t = document.querySelector(sel + ' .gtitle').getBoundingClientRect();
        const over = r => r.width > 0 && r.left < t.right && t.left < r.right && r.top < t.bottom && t.top < r.bottom;
        const buttons = [...document.querySelectorAll(sel + ' .modebar-btn')].filter(
            b => getComputedStyle(b.closest('.modebar-group')).opacity > 0);
        return [...buttons, ...document.querySelectorAll(sel + ' .legend .traces')].some(e => over(e.getBoundingClientRect())); }""",
        f"#{elem_id}")
    assert not covered, f"the plot toolbar or legend covers #{elem_id}'s title"


def test_the_page_reads_on_a_phone(browser, app_url, mixed_recording):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(app_url)
        page.wait_for_selector("#analyse-button")
        for name in ("Analyse", "Calm or neutral?", "About"):  # every tab in the bar, none behind an overflow menu
            box = page.get_by_role("tab", name=name).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (name, box)
        assert not page.locator(".overflow-menu").is_visible()
        upload(page, mixed_recording)
        page.click("#analyse-button")
        page.locator("#headline").wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
        for elem_id in ("bars", "timeline", "waveform-plot", "spectrogram", "mel", "mfcc"):
            assert_title_readable(page, elem_id)
        table = page.locator("#segments")
        fits = page.evaluate("""() => [...document.querySelectorAll('#segments table')].every(
                                    t => t.getBoundingClientRect().right <= window.innerWidth + 1)""")
        assert table.is_visible() and fits, "the segment table runs off the screen"
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
        page.screenshot(path=str(SCREENSHOTS / "phone-analyse-mixed.png"), full_page=True)
        for name, tab in (("Calm or neutral?", "calm-neutral"), ("About", "about")):
            page.get_by_role("tab", name=name).click()
            page.wait_for_timeout(300)
            if tab == "calm-neutral":
                for elem_id in ("lesson-mel-a", "lesson-mel-b", "pitch-energy", "confusion"):
                    assert_title_readable(page, elem_id)
            assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], name
            page.screenshot(path=str(SCREENSHOTS / f"phone-{tab}.png"), full_page=True)
    finally:
        context.close()
