"""The row `whisper-head-egemaps`: the default model's recipe with openSMILE's 88 eGeMAPS parameters appended to the
Whisper head's pooled statistics. Cross-validation only (not shipped: the app would need openSMILE and the encoder).

    python -m train.heads.fusion --cv --no_final           # -> reports/cv/whisper-head-egemaps.json

Same clips, copies, encoder states (float32, cached by train/heads/whisper.py) and L2 logistic regression as whisper-head;
each clip's vector is [Whisper statistics, eGeMAPS], standardised on the training clips. `--egemaps_weight` scales the
standardised eGeMAPS columns: 88 columns beside 12,800 would otherwise hardly move an L2-penalised regression.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ser import labels as L
from ser.evaluation.corpora import Record, load_records
from ser.evaluation.metrics import compute_metrics
from ser.models.base import EmotionModel, softmax
from train import common
from train.inputs.augment import NOISY_TEST, chosen_copies
from train.inputs.egemaps_features import cached_features
from train.heads.whisper import HeadArguments, feature_table

NAME = "whisper-head-egemaps"
CHUNK = 200  # clips whose encoder states are in memory at once (about 1 MB each)


@dataclass
class FusionArgs:
    egemaps_weight: float = field(default=1.0, metadata={"help": "factor on the standardised eGeMAPS columns"})


class FusionHead(EmotionModel):
    """A standardiser and a logistic regression over [Whisper statistics, eGeMAPS] vectors (CV only, never saved)."""

    kind = "fusion"

    def __init__(self, scaler, regression, n_egemaps: int, weight: float):
        super().__init__({"labels": list(L.EMOTIONS)})
        self.scaler, self.regression, self.n_egemaps, self.weight = scaler, regression, n_egemaps, weight

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        x = self.scaler.transform(vectors)
        x[:, -self.n_egemaps:] *= self.weight
        return x

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        return softmax(self.regression.decision_function(self.transform(vectors)))


def fused_table(records: list[Record], augment: str, head: HeadArguments) -> dict[str, np.ndarray]:
    """Per clip path: [pooled Whisper statistics, eGeMAPS] of the clip or its copy `augment`."""
    egemaps = cached_features(records, augment)
    table = {}
    for start in range(0, len(records), CHUNK):
        chunk = records[start:start + CHUNK]
        pooled = feature_table(chunk, augment, 0, head.quantiles, head.dtype)
        table |= {r.path: np.concatenate([pooled[r.path][0], egemaps[start + i]]) for i, r in enumerate(chunk)}
    return table


def main(argv: list[str] | None = None) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    cargs, head, args = common.parse_args(common.CommonArgs, HeadArguments, FusionArgs, argv=argv)
    cargs.resolve(NAME)
    if cargs.final:
        raise SystemExit(f"{NAME} is scored in cross-validation only: pass --cv --no_final.")
    common.set_seed(cargs.seed)
    torch.set_num_threads(head.threads)
    started = time.perf_counter()
    records = load_records(cargs.corpora)
    ravdess = [r for r in records if r.corpus == "ravdess"]
    copies = chosen_copies(head.augment)
    original = fused_table(records, "", head)
    perturbed = [fused_table(ravdess, name, head) for name in copies]
    noisy = fused_table(ravdess, NOISY_TEST, head)
    n_egemaps = len(next(iter(original.values()))) - len(feature_table(records[:1], "", 0, head.quantiles, head.dtype)[records[0].path][0])

    def fit(train: list[Record], _val: list[Record]) -> FusionHead:
        rows = [original[r.path] for r in train] + [t[r.path] for t in perturbed for r in train if r.path in t]
        labels = [L.EMOTIONS.index(r.emotion) for r in train] + [L.EMOTIONS.index(r.emotion) for t in perturbed for r in train if r.path in t]
        scaler = StandardScaler().fit(np.stack(rows))
        model = FusionHead(scaler, None, n_egemaps, args.egemaps_weight)
        model.regression = LogisticRegression(C=head.c, max_iter=3000).fit(model.transform(np.stack(rows)), labels)
        return model

    noisy_truth, noisy_guess = [], []

    def predict(model: FusionHead, test: list[Record]) -> np.ndarray:
        noisy_truth.extend(L.EMOTIONS.index(r.emotion) for r in test)
        noisy_guess.extend(model.probabilities(np.stack([noisy[r.path] for r in test])).argmax(axis=1).tolist())
        return model.probabilities(np.stack([original[r.path] for r in test]))

    result = common.cross_validate(records, fit, predict, val_speakers=0, folds=cargs.folds, started=started)
    scores = compute_metrics(noisy_truth, noisy_guess, list(L.EMOTIONS))
    result["noisy_test"] = {"snr_db": 20, "noise": "white", "uar": scores["uar"], "accuracy": scores["accuracy"]}
    print(f"CV UAR {result['uar']:.3f}, accuracy {result['accuracy']:.3f}, calm<->neutral confusions "
          f"{result['calm_neutral_confusions']}; noisy test clips UAR {scores['uar']:.3f}")
    if cargs.folds is None:
        print("wrote", common.write_cv_result(cargs.name, result))


if __name__ == "__main__":
    main()
