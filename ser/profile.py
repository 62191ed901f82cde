"""A speaker's voice profile ("Teach it your voice"): the average of what a few of their recordings, in a mix of moods,
sound like to the model. Their other clips are then scored relative to it, so the same voice, microphone and room
weigh less in the answer and what differs from their usual range weighs more.

Why mixed moods: the average of one speaker's clips is their voice's centre only when those clips span several moods;
one neutral clip, or a speaker heard in one mood, is not (docs/experiments.md, "voice profile"). The app asks for one
sentence read four ways (PROFILE_MOODS); `python -m ser predict --profile DIR` takes a folder of one speaker's clips.
The profile lives in the visitor's session only, and no label is needed for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ser.audio.load import AUDIO_SUFFIXES, SAMPLE_RATE, AudioError, load_audio

PROFILE_MOODS = ("neutral", "happy", "sad", "angry")  # what the app asks a visitor to read; training draws the same
PROFILE_SENTENCE = "The bus to the station leaves at half past nine, and the next one comes an hour later."
MIN_PROFILE_CLIP_S = 1.0  # shorter is too little speech to stand for a voice in a mood
MAX_PROFILE_CLIP_S = 30.0  # the encoder's window; longer clips are likely to hold several moods of their own
MIN_PROFILE_CLIPS = 2  # a "profile" of one clip is that clip's mood, not the voice's centre
SPEAKER_FOLDER_MIN_CLIPS = 5  # --speaker-folders: a folder with fewer clips is scored without a profile


def app_moods(available) -> list[str]:
    """The app's moods among `available` emotions, calm standing in for neutral where there is no neutral (TurEV-DB):
    what a speaker of a corpus can give as the app's profile. Training and the protocol draw profiles this way."""
    return [m if m in available else "calm" for m in PROFILE_MOODS
            if m in available or (m == "neutral" and "calm" in available)]


class ProfileError(ValueError):
    """A recording or a set of recordings that cannot serve as a voice profile; the message is one sentence."""


@dataclass(frozen=True)
class VoiceProfile:
    """What a speaker's profile recordings sound like to one model: the mean of their pooled encoder statistics (`vector`),
    how many clips it averages, and how different those clips are from each other (`spread`, in the model's z-units)."""

    vector: np.ndarray
    clips: int
    spread: float

    @property
    def description(self) -> str:
        """What the CLI's `profile` column and the app's status line say about it."""
        return f"{self.clips} clip{'s' if self.clips != 1 else ''}"


def profile_clip(source: str | Path | np.ndarray, name: str = "The recording") -> np.ndarray:
    """One profile recording as 16-kHz samples; ProfileError (one sentence) when unreadable, silent, too short or too long."""
    try:
        wave = load_audio(source) if not isinstance(source, np.ndarray) else source
    except AudioError as err:
        raise ProfileError(f"{name} cannot be used for your voice profile: {err}") from None
    seconds = wave.size / SAMPLE_RATE
    if seconds < MIN_PROFILE_CLIP_S:
        raise ProfileError(f"{name} is {seconds:.1f} s long; read the whole sentence (at least {MIN_PROFILE_CLIP_S:g} s).")
    if seconds > MAX_PROFILE_CLIP_S:
        raise ProfileError(f"{name} is {seconds:.0f} s long; one sentence of at most {MAX_PROFILE_CLIP_S:g} s is enough.")
    return wave


def check_model(model) -> None:
    if not getattr(model, "supports_profile", False):
        raise ProfileError(f"The model {model.name} cannot use a voice profile (only models trained with one can, such as "
                           "the default model); its answers are given without it.")


def build_profile(waves: list[np.ndarray], model) -> VoiceProfile:
    """The profile of one speaker from `waves` (already checked by `profile_clip`); ProfileError when the model has no
    profile head or fewer than MIN_PROFILE_CLIPS clips are given."""
    check_model(model)
    if len(waves) < MIN_PROFILE_CLIPS:
        raise ProfileError(f"A voice profile needs at least {MIN_PROFILE_CLIPS} recordings in different moods; "
                           f"{len(waves)} {'was' if len(waves) == 1 else 'were'} given.")
    vectors = model.clip_statistics(waves)
    return VoiceProfile(vector=vectors.mean(axis=0), clips=len(waves), spread=model.profile_spread(vectors))


def profile_from_folder(folder: str | Path, model) -> tuple[VoiceProfile, list[str]]:
    """The profile from every audio file in `folder` (not its sub-folders) and one sentence per file that could not serve.
    ProfileError when the folder does not exist or fewer than MIN_PROFILE_CLIPS files can serve."""
    check_model(model)  # before reading anything: no recordings can help a model without a profile head
    folder = Path(folder)
    if not folder.is_dir():
        raise ProfileError(f"The voice-profile folder {folder} does not exist; give a folder of one speaker's recordings.")
    waves, skipped = [], []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith('.')):
        try:
            waves.append(profile_clip(path, path.name))
        except ProfileError as err:
            skipped.append(str(err))
    if len(waves) < MIN_PROFILE_CLIPS:
        raise ProfileError(f"The voice-profile folder {folder} has {len(waves)} usable recording{'s' if len(waves) != 1 else ''}; "
                           f"give at least {MIN_PROFILE_CLIPS} of the same speaker in different moods.")
    return build_profile(waves, model), skipped


def profile_notes(profile: VoiceProfile, model) -> list[str]:
    """What to say about a profile before trusting it: too few moods (with what that was measured to cost), or clips so
    alike that they are probably one mood read several times."""
    notes = []
    info = model.config.get("profile", {})
    min_spread = info.get("min_spread")
    if min_spread is not None and profile.spread < min_spread:
        notes.append("Your profile recordings sound almost the same: read them in clearly different moods (neutral, happy, "
                     "sad, angry), or the profile mostly tells the model what one mood sounds like.")
    partial = info.get("partial_uar", {})
    full = partial.get(str(len(PROFILE_MOODS)))
    if profile.clips < len(PROFILE_MOODS) and str(profile.clips) in partial and full is not None:
        notes.append(f"With {profile.clips} of {len(PROFILE_MOODS)} moods recorded, the profile is less reliable: on voices it "
                     f"never heard it scored {partial[str(profile.clips)]:.0%} UAR against {full:.0%} with all {len(PROFILE_MOODS)}.")
    return notes
