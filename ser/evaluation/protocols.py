"""Evaluation protocols: which clips train and which clips test in each fold.

- `ravdess6`: 6-fold actor-disjoint CV on RAVDESS (actors 1-4, 5-8, ..., 21-24 are the test folds); the recipe's other
  corpora only ever train. The project's in-corpus protocol since the start.
- `emobox`: the same, on EmoBox's RAVDESS folds (Ma et al. 2024, "EmoBox"), so in-corpus numbers compare with that
  benchmark's published ones (mean of the folds' UAR).
- `loco`: leave one corpus out. Each of LOCO_CORPORA is tested by a model trained on the recipe's other corpora, and each
  TEST_ONLY corpus by a model trained on all of them: every test clip comes from a corpus (speakers, sentences, language,
  microphone) the model never heard. This is what a visitor's own voice is closest to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ser.evaluation.corpora import RAVDESS_FOLDS, Record, ravdess_fold

PROTOCOLS = ("ravdess6", "emobox", "loco")
LOCO_CORPORA = ("ravdess", "tess", "urdu", "turev")  # held out in turn
# ASED states no licence: evaluation and research only, so it never trains a model (../shared/data/README.md)
TEST_ONLY_CORPORA = ("ased",)
UNSEEN_CORPORA = LOCO_CORPORA + TEST_ONLY_CORPORA
# EmoBox's RAVDESS test actors per fold (EmoBox data/ravdess/fold_*), in its fold order
EMOBOX_FOLDS = ((1, 11, 20, 21), (4, 10, 12, 14), (8, 9, 19, 23), (3, 5, 7, 24), (2, 15, 16, 18), (6, 13, 17, 22))
# what EmoBox published for frozen encoders on these folds (UA, mean over folds), to read our rows against
EMOBOX_PUBLISHED = {"Whisper-large-v3": 0.753, "WavLM-large": 0.720, "HuBERT-large": 0.700}


class ProtocolError(ValueError):
    """A protocol name that does not exist, or a fold with nothing to train on."""


@dataclass(frozen=True)
class Fold:
    """One train/test split: `name` says what is tested ('actors 01-04', 'urdu'); indices into the records."""

    name: str
    train: np.ndarray
    test: np.ndarray


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ProtocolError(f"Unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}.")
    return protocol


def protocol_corpora(protocol: str, train_corpora: Iterable[str]) -> list[str]:
    """The corpora a protocol reads: the recipe's own, plus every unseen test corpus under LOCO."""
    corpora = list(dict.fromkeys(train_corpora))
    if check_protocol(protocol) == "loco":
        corpora += [c for c in UNSEEN_CORPORA if c not in corpora]
    return corpora


def _actor(record: Record) -> int | None:
    return int(record.speaker.split("-")[1]) if record.corpus == "ravdess" else None


def emobox_fold(record: Record) -> int | None:
    """EmoBox test fold (0-5) of a RAVDESS clip; None for other corpora, which only ever train."""
    actor = _actor(record)
    return next((k for k, actors in enumerate(EMOBOX_FOLDS) if actor in actors), None)


def _actor_folds(records: list[Record], fold_of, names: list[str], train_corpora: set[str]) -> list[Fold]:
    folds = np.array([-1 if (k := fold_of(r)) is None else k for r in records])
    trains = np.array([r.corpus in train_corpora for r in records], dtype=bool)
    return [Fold(name, np.flatnonzero((folds != k) & trains), np.flatnonzero(folds == k)) for k, name in enumerate(names)]


def folds(protocol: str, records: list[Record], train_corpora: Iterable[str] | None = None) -> list[Fold]:
    """The folds of `protocol` over `records`; only clips of `train_corpora` (default: every corpus in the records but
    the test-only ones) are ever trained on. No speaker is on both sides of any fold."""
    check_protocol(protocol)
    present = list(dict.fromkeys(r.corpus for r in records))
    train_corpora = set(train_corpora if train_corpora is not None else [c for c in present if c not in TEST_ONLY_CORPORA])
    if protocol == "ravdess6":
        names = [f"actors {4 * k + 1:02d}-{4 * k + 4:02d}" for k in range(RAVDESS_FOLDS)]
        return _actor_folds(records, lambda r: ravdess_fold(r.speaker), names, train_corpora)
    if protocol == "emobox":
        names = ["actors " + " ".join(f"{a:02d}" for a in actors) for actors in EMOBOX_FOLDS]
        return _actor_folds(records, emobox_fold, names, train_corpora)
    corpus = np.array([r.corpus for r in records])
    out = []
    for held_out in [c for c in UNSEEN_CORPORA if c in present]:
        train = np.flatnonzero(np.isin(corpus, sorted(train_corpora - {held_out})))
        if not train.size:
            raise ProtocolError(f"Leaving {held_out} out leaves nothing to train on; add corpora to the recipe.")
        out.append(Fold(held_out, train, np.flatnonzero(corpus == held_out)))
    return out


def corpus_emotions(records: Iterable[Record]) -> dict[str, set[str]]:
    """The emotions each corpus has (in these records): a corpus without calm has not shown that calm is impossible."""
    found: dict[str, set[str]] = {}
    for r in records:
        found.setdefault(r.corpus, set()).add(r.emotion)
    return found


def allowed_labels_mask(records: list[Record], labels: Iterable[str], known: dict[str, set[str]] | None = None) -> np.ndarray:
    """[clips, labels] booleans: True where the clip's corpus has the label. Training losses mask the others out, so a
    corpus without calm (TESS, URDU, ASED) or without neutral (TurEV-DB) does not teach that those labels never occur."""
    known = known or corpus_emotions(records)
    labels = list(labels)
    return np.array([[label in known[r.corpus] for label in labels] for r in records], dtype=bool)
