"""The floor the Whisper head must beat: mean+std pooled middle-layer states of the frozen encoder -> logistic regression.

Cross-validation only (nothing is shipped): `python -m train.linear_probe` writes `reports/cv/whisper-linear-probe.json`
on float32 encoder states (`--states_dtype bfloat16 --name whisper-linear-probe-bf16`: the same probe on bfloat16 states).
"""

from __future__ import annotations

import numpy as np

from ser.corpora import Record, load_records
from train import common
from train.whisper_head import StatesArguments, cached_states

NAME = "whisper-linear-probe"
MIDDLE_LAYERS = (2, 3, 4)  # of the 7 states (embedding + 6 layers): the middle ones carry the most paralinguistic detail


class LinearProbe:
    """Standardised pooled states -> multinomial logistic regression (scikit-learn)."""

    def __init__(self, labels: list[str]):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.labels = labels
        self.pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=3000))


def pooled(states) -> np.ndarray:
    """[7, T, 512] -> mean and std over time of the middle layers, concatenated."""
    mid = states[list(MIDDLE_LAYERS)].float().numpy()
    return np.concatenate([mid.mean(axis=1), mid.std(axis=1)], axis=-1).reshape(-1)


def main(argv: list[str] | None = None) -> None:
    cargs, args = common.parse_args(common.CommonArgs, StatesArguments, argv=argv)
    cargs.resolve(NAME)
    common.set_seed(cargs.seed)
    records = load_records(cargs.corpora)
    vectors = {r.path: pooled(s) for r, s in zip(records, cached_states(records, dtype=args.dtype))}
    labels = [r.emotion for r in records]
    label_set = sorted(set(labels), key=common.EMOTIONS.index)

    def fit(train: list[Record], _val: list[Record]) -> LinearProbe:
        probe = LinearProbe(label_set)
        probe.pipeline.fit(np.stack([vectors[r.path] for r in train]), [r.emotion for r in train])
        probe.labels = list(probe.pipeline.classes_)
        return probe

    def predict(probe: LinearProbe, test: list[Record]) -> np.ndarray:
        return probe.pipeline.predict_proba(np.stack([vectors[r.path] for r in test]))

    result = common.cross_validate(records, fit, predict, val_speakers=0, folds=cargs.folds)
    if cargs.folds is None:
        print(f"wrote {common.write_cv_result(cargs.name, result)}")


if __name__ == "__main__":
    main()
