"""The floor the Whisper head must beat: mean+std pooled middle-layer states of the frozen encoder -> logistic regression.

Cross-validation only (nothing is shipped): `python -m train.heads.linear_probe` writes `reports/cv/whisper-linear-probe.json`
on float32 encoder states (`--states_dtype bfloat16 --name whisper-linear-probe-bf16`: the same probe on bfloat16 states).
"""

from __future__ import annotations

import numpy as np

from ser.evaluation.corpora import Record, load_records
from ser.evaluation.protocols import allowed_labels_mask, corpus_emotions, protocol_corpora
from train import common
from train.masked.logistic import fit_masked_logistic
from train.inputs.whisper_states import StatesArguments, cached_states

NAME = "whisper-linear-probe"
MIDDLE_LAYERS = (2, 3, 4)  # of the 7 states (embedding + 6 layers): the middle ones carry the most paralinguistic detail
C = 0.05


class LinearProbe:
    """Standardised pooled states -> multinomial logistic regression whose softmax runs over the labels each training
    clip's corpus has (train/masked/logistic.py)."""

    def __init__(self, x: np.ndarray, emotions: list[str], allowed: np.ndarray):
        self.labels = list(common.EMOTIONS)
        self.mean, self.scale = x.mean(axis=0), x.std(axis=0) + 1e-8
        y = [self.labels.index(e) for e in emotions]
        self.coef, self.intercept = fit_masked_logistic((x - self.mean) / self.scale, y, allowed, c=C)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        logits = ((x - self.mean) / self.scale) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def pooled(states) -> np.ndarray:
    """[7, T, 512] -> mean and std over time of the middle layers, concatenated."""
    mid = states[list(MIDDLE_LAYERS)].float().numpy()
    return np.concatenate([mid.mean(axis=1), mid.std(axis=1)], axis=-1).reshape(-1)


def main(argv: list[str] | None = None) -> None:
    cargs, args = common.parse_args(common.CommonArgs, StatesArguments, argv=argv)
    cargs.resolve(NAME)
    common.set_seed(cargs.seed)
    records = load_records(protocol_corpora(cargs.protocol, cargs.corpora))
    known = corpus_emotions(records)
    vectors = {r.path: pooled(s) for r, s in zip(records, cached_states(records, dtype=args.dtype))}

    def fit(train: list[Record], _val: list[Record]) -> LinearProbe:
        return LinearProbe(np.stack([vectors[r.path] for r in train]), [r.emotion for r in train],
                           allowed_labels_mask(train, common.EMOTIONS, known))

    def predict(probe: LinearProbe, test: list[Record]) -> np.ndarray:
        return probe.predict_proba(np.stack([vectors[r.path] for r in test]))

    result = common.cross_validate(records, fit, predict, val_speakers=0, folds=cargs.folds, protocol=cargs.protocol,
                                   train_corpora=cargs.corpora)
    if cargs.folds is None:
        print(f"wrote {common.write_cv_result(cargs.name, result)}")


if __name__ == "__main__":
    main()
