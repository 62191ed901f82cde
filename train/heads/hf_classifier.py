"""Fine-tune any transformers audio-classification checkpoint (wav2vec2, HuBERT, WavLM, ...) on the corpora,
in the style of Hugging Face's `examples/pytorch/audio-classification/run_audio_classification.py`.

    python -m train.heads.hf_classifier --model_name_or_path facebook/wav2vec2-base --out assets/models/wav2vec2-base-ser
    python -m train.heads.hf_classifier --model_name_or_path facebook/wav2vec2-base --cv --no_final \
        --eval_strategy epoch --save_strategy epoch --load_best_model_at_end --save_total_limit 1
    python -m train.heads.hf_classifier --config_only tiny --max_steps 5 --out /tmp/tiny-ser     # smoke run, no download
    accelerate launch -m train.heads.hf_classifier --model_name_or_path microsoft/wavlm-base-plus --bf16 ...  # GPUs

Arguments: `train.common.CommonArgs` (--corpora, --out, --name, --seed, --cv, --no_final, --folds, --push_to_hub REPO),
`ModelArguments`, `DataTrainingArguments`, and every `transformers.TrainingArguments` flag (--learning_rate,
--num_train_epochs, --per_device_train_batch_size, --eval_strategy, ...); `--seed` and `--push_to_hub` are the common
ones (checkpoints are never pushed by Trainer). `--model_name_or_path` is a Hub id (needs the Hub), a local checkpoint
folder, or ignored with `--config_only tiny`. The model is saved with `HFAudioModel`: a normal HF checkpoint that also
carries this project's config keys, checksums and model card. Runs unchanged under `accelerate launch`.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from transformers import TrainingArguments

from ser import labels as L
from ser.audio.load import SAMPLE_RATE, AudioError, load_audio
from ser.evaluation.corpora import CorpusError, Record, build_dataset, load_records
from ser.evaluation.metrics import compute_metrics
from ser.models.base import LICENSE, ModelError
from ser.models.hf import HFAudioModel, refuse_custom_code, tiny_wav2vec2_config
from train import common
from train.cards import model_card as cards

TINY = "tiny"
TRAINER_METRICS = ("uar", "accuracy", "macro_f1")  # Trainer logs scalars only; the full report comes from cross_validate
VAL_SPEAKERS = 2  # RAVDESS actors of each CV training fold held out when --eval_strategy asks for evaluation


@dataclass
class ModelArguments:
    """Which checkpoint to fine-tune, and how."""

    model_name_or_path: str = field(default="facebook/wav2vec2-base", metadata={"help": "Hub id or local checkpoint folder"})
    config_only: Optional[str] = field(default=None, metadata={
        "help": "'tiny': a randomly initialised ~40k-parameter wav2vec2 built locally (smoke runs, nothing downloaded)",
        "choices": [TINY]})
    model_revision: str = field(default="main", metadata={"help": "Hub branch, tag or commit (pin a commit for reproducibility)"})
    cache_dir: Optional[str] = field(default=None, metadata={"help": "where Hub downloads are stored"})
    freeze_feature_encoder: bool = field(default=True, metadata={"help": "freeze the convolutional waveform encoder"})
    attention_mask: bool = field(default=True, metadata={"help": "let the feature extractor return attention masks"})
    ignore_mismatched_sizes: bool = field(default=False, metadata={
        "help": "replace the classifier of a checkpoint trained on another label set"})


@dataclass
class DataTrainingArguments:
    """How clips become model inputs (the corpora themselves are `--corpora`)."""

    max_length_seconds: float = field(default=4.0, metadata={"help": "training clips are randomly cropped to this length"})
    max_eval_seconds: float = field(default=30.0, metadata={"help": "evaluation clips are cut to this length"})
    trim_silence: bool = field(default=True, metadata={"help": "trim leading/trailing silence (recorded in config.json "
                                                               "so inference does the same)"})
    max_train_samples: Optional[int] = field(default=None, metadata={"help": "use a random subset of this many clips "
                                                                             "(quick experiments)"})


@dataclass
class SERTrainingArguments(TrainingArguments):
    """`TrainingArguments` with defaults for fine-tuning a speech encoder on a few thousand short clips."""

    learning_rate: float = field(default=3e-5, metadata={"help": "peak learning rate"})
    num_train_epochs: float = field(default=10.0, metadata={"help": "training epochs"})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "batch size per device for training"})
    warmup_steps: float = field(default=0.1, metadata={"help": "warm-up steps, or a fraction (< 1) of all steps"})
    save_strategy: str = field(default="no", metadata={"help": "checkpoints: no, epoch, steps or best"})
    logging_steps: float = field(default=10, metadata={"help": "log every this many steps"})
    metric_for_best_model: Optional[str] = field(default="uar", metadata={"help": "metric for --load_best_model_at_end"})
    remove_unused_columns: bool = field(default=False, metadata={"help": "must stay False: the transform needs the audio column"})
    dataloader_num_workers: int = field(default=0, metadata={"help": "data loader worker processes"})
    dataloader_pin_memory: bool = field(default=torch.cuda.is_available(), metadata={"help": "pin batches (GPU only)"})


# --- arguments -----------------------------------------------------------------------------------------------------
def default_name(margs: ModelArguments) -> str:
    if margs.config_only:
        return f"hf-{margs.config_only}"
    return f"{Path(margs.model_name_or_path.rstrip('/')).name}-ser"


Arguments = tuple[common.CommonArgs, ModelArguments, DataTrainingArguments, SERTrainingArguments]


def parse_arguments(argv: list[str] | None = None) -> Arguments:
    """Common, model and data arguments first; whatever is left goes to `TrainingArguments` (through `common.parse_args`).

    Two passes because `CommonArgs` and `TrainingArguments` both define --seed and --push_to_hub: ours win.
    """
    from transformers import HfArgumentParser

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser((common.CommonArgs, ModelArguments, DataTrainingArguments), allow_abbrev=False,
                              epilog="Any transformers.TrainingArguments flag is accepted as well (--learning_rate, ...).")
    cargs, margs, dargs, rest = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True,
                                                                   look_for_args_file=False)
    cargs.resolve(default_name(margs))
    if not any(a.split("=")[0] in ("--output_dir", "--output-dir") for a in rest):
        rest += ["--output_dir", str(Path(tempfile.gettempdir()) / f"{cargs.name}-trainer")]  # logs, checkpoints
    (targs,) = common.parse_args(SERTrainingArguments, argv=rest + ["--seed", str(cargs.seed)])
    targs.remove_unused_columns = False  # Trainer would drop the audio column before the transform reads it
    return cargs, margs, dargs, targs


# --- model ---------------------------------------------------------------------------------------------------------
def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def load_pretrained(margs: ModelArguments, labels: list[str], config: dict) -> HFAudioModel:
    """A Hub or local checkpoint with a fresh `labels` head: safetensors only, never custom code; one-sentence errors."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

    source = margs.model_name_or_path
    local = Path(source).expanduser().is_dir()
    if local:
        refuse_custom_code(source)
    hub = dict(revision=margs.model_revision, cache_dir=margs.cache_dir, trust_remote_code=False, local_files_only=local)
    try:
        feature_extractor = AutoFeatureExtractor.from_pretrained(source, return_attention_mask=margs.attention_mask, **hub)
        hf_config = AutoConfig.from_pretrained(
            source, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
            finetuning_task="audio-classification", **hub)
        if getattr(hf_config, "auto_map", None):
            raise ModelError(f"Refusing {source}: its config asks for custom code (auto_map), which this project never runs.")
        model = AutoModelForAudioClassification.from_pretrained(
            source, config=hf_config, use_safetensors=True, ignore_mismatched_sizes=margs.ignore_mismatched_sizes, **hub)
    except ModelError:
        raise
    except OSError as err:
        if local:
            raise ModelError(f"{source} is not a transformers checkpoint with safetensors weights ({_first_line(err)}).") from None
        raise ModelError(f"Could not get {source} from the Hugging Face Hub (offline, unknown id, or no safetensors "
                         "weights); pass a local checkpoint folder or --config_only tiny.") from None
    except (ValueError, KeyError, RuntimeError) as err:
        raise ModelError(f"Could not use {source} as an audio classifier ({_first_line(err)}); for a checkpoint trained "
                         "on other labels add --ignore_mismatched_sizes.") from None
    return HFAudioModel(config, model, feature_extractor)


