"""Speaker-level normalisation of the pooled encoder features, in training and in the cross-validation's test folds.

Two ways to know a speaker's voice, each subtracted from their clips' pooled vectors before the head:
- `speaker`: the mean over all their clips (and, for augmented copies, over all their copies of that kind, since a
  slower or reverberant copy is another voice). Needs many clips of mixed emotions from one person: a long recording.
- `reference`: the mean over their neutral clips (calm where the corpus has no neutral, as TurEV-DB): what the app's
  "calibrate to my voice" recording gives. In a test fold `reference_clips` such clips of each speaker are the
  reference and are not scored; a speaker without one is scored by the plain head.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ser.corpora import Record

MODES = ("none", "speaker", "reference")


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
