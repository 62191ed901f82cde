"""Train the CNN baseline: a half-width ResNet18 on log-mel spectrograms, from scratch, on CPU.

    python -m train.heads.resnet --cv                 # 6-fold actor-disjoint CV, then the final fit on all clips
    python -m train.heads.resnet --cv --no_final      # CV only -> reports/cv/resnet18.json
    python -m train.heads.resnet --cv --no_final --augment speed0.9 speed1.1 --epochs 30 --name resnet18-speed  # with speed copies
    python -m train.heads.resnet --cv --no_final --distill 0.8     # targets 20% label, 80% Whisper head (train/heads/distill.py)

Log-mels of every clip are computed once per run and kept in RAM; training sees random crops of `crop_seconds`
with SpecAugment masks, evaluation the whole clip.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ser.evaluation.corpora import Record, load_clip, load_records, validation_split
from ser.audio.features import FRAMES_PER_SECOND
from ser.labels import EMOTIONS
from ser.evaluation.metrics import compute_metrics
from ser.models.base import LICENSE, softmax
from ser.models.resnet import LAYERS, LAYOUT, POOLINGS, ResNetModel, clip_log_mel
from ser.evaluation.protocols import allowed_labels_mask, corpus_emotions, protocol_corpora
from train import common
from train.cards import model_card as cards
from train.inputs.augment import AUGMENTATIONS, NO_COPIES, TRAINING_COPIES, chosen_copies
from train.heads.distill import WhisperTeacher
from train.masked.loss import masked_cross_entropy

NAME = "resnet18"
MAIN_CORPUS = "ravdess"  # the corpus the model is tested on; the others are drawn only partly each epoch


@dataclass
class ResNetArgs:
    # 45 epochs scored 61.5%, 63.4% and 60.9% UAR with seeds 0-2, 30 epochs 61.7%, 61.3% and 61.1% (rows resnet18*,
    # resnet18-epochs30* of reports/accuracy.md); seeds 3 and 4 of 45 epochs 64.1% and 65.9%.
    # The 6 folds take ~100 min of one CPU core, the final fit ~20 min (card)
    epochs: int = 45
    batch_size: int = 32
    lr: float = field(default=3e-3, metadata={"help": "peak learning rate of the one-cycle schedule"})
    weight_decay: float = 0.05
    # 2.5 s holds most trimmed RAVDESS sentences whole (shorter clips are repeated to fill it). 1.5-s crops, which cut most
    # sentences, scored 58.1% UAR with 40 epochs (row `resnet18-short-crops` of reports/accuracy.md).
    crop_seconds: float = field(default=2.5, metadata={"help": "length of the random training crops"})
    base_width: int = field(default=32, metadata={"help": "channels of the first stage (ResNet18: 64)"})
    dropout: float = 0.2
    # mean_std also pools each channel's spread over time (how much the voice varies). Over the seeds of reports/accuracy.md's
    # seed spread it scored higher than ResNet18's plain global average (rows resnet18-epochs30 and resnet18-mean-pooling)
    pooling: Literal["mean", "mean_std"] = field(default="mean_std", metadata={"help": "mean_std (mean and spread over time) or "
                                                                                     "mean (ResNet18's global average only)"})
    label_smoothing: float = 0.1
    # speed copies, which help the Whisper head, cost the 30-epoch ResNet about a point of UAR over two seeds (rows resnet18-speed*)
    augment: list[str] = field(default_factory=lambda: [NO_COPIES], metadata={
        "help": "copies of every RAVDESS training clip, one of which (or the clip itself) is drawn each epoch: "
                f"{', '.join(TRAINING_COPIES)}, or {NO_COPIES}"})
    mixup: float = field(default=0.4, metadata={"help": "mixup's Beta(a, a) parameter (Zhang et al. 2018); 0 = off"})
    distill: float = field(default=0.0, metadata={
        "help": "weight of the Whisper head's cross-fitted probabilities in each RAVDESS clip's training target "
                "(knowledge distillation, train/heads/distill.py; 0 = the label alone)"})
    extra_fraction: float = field(default=0.25, metadata={"help": "share of the non-RAVDESS (TESS) clips drawn afresh each epoch"})
    freq_masks: int = 2
    freq_mask_bins: int = 8
    time_masks: int = 2
    time_mask_frames: int = 20
    patience: int = field(default=3, metadata={"help": "epochs without a better validation UAR before stopping"})
    select_after: float = field(default=0.75, metadata={"help": "share of the epochs before checkpoints are compared "
                                                                  "(until the one-cycle learning rate has decayed, validation swings widely)"})
    # 0: each CV fold trains the whole schedule and keeps its last epoch, which is what the final fit ships, so the CV
    # measures the shipped recipe. With 1.5-s crops, early stopping on 2 of the 20 training actors scored 57.3% UAR with
    # 60 calm/neutral confusions (row `resnet18-early-stopping` of reports/accuracy.md), the last epoch 58.1% with 39
    # (`resnet18-short-crops`): it costs a tenth of the speakers, and the UAR of 2 actors swings by several points from
    # one epoch to the next.
    val_speakers: int = field(default=0, metadata={"help": "RAVDESS actors of each CV training fold held out for early "
                                                            "stopping (0: none, keep the last epoch)"})
    final_val_speakers: int = field(default=0, metadata={"help": "actors held out from the final fit (0: all clips, last epoch)"})
    threads: int = 1
    trim_silence: bool = True
    half_weights: bool = field(default=True, metadata={"help": "save float16 weights when every check prediction agrees"})


def compute_mels(records: list[Record], trim: bool = True, augment: str = "") -> list[np.ndarray]:
    """Un-normalised log-mels of every clip (or of its `augment` copy, see train/inputs/augment.py), computed once per run."""
    make_copy = AUGMENTATIONS[augment] if augment else (lambda wave: wave)
    return [clip_log_mel(make_copy(load_clip(r.path)), trim)
            for r in tqdm(records, desc=f"log-mels ({augment or 'original'})", mininterval=10)]


def mel_stats(mels: list[np.ndarray]) -> tuple[float, float]:
    """Global mean and standard deviation over every band and frame of the training clips."""
    total = sum(m.size for m in mels)
    mean = sum(float(m.sum(dtype=np.float64)) for m in mels) / total
    var = sum(float(((m - mean) ** 2).sum(dtype=np.float64)) for m in mels) / total
    return mean, math.sqrt(var)


def random_crop(mel: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """A random `frames`-long window; shorter clips are repeated, which keeps the pooled statistics of the whole clip."""
    length = mel.shape[1]
    if length < frames:
        mel = np.tile(mel, (1, frames // length + 2))[:, rng.integers(0, length):]
        return mel[:, :frames]
    start = rng.integers(0, length - frames + 1)
    return mel[:, start:start + frames]


def spec_augment(batch: torch.Tensor, args: ResNetArgs, rng: np.random.Generator) -> torch.Tensor:
    """SpecAugment's frequency and time masks (Park et al. 2019), set to 0 = the normalised mean, in place."""
    _, _, n_mels, n_frames = batch.shape
    for x in batch:
        for size, count, axis in ((n_mels, args.freq_masks, 1), (n_frames, args.time_masks, 2)):
            widest = args.freq_mask_bins if axis == 1 else args.time_mask_frames
            for _ in range(count):
                width = int(rng.integers(0, min(widest, size) + 1))
                start = int(rng.integers(0, size - width + 1))
                x.narrow(axis, start, width).zero_()
    return batch