def build_model(margs: ModelArguments, labels: list[str], config: dict, seed: int) -> HFAudioModel:
    """A fresh classifier: the tiny random wav2vec2, or a pretrained checkpoint; feature encoder frozen if asked."""
    from transformers import set_seed

    set_seed(seed)  # the new classifier head (or the whole tiny model) is randomly initialised
    if margs.config_only == TINY:
        model = HFAudioModel.from_config(tiny_wav2vec2_config(), labels, config=config)
    else:
        model = load_pretrained(margs, labels, config)
    if margs.freeze_feature_encoder and hasattr(model.model, "freeze_feature_encoder"):
        model.model.freeze_feature_encoder()
    return model


# --- data ----------------------------------------------------------------------------------------------------------
def random_crop(wave: np.ndarray, max_samples: int) -> np.ndarray:
    """A random window of `max_samples` (the whole clip when shorter): cheap augmentation, bounded memory."""
    if wave.size <= max_samples:
        return wave
    start = random.randint(0, wave.size - max_samples)  # seeded by Trainer
    return wave[start : start + max_samples]


def make_transform(feature_extractor, dargs: DataTrainingArguments, train: bool):
    """`with_transform` function: load with `ser.audio.load.load_audio`, crop (train) or cut (eval), run the feature extractor."""
    seconds = dargs.max_length_seconds if train else dargs.max_eval_seconds
    max_samples = int(round(seconds * SAMPLE_RATE))
    input_name = feature_extractor.model_input_names[0]

    def transform(batch: dict) -> dict:
        waves = []
        for item in batch["audio"]:
            wave = load_audio(item["path"], trim=dargs.trim_silence)
            waves.append(random_crop(wave, max_samples) if train else wave[:max_samples])
        inputs = feature_extractor(waves, sampling_rate=SAMPLE_RATE)  # padding happens per batch, in the collator
        return {input_name: inputs[input_name], "labels": list(batch["label"])}

    return transform


