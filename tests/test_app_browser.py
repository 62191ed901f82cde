"""The app as a person uses it: Debian's Chromium (headless, via Playwright) against `python app.py` with the shipped default model.

Uploads a real RAVDESS clip, records one through Chromium's fake microphone, uploads a text file named .wav, clicks the
examples (honest note, guess-first), walks the calm-or-neutral lesson, uploads a mixed recording, switches models,
and lays the page out on a 390x844 phone; screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from playwright import sync_api

from bench.browser import CHROMIUM, CHROMIUM_ARGS, MISSING
from ser import lesson, settings
from ser.audio import SAMPLE_RATE, AudioError, load_audio
from ser.metrics import model_scores, read_report
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


# --- a class in front of the page -----------------------------------------------------------------------------------

LESSON_NEUTRAL_CLIP = "03-01-01-01-02-02-07"  # the lesson's neutral clip the cross-validated model heard as calm


def click_example(page, stem: str) -> None:
    """Click the example showing `stem` (labelled "Example N": the label must not give the answer away)."""
    from app_ui.layout import example_clips

    names = [Path(p).stem for p in example_clips()]
    page.locator("#examples button", has_text=re.compile(rf"^Example {names.index(stem) + 1}$")).click()


def test_examples_are_neutrally_labelled_and_a_click_analyses_and_says_the_actor_was_heard(page):
    from ser.plots import percent
    from ser.reports import held_out_predictions

    labels = page.locator("#examples button").all_inner_texts()
    assert labels and all(re.fullmatch(r"Example \d+", text.strip()) for text in labels), labels
    click_example(page, LESSON_NEUTRAL_CLIP)
    origin = page.locator("#origin")
    origin.wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    text = origin.inner_text()
    assert "This is a RAVDESS recording: actor 7, asked to sound neutral." in text
    from ser.models import load_model
    from ser.provenance import with_temperature

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
    assert plot_state(page, "waveform-plot")["drawn"] > 0  # the signal is there to look at...
    for hidden in ("#emotion-label", "#origin", "#bars"):  # ...the answer is not
        assert not page.locator(hidden).is_visible(), hidden
    page.screenshot(path=str(SCREENSHOTS / "analyse-guess-first.png"), full_page=True)
    page.click("#reveal-button")
    page.locator("#emotion-label [data-testid=label-output-value]").wait_for(state="visible")
    assert "asked to sound angry" in page.inner_text("#origin")
    assert not page.locator("#reveal-button").is_visible()


def test_the_lesson_hides_which_clip_is_calm_until_reveal(page):
    from ser.calm_neutral_pairs import lesson_pairs
    from ser.reports import calm_neutral_count, cv_scores

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
    sync_api.expect(page.locator("#gender-note")).to_contain_text("classic-mlp has no gender output")
    assert not page.locator("#gender-label").is_visible()


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
