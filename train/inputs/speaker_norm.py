"""Speaker-level normalisation of the pooled encoder features, in training and in the cross-validation's test folds.

Three ways to know a speaker's voice, each subtracted from their clips' pooled vectors before the head:
- `speaker`: the mean over all their clips (and, for augmented copies, over all their copies of that kind, since a
  slower or reverberant copy is another voice). Needs many clips of mixed emotions from one person: a long recording.
- `reference`: the mean over their neutral clips (calm where the corpus has no neutral, as TurEV-DB): what the app's
  "calibrate to my voice" recording gives. In a test fold `reference_clips` such clips of each speaker are the
  reference and are not scored; a speaker without one is scored by the plain head.
- `profile`: the mean over a few of their clips in a mix of moods (one clip per mood): what the app's "Teach it your
  voice" panel and `ser predict --profile DIR` give (`ser.profile`). Training draws such profiles at random, several per
  speaker (`training_profiles`); a test fold uses one clip of each of the corpus's emotions per speaker who has at least
  two of each (`fold_profiles`), and those clips are not scored. Speakers whose clips do not mix moods teach nothing here.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ser.evaluation.corpora import Record
from ser.profile import app_moods

MODES = ("none", "speaker", "reference", "profile")


def reference_emotion(emotions: set[str]) -> str | None:
    """The emotion whose clips stand for a speaker's everyday voice in a corpus that has these emotions."""
    return "neutral" if "neutral" in emotions else "calm" if "calm" in emotions else None


def _groups(records: list[Record], kinds: list[str]) -> dict[tuple[str, str], list[int]]:
    groups = defaultdict(list)
    for i, (record, kind) in enumerate(zip(records, kinds)):
        groups[(record.speaker, kind)].append(i)
    return groups