def make_dataset(records: list[Record], labels: list[str], feature_extractor, dargs: DataTrainingArguments, train: bool):
    return build_dataset(records, tuple(labels)).with_transform(make_transform(feature_extractor, dargs, train))


def subsample(records: list[Record], n: int | None, seed: int) -> list[Record]:
    if n is None or n >= len(records):
        return records
    keep = np.random.default_rng(seed).choice(len(records), size=n, replace=False)
    return [records[i] for i in sorted(keep)]


# --- training ------------------------------------------------------------------------------------------------------
def trainer_metrics(labels: list[str]):
    """`compute_metrics` for Trainer: UAR, accuracy and macro-F1 from `ser.evaluation.metrics`."""

    def compute(eval_pred) -> dict:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        scores = compute_metrics(eval_pred.label_ids, np.argmax(logits, axis=-1), labels)
        return {key: scores[key] for key in TRAINER_METRICS}

    return compute


def train_model(model: HFAudioModel, train: list[Record], val: list[Record], targs: SERTrainingArguments,
                dargs: DataTrainingArguments) -> HFAudioModel:
    """Fine-tune with `Trainer` (evaluating on `val` when --eval_strategy asks); returns the model in eval mode."""
    from transformers import Trainer

    evaluate = bool(val) and targs.eval_strategy != "no"
    if not evaluate and (targs.eval_strategy != "no" or targs.load_best_model_at_end):
        targs = dataclasses.replace(targs, eval_strategy="no", load_best_model_at_end=False)  # e.g. the final fit
    trainer = Trainer(
        model=model.model, args=targs, processing_class=model.feature_extractor,  # -> DataCollatorWithPadding
        train_dataset=make_dataset(train, model.labels, model.feature_extractor, dargs, train=True),
        eval_dataset=make_dataset(val, model.labels, model.feature_extractor, dargs, train=False) if evaluate else None,
        compute_metrics=trainer_metrics(model.labels) if evaluate else None,
    )
    trainer.train()
    model.model = trainer.model.eval()
    return model