def class_weights(y: np.ndarray, drawn: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse expected class frequency per epoch (`drawn` = chance a clip is in an epoch), for a balanced loss (UAR)."""
    counts = np.bincount(y, weights=drawn, minlength=n_classes)
    weights = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1e-9)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def validation_uar(model: ResNetModel, mels: list[np.ndarray], y: np.ndarray) -> float:
    pred = model.logits_from_mels(mels).argmax(axis=1)
    return compute_metrics(y, pred, EMOTIONS)["uar"]


def training_targets(train: list[Record], soft: np.ndarray | None, weight: float) -> torch.Tensor:
    """Class indices, or with a teacher's `soft` probabilities the blend (1 - weight) * one-hot + weight * soft."""
    y = torch.tensor([EMOTIONS.index(r.emotion) for r in train])
    if soft is None or weight == 0:
        return y
    return ((1 - weight) * nn.functional.one_hot(y, len(EMOTIONS)) + weight * torch.from_numpy(soft)).float()


def fit(train: list[Record], train_mels: list[np.ndarray], val: list[Record], val_mels: list[np.ndarray], args: ResNetArgs,
        seed: int, name: str = NAME, log=print, train_copies: list[list[np.ndarray]] | None = None,
        soft_targets: np.ndarray | None = None, known: dict[str, set[str]] | None = None) -> ResNetModel:
    """Train from scratch; `train_copies` holds each training clip's augmented log-mels (or none), and each epoch
    draws the clip or one of its copies; `soft_targets` (a teacher's probabilities per clip) blend into the labels
    with weight `args.distill`. With validation clips, keep the epoch with the best validation UAR once the
    learning rate has decayed (`select_after`), and stop after `patience` epochs without improvement (early stopping).
    The loss's softmax runs over the labels each clip's corpus has (`known`: each corpus's labels; default: as in `train`)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    y = np.array([EMOTIONS.index(r.emotion) for r in train])
    val_y = np.array([EMOTIONS.index(r.emotion) for r in val])
    main = np.array([r.corpus == MAIN_CORPUS for r in train]) if any(r.corpus == MAIN_CORPUS for r in train) else np.ones(len(train), bool)
    main_idx, extra_idx = np.flatnonzero(main), np.flatnonzero(~main)
    n_extra = int(round(args.extra_fraction * len(extra_idx)))
    mean, std = mel_stats(train_mels)
    config = {
        "name": name, "labels": list(EMOTIONS), "architecture": LAYOUT, "base_width": args.base_width, "layers": list(LAYERS),
        "dropout": args.dropout, "pooling": args.pooling, "mel_mean": mean, "mel_std": std, "n_mels": int(train_mels[0].shape[0]),
        "features": "ser.audio.features.log_mel (dB)", "trim_silence": args.trim_silence, "weights_dtype": "float32",
        "pretrained": "none (trained from scratch)", "license": LICENSE,
    }
    model = ResNetModel(config)
    net = model.network
    frames = int(round(args.crop_seconds * FRAMES_PER_SECOND))
    per_epoch = len(main_idx) + n_extra
    steps = per_epoch // args.batch_size  # the last partial batch is dropped: BatchNorm needs more than one clip
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps)
    drawn = np.where(main, 1.0, n_extra / max(len(extra_idx), 1))
    weights = class_weights(y, drawn, len(EMOTIONS))
    allowed = torch.from_numpy(allowed_labels_mask(train, EMOTIONS, known))
    loss_fn = lambda logits, target, ids: masked_cross_entropy(logits, target, allowed[ids], weights, args.label_smoothing)  # noqa: E731
    targets = training_targets(train, soft_targets, args.distill)
    versions = [[((m - mean) / std).astype(np.float32) for m in [mel, *copies]]
                for mel, copies in zip(train_mels, train_copies or [[] for _ in train_mels])]
    # a clip without copies draws nothing, so runs without augmentation keep the random stream of earlier reports
    draw = lambda i: versions[i][rng.integers(len(versions[i]))] if len(versions[i]) > 1 else versions[i][0]  # noqa: E731
    best_uar, best_epoch, best_state = -1.0, -1, None
    for epoch in range(args.epochs):
        net.train()
        tick, total_loss = time.perf_counter(), 0.0
        order = rng.permutation(np.concatenate([main_idx, rng.choice(extra_idx, n_extra, replace=False)]))
        for step in tqdm(range(steps), desc=f"epoch {epoch + 1}", mininterval=60, leave=False):
            batch = order[step * args.batch_size:(step + 1) * args.batch_size]
            x = torch.from_numpy(np.stack([random_crop(draw(i), frames, rng) for i in batch]))[:, None]
            ids = torch.from_numpy(batch)
            x, target = spec_augment(x, args, rng), targets[ids]
            if args.mixup > 0:  # train on blends of two clips, scored against both labels in proportion
                lam, other = float(rng.beta(args.mixup, args.mixup)), torch.from_numpy(rng.permutation(len(batch)))
                logits = net(lam * x + (1 - lam) * x[other])
                loss = lam * loss_fn(logits, target, ids) + (1 - lam) * loss_fn(logits, target[other], ids[other])
            else:
                loss = loss_fn(net(x), target, ids)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item()
        message = f"epoch {epoch + 1}/{args.epochs}: loss {total_loss / steps:.3f}, {time.perf_counter() - tick:.0f} s"
        selecting = val and epoch + 1 >= args.select_after * args.epochs
        if selecting:
            uar = validation_uar(model, val_mels, val_y)
            message += f", validation UAR {uar:.3f}"
            if uar >= best_uar:  # on a tie the later epoch wins: it has seen more steps at a lower learning rate
                best_uar, best_epoch, best_state = uar, epoch, copy.deepcopy(net.state_dict())
        log(message)
        if selecting and epoch - best_epoch >= args.patience:
            log(f"early stop: no better validation UAR for {args.patience} epochs")
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    model.config["training"] = {"best_epoch": best_epoch + 1 if val else epoch + 1, "validation_uar": best_uar if val else None}
    return model


def use_half_weights(model: ResNetModel, mels: list[np.ndarray]) -> bool:
    """Round the weights to float16 when no prediction on `mels` changes its class; otherwise keep float32."""
    before = model.logits_from_mels(mels).argmax(axis=1)
    state = copy.deepcopy(model.network.state_dict())
    model.round_weights_to_half()
    if np.array_equal(model.logits_from_mels(mels).argmax(axis=1), before):
        return True
    model.network.load_state_dict(state)
    model.config["weights_dtype"] = "float32"
    return False


def main(argv: list[str] | None = None) -> None:
    common_args, args = common.parse_args(common.CommonArgs, ResNetArgs, argv=argv)
    common_args.resolve(NAME)
    torch.set_num_threads(args.threads)
    common.set_seed(common_args.seed)
    started = time.perf_counter()
    records = load_records(protocol_corpora(common_args.protocol, common_args.corpora) if common_args.cv else common_args.corpora)
    known = corpus_emotions(records)
    args.augment = chosen_copies(args.augment)
    mels = compute_mels(records, args.trim_silence)
    row = {r.path: i for i, r in enumerate(records)}
    pick = lambda recs: [mels[row[r.path]] for r in recs]  # noqa: E731
    augmented = [r for r in records if r.corpus == MAIN_CORPUS and r.corpus in common_args.corpora]
    copy_mels = {a: compute_mels(augmented, args.trim_silence, a) for a in args.augment}
    copies_of = {r.path: [copy_mels[a][i] for a in args.augment] for i, r in enumerate(augmented)}
    copies = lambda recs: [copies_of.get(r.path, []) for r in recs]  # noqa: E731

    teacher = WhisperTeacher(records) if args.distill else None
    soft = lambda recs: teacher.soft_targets(recs) if teacher else None  # noqa: E731

    def fit_fold(train: list[Record], val: list[Record]) -> ResNetModel:
        return fit(train, pick(train), val, pick(val), args, common_args.seed, common_args.name, train_copies=copies(train),
                   soft_targets=soft(train), known=known)

    def predict(model: ResNetModel, recs: list[Record]) -> np.ndarray:
        return softmax(model.logits_from_mels(pick(recs)))

    if common_args.cv:
        result = common.cross_validate(records, fit_fold, predict, val_speakers=args.val_speakers, seed=common_args.seed,
                                       folds=common_args.folds, started=started, protocol=common_args.protocol,
                                       train_corpora=common_args.corpora)
        print(f"train {result['train_time_s']:.0f} s, wall {result['eval_wall_time_s']:.0f} s", flush=True)
        if common_args.folds is None:
            print("wrote", common.write_cv_result(common_args.name, result))
    if not common_args.final:
        return
    records = [r for r in records if r.corpus in common_args.corpora]  # never the test-only corpora
    train_idx, val_idx = validation_split(records, np.arange(len(records)), n_speakers=args.final_val_speakers, seed=common_args.seed)
    train, val = [records[i] for i in train_idx], [records[i] for i in val_idx]
    tick = time.perf_counter()
    model = fit(train, pick(train), val, pick(val), args, common_args.seed, common_args.name, train_copies=copies(train),
                soft_targets=soft(train), known=known)
    seconds = time.perf_counter() - tick
    check = val or [train[i] for i in np.random.default_rng(common_args.seed).choice(len(train), min(400, len(train)), replace=False)]
    half = args.half_weights and use_half_weights(model, pick(check))
    print(f"final fit {seconds:.0f} s; float16 weights: {'yes' if half else 'no (predictions changed)'}", flush=True)
    data = cards.data_summary(train)
    cv = common.read_cv_result(common_args.name)
    n_params = sum(p.numel() for p in model.network.parameters())
    details = {
        "input": f"silence-trimmed clip -> ser.audio.features.log_mel (64 mel bands, dB, 10 ms hop), normalised with the training "
                 f"set's global mean/std ({model.mean:.1f} / {model.std:.1f} dB)",
        "model": f"{LAYOUT}: BasicBlock x {list(LAYERS)}, channels {[args.base_width * 2**i for i in range(4)]}, "
                 f"{n_params / 1e6:.1f}M parameters, {POOLINGS[args.pooling]} (any clip length), dropout {args.dropout}",
        "initialisation": "trained from scratch (no ImageNet or audio pre-training)",
        "optimiser": f"AdamW (weight decay {args.weight_decay}) with a one-cycle schedule peaking at {args.lr}, batch {args.batch_size}, "
                     f"up to {args.epochs} epochs, class-weighted cross-entropy with label smoothing {args.label_smoothing}",
        "augmentation": f"random {args.crop_seconds:g} s crops, SpecAugment ({args.freq_masks} frequency masks <= {args.freq_mask_bins} "
                        f"bands, {args.time_masks} time masks <= {args.time_mask_frames} frames); each epoch uses every RAVDESS clip "
                        f"and a fresh {args.extra_fraction:.0%} of the TESS clips"
                        + (f"; each RAVDESS clip is drawn as itself or one of its {', '.join(args.augment)} copies" if args.augment else "")
                        + (f"; mixup of clip pairs (Beta({args.mixup:g}, {args.mixup:g}) weights)" if args.mixup else ""),
        **({"distillation": f"each RAVDESS clip's target is {1 - args.distill:g} x its label + {args.distill:g} x the emotion "
                            "probabilities of a Whisper-base head (train/heads/distill.py) that never heard its speaker; the Whisper "
                            "encoder is used in training only"} if args.distill else {}),
        "early stopping (CV folds)": (f"{args.val_speakers} RAVDESS actors of the training fold held out; the best validation-UAR "
                                      f"epoch from {args.select_after:.0%} of the schedule on is kept, patience {args.patience}"
                                      if args.val_speakers else "none: each fold trains the whole schedule and keeps the last "
                                      "epoch, like the final fit (`--val_speakers 2` turns early stopping on)"),
        "final fit": (f"all clips, last epoch ({model.config['training']['best_epoch']})" if not val else
                      f"{args.final_val_speakers} RAVDESS actors held out to pick the epoch ({model.config['training']['best_epoch']})"),
        "training time": f"{seconds / 60:.0f} min wall time with {args.threads} CPU thread{'s' if args.threads > 1 else ''} (final fit)",
        "weights": f"{model.config['weights_dtype']} safetensors",
    }
    model.config["training"].update({**data, "seed": common_args.seed, "train_time_s": round(seconds, 1), **vars(args)})
    model.config["metrics"] = cards.cv_summary(cv)
    summary = (f"CNN speech-emotion baseline: a {LAYOUT} (~{n_params / 1e6:.1f}M parameters) over log-mel spectrograms, "
               "trained from scratch on CPU.")
    model.save(common_args.out, card=cards.model_card(common_args.name, summary, details, data, cv))
    print("saved", common_args.out)
    common.maybe_push(common_args, common_args.out)


if __name__ == "__main__":
    main()
