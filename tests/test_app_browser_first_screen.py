"""What a visitor meets first and what a class questions (issue 41): at 1280x900 the recorder, Analyse and the examples
are on screen with the options folded away; the examples say what they are and a click analyses one; every model in
the picker either says when it is unsure and when a voice is unlike its training, or is labelled "not calibrated";
a long recording's timeline is a band of the top emotion (the eight lines on demand) and says when the voice is unlike
the training; gender is one secondary line. Chromium via Playwright, as in tests/test_app_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import soundfile as sf
from playwright import sync_api

from ser.audio.load import SAMPLE_RATE

from tests.test_shipped_calibration import robot_voice
from tests.browser_page import ANALYSE_TIMEOUT_MS, SCREENSHOTS, opened_page, plot_state, upload
from tests.browser_page import browser, mic_wav, page  # noqa: F401 (fixtures: pytest finds them here)

FIRST_SCREEN = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def robot_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("robot") / "robot.wav"
    sf.write(path, robot_voice(3.0), SAMPLE_RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def long_robot(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("robot-long") / "robot-long.wav"
    sf.write(path, robot_voice(14.0, seed=1), SAMPLE_RATE, subtype="PCM_16")
    return path


@pytest.fixture
def first_screen(browser, app_url):
    with opened_page(browser, app_url, FIRST_SCREEN) as page:
        yield page


def on_first_screen(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= FIRST_SCREEN["height"]


def test_the_first_screen_has_the_recorder_analyse_and_named_examples_and_options_folded(first_screen):
    from app_ui.layout import example_clips, example_label
    from ser.models import resolve
    from ser.models.base import read_config

    page = first_screen
    for selector in ("#audio-input", "#analyse-button"):
        assert on_first_screen(page, page.locator(selector)), f"{selector} is below the fold at 1280x900"
    examples = page.locator("#examples button")
    names = [text.strip() for text in examples.all_inner_texts()]
    assert names == [example_label(p) for p in example_clips()]
    assert all(re.fullmatch(r"[a-z]+, actor \d+", name) for name in names), names
    assert {name.split(",")[0] for name in names} == set(read_config(resolve(None))["labels"])  # all eight emotions
    assert all(on_first_screen(page, examples.nth(i)) for i in range(examples.count())), "an example is below the fold"
    for folded in ("#hub-id", "#limits", "#merge"):  # the options wait in their fold
        assert not page.locator(folded).is_visible(), folded
    page.screenshot(path=str(SCREENSHOTS / "first-screen-1280.png"))
    page.locator("#options").get_by_text("Options").click()
    for unfolded in ("#hub-id", "#limits", "#merge"):
        sync_api.expect(page.locator(unfolded)).to_be_visible()
    examples.filter(has_text=re.compile(r"^angry, actor 5$")).click()  # a click analyses it
    origin = page.locator("#origin")
    origin.wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    assert "actor 5, asked to sound angry" in origin.inner_text()


def test_guess_first_numbers_the_examples_so_their_names_do_not_give_the_vote_away(first_screen):
    page = first_screen
    page.click("#guess-first input")
    sync_api.expect(page.locator("#examples button").first).to_have_text("Clip 1")
    assert all(re.fullmatch(r"Clip \d+", t.strip()) for t in page.locator("#examples button").all_inner_texts())
    page.click("#guess-first input")
    sync_api.expect(page.locator("#examples button").first).not_to_have_text("Clip 1")


def test_the_picker_labels_uncalibrated_models_and_a_calibrated_one_doubts_a_robot(first_screen, robot_clip):
    from app_ui.models import NOT_CALIBRATED, is_calibrated
    from ser.models import local_models

    page = first_screen
    page.locator("#model-choice input").click()
    options = [t.replace("✓", "").strip() for t in page.get_by_role("option").all_inner_texts()]  # the chosen one is ticked
    for name in local_models():  # every shipped model: the default's honesty signals, or a label saying it lacks them
        assert (name in options) if is_calibrated(name) else (f"{name} ({NOT_CALIBRATED})" in options), (name, options)
    assert is_calibrated("classic-mlp")
    page.get_by_role("option", name="classic-mlp").click()
    upload(page, robot_clip)
    page.click("#analyse-button")
    sync_api.expect(page.locator("#status")).to_contain_text("Model classic-mlp", timeout=ANALYSE_TIMEOUT_MS)
    headline = page.inner_text("#headline")
    assert "unlike every clip the model learned from" in headline, headline  # not a bare "angry 100%"
    label_percent = int(page.locator("#emotion-label .confidence").first.inner_text().strip().rstrip("%"))
    assert label_percent < 90  # tempered
    assert "On voices it never heard, this answer was right for" in page.inner_text("#bars-caption")
    plot_state(page, "bars")
    page.screenshot(path=str(SCREENSHOTS / "first-screen-classic-robot.png"), full_page=True)


def test_gender_is_one_secondary_line_that_says_what_it_learned_from(first_screen, robot_clip):
    page = first_screen
    upload(page, robot_clip)
    page.click("#analyse-button")
    line = page.locator("#gender-line")
    line.wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    text = line.inner_text()
    assert re.search(r"sounds (female|male) \((\d+)%\)", text) and "17% of them male voices" in text, text
    assert int(re.search(r"\((\d+)%\)", text).group(1)) < 100  # calibrated: not "100%" for a robot
    assert page.locator("#gender-label").count() == 0  # no second big label beside the emotion
    size = lambda sel: float(page.evaluate(f"() => parseFloat(getComputedStyle(document.querySelector('{sel}')).fontSize)"))  # noqa: E731
    assert size("#gender-line small") < size("#emotion-label [data-testid=label-output-value]")
    box, answer = line.bounding_box(), page.locator("#emotion-label").bounding_box()
    assert box["height"] < 80 and box["y"] >= answer["y"] + answer["height"] - 1  # one line, under the answer


def test_a_long_recording_is_a_band_of_the_top_emotion_with_lines_on_demand_and_the_unlike_note(first_screen, long_robot):
    page = first_screen
    upload(page, long_robot)
    page.click("#analyse-button")
    page.locator("#headline").wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    assert "unlike every clip the model learned from" in page.inner_text("#headline")
    plot_state(page, "timeline")
    band = page.evaluate("""() => { const gd = document.querySelector('#timeline .js-plotly-plot');
        return gd.data.map(t => ({type: t.type, opacity: t.marker && t.marker.opacity})); }""")
    assert band and all(t["type"] == "bar" for t in band), band  # a band, not eight tangled lines
    opacities = [o for t in band for o in t["opacity"]]
    assert all(0.1 <= o <= 1 for o in opacities) and len(set(opacities)) > 1  # confidence as opacity
    page.screenshot(path=str(SCREENSHOTS / "analyse-long-band.png"), full_page=True)
    page.click("#timeline-lines input")
    page.wait_for_function("""() => { const gd = document.querySelector('#timeline .js-plotly-plot');
        return gd && gd.data.filter(t => t.type === 'scatter').length === 8; }""", timeout=ANALYSE_TIMEOUT_MS)
    assert page.evaluate("() => document.querySelector('#timeline .js-plotly-plot').data.some(t => t.type === 'bar')")
    page.locator("#timeline").screenshot(path=str(SCREENSHOTS / "analyse-long-band-and-lines.png"))
