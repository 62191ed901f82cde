"""The Analyse tab as a person uses it: Debian's Chromium (headless, via Playwright) against `python app.py` with the
shipped default model. Uploads a real RAVDESS clip, records one through Chromium's fake microphone, uploads a text file
named .wav, walks the lesson and About tabs, and teaches it a voice profile; screenshots go to
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

from app_ui.callbacks import ERROR_TITLE
from ser import settings
from ser.teaching import lesson
from ser.audio.load import SAMPLE_RATE, AudioError, load_audio
from ser.evaluation.metrics import model_scores, read_report
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
    # the toast is titled with what happened, not with its level ("Warning"; gradio 6.31 shows no title of its own)
    title = page.locator(".toast-title").first
    assert page.evaluate("(t) => getComputedStyle(t).fontSize", title.element_handle()) == "0px"
    assert page.evaluate("(t) => getComputedStyle(t, '::before').content", title.element_handle()) == f'"{ERROR_TITLE}"'
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
    assert len(shown) == 5, "reports/calm_neutral.json is missing: run python -m train.evaluation.calm_neutral"
    for i in range(len(shown)):
        state = plot_state(page, f"lesson-parameter-{i}")
        assert state["traces"] == 24 + 1 and state["drawn"] > 0, f"lesson figure {i}: {state}"
    sync_api.expect(page.locator("#lesson-confusions")).to_contain_text("of 288 calm and neutral clips")
    # the intro cites nothing the bottom of the page says could not be checked
    assert "could not check" in page.inner_text("#lesson-confusions")
    assert not re.search(r"Livingstone|validation study", page.inner_text("#lesson-top"))
    page.screenshot(path=str(SCREENSHOTS / "calm-vs-neutral.png"), full_page=True)


def test_the_lesson_says_which_mistakes_this_model_makes(page):
    from ser.teaching.lesson import commonest_mistakes
    from ser.evaluation.reports import cv_scores

    page.get_by_role("tab", name="Calm or neutral?").click()
    scores, _ = cv_scores(settings.default_model())
    report = page.locator("#lesson-report")
    sync_api.expect(report).to_contain_text("Which mistakes does this model make?")
    text = report.inner_text()
    for emotion in ("calm", "neutral"):
        heard, n, total = commonest_mistakes(scores, emotion)[0]  # e.g. calm heard as sad 22 of 192, beside 10 as neutral
        assert f"{heard} ({n} of {total}, {n / total:.0%})" in text, (emotion, text)
    if commonest_mistakes(scores, "calm")[0][0] != "neutral":
        assert f"calm is mistaken for {commonest_mistakes(scores, 'calm')[0][0]} more often than for neutral" in text


def test_the_lessons_control_pair_and_both_answers_on_one_scale(page):
    """The pair the model got right is named the control; its held-out and shipped answers share the shipped model's
    (tempered) probability scale, as the Analyse tab's do."""
    from app_ui.lesson import model_name, pairs
    from ser.teaching.pairs import BOTH_RIGHT
    from ser.models import load_model
    from ser.plots import percent
    from ser.evaluation.provenance import with_temperature

    page.get_by_role("tab", name="Calm or neutral?").click()
    index = next(i for i, pair in enumerate(pairs()) if pair.kind == BOTH_RIGHT)
    summary = page.locator("#lesson-summary-a")
    sync_api.expect(summary).to_contain_text("mean pitch")  # the first pair is shown
    first = summary.inner_text()
    page.locator("#lesson-pair label", has_text="(control)").click()
    assert page.locator("#lesson-pair label", has_text="(control)").inner_text().strip() == f"Pair {index + 1} (control)"
    assert f"Pair {index + 1}: the control" in page.inner_text("#lesson-top")
    pair = pairs()[index]
    sync_api.expect(summary).not_to_have_text(first)  # the control pair is shown
    page.click("#lesson-reveal")
    answer = page.locator("#lesson-answer-text")
    sync_api.expect(answer).to_contain_text(f"RAVDESS actor {pair.actor}", timeout=ANALYSE_TIMEOUT_MS)  # a busy CI machine
    row = next(line for line in answer.inner_text().splitlines() if "had not heard" in line)
    temperature = load_model(model_name()).temperature
    for emotion in pair.order():
        raw = pair.clip(emotion).top
        label, prob = with_temperature(pair.clip(emotion), temperature).top
        assert f"{label} {percent(prob)}" in row, row
        if percent(prob) != percent(raw[1]):
            assert f"{raw[0]} {percent(raw[1])}" not in row, row  # not the untempered 100%


