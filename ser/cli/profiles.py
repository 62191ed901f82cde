"""The command line's voice profiles (`ser.profile`): which profile, if any, each input file is scored with.

- `--profile DIR`: a folder of one speaker's recordings in mixed moods; their average serves every input.
- `--speaker-folders`: each folder that holds inputs is one speaker, and the average of its own clips is that speaker's
  profile (archives organised by speaker). A folder with fewer than SPEAKER_FOLDER_MIN_CLIPS readable clips is scored
  without one. Its clips are encoded twice (once for the profile, once to be scored): about twice the time.
A profile that cannot serve is a ProfileError: the command stops with its sentence and a non-zero exit status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ser.profile import (SPEAKER_FOLDER_MIN_CLIPS, ProfileError, build_profile, check_model, profile_clip, profile_from_folder,
                         profile_notes)

NO_PROFILE = "none"  # the `profile` column of a row scored without one


@dataclass
class ProfileChoice:
    """What one input is scored with: the profile's vector (None: plain) and what the `profile` column says."""

    vector: np.ndarray | None = None
    text: str = NO_PROFILE


PLAIN = ProfileChoice()  # one object for every file scored without a profile: a batch need not break between them


@dataclass
class Profiles:
    """The profile of every input file, and what the run's summary says about them."""

    by_folder: dict[str, ProfileChoice] = field(default_factory=dict)
    shared: ProfileChoice | None = None  # --profile DIR: the same for every file
    notes: list[str] = field(default_factory=list)

    def for_file(self, path: str) -> ProfileChoice:
        if self.shared is not None:
            return self.shared
        return self.by_folder.get(str(Path(path).parent), PLAIN)


def shared_profile(model, folder: str) -> Profiles:
    """--profile DIR; ProfileError when the model has no profile head or the folder cannot serve."""
    profile, skipped = profile_from_folder(folder, model)
    notes = [f"Voice profile from {profile.clips} recording(s) in {folder}; every file is scored relative to it."]
    notes += [f"Left out of the profile: {s}" for s in skipped] + profile_notes(profile, model)
    return Profiles(shared=ProfileChoice(profile.vector, f"{folder} ({profile.description})"), notes=notes)


def speaker_folder_profiles(model, files: list[str]) -> Profiles:
    """--speaker-folders: one profile per folder holding input files, from the files themselves."""
    check_model(model)
    folders: dict[str, list[str]] = {}
    for path in files:
        folders.setdefault(str(Path(path).parent), []).append(path)
    profiles, plain, warned = Profiles(), [], 0
    for folder, paths in folders.items():
        waves = []
        for path in paths:
            try:
                waves.append(profile_clip(path, Path(path).name))
            except ProfileError:
                continue  # the file itself gets its error row when it is scored
        if len(waves) < SPEAKER_FOLDER_MIN_CLIPS:
            plain.append(folder)
            continue
        profile = build_profile(waves, model)
        profiles.by_folder[folder] = ProfileChoice(profile.vector, f"{folder} ({profile.description})")
        warned += profile.spread < model.config.get("profile", {}).get("min_spread", 0.0)
    profiles.notes.append(f"Speaker folders: {len(profiles.by_folder)} of {len(folders)} scored with their own profile"
                          + (f"; {len(plain)} with fewer than {SPEAKER_FOLDER_MIN_CLIPS} usable clips scored without one"
                             f" ({', '.join(plain[:3])}{', ...' if len(plain) > 3 else ''})" if plain else "") + ".")
    if warned:
        profiles.notes.append(f"{warned} folder(s) hold clips that sound almost the same (probably one mood): their "
                              "profile mostly says what that mood sounds like.")
    return profiles