def training_offsets(records: list[Record], kinds: list[str], vectors: np.ndarray, mode: str,
                     known: dict[str, set[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Per training row, the vector it is normalised by, and which rows have one (under `reference`, speakers
    without a neutral or calm clip drop out of the normalised head's training)."""
    offsets = np.zeros_like(vectors)
    has = np.zeros(len(records), dtype=bool)
    for (speaker, _), rows in _groups(records, kinds).items():
        if mode == "speaker":
            chosen = rows
        else:
            anchor = reference_emotion(known[records[rows[0]].corpus])
            chosen = [i for i in rows if records[i].emotion == anchor]
        if chosen:
            offsets[rows] = vectors[chosen].mean(axis=0)
            has[rows] = True
    return offsets, has


def fold_offsets(records: list[Record], vectors: np.ndarray, mode: str, known: dict[str, set[str]],
                 reference_clips: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the clips of a test fold: the offsets, which clips have one, and which clips served as a reference
    (those are not scored). References are drawn at random (seeded) among each speaker's neutral (or calm) clips."""
    offsets = np.zeros_like(vectors)
    has = np.zeros(len(records), dtype=bool)
    is_reference = np.zeros(len(records), dtype=bool)
    rng = np.random.default_rng(seed)
    for (speaker, _), rows in sorted(_groups(records, [""] * len(records)).items()):
        if mode == "speaker":
            chosen = rows
        else:
            anchor = reference_emotion(known[records[rows[0]].corpus])
            candidates = [i for i in rows if records[i].emotion == anchor]
            if len(candidates) < reference_clips:
                continue
            chosen = sorted(rng.choice(candidates, size=reference_clips, replace=False).tolist())
            is_reference[chosen] = True
        offsets[rows] = vectors[chosen].mean(axis=0)
        has[rows] = True
    return offsets, has & ~is_reference, is_reference


def corpus_weights(records: list[Record]) -> np.ndarray:
    """Sample weights giving every corpus the same total weight: TESS's 2 speakers do not outweigh RAVDESS's 24."""
    corpora = [r.corpus for r in records]
    counts = {c: corpora.count(c) for c in set(corpora)}
    return np.array([1.0 / (counts[c] * len(counts)) for c in corpora]) * len(records)


# --- voice profiles: a few clips of one speaker in mixed moods ---------------------------------------------------------
MIN_PROFILE_MOODS = 3  # a speaker whose clips show fewer emotions has no mixed-mood profile (URDU's speakers)
APP_MOODS_SHARE = 0.5  # half the training profiles hold the app's own moods, the rest a random mix of the speaker's


def _by_emotion(records: list[Record], rows: list[int]) -> dict[str, list[int]]:
    moods = defaultdict(list)
    for i in rows:
        moods[records[i].emotion].append(i)
    return moods


def draw_profile(moods: dict[str, list[int]], rng: np.random.Generator) -> list[int]:
    """One training profile: one clip of each of a few moods. Half the time the app's moods (those the speaker has; calm
    stands in for neutral where the corpus has no neutral), else a random subset of 3 or more of the speaker's moods."""
    app = app_moods(moods)
    if rng.random() < APP_MOODS_SHARE and len(app) >= MIN_PROFILE_MOODS:
        chosen = app
    else:
        names = sorted(moods)
        chosen = list(rng.choice(names, size=int(rng.integers(MIN_PROFILE_MOODS, len(names) + 1)), replace=False))
    return [int(rng.choice(moods[m])) for m in chosen]


def training_profiles(records: list[Record], kinds: list[str], vectors: np.ndarray, draws: int,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows for the profile head: `draws` times, each speaker's clips (and each kind of copy apart, since a slower or
    reverberant copy is another voice) minus a profile drawn at random from them (`draw_profile`), the profile's own
    clips left out. Returns (row index into `records`, profile-normalised vector) for every such row."""
    rng = np.random.default_rng(seed)
    index, normalised = [], []
    groups = sorted(_groups(records, kinds).items())
    for _ in range(draws):
        for _, rows in groups:
            moods = _by_emotion(records, rows)
            if len(moods) < MIN_PROFILE_MOODS:
                continue
            profile = draw_profile(moods, rng)
            scored = [i for i in rows if i not in set(profile)]
            index.extend(scored)
            normalised.append(vectors[scored] - vectors[profile].mean(axis=0))
    return np.array(index, dtype=int), (np.concatenate(normalised) if normalised else np.zeros((0, vectors.shape[1])))


def profile_eligible(records: list[Record], rows: list[int], emotions: set[str], min_per_mood: int = 2) -> bool:
    """The protocol's test speakers: at least `min_per_mood` clips of every emotion their corpus has, so one clip per
    emotion can make the profile and each emotion still has a clip to score."""
    moods = _by_emotion(records, rows)
    return all(len(moods.get(e, [])) >= min_per_mood for e in emotions)


def fold_profiles(records: list[Record], vectors: np.ndarray, known: dict[str, set[str]], moods: str = "all",
                  size: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the clips of a test fold: each clip's speaker profile, which clips are scored with one, and which clips made a
    profile (not scored). Only speakers with two clips of every emotion of their corpus take part (`profile_eligible`);
    their profile is one clip (seeded) of each emotion of the corpus (`moods="all"`, the protocol) or of the app's moods
    (`"app"`), of which the first `size` only (0: all) for a partial profile."""
    offsets = np.zeros_like(vectors)
    has = np.zeros(len(records), dtype=bool)
    in_profile = np.zeros(len(records), dtype=bool)
    rng = np.random.default_rng(seed)
    for _, rows in sorted(_groups(records, [""] * len(records)).items()):
        emotions = known[records[rows[0]].corpus]
        if not profile_eligible(records, rows, emotions):
            continue
        by_mood = _by_emotion(records, rows)
        wanted = sorted(emotions) if moods == "all" else app_moods(emotions)
        chosen = [int(rng.choice(sorted(by_mood[m]))) for m in wanted]
        chosen = chosen[:size] if size else chosen
        offsets[rows] = vectors[chosen].mean(axis=0)
        has[rows] = True
        in_profile[chosen] = True
    return offsets, has & ~in_profile, in_profile
