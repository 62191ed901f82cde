"""Train the classic baseline: summary features (MFCC, chroma, mel statistics) -> standardise -> MLP.

    python -m train.heads.classic --cv                       # 6-fold actor-disjoint CV, then the final fit on all clips
    python -m train.heads.classic --cv --no_final            # CV only -> reports/cv/classic-mlp.json
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ser.evaluation.corpora import Record, load_clip, load_records
from ser.evaluation.protocols import allowed_labels_mask, corpus_emotions, protocol_corpora
from ser.labels import EMOTIONS
from ser.models.base import LICENSE, softmax
from ser.models.classic import ClassicModel, clip_features
from train import common
from train.cards import model_card as cards
from train.masked.mlp import fit_masked_mlp

NAME = "classic-mlp"


@dataclass
class ClassicArgs:
    hidden_layers: list[int] = field(default_factory=lambda: [256, 128], metadata={"help": "hidden layer sizes"})
    alpha: float = field(default=1e-2, metadata={"help": "L2 penalty"})
    batch_size: int = 64
    learning_rate_init: float = 1e-3
    max_iter: int = 500
    early_stopping: bool = field(default=True, metadata={"help": "stop on a held-out 10% of the training clips"})
    trim_silence: bool = field(default=True, metadata={"help": "trim leading/trailing silence before the features"})


def extract_features(records: list[Record], trim: bool = True) -> np.ndarray:
    """(clips, SUMMARY_SIZE), computed once per run and shared by every fold."""
    return np.stack([clip_features(load_clip(r.path), trim) for r in tqdm(records, desc="features", mininterval=10)])


def fit_mlp(features: np.ndarray, y: np.ndarray, allowed: np.ndarray, args: ClassicArgs, seed: int):
    """A fitted (StandardScaler, MLP with MLPClassifier's attributes) pair; the MLP's softmax runs over each clip's
    `allowed` labels (train/masked/mlp.py)."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    mlp = fit_masked_mlp(scaler.transform(features), y, allowed, args.hidden_layers, alpha=args.alpha, batch_size=args.batch_size,
                         lr=args.learning_rate_init, max_iter=args.max_iter, seed=seed,
                         early_stopping=args.early_stopping)
    return scaler, mlp


def train_model(features: np.ndarray, records: list[Record], args: ClassicArgs, seed: int, name: str = NAME,
                known: dict[str, set[str]] | None = None):
    """Fit on `features` of `records`; returns the pickle-free model and the fitted pair it was copied from."""
    y = np.array([EMOTIONS.index(r.emotion) for r in records])
    scaler, mlp = fit_mlp(features, y, allowed_labels_mask(records, EMOTIONS, known), args, seed)
    config = {"name": name, "labels": list(EMOTIONS), "trim_silence": args.trim_silence, "license": LICENSE}
    return ClassicModel.from_sklearn(scaler, mlp, config), scaler, mlp


def main(argv: list[str] | None = None) -> None:
    common_args, args = common.parse_args(common.CommonArgs, ClassicArgs, argv=argv)
    common_args.resolve(NAME)
    common.set_seed(common_args.seed)
    started = time.perf_counter()
    records = load_records(protocol_corpora(common_args.protocol, common_args.corpora) if common_args.cv else common_args.corpora)
    known = corpus_emotions(records)
    features = extract_features(records, args.trim_silence)
    row = {r.path: i for i, r in enumerate(records)}
    rows = lambda recs: [row[r.path] for r in recs]  # noqa: E731

    def fit(train: list[Record], val: list[Record]) -> ClassicModel:
        return train_model(features[rows(train)], train, args, common_args.seed, common_args.name, known)[0]

    def predict(model: ClassicModel, recs: list[Record]) -> np.ndarray:
        return softmax(model.logits_from_features(features[rows(recs)]))

    if common_args.cv:
        # the MLP's early stopping holds out 10% of clips itself, so no speakers are set aside
        result = common.cross_validate(records, fit, predict, val_speakers=0, seed=common_args.seed, folds=common_args.folds,
                                       started=started, protocol=common_args.protocol, train_corpora=common_args.corpora)
        if common_args.folds is None:
            print("wrote", common.write_cv_result(common_args.name, result))
    if not common_args.final:
        return
    tick = time.perf_counter()
    keep = [i for i, r in enumerate(records) if r.corpus in common_args.corpora]  # never the test-only corpora
    records, features = [records[i] for i in keep], features[keep]
    model, _, mlp = train_model(features, records, args, common_args.seed, common_args.name, known)
    seconds = time.perf_counter() - tick
    data = cards.data_summary(records)
    cv = common.read_cv_result(common_args.name)
    details = {
        "features": f"ser.audio.features.summary_features ({model.config['n_features']} values: mean and std over frames of 40 MFCC "
                    "+ deltas, 12 chroma, 64 log-mel bands, RMS, zero-crossing rate, spectral centroid), after trimming silence",
        "model": f"standardisation + MLP {args.hidden_layers} (ReLU), softmax over {len(EMOTIONS)} emotions",
        "optimiser": f"Adam as scikit-learn's MLPClassifier (L2 alpha {args.alpha}, batch {args.batch_size}, lr {args.learning_rate_init}, "
                     f"early stopping on a random 10% of clips, best epoch kept), softmax over the labels each clip's corpus has, "
                     f"{mlp.n_iter_} epochs, seed {common_args.seed}",
        "training time": f"{seconds:.0f} s on CPU (features excluded)",
        "weights": "scaler and layer weights in model.safetensors (no pickle); prediction is a numpy forward pass",
    }
    model.config.update(training={**data, "epochs": int(mlp.n_iter_), "seed": common_args.seed, "train_time_s": round(seconds, 1),
                                  **vars(args)},
                        metrics=cards.cv_summary(cv))
    summary = ("Classic speech-emotion baseline: a fixed-length vector of MFCC/chroma/mel statistics per clip, standardised, "
               "classified by a small multi-layer perceptron. Fast, small, and a reference point for the neural models.")
    model.save(common_args.out, card=cards.model_card(common_args.name, summary, details, data, cv))
    print("saved", common_args.out)
    common.maybe_push(common_args, common_args.out)


if __name__ == "__main__":
    main()
