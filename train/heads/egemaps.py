"""Train the eGeMAPS models: openSMILE's 88 parameters -> StandardScaler (training clips only) -> 1-D CNN or MLP, early
stopping on held-out training speakers, the best checkpoint kept.

    python -m train.heads.egemaps --cv                          # egemaps-cnn: 6-fold actor-disjoint CV, then the final fit
    python -m train.heads.egemaps --network mlp --cv --no_final # egemaps-mlp, CV only -> reports/cv/egemaps-mlp.json

`fit(train, val)` takes any list of records (any corpus): validation speakers come from `Record.speaker`, and a
per-clip boolean mask of allowed labels (`label_masks`) keeps a corpus's missing labels out of its clips' loss.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ser.evaluation.corpora import Record, load_records
from ser.evaluation.protocols import corpus_emotions, protocol_corpora
from ser.audio.egemaps import FEATURE_SET, N_FEATURES, OPENSMILE_VERSION
from ser.labels import EMOTIONS
from ser.models.base import LICENSE, softmax
from ser.models.egemaps import CNN_CHANNELS, HIDDEN, KERNEL, MLP_HIDDEN, EgemapsModel, EgemapsNet
from train import common
from train.cards import model_card as cards
from train.inputs.augment import TRAINING_COPIES, chosen_copies
from train.inputs.egemaps_features import cached_features

OPENSMILE_LICENCE = ("openSMILE (audEERING GmbH) is free for non-commercial use only (audEERING research licence: teaching, "
                     "research, public demonstrations and personal use; any commercial use, including of features or models "
                     "made with it, needs a commercial licence from audEERING)")


@dataclass
class EgemapsArgs:
    network: Literal["cnn", "mlp"] = field(default="cnn", metadata={"help": "1-D CNN over the parameter vector, or an MLP"})
    max_epochs: int = 300
    patience: int = field(default=30, metadata={"help": "stop after this many epochs without a better validation UAR"})
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-3
    dropout: float = 0.3
    val_speakers: int = field(default=2, metadata={"help": "training speakers held out for early stopping"})
    members: int = field(default=3, metadata={"help": "networks per model, each early-stopped on other held-out speakers; "
                                                       "the model averages their probabilities"})
    augment: list[str] = field(default_factory=lambda: ["none"], metadata={
        "help": f"eGeMAPS of extra copies of every RAVDESS training clip: {', '.join(TRAINING_COPIES)} or none"})
    mask_absent_labels: bool = field(default=False, metadata={
        "help": "leave out of each clip's loss the labels its corpus never has (TESS has no calm)"})
    threads: int = 1


def default_name(args: EgemapsArgs) -> str:
    return f"egemaps-{args.network}"


# --- labels and speakers ---------------------------------------------------------------------------------------------

def label_masks(records: list[Record], corpus_labels: dict[str, set[str]] | None = None,
                labels: tuple[str, ...] = EMOTIONS) -> np.ndarray:
    """(clips, labels) booleans: which labels each clip's loss may weigh. `corpus_labels` maps a corpus to the labels it
    has (a corpus it does not name keeps every label); None = every label for every clip."""
    mask = np.ones((len(records), len(labels)), dtype=bool)
    for i, record in enumerate(records):
        if corpus_labels and record.corpus in corpus_labels:
            mask[i] = [label in corpus_labels[record.corpus] for label in labels]
    return mask


def speaker_holdout(records: list[Record], n_speakers: int, seed: int) -> tuple[list[Record], list[Record]]:
    """(train, validation) split by speaker, for early stopping when the caller gave no validation records.

    Any corpus: the held-out speakers are drawn from those with no more clips than the median speaker (TESS's two
    speakers, 1,400 clips each, would take a third of the data away)."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.speaker] = counts.get(record.speaker, 0) + 1
    typical = sorted(s for s, n in counts.items() if n <= np.median(list(counts.values())))
    if n_speakers <= 0 or len(typical) <= n_speakers:
        return records, []
    held = set(np.random.default_rng(seed).choice(typical, size=n_speakers, replace=False))
    return [r for r in records if r.speaker not in held], [r for r in records if r.speaker in held]


# --- training --------------------------------------------------------------------------------------------------------

def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy where each clip's softmax runs over its allowed labels only (`allowed`: (batch, labels) booleans,
    True for the target): a corpus without calm neither pushes calm down nor up for its neutral clips."""
    if allowed is not None:
        logits = logits.masked_fill(~allowed, torch.finfo(logits.dtype).min)
    return F.cross_entropy(logits, targets)


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in `y_true`."""
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


@dataclass
class Fitted:
    model: EgemapsModel
    best_epoch: int
    val_uar: float | None


