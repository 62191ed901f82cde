"""The "Teach it your voice" panel: a visitor reads one sentence four ways (neutral, happy, sad, angry), and the default
model then scores their clips relative to the average of those four, their voice profile (`ser.profile`), showing the
answer with the profile beside the answer without it.

The recordings are decoded and kept only in the visitor's session state (gr.State lives in the server's memory per
browser session and is dropped with it). Their uploaded files stay in gradio's upload folder only so that each can be
replayed, until *Forget all* deletes them or the app's upload sweep does (app.py, `SER_UPLOAD_TTL_SECONDS`).
"""

from __future__ import annotations

import html
import os

import gradio as gr

from ser import settings
from ser.profile import MIN_PROFILE_CLIPS, PROFILE_MOODS, PROFILE_SENTENCE, ProfileError, profile_clip

EXPLANATION = (
    "**Teach it your voice (optional).** Voices, microphones and rooms differ more than emotions do, so a model that never "
    "heard you mistakes your everyday voice for an emotion. Read the sentence below once in each mood (2-6 s each, "
    "microphone or upload). The model then judges your clips by how they differ from the average of the four, and shows "
    "the answer with your profile beside the answer without it. The profile stays in this browser session only; the "
    f"uploaded recordings are deleted from the server when you press *Forget all*, at the latest {settings.upload_ttl() / 60:g} "
    "minutes after upload."
)
MOOD_HINTS = {"neutral": "as you would read a timetable", "happy": "as if it were great news",
              "sad": "as if it were bad news", "angry": "as if it made you furious"}


def progress_line(recorded: dict) -> str:
    """Which moods are recorded: the progress row under the four recorders (words, not symbols: every font has them)."""
    done = [mood for mood in PROFILE_MOODS if mood in recorded]
    missing = [mood for mood in PROFILE_MOODS if mood not in recorded]
    row = (f"**Recorded:** {', '.join(done) or 'none yet'}"
           + (f" · **still to record:** {', '.join(missing)}" if missing else ""))
    if not done:
        state = "No profile yet: clips are judged on their own."
    elif len(done) < MIN_PROFILE_CLIPS:
        state = f"Record at least {MIN_PROFILE_CLIPS} moods to use a profile."
    elif missing:
        state = f"Profile in use with {len(done)} of {len(PROFILE_MOODS)} moods; all four make it more reliable."
    else:
        state = "Profile in use: your next clips are judged relative to it."
    return f"{row}\n\n{state}"


def build_profile_panel():
    """The panel's components; returns the session state holding {mood: samples} of the recordings that can serve."""
    state = gr.State({})
    with gr.Accordion("Teach it your voice (optional)", open=False, elem_id="profile-panel"):
        gr.Markdown(EXPLANATION)
        gr.Markdown(f"### “{PROFILE_SENTENCE}”", elem_id="profile-sentence")
        recorders = []
        for pair in (PROFILE_MOODS[:2], PROFILE_MOODS[2:]):  # two by two: four in a row are too narrow to use
            with gr.Row(equal_height=True):
                for mood in pair:
                    recorders.append(gr.Audio(sources=["microphone", "upload"], type="filepath", min_width=200,
                                              label=f"{PROFILE_MOODS.index(mood) + 1}. {mood.capitalize()}: {MOOD_HINTS[mood]}",
                                              elem_id=f"profile-{mood}"))
        status = gr.Markdown(progress_line({}), elem_id="profile-status")
        forget = gr.Button("Forget all", size="sm", elem_id="profile-forget")
    for mood, recorder in zip(PROFILE_MOODS, recorders):
        # a finished recording or upload is checked; the recorder's own clear button (x) redoes that mood
        for event in (recorder.stop_recording, recorder.upload):
            event(lambda path, recorded, mood=mood: set_mood(mood, path, recorded), [recorder, state],
                  [state, status, recorder], api_visibility="private")
        recorder.clear(lambda recorded, mood=mood: clear_mood(mood, recorded), [state], [state, status],
                       api_visibility="private", queue=False)
    forget.click(forget_all, recorders, [state, status, *recorders], api_visibility="private", queue=False)
    return state


def set_mood(mood: str, path: str | None, recorded: dict):
    """Check one recording and keep its samples in the session; one sentence if it cannot serve (the others stay)."""
    recorded = dict(recorded or {})
    if not path:
        return recorded, progress_line(recorded), gr.skip()
    try:
        recorded[mood] = profile_clip(path, f"The {mood} recording")
    except ProfileError as err:
        recorded.pop(mood, None)
        _delete(path)
        return recorded, f"{html.escape(str(err), quote=False)}\n\n{progress_line(recorded)}", None
    return recorded, progress_line(recorded), gr.skip()


def clear_mood(mood: str, recorded: dict):
    recorded = {m: w for m, w in (recorded or {}).items() if m != mood}
    return recorded, progress_line(recorded)


def forget_all(*paths):
    for path in paths:
        _delete(path)
    return ({}, "Profile forgotten: clips are judged on their own.", *(None for _ in paths))


def _delete(path: str | None) -> None:
    if path:
        try:
            os.remove(path)  # nothing of it stays on the server's disk
        except OSError:
            pass
