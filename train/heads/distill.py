"""Soft targets from the Whisper head, for distilling it into the ResNet18 (knowledge distillation, Hinton et al. 2015).

A model's probabilities on its own training clips are nearly one-hot, so they teach nothing a label does not. Each
RAVDESS training clip's soft target therefore comes from a Whisper head that never heard its speaker (cross-fitting):
the training actors are split into the CV's actor groups, and a head fitted on the other groups (with the same copies
and regularisation as `train.heads.whisper`) scores each group. TESS clips keep their one-hot label: they are always in
the heads' training data, and TESS has no calm clips to confuse.

Only training uses the teacher: the ResNet it trains reads log-mels alone, like any other ResNet.
"""

from __future__ import annotations

import time

import numpy as np

from ser.evaluation.corpora import Record, actor_folds
from ser.labels import EMOTIONS
from train.inputs.augment import chosen_copies
from train.heads.whisper import HeadArguments, training_rows
from train.inputs.whisper_states import feature_table


class WhisperTeacher:
    """Pooled Whisper-base states of every clip (and of the head's training copies), computed or read from the cache once."""

    def __init__(self, records: list[Record], args: HeadArguments | None = None, log=print):
        self.args, self.log = args or HeadArguments(), log
        tick = time.perf_counter()
        self.original = feature_table(records, quantiles=self.args.quantiles, dtype=self.args.dtype)
        ravdess = [r for r in records if r.corpus == "ravdess"]
        self.copies = [feature_table(ravdess, name, quantiles=self.args.quantiles, dtype=self.args.dtype)
                       for name in chosen_copies(self.args.augment)]
        log(f"teacher: pooled Whisper states of {len(records)} clips (+{len(self.copies)} copies) in {time.perf_counter() - tick:.0f} s")

    def _rows(self, records: list[Record]) -> tuple[np.ndarray, np.ndarray]:
        rows = training_rows(self.original, self.copies, records)
        return np.stack([vector for (vector, _), _ in rows]), np.array([EMOTIONS.index(r.emotion) for _, r in rows])

    def soft_targets(self, train: list[Record]) -> np.ndarray:
        """[len(train), 8] emotion probabilities: cross-fitted Whisper-head outputs for RAVDESS clips, one-hot for the rest."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        tick = time.perf_counter()
        labels = np.array([EMOTIONS.index(r.emotion) for r in train])
        targets = np.eye(len(EMOTIONS))[labels]
        # not train.heads.whisper.fit_head (which also fits gender and builds a model): emotion only, and warm-started,
        # each group's head starting from the previous one's weights (their fitting data differ by one actor group)
        head = LogisticRegression(C=self.args.c, max_iter=3000, warm_start=True)
        for fit_idx, score_idx in actor_folds(train):
            if len(score_idx) == 0:  # the CV's own test actors are not in `train`
                continue
            x, y = self._rows([train[i] for i in fit_idx])
            scaler = StandardScaler().fit(x)
            head.fit(scaler.transform(x), y)
            if len(head.classes_) != len(EMOTIONS):
                raise ValueError("distillation needs every emotion in the training clips outside each RAVDESS actor group "
                                 "(calm comes only from RAVDESS): train on more RAVDESS actors, or without --distill")
            scored = np.stack([self.original[train[i].path][0] for i in score_idx])
            targets[score_idx] = head.predict_proba(scaler.transform(scored))
        ravdess = np.array([r.corpus == "ravdess" for r in train])
        if not ravdess.any():
            self.log("teacher: no RAVDESS clips to distil; every target is its label")
            return targets
        right = targets[ravdess].argmax(axis=1) == labels[ravdess]
        self.log(f"teacher: soft targets for {ravdess.sum()} RAVDESS clips in {time.perf_counter() - tick:.0f} s "
                 f"({right.mean():.1%} of them have the true emotion on top)")
        return targets
