"""The evaluation protocol for every model family, and the report the README, model cards and app read.

    python -m train.evaluate                     # run the five families' 6-fold actor-disjoint CV, then write the report
    python -m train.evaluate --models resnet18-seed1 whisper-head-bf16   # rerun named rows (or --models all)
    python -m train.evaluate --aggregate_only    # only merge reports/cv/*.json into reports/accuracy.{json,md}

Each family's CV (`python -m train.<family> --cv --no_final`) writes `reports/cv/<model>.json`; this merges them into
`reports/accuracy.json` (per model: UAR, accuracy, macro-F1, per-class recall, summed confusion matrix, calm<->neutral
confusions, fold scores, train time, wall time) and a Markdown table `reports/accuracy.md`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ser import settings
from ser.metrics import compute_metrics, write_report
from train import common, unseen_report

# model name -> (training module, what it is); the order is the report's
FAMILIES = {
    "whisper-head": ("train.whisper_head", "Whisper-base encoder (frozen, first 4 layers), mean, std and 10/50/90% quantiles of its 5 hidden states -> linear head trained on float32 states, RAVDESS copies at other speeds, with noise and telephone-band  [default]"),
    "whisper-linear-probe": ("train.linear_probe", "Whisper-base middle layers (float32 states), mean+std pooled -> logistic regression (floor)"),
    "resnet18": ("train.resnet", "ResNet18 (half width) on log-mel, from scratch, mean+std pooling over time, 2.5-s crops, last of 45 epochs"),
    "classic-mlp": ("train.classic", "MFCC + chroma + mel statistics -> MLP (scikit-learn)"),
    "egemaps-cnn": ("train.egemaps", "openSMILE eGeMAPS (88 parameters per clip) -> StandardScaler fitted on the training folds -> small 1-D CNN, early stopping on 2 held-out training actors, best epoch kept"),
    "egemaps-mlp": ("train.egemaps", "the egemaps-cnn recipe with an MLP instead of the CNN"),
    "whisper-head-egemaps": ("train.fusion", "the default model's recipe with the 88 eGeMAPS parameters appended to its pooled Whisper statistics (cross-validation only, not shipped)"),
    "whisper-head-mean-std": ("train.whisper_head", "ablation: the default model's recipe pooling mean and std only (the default until 2026-11-29)"),
    "whisper-head-speed-only": ("train.whisper_head", "ablation: the default model's recipe without the noisy and telephone-band copies"),
    "whisper-head-finetune2": ("train.whisper_head", "the mean+std recipe on bfloat16 states, but encoder layers 3-4 fine-tuned with the head (3 epochs)"),
    "whisper-head-ravdess-only": ("train.whisper_head", "ablation: the default model's recipe trained on RAVDESS alone, without the TESS clips"),
    "whisper-head-bf16-test": ("train.whisper_head", "whisper-head's fold models scoring bfloat16 states of the test clips: the shipped head where the app encodes in bfloat16 (CPUs with native bfloat16)"),
    "whisper-head-int8-test": ("train.whisper_head", "whisper-head's fold models scoring int8 states of the test clips: the shipped head with SER_ENCODER_DTYPE=int8 (quantised Linear layers, faster on CPUs without bfloat16)"),
    "whisper-head-bf16": ("train.whisper_head", "the default model's recipe trained and tested on bfloat16 encoder states (the shipped head until 2026-11-30; computed on a CPU with native bfloat16)"),
    "whisper-linear-probe-bf16": ("train.linear_probe", "the linear probe on bfloat16 encoder states: the floor whisper-head-bf16 had to beat"),
    "whisper-head-int8": ("train.whisper_head", "the default model's recipe trained and tested on int8 encoder states (quantised Linear layers, SER_ENCODER_DTYPE=int8)"),
    "whisper-head-pitch": ("train.whisper_head", "the default model's recipe with two more copies of every RAVDESS training clip: its voice 2 semitones lower and 2 higher, at the same tempo"),
    # leave-one-corpus-out experiments of the Whisper head (docs/experiments.md, "Voices it never heard")
    "whisper-head-multicorpus-loco": ("train.whisper_head", "the default recipe trained on RAVDESS, TESS and TurEV-DB (every corpus whose licence allows shipping), each corpus weighted the same, leave one corpus out"),
    "whisper-head-multicorpus-reference-loco": ("train.whisper_head", "whisper-head-multicorpus, each speaker's clips normalised by one of their neutral clips (calm in TurEV-DB), as the app's calibration recording; that clip is not scored; leave one corpus out"),
    "whisper-head-multicorpus-speaker-loco": ("train.whisper_head", "whisper-head-multicorpus, each speaker's clips normalised by the mean of all their clips (a long recording of one speaker); leave one corpus out"),
    "whisper-head-multicorpus-channel-loco": ("train.whisper_head", "whisper-head-multicorpus with two more copies of every training clip of every corpus: in a reverberant room through a coloured, band-limited microphone with pink-to-brown noise, and through a low-bitrate Opus or MP3 codec; leave one corpus out"),
    "whisper-head-reference-loco": ("train.whisper_head", "the default model with a reference recording: each speaker's clips scored by its reference head, relative to one of their neutral clips (calm in TurEV-DB), which is not scored; leave one corpus out"),
    "whisper-head-reference": ("train.whisper_head", "the default model with a reference recording: each actor's clips scored by its reference head, relative to one of their neutral clips, which is not scored"),
    "whisper-head-c0.002-loco": ("train.whisper_head", "the default recipe with 10x stronger L2 regularisation (C=0.002): does a simpler head carry across corpora? Leave one corpus out"),
    "whisper-head-lower-loco": ("train.whisper_head", "the default recipe reading the embedding output and layers 1-2 only; leave one corpus out"),
    "whisper-head-upper-loco": ("train.whisper_head", "the default recipe reading layers 3-4 only; leave one corpus out"),
    "whisper-head-centred-loco": ("train.whisper_head", "the default recipe pooling statistics relative to the clip's own mean (std and quantiles minus the mean, no mean); leave one corpus out"),
    "whisper-head-multicorpus-centred-loco": ("train.whisper_head", "whisper-head-multicorpus pooling statistics relative to the clip's own mean; leave one corpus out"),
    "whisper-head-multicorpus-urdu-loco": ("train.whisper_head", "research row, not shippable (URDU is for research only): whisper-head-multicorpus with URDU in training too; leave one corpus out"),
    "resnet18-ravdess-only": ("train.resnet", "ablation: the ResNet18 recipe trained on RAVDESS alone, without the TESS clips (whose neutral clips have no calm counterpart)"),
    "resnet18-epochs30-distilled": ("train.resnet", "the resnet18-epochs30 recipe distilled from the Whisper head: each RAVDESS clip's target is half its label, half the probabilities of a Whisper head that never heard its speaker (train/distill.py)"),
    "resnet18-epochs30-distilled0.8": ("train.resnet", "the resnet18-epochs30-distilled recipe with more weight on the teacher: each RAVDESS clip's target is 20% its label, 80% the Whisper head's probabilities"),
    "resnet18-epochs30": ("train.resnet", "ablation: the ResNet18 recipe with 30 instead of 45 epochs (the one-cycle schedule shortened to match; the default until 2026-11-30)"),
    "resnet18-speed": ("train.resnet", "ablation: the resnet18-epochs30 recipe, each epoch drawing every RAVDESS clip at its own speed or at 0.9x or 1.1x"),
    "resnet18-mean-pooling": ("train.resnet", "ablation: the resnet18-epochs30 recipe with ResNet18's global average pooling only (the default until 2026-11-29)"),
    "resnet18-short-crops": ("train.resnet", "ablation: the resnet18-mean-pooling recipe with 1.5-s crops and 40 epochs (the default until 2026-11-29)"),
    "resnet18-early-stopping": ("train.resnet", "ablation: the resnet18-short-crops recipe, but each fold keeps the best epoch on 2 held-out training actors"),
}
# what `python -m train.evaluate` (make evaluate) reruns by default: the five families, whose CV wall times in
# reports/accuracy.md add up to under three hours on 2 cores (most of it the ResNet; the first run also encodes every clip
# once for the Whisper rows). The other rows are ablations and seeds (all rows together: about 26 hours), each rerun by
# name (--models <row>) or with --models all.
MAIN_ROWS = ("whisper-head", "whisper-linear-probe", "resnet18", "classic-mlp", "egemaps-cnn")
# recipes also run with other seeds (the row itself is seed 0): one run's score is partly luck, and the report gives the
# spread. Their rows are `<recipe>-seed<N>`. Not the Whisper heads: a logistic regression on fixed features does not depend
# on the seed (seed 1 reproduced whisper-head's every fold).
SEEDS = {"resnet18": (1, 2, 3, 4), "resnet18-epochs30": (1, 2), "resnet18-epochs30-distilled0.8": (1, 2, 3, 4),
         "resnet18-speed": (1,), "resnet18-mean-pooling": (1, 2)}
# rows scored, not trained: the members' per-clip CV probabilities (reports/cv/<row>.predictions.csv) averaged, as an
# ensemble of their fold models would predict. Only runs since 2026-11-30 keep those probabilities.
ENSEMBLES = {
    "resnet18-ensemble2": (("resnet18-seed3", "resnet18-seed4"), "two resnet18 models (seeds 3 and 4) with their probabilities "
                                                                  "averaged: what an ensemble buys over one seed, at twice the cost"),
    "whisper-head-resnet18": (("whisper-head", "resnet18-seed4"), "whisper-head and resnet18-seed4 with their "
                                                                            "probabilities averaged: does a spectrogram CNN add to the Whisper head?"),
}
SHORT_CROPS = ["--pooling", "mean", "--crop_seconds", "1.5", "--epochs", "40"]  # the ResNet18 recipe until 2026-11-29
MULTICORPUS = ["--corpora", "ravdess", "tess", "turev", "--balance_corpora"]  # every corpus whose licence allows shipping
# extra arguments of the rows that are not a family's defaults (run_cv adds `--name <row>`)
CV_ARGS = {
    "egemaps-mlp": ["--network", "mlp"],
    "whisper-head-speed-only": ["--augment", "speed0.9", "speed1.1"],
    "whisper-head-mean-std": ["--mean_std_only"],
    "whisper-head-finetune2": ["--finetune_layers", "2", "--mean_std_only", "--states_dtype", "bfloat16"],
    "whisper-head-ravdess-only": ["--corpora", "ravdess"],
    "whisper-head-bf16-test": ["--test_states_dtype", "bfloat16"],
    "whisper-head-int8-test": ["--test_states_dtype", "int8"],
    "whisper-head-bf16": ["--states_dtype", "bfloat16"],
    "whisper-linear-probe-bf16": ["--states_dtype", "bfloat16"],
    "whisper-head-int8": ["--states_dtype", "int8"],
    "whisper-head-pitch": ["--augment", "speed0.9", "speed1.1", "noise", "telephone", "pitch-2", "pitch+2"],
    "whisper-head-multicorpus-loco": [*MULTICORPUS, "--protocol", "loco"],
    "whisper-head-multicorpus-reference-loco": [*MULTICORPUS, "--speaker_norm", "reference", "--protocol", "loco"],
    "whisper-head-multicorpus-speaker-loco": [*MULTICORPUS, "--speaker_norm", "speaker", "--protocol", "loco"],
    "whisper-head-multicorpus-channel-loco": [*MULTICORPUS, "--augment_all", "room", "codec", "--protocol", "loco"],
    "whisper-head-reference-loco": ["--speaker_norm", "reference", "--protocol", "loco"],
    "whisper-head-reference": ["--speaker_norm", "reference"],
    "whisper-head-c0.002-loco": ["--c", "0.002", "--protocol", "loco"],
    "whisper-head-lower-loco": ["--hidden_states", "0", "1", "2", "--protocol", "loco"],
    "whisper-head-upper-loco": ["--hidden_states", "3", "4", "--protocol", "loco"],
    "whisper-head-centred-loco": ["--centre", "--protocol", "loco"],
    "whisper-head-multicorpus-centred-loco": [*MULTICORPUS, "--centre", "--protocol", "loco"],
    "whisper-head-multicorpus-urdu-loco": ["--corpora", "ravdess", "tess", "turev", "urdu", "--balance_corpora", "--protocol", "loco"],
    "resnet18-short-crops": SHORT_CROPS,
    "resnet18-early-stopping": [*SHORT_CROPS, "--val_speakers", "2"],
    # 2 threads (the other ResNet rows: 1) to fit a session; so its train time does not compare with theirs
    "resnet18-ravdess-only": ["--corpora", "ravdess", "--threads", "2"],
    "resnet18-epochs30": ["--epochs", "30"],
    # 30 epochs and 2 threads to fit a session (its train time does not compare with the 1-thread rows); compare it with
    # the resnet18-epochs30 seeds
    "resnet18-epochs30-distilled": ["--epochs", "30", "--distill", "0.5", "--threads", "2"],
    "resnet18-epochs30-distilled0.8": ["--epochs", "30", "--distill", "0.8", "--threads", "2"],
    "resnet18-mean-pooling": ["--pooling", "mean", "--epochs", "30"],
    "resnet18-speed": ["--augment", "speed0.9", "speed1.1", "--epochs", "30"],
}


SEED_SPREAD_HEADING = "## Seed spread"  # bench.readme copies this section's table into docs/experiments.md
# The shipped families under the two other protocols (ser/protocols.py): `<family>-loco` (leave one corpus out, the
# unseen-corpus test) and `<family>-emobox` (EmoBox's RAVDESS folds). `--models unseen` reruns them all.
PROTOCOL_SUFFIXES = {"loco": "-loco", "emobox": "-emobox"}
UNSEEN_ROWS = tuple(f"{family}{suffix}" for suffix in PROTOCOL_SUFFIXES.values() for family in MAIN_ROWS)
# `make evaluate-unseen`: the README's unseen-corpus table (the default model's calibrated and calibrate-to-my-voice
# rows after the rows they are computed from); `make evaluate-emobox`: the rows comparable with EmoBox
LOCO_ROWS = (*(f"{family}-loco" for family in MAIN_ROWS), f"{MAIN_ROWS[0]}-reference-loco",
             f"{MAIN_ROWS[0]}-loco-calibrated", f"{MAIN_ROWS[0]}-reference-loco-calibrated")
GROUPS = {"main": MAIN_ROWS, "unseen": UNSEEN_ROWS, "loco": LOCO_ROWS,
          "emobox": tuple(f"{family}-emobox" for family in MAIN_ROWS)}


def add_protocol_rows(recipes=MAIN_ROWS) -> None:
    """`<recipe>-loco` and `<recipe>-emobox`: the recipe's arguments, cross-validated under that protocol."""
    for recipe in recipes:
        for protocol, suffix in PROTOCOL_SUFFIXES.items():
            module, description = FAMILIES[recipe]
            what = "leave one corpus out" if protocol == "loco" else "EmoBox's RAVDESS folds"
            FAMILIES[recipe + suffix] = (module, f"{recipe} ({description.split('  [')[0]}), {what}")
            CV_ARGS[recipe + suffix] = [*CV_ARGS.get(recipe, []), "--protocol", protocol]
            if module == "train.egemaps":  # its 6-fold row predates masking there; other corpora need it
                CV_ARGS[recipe + suffix].append("--mask_absent_labels")


