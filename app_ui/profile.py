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
import numpy as np

from ser import settings
from ser.profile import (MIN_PROFILE_CLIPS, PROFILE_MOODS, PROFILE_SENTENCE, ProfileError, VoiceProfile, build_profile,
                         profile_clip)

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


class Recordings:
    """The session's profile recordings, {mood: samples}, and the profile built from them per model: built on the first
    analysis after a change and reused for the next ones (an update makes a new object, so a stale profile is never
    used). A profile costs one encoder pass per recording, more than the analysed clip itself."""

    def __init__(self, waves: dict[str, np.ndarray] | None = None):
        self.waves = dict(waves or {})
        self._built: dict[tuple, VoiceProfile] = {}

    def __contains__(self, mood: str) -> bool:
        return mood in self.waves

    def __len__(self) -> int:
        return len(self.waves)

    def with_mood(self, mood: str, wave: np.ndarray | None) -> "Recordings":
        """A copy with `mood` recorded as `wave` (or without it, for None)."""
        waves = {m: w for m, w in self.waves.items() if m != mood}
        return Recordings(waves | ({mood: wave} if wave is not None else {}))

    def profile_for(self, model) -> VoiceProfile:
        """The profile of these recordings for `model` (ser.profile.build_profile; ProfileError when it cannot serve)."""
        key = (model.name, str(getattr(model, "model_dir", "")))
        if key not in self._built:
            self._built[key] = build_profile([self.waves[m] for m in PROFILE_MOODS if m in self.waves], model)
        return self._built[key]


def progress_line(recorded: Recordings) -> str:
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
    """The panel's components; returns the session state (`Recordings`) of the recordings that can serve."""
    state = gr.State(Recordings())
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
        status = gr.Markdown(progress_line(Recordings()), elem_id="profile-status")
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


def set_mood(mood: str, path: str | None, recorded: Recordings):
    """Check one recording and keep its samples in the session; one sentence if it cannot serve (the others stay)."""
    recorded = recorded or Recordings()
    if not path:
        return recorded, progress_line(recorded), gr.skip()
    try:
        recorded = recorded.with_mood(mood, profile_clip(path, f"The {mood} recording"))
    except ProfileError as err:
        recorded = recorded.with_mood(mood, None)
        _delete(path)
        return recorded, f"{html.escape(str(err), quote=False)}\n\n{progress_line(recorded)}", None
    return recorded, progress_line(recorded), gr.skip()


def clear_mood(mood: str, recorded: Recordings):
    recorded = (recorded or Recordings()).with_mood(mood, None)
    return recorded, progress_line(recorded)


def forget_all(*paths):
    for path in paths:
        _delete(path)
    return (Recordings(), "Profile forgotten: clips are judged on their own.", *(None for _ in paths))


def _delete(path: str | None) -> None:
    if path:
        try:
            os.remove(path)  # nothing of it stays on the server's disk
        except OSError:
            pass