def test_reveal_pressed_at_once_shows_the_newly_chosen_pairs_answer(page):
    """A student who picks a pair and presses Reveal before the pair has loaded sees that pair's answer, not the
    previous pair's (nor nothing: the late pair used to hide the answer again)."""
    from app_ui.lesson import KIND_TEXT, pair_name, pairs

    page.get_by_role("tab", name="Calm or neutral?").click()
    sync_api.expect(page.locator("#lesson-summary-a")).to_contain_text("mean pitch")  # the first pair is shown
    second = pairs()[1]
    page.locator("#lesson-pair label", has_text=pair_name(1)).click()
    page.click("#lesson-reveal")  # at once
    answer = page.locator("#lesson-answer-text")
    sync_api.expect(answer).to_contain_text(KIND_TEXT[second.kind].replace("**", ""), timeout=ANALYSE_TIMEOUT_MS)
    sync_api.expect(answer).to_contain_text(f"RAVDESS actor {second.actor}")
    assert KIND_TEXT[pairs()[0].kind] != KIND_TEXT[second.kind]  # else the check above could pass on the first pair


def test_the_lessons_methods_are_behind_a_fold(page):
    page.get_by_role("tab", name="Calm or neutral?").click()
    methods = page.locator("#lesson-methods")
    methods.scroll_into_view_if_needed()
    assert not page.get_by_text("bootstrap confidence interval").first.is_visible()
    methods.get_by_text("How this was measured").click()
    page.get_by_text("bootstrap confidence interval").first.wait_for(state="visible")
    assert "Cohen's d_z" in methods.inner_text() and "not corrected" in methods.inner_text()


WIDTH_SLACK_PX = 4  # a figure's svg is its column's width, less the block's border


def test_lesson_figures_redrawn_while_hidden_fit_their_columns_and_keep_the_actors_axis(page):
    """The flow the tab invites: open the lesson, go back and analyse a clip (the figures gain "your clip" while their
    tab is hidden), return. Every figure fills its column, and its y-axis still spans the actors: a clip beyond them is
    an arrow at the edge (the upload clip is strongly acted: several of its values lie beyond every actor's)."""
    page.get_by_role("tab", name="Calm or neutral?").click()
    plot_state(page, "lesson-parameter-0")
    page.get_by_role("tab", name="Analyse").click()
    upload(page, corpus_clip(UPLOAD_CLIP))
    assert analyse(page) == UPLOAD_EMOTION
    names = lesson.shown_parameters()
    for i in range(len(names)):
        page.wait_for_function(
            """(sel) => { const gd = document.querySelector(sel);
                          return gd && (gd.data || []).some((t) => t.name === 'your clip'); }""",
            arg=f"#lesson-parameter-{i} .js-plotly-plot", timeout=ANALYSE_TIMEOUT_MS)
    page.get_by_role("tab", name="Calm or neutral?").click()
    report = lesson.lesson_report()
    values = lesson.your_clip_values(load_audio(corpus_clip(UPLOAD_CLIP)), names)
    outside = 0
    for i, name in enumerate(names):
        selector = f"#lesson-parameter-{i}"
        fits = f"""() => {{ const block = document.querySelector('{selector}'), svg = block.querySelector('.main-svg');
                            const gap = block.getBoundingClientRect().width - svg.getBoundingClientRect().width;
                            return gap >= 0 && gap <= {WIDTH_SLACK_PX}; }}"""
        page.wait_for_function(fits, timeout=5_000)  # fails at plotly's default 700 px inside a ~400-px column
        layout = page.evaluate(f"() => document.querySelector('{selector} .js-plotly-plot')._fullLayout.yaxis.range")
        low, high = lesson.actor_range(report["parameters"][name])
        assert layout == pytest.approx([low, high]), (name, layout)
        arrows = page.evaluate(f"""() => (document.querySelector('{selector} .js-plotly-plot').layout.annotations || [])
                                           .filter(a => a.showarrow && a.text.startsWith('your clip')).length""")
        beyond = not low <= values[name] <= high
        outside += beyond
        assert arrows == int(beyond), (name, values[name], low, high)
    assert outside >= 1  # the arrow was checked, not only the plain line
    sync_api.expect(page.locator("#lesson-your-clip")).to_contain_text("your clip")
    page.screenshot(path=str(SCREENSHOTS / "calm-vs-neutral-your-clip.png"), full_page=True)