def add_seed_rows() -> None:
    for recipe, seeds in SEEDS.items():
        for seed in seeds:
            FAMILIES[common.seed_row(recipe, seed)] = (FAMILIES[recipe][0], f"the {recipe} recipe with seed {seed} instead of 0: "
                                                                     "how far a score moves by chance")
            CV_ARGS[common.seed_row(recipe, seed)] = [*CV_ARGS.get(recipe, []), "--seed", str(seed)]


add_seed_rows()
add_protocol_rows()


def add_calibrated_rows(rows=("whisper-head-loco", "whisper-head-reference-loco")) -> None:
    """`<row>-calibrated`: a LOCO row's probabilities temperature-scaled, each corpus by a temperature fitted on the
    others (train/calibrate.py); no training."""
    for row in rows:
        FAMILIES[row + "-calibrated"] = ("train.calibrate", f"{row} with temperature scaling fitted under leave one corpus out")
        CV_ARGS[row + "-calibrated"] = [row]


add_calibrated_rows()

# rows of the one fine-tuning run on a lent GPU (train/finetune_loco.py; docs/experiments.md): in the report, never rerun
# here, since a CPU needs days for them
GPU_MODULE = "train.finetune_loco"
for _variant, _what in (("frozen", "the control: encoder frozen, only the head trained by the same optimiser"),
                        ("top2", "the top 2 of the 4 encoder layers the head reads trained with the head"),
                        ("all4", "all 4 encoder layers and the convolutions trained with the head")):
    for _seed in (0, 1):
        FAMILIES[common.seed_row(f"whisper-finetune-{_variant}-loco", _seed)] = (
            GPU_MODULE, f"fine-tuning on a lent GPU, {_what}; RAVDESS, TESS and TurEV-DB from 12-kbps Opus copies (every other "
                        f"TESS clip), seed {_seed}; leave one corpus out")