def describe(margs: ModelArguments, dargs: DataTrainingArguments, targs: SERTrainingArguments) -> dict:
    base = "tiny randomly initialised wav2vec2 (smoke test)" if margs.config_only else \
        f"{margs.model_name_or_path} (revision {margs.model_revision})"
    length = f"{targs.max_steps} steps" if targs.max_steps > 0 else f"{targs.num_train_epochs:g} epochs"
    return {
        "base_model": base,
        "preprocessing": ("trim silence (40 dB below peak) -> " if dargs.trim_silence else "")
                         + f"feature extractor at {SAMPLE_RATE} Hz; random {dargs.max_length_seconds:g}-s crops in training",
        "training": f"{length}, lr {targs.learning_rate:g}, batch {targs.per_device_train_batch_size}, "
                    f"{getattr(targs.lr_scheduler_type, 'value', targs.lr_scheduler_type)} schedule, feature encoder "
                    f"{'frozen' if margs.freeze_feature_encoder else 'trained'}, HF Trainer",
    }


def run(argv: list[str] | None = None) -> Path | None:
    """Cross-validate (--cv) and/or fit on every clip and save; returns the saved model directory."""
    cargs, margs, dargs, targs = parse_arguments(argv)
    common.set_seed(cargs.seed)
    labels = list(L.EMOTIONS)
    records = subsample(load_records(cargs.corpora), dargs.max_train_samples, cargs.seed)
    if not records:
        raise CorpusError(f"No clips found in {', '.join(cargs.corpora)}; set SER_DATA_DIR to where your corpora are.")
    fold_config = {"labels": labels, "trim_silence": dargs.trim_silence}

    def fit(train: list[Record], val: list[Record]) -> HFAudioModel:
        return train_model(build_model(margs, labels, fold_config, cargs.seed), train, val, targs, dargs)

    cv = None
    if cargs.cv:
        val_speakers = VAL_SPEAKERS if targs.eval_strategy != "no" else 0
        result = common.cross_validate(records, fit, labels=tuple(labels), val_speakers=val_speakers, seed=cargs.seed,
                                       folds=cargs.folds)
        print(f"CV UAR {result['uar']:.3f}, accuracy {result['accuracy']:.3f}, macro-F1 {result['macro_f1']:.3f}")
        if cargs.folds is None and targs.should_save:
            print("wrote", common.write_cv_result(cargs.name, result))
            cv = result
    cv = cv or common.read_cv_result(cargs.name)
    if not cargs.final:
        return None
    tick = time.time()
    model = fit(records, [])
    data = cards.data_summary(records)
    config = {
        "name": cargs.name, "labels": labels, "sample_rate": SAMPLE_RATE, "trim_silence": dargs.trim_silence,
        **describe(margs, dargs, targs), "training_data": data, "train_time_s": round(time.time() - tick, 1),
        "metrics": cards.cv_summary(cv), "license": LICENSE,
    }
    model = HFAudioModel(config, model.model, model.feature_extractor)
    if not targs.should_save:  # other accelerate processes: the main one writes the files
        return None
    card = cards.model_card(cargs.name, "Speech emotion classifier: a fine-tuned transformers audio-classification "
                             "model (loads with `AutoModelForAudioClassification`).", describe(margs, dargs, targs), data, cv)
    model.save(cargs.out, card=card)
    print(f"saved {cargs.out}")
    common.maybe_push(cargs, cargs.out)
    return Path(cargs.out)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: bad models, audio or corpora end the run with one sentence, not a traceback."""
    try:
        run(argv)
    except (ModelError, AudioError, CorpusError) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