def test_about_tab_shows_the_model_card_and_limits(page):
    from ser.models import load_model
    from ser.evaluation.reports import cv_scores, unseen_corpus_scores

    page.get_by_role("tab", name="About").click()
    about = page.locator("#about-text")
    about.get_by_text("Limits").first.wait_for(state="visible")
    text = about.inner_text()
    assert settings.default_model() in text
    assert "non-commercial" in text
    # the score closest to a visitor's voice (whole corpora it never heard) comes before the in-corpus one
    name = settings.default_model()
    unseen, (scores, _) = unseen_corpus_scores(name), cv_scores(name)
    if unseen and unseen.get("corpora"):
        assert text.index(f"mean UAR {unseen['mean_uar'] * 100:.1f}%") < text.index(f"UAR {scores['uar'] * 100:.1f}%")
    assert ("Whisper-base encoder" in text) == (load_model(None).kind == "whisper_head")
    page.screenshot(path=str(SCREENSHOTS / "about.png"), full_page=True)
    # another model's licences do not name an encoder it does not use
    page.get_by_role("tab", name="Analyse").click()
    page.locator("#model-choice input").click()
    page.get_by_role("option", name="classic-mlp").click()
    page.get_by_role("tab", name="About").click()
    about.locator("h3", has_text="classic-mlp").wait_for(state="visible")
    text = about.inner_text()
    assert "Whisper" not in text[text.index("Licences"):]


# the upload clip's actor reading the other statement in the app's four moods (neutral, happy, sad, angry)
PROFILE_CLIPS = {"neutral": "ravdess/Actor_05/03-01-01-01-02-01-05.flac", "happy": "ravdess/Actor_05/03-01-03-01-02-01-05.flac",
                 "sad": "ravdess/Actor_05/03-01-04-01-02-01-05.flac", "angry": "ravdess/Actor_05/03-01-05-01-02-01-05.flac"}


def record_mood(page, mood: str, path: Path) -> str:
    """Upload `path` as the profile's `mood` recording (the panel's recorders open on the microphone); the progress row."""
    page.click(f"#profile-{mood} button[aria-label='Upload file']")
    with page.expect_response(lambda r: "/gradio_api/upload" in r.url and r.status == 200):
        page.set_input_files(f"#profile-{mood} input[type=file]", str(path))
    return page.locator("#profile-status").inner_text()


def open_profile_panel(page) -> None:
    page.get_by_text("Teach it your voice (optional)").first.click()
    page.locator("#profile-sentence").wait_for(state="visible")


def test_a_voice_profile_gives_both_answers_and_can_be_forgotten(page, labels):
    open_profile_panel(page)
    for i, (mood, clip) in enumerate(PROFILE_CLIPS.items()):
        record_mood(page, mood, corpus_clip(clip))
        page.wait_for_function(f"() => document.querySelector('#profile-status').innerText.includes('{mood}') && "
                               f"!document.querySelector('#profile-status').innerText.split('still to record')[1]?.includes('{mood}')",
                               timeout=ANALYSE_TIMEOUT_MS)
    assert "Profile in use" in page.inner_text("#profile-status")
    upload(page, corpus_clip(UPLOAD_CLIP))
    assert analyse(page) in labels
    compare = page.locator("#profile-compare")
    compare.wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    text = compare.inner_text()
    assert re.search(r"With your voice profile \(4 clips\): \w+ \d+%.* · without it: \w+ \d+%", text), text
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SCREENSHOTS / "analyse-profile.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the recorders two by two must still be usable
    for mood in PROFILE_CLIPS:
        box = page.locator(f"#profile-{mood}").bounding_box()
        assert box["width"] >= 150 and box["x"] >= 0 and box["x"] + box["width"] <= 390, (mood, box)
    page.screenshot(path=str(SCREENSHOTS / "analyse-profile-phone.png"), full_page=True)
    page.click("#profile-forget")
    page.get_by_text("Profile forgotten").wait_for(state="visible")
    page.click("#analyse-button")
    page.wait_for_function("() => !document.querySelector('#profile-compare') || "
                           "!document.querySelector('#profile-compare').innerText.includes('With your voice profile')",
                           timeout=ANALYSE_TIMEOUT_MS)


def test_a_recording_that_cannot_serve_gets_one_sentence_and_the_others_stay(page, tmp_path):
    short = tmp_path / "short.wav"
    t = np.arange(int(0.6 * SAMPLE_RATE)) / SAMPLE_RATE
    sf.write(short, (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), SAMPLE_RATE)
    open_profile_panel(page)
    record_mood(page, "neutral", corpus_clip(PROFILE_CLIPS["neutral"]))
    page.wait_for_function("() => document.querySelector('#profile-status').innerText.startsWith('Recorded: neutral')",
                           timeout=ANALYSE_TIMEOUT_MS)
    record_mood(page, "happy", short)
    page.get_by_text("The happy recording is 0.6 s long").wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
    status = page.inner_text("#profile-status")
    assert "Recorded: neutral · still to record: happy, sad, angry" in status and "Traceback" not in page.content()
    upload(page, corpus_clip(UPLOAD_CLIP))  # one mood is not a profile: the answer comes without it, and says why
    analyse(page)
    page.get_by_text("needs at least 2 moods recorded").wait_for(state="visible", timeout=ANALYSE_TIMEOUT_MS)