@dataclass
class EvaluateArguments:
    models: list[str] = field(default_factory=lambda: list(MAIN_ROWS), metadata={
        "help": f"which rows to cross-validate: row names, or a group: main (the default: {', '.join(MAIN_ROWS)}), unseen "
                "(those five under leave-one-corpus-out and on EmoBox's folds: the -loco and -emobox rows), all (every "
                "row: more than a day on 2 cores); the report merges every row already in reports/cv"})
    aggregate_only: bool = field(default=False, metadata={"help": "do not train; merge existing reports/cv/*.json"})


def cv_arguments(name: str) -> list[str]:
    """The training-script arguments that write reports/cv/<name>.json."""
    if FAMILIES[name][0] == "train.calibrate":  # scored from another row's predictions, not trained
        return CV_ARGS[name]
    extra = [] if FAMILIES[name][0] == "train.linear_probe" else ["--cv", "--no_final"]
    return extra + ([*CV_ARGS[name], "--name", name] if name in CV_ARGS else [])


def rows_to_run(models: list[str]) -> list[str]:
    """The rows `--models` names ('all': every row); exits with one sentence on a name that is not a row."""
    if models == ["all"]:
        return [name for name, (module, _) in FAMILIES.items() if module != GPU_MODULE]
    rows = [row for m in models for row in GROUPS.get(m, (m,))]
    unknown = [m for m in rows if m not in FAMILIES]
    if unknown:
        sys.exit(f"Unknown model family {', '.join(unknown)}; choose from {', '.join(FAMILIES)}, or a group: "
                 f"{', '.join(GROUPS)}, all.")
    return list(dict.fromkeys(rows))