def fit_scaler(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    return scaler.mean_, scaler.scale_


def train_network(x: np.ndarray, y: np.ndarray, mask: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                  args: EgemapsArgs, seed: int) -> tuple[EgemapsNet, int, float | None]:
    """One network on standardised vectors, with AdamW; with validation clips, keep the epoch with the best validation
    UAR (ties: lower validation loss) and stop `patience` epochs after it, else train `max_epochs`.
    Returns (network, best epoch, its validation UAR or None)."""
    torch.manual_seed(seed)
    net = EgemapsNet(len(EMOTIONS), args.network, args.dropout)
    xt, yt, mt = torch.from_numpy(x), torch.from_numpy(y).long(), torch.from_numpy(mask)
    xv, yv = torch.from_numpy(x_val), torch.from_numpy(y_val).long()
    optimiser = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    best, best_key, best_epoch = None, None, args.max_epochs
    for epoch in range(1, args.max_epochs + 1):
        net.train()
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            if len(batch) < 2:  # BatchNorm needs two clips
                continue
            loss = masked_cross_entropy(net(xt[batch]), yt[batch], mt[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if len(xv) == 0:
            continue
        net.eval()
        with torch.no_grad():
            logits = net(xv)
            key = (uar(y_val, logits.argmax(1).numpy()), -float(F.cross_entropy(logits, yv)))
        if best_key is None or key > best_key:
            best, best_key, best_epoch = copy.deepcopy(net.state_dict()), key, epoch
        elif epoch - best_epoch >= args.patience:
            break
    if best is not None:
        net.load_state_dict(best)
    return net.eval(), best_epoch, (best_key[0] if best_key else None)


def train_model(x: np.ndarray, y: np.ndarray, mask: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                args: EgemapsArgs, seed: int, config: dict) -> Fitted:
    """Fit the scaler on `x` only, then one network (see `train_network`)."""
    mean, scale = fit_scaler(x)
    model = EgemapsModel({**config, "scaler": {"mean": mean.tolist(), "scale": scale.tolist()}, "members": 1})
    net, epoch, val_uar = train_network(model.standardise(x), y, mask, model.standardise(x_val), y_val, args, seed)
    model.members[0] = net
    return Fitted(model, epoch, val_uar)


def describe(args: EgemapsArgs) -> dict:
    net = (f"1-D CNN along the standardised vector: {len(CNN_CHANNELS)} x (conv {KERNEL}, {' then '.join(map(str, CNN_CHANNELS))} "
           f"channels, batch norm, ReLU, max-pool 2) -> dropout {args.dropout} -> dense {HIDDEN} -> dropout -> 8 emotions"
           if args.network == "cnn" else
           f"MLP {list(MLP_HIDDEN)} (batch norm, ReLU, dropout {args.dropout}) -> 8 emotions")
    copies = chosen_copies(args.augment)
    return {
        "features": f"openSMILE {OPENSMILE_VERSION} {FEATURE_SET} functionals ({N_FEATURES} parameters: pitch, loudness, "
                    "jitter, shimmer, HNR, formants, spectral slope and balance, MFCC 1-4, rates of voiced segments and "
                    "loudness peaks) of each clip after trimming leading and trailing silence (ser.audio.egemaps)",
        "model": f"StandardScaler fitted on the training clips only (kept as JSON in config.json) -> {net}",
        "training": f"AdamW (lr {args.lr:g}, weight decay {args.weight_decay:g}), batch {args.batch_size}, at most "
                    f"{args.max_epochs} epochs; early stopping on {args.val_speakers} held-out training speakers (validation "
                    f"UAR, patience {args.patience}), the best epoch's weights kept"
                    + (f"; {args.members} networks, each holding out other speakers, their probabilities averaged"
                       if args.members > 1 else "")
                    + (f"; RAVDESS training clips also as copies: {', '.join(copies)}" if copies else "")
                    + ("; each clip's loss over the labels its corpus has" if args.mask_absent_labels else ""),
        "licence of the features": OPENSMILE_LICENCE,
    }


def main(argv: list[str] | None = None) -> None:
    cargs, args = common.parse_args(common.CommonArgs, EgemapsArgs, argv=argv)
    cargs.resolve(cargs.name or default_name(args))
    common.set_seed(cargs.seed)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    records = load_records(protocol_corpora(cargs.protocol, cargs.corpora) if cargs.cv else cargs.corpora)
    copies = chosen_copies(args.augment)
    features = {"": cached_features(records)}
    ravdess = [r for r in records if r.corpus == "ravdess"]
    features |= {name: cached_features(ravdess, name) for name in copies}
    rows = {name: {r.path: i for i, r in enumerate(records if name == "" else ravdess)} for name in features}
    corpus_labels = corpus_emotions(records) if args.mask_absent_labels else None
    config = {"name": cargs.name, "labels": list(EMOTIONS), "sample_rate": 16000, "feature_set": FEATURE_SET,
              "opensmile_version": OPENSMILE_VERSION, "n_features": N_FEATURES, "network": args.network, "dropout": args.dropout,
              "channels": list(CNN_CHANNELS), "hidden": HIDDEN, "mlp_hidden": list(MLP_HIDDEN), "trim_silence": True,
              "license": LICENSE}
    epochs = []

    def table(recs: list[Record], with_copies: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(vectors, label ids, label masks) of `recs`, plus their copies' vectors when `with_copies`."""
        names = ["", *copies] if with_copies else [""]
        picked = [(name, r) for name in names for r in recs if r.path in rows[name]]
        x = np.stack([features[name][rows[name][r.path]] for name, r in picked]) if picked else np.zeros((0, N_FEATURES), np.float32)
        y = np.array([EMOTIONS.index(r.emotion) for _, r in picked], dtype=np.int64)
        return x, y, label_masks([r for _, r in picked], corpus_labels)

    def fit(train: list[Record], val: list[Record]) -> EgemapsModel:
        """Scaler on every clip of the training folds; each network early-stops on its own held-out speakers of them."""
        pool = train + val
        mean, scale = fit_scaler(table(pool, True)[0])
        model = EgemapsModel({**config, "scaler": {"mean": mean.tolist(), "scale": scale.tolist()}, "members": args.members})
        for m in range(args.members):
            fit_train, fit_val = speaker_holdout(pool, args.val_speakers, seed=cargs.seed * 1000 + 10 * len(epochs) + m)
            x, y, mask = table(fit_train, True)
            x_val, y_val, _ = table(fit_val, False)
            net, epoch, val_uar = train_network(model.standardise(x), y, mask, model.standardise(x_val), y_val, args,
                                                cargs.seed + m)
            model.members[m] = net
            print(f"  network {m + 1}: best epoch {epoch}" + (f", validation UAR {val_uar:.3f}" if val_uar is not None else ""))
        epochs.append(epoch)
        return model

    def predict(model: EgemapsModel, recs: list[Record]) -> np.ndarray:
        return softmax(model.logits_from_features(table(recs, False)[0]))

    cv = None
    if cargs.cv:
        # val_speakers=0: `fit` holds out speakers itself, other ones for each network
        result = common.cross_validate(records, fit, predict, val_speakers=0, seed=cargs.seed, folds=cargs.folds,
                                       started=started, protocol=cargs.protocol, train_corpora=cargs.corpora)
        if cargs.folds is None:
            print("wrote", common.write_cv_result(cargs.name, result))
            cv = result if cargs.protocol == "ravdess6" else None
    if not cargs.final:
        return
    cv = cv or common.read_cv_result(cargs.name)
    tick = time.perf_counter()
    records = [r for r in records if r.corpus in cargs.corpora]  # never the test-only corpora
    model = fit(records, [])
    seconds = time.perf_counter() - tick
    data = cards.data_summary(records)
    model.config.update(training={**data, "best_epoch_last_network": epochs[-1], "seed": cargs.seed, "train_time_s": round(seconds, 1),
                                  **{k: v for k, v in vars(args).items() if k != "threads"}},
                        metrics=cards.cv_summary(cv))
    summary = (f"Speech-emotion classifier on openSMILE's eGeMAPS parameters: 88 acoustic measurements per clip (pitch, "
               f"loudness, voice quality, spectral balance, speech rate), standardised, classified by a small "
               f"{'1-D CNN' if args.network == 'cnn' else 'MLP'}. The same parameters explain, in the app's lesson, why calm "
               "and neutral are confused.")
    card = cards.model_card(cargs.name, summary, describe(args), data, cv)
    card += ("\n## openSMILE licence\n\nThe features are computed with openSMILE (audEERING GmbH, `opensmile` "
             f"{OPENSMILE_VERSION} from PyPI), under the audEERING Research License Agreement shipped in that package: free "
             "for non-commercial purposes (teaching, academic research, public demonstrations, personal use); commercial use "
             "of the software, or of features or models made with it, needs a commercial licence from audEERING. The "
             "package's metadata also carries an 'MIT' classifier; its LICENSE file is the research licence above, which "
             "governs. This model is therefore non-commercial on two counts: its data and its features.\n")
    model.save(cargs.out, card=card)
    print(f"saved {cargs.out} (best epoch {epochs[-1]}, {seconds:.0f} s)")
    common.maybe_push(cargs, cargs.out)


if __name__ == "__main__":
    main()