def run_cv(name: str) -> None:
    module = FAMILIES[name][0]
    if module == GPU_MODULE:
        sys.exit(f"{name} comes from a run on a GPU: python -m train.finetune_loco (its docstring has the command); it is not "
                 "rerun here.")
    print(f"== {name}: python -m {module} {' '.join(cv_arguments(name))}", flush=True)
    subprocess.run([sys.executable, "-m", module, *cv_arguments(name)], check=True, cwd=settings.PROJECT_ROOT)


def fold_speakers(fold: dict) -> str:
    """'actors 05-08' for a fold testing ravdess-05 ... ravdess-08 (its name, in runs that record one)."""
    return fold.get("name") or f"actors {fold['test_speakers'][0][-2:]}-{fold['test_speakers'][-1][-2:]}"


def seed_spread(models: dict) -> dict:
    """Per recipe with at least two seeds reported: the UAR and calm<->neutral confusions of each seed."""
    spread = {}
    for recipe, seeds in SEEDS.items():
        ran = [seed for seed in (0, *seeds) if common.seed_row(recipe, seed) in models]
        rows = [common.seed_row(recipe, seed) for seed in ran]
        if len(rows) >= 2 and ran[0] == 0:
            uar = [models[row]["uar"] for row in rows]
            confusions = [models[row]["calm_neutral_confusions"] for row in rows]
            spread[recipe] = {"seeds": ran, "uar": uar, "mean_uar": sum(uar) / len(uar), "calm_neutral_confusions": confusions,
                              "mean_calm_neutral_confusions": sum(confusions) / len(confusions)}
    return spread


def markdown(models: dict, loco: dict | None = None, emobox: dict | None = None) -> str:
    lines = [
        "# Cross-validated accuracy (RAVDESS speech, 8 emotions, 6-fold actor-disjoint)", "",
        "Generated by `python -m train.evaluate` (or `make evaluate`). Every RAVDESS clip is scored once by a model that never "
        "heard its speaker; TESS is only ever in the training folds. UAR = unweighted average recall (chance = 12.5%).", "",
        "| model | UAR | accuracy | macro-F1 | calm<->neutral confusions | UAR per fold (min-max) | UAR, noisy test clips | "
        "train time (6 folds) | CV wall time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in models.items():
        folds = [f["uar"] for f in m["folds"]]
        noisy = f"{m['noisy_test']['uar']:.1%}" if m.get("noisy_test") else "-"
        lines.append(
            f"| {name} | {m['uar']:.1%} | {m['accuracy']:.1%} | {m['macro_f1']:.1%} | {m['calm_neutral_confusions']} | "
            f"{min(folds):.1%}-{max(folds):.1%} | {noisy} | "
            f"{m['train_time_s'] / 60:.1f} min | {m['eval_wall_time_s'] / 60:.1f} min |"
        )
    lines += ["", "Noisy test clips: the same test clips with white noise added at 20 dB SNR, scored by the same fold models "
              "(only where the family's training script runs this check). The Whisper head trains on copies with white noise too "
              "(another draw, 10-30 dB), so real rooms, with other kinds of noise, will cost more than this column shows."]
    spread = seed_spread(models)
    if spread:
        lines += ["", SEED_SPREAD_HEADING, "",
                  "The same recipe run again with other seeds (the `-seed<N>` rows): a difference between two rows smaller "
                  "than a recipe's range here can be luck.", "",
                  "| recipe | seeds | UAR per seed | mean UAR | range | calm<->neutral confusions per seed | mean confusions |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {recipe} | {', '.join(map(str, s['seeds']))} | {', '.join(f'{u:.1%}' for u in s['uar'])} | {s['mean_uar']:.1%} | "
                  f"{(max(s['uar']) - min(s['uar'])) * 100:.1f} points | {', '.join(map(str, s['calm_neutral_confusions']))} | "
                  f"{s['mean_calm_neutral_confusions']:.1f} |"
                  for recipe, s in spread.items()]
    lines += unseen_report.loco_section(loco or {}) + unseen_report.emobox_section(emobox or {})
    for name, m in models.items():
        labels = m["labels"]
        lines += ["", f"## {name}: {m.get('description', '')}", "",
                  "UAR per fold: " + ", ".join(f"{fold_speakers(f)} {f['uar']:.1%}" for f in m["folds"]) + ".", "",
                  "Recall per class: " + ", ".join(f"{k} {v:.0%}" for k, v in m["per_class_recall"].items()) + ".", "",
                  "Confusion matrix (rows = true, columns = predicted):", "",
                  "| true \\ predicted | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        lines += [f"| {labels[i]} | " + " | ".join(str(v) for v in row) + " |" for i, row in enumerate(m["confusion"])]
    return "\n".join(lines) + "\n"


def ensemble_result(members: tuple[str, ...]) -> dict | None:
    """The CV scores of the members' fold models averaging their probabilities, from their reports/cv/*.predictions.csv;
    None until every member has one. Train and wall times are the members' sums."""
    runs = [common.read_cv_predictions(m) for m in members]
    if any(run is None for run in runs):
        return None
    first = runs[0]
    for name, run in zip(members, runs):
        if run.clips != first.clips or run.labels != first.labels or not np.array_equal(run.folds, first.folds):
            sys.exit(f"reports/cv/{name}{common.PREDICTIONS_SUFFIX} scores other clips than {members[0]}'s: rerun its CV.")
    labels = first.labels
    truth = np.array([labels.index(e) for e in first.emotions])
    guess = np.mean([run.probabilities for run in runs], axis=0).argmax(axis=1)
    result = compute_metrics(truth, guess, labels)
    results = [common.read_cv_result(m) for m in members]
    fold_rows = []
    for fold in results[0]["folds"]:
        here = first.folds == fold["fold"]
        scores = compute_metrics(truth[here], guess[here], labels)
        fold_rows.append({**fold, "n": scores["n"], "uar": scores["uar"], "accuracy": scores["accuracy"]})
    result.update(folds=fold_rows, train_time_s=round(sum(r["train_time_s"] for r in results), 1),
                  eval_wall_time_s=round(sum(r["eval_wall_time_s"] for r in results), 1), protocol=results[0]["protocol"])
    return {key: result[key] for key in common.CV_KEYS}


def by_protocol(models: dict) -> dict[str, dict]:
    """The rows split by the protocol they ran (rows from before protocols had ids: ravdess6)."""
    split = {"ravdess6": {}, "emobox": {}, "loco": {}}
    for name, m in models.items():
        split[m.get("protocol_id", "ravdess6")][name] = m
    return split


def aggregate(names: list[str]) -> dict:
    models = {}
    for name in names:
        result = common.read_cv_result(name)
        if result is None:
            print(f"no reports/cv/{name}.json yet: run python -m {FAMILIES[name][0]} {' '.join(cv_arguments(name))}",
                  file=sys.stderr)
            continue
        models[name] = {"description": FAMILIES[name][1], **result}
    for name, (members, description) in ENSEMBLES.items():
        if (result := ensemble_result(members)) is None:
            print(f"no {name} yet: it needs reports/cv/<row>{common.PREDICTIONS_SUFFIX} of {', '.join(members)}", file=sys.stderr)
            continue
        models[name] = {"description": description, "members": list(members), **result}
    return models


def main(argv: list[str] | None = None) -> None:
    (args,) = common.parse_args(EvaluateArguments, argv=argv)
    args.models = rows_to_run(args.models)
    started = time.time()
    if not args.aggregate_only:
        for name in args.models:
            run_cv(name)
    rows = by_protocol(aggregate(list(FAMILIES)))
    models = rows["ravdess6"]
    write_report({"protocol": common.protocol_text(["ravdess", "tess"]), "default_model": settings.DEFAULT_MODEL, "models": models,
                  "seed_spread": seed_spread(models), "loco_protocol": common.LOCO_TEXT, "loco": rows["loco"],
                  "emobox_protocol": common.protocol_text(["ravdess", "tess"], "emobox"), "emobox": rows["emobox"]},
                 command="python -m train.evaluate" + (" --aggregate_only" if args.aggregate_only else ""))
    text = markdown(models, rows["loco"], rows["emobox"])
    (settings.REPORTS_DIR / "accuracy.md").write_text(text)
    print(text)
    print(f"wrote reports/accuracy.json and reports/accuracy.md in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
