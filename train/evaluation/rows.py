"""Every row of the accuracy report: which training module writes it, what it is, and the arguments that make it.

The shipped families (`MAIN_ROWS`), their ablations and seeds, the same recipes under leave-one-corpus-out (`-loco`)
and on EmoBox's RAVDESS folds (`-emobox`), the temperature-scaled rows (`-calibrated`, no training) and the rows of the
one fine-tuning run on a lent GPU (in the report, never rerun here). `train.evaluation.evaluate` runs and merges them.
"""

from __future__ import annotations

from train import common

# model name -> (training module, what it is); the order is the report's
FAMILIES = {
    "whisper-head": ("train.heads.whisper", "Whisper-base encoder (frozen, first 4 layers), mean, std and 10/50/90% quantiles of its 5 hidden states -> linear head trained on float32 states, RAVDESS copies at other speeds, with noise and telephone-band  [default]"),
    "whisper-linear-probe": ("train.heads.linear_probe", "Whisper-base middle layers (float32 states), mean+std pooled -> logistic regression (floor)"),
    "resnet18": ("train.heads.resnet", "ResNet18 (half width) on log-mel, from scratch, mean+std pooling over time, 2.5-s crops, last of 45 epochs"),
    "classic-mlp": ("train.heads.classic", "MFCC + chroma + mel statistics -> MLP (scikit-learn)"),
    "egemaps-cnn": ("train.heads.egemaps", "openSMILE eGeMAPS (88 parameters per clip) -> StandardScaler fitted on the training folds -> small 1-D CNN, early stopping on 2 held-out training actors, best epoch kept"),
    "egemaps-mlp": ("train.heads.egemaps", "the egemaps-cnn recipe with an MLP instead of the CNN"),
    "whisper-head-egemaps": ("train.heads.fusion", "the default model's recipe with the 88 eGeMAPS parameters appended to its pooled Whisper statistics (cross-validation only, not shipped)"),
    "whisper-head-mean-std": ("train.heads.whisper", "ablation: the default model's recipe pooling mean and std only (the default until 2026-11-29)"),
    "whisper-head-speed-only": ("train.heads.whisper", "ablation: the default model's recipe without the noisy and telephone-band copies"),
    "whisper-head-finetune2": ("train.heads.whisper", "the mean+std recipe on bfloat16 states, but encoder layers 3-4 fine-tuned with the head (3 epochs)"),
    "whisper-head-ravdess-only": ("train.heads.whisper", "ablation: the default model's recipe trained on RAVDESS alone, without the TESS clips"),
    "whisper-head-bf16-test": ("train.heads.whisper", "whisper-head's fold models scoring bfloat16 states of the test clips: the shipped head where the app encodes in bfloat16 (CPUs with native bfloat16)"),
    "whisper-head-int8-test": ("train.heads.whisper", "whisper-head's fold models scoring int8 states of the test clips: the shipped head with SER_ENCODER_DTYPE=int8 (quantised Linear layers, faster on CPUs without bfloat16)"),
    "whisper-head-bf16": ("train.heads.whisper", "the default model's recipe trained and tested on bfloat16 encoder states (the shipped head until 2026-11-30; computed on a CPU with native bfloat16)"),
    "whisper-linear-probe-bf16": ("train.heads.linear_probe", "the linear probe on bfloat16 encoder states: the floor whisper-head-bf16 had to beat"),
    "whisper-head-int8": ("train.heads.whisper", "the default model's recipe trained and tested on int8 encoder states (quantised Linear layers, SER_ENCODER_DTYPE=int8)"),
    "whisper-head-pitch": ("train.heads.whisper", "the default model's recipe with two more copies of every RAVDESS training clip: its voice 2 semitones lower and 2 higher, at the same tempo"),
    # leave-one-corpus-out experiments of the Whisper head (docs/experiments.md, "Voices it never heard")
    "whisper-head-multicorpus-loco": ("train.heads.whisper", "the default recipe trained on RAVDESS, TESS and TurEV-DB (every corpus whose licence allows shipping), each corpus weighted the same, leave one corpus out"),
    "whisper-head-multicorpus-reference-loco": ("train.heads.whisper", "whisper-head-multicorpus, each speaker's clips normalised by one of their neutral clips (calm in TurEV-DB), as the app's calibration recording; that clip is not scored; leave one corpus out"),
    "whisper-head-multicorpus-speaker-loco": ("train.heads.whisper", "whisper-head-multicorpus, each speaker's clips normalised by the mean of all their clips (a long recording of one speaker); leave one corpus out"),
    "whisper-head-multicorpus-channel-loco": ("train.heads.whisper", "whisper-head-multicorpus with two more copies of every training clip of every corpus: in a reverberant room through a coloured, band-limited microphone with pink-to-brown noise, and through a low-bitrate Opus or MP3 codec; leave one corpus out"),
    "whisper-head-reference-loco": ("train.heads.whisper", "the default model with a reference recording: each speaker's clips scored by its reference head, relative to one of their neutral clips (calm in TurEV-DB), which is not scored; leave one corpus out"),
    "whisper-head-reference": ("train.heads.whisper", "the default model with a reference recording: each actor's clips scored by its reference head, relative to one of their neutral clips, which is not scored"),
    # the voice profile (issue 40; docs/experiments.md, "Voice profile"): each test speaker with two clips of every emotion
    # of their corpus gives one clip per emotion (seeded) as the profile, which is not scored; the rest are scored
    "whisper-head-profile-loco": ("train.heads.whisper", "the default model with a voice profile: each test speaker's clips scored by its profile head, relative to the mean of one of their clips per emotion of the corpus (not scored); leave one corpus out"),
    "whisper-head-profile-plain-loco": ("train.heads.whisper", "the default model's plain head on the clips whisper-head-profile-loco scores: its comparison on the same clips"),
    "whisper-head-profile-app-loco": ("train.heads.whisper", "whisper-head-profile-loco with the app's profile: one clip each of neutral (calm where there is none), happy, sad, angry"),
    **{f"whisper-head-profile-app{k}-loco": ("train.heads.whisper", f"whisper-head-profile-app-loco with a partial profile: the first {k} of those moods")
       for k in (1, 2, 3)},
    "whisper-head-multicorpus-profile-loco": ("train.heads.whisper", "whisper-head-profile-loco trained on RAVDESS, TESS and TurEV-DB, each corpus weighted the same"),
    "whisper-head-multicorpus-profile-plain-loco": ("train.heads.whisper", "whisper-head-multicorpus's plain head on the clips whisper-head-multicorpus-profile-loco scores"),
    "whisper-head-lower-profile-loco": ("train.heads.whisper", "whisper-head-profile-loco reading the embedding output and layers 1-2 only (half the encoder's layers)"),
    "whisper-head-lower-profile-plain-loco": ("train.heads.whisper", "whisper-head-lower-loco's plain head on the clips whisper-head-lower-profile-loco scores"),
    "whisper-head-lower-loco": ("train.heads.whisper", "the default recipe reading the embedding output and layers 1-2 only; leave one corpus out"),
    "whisper-head-upper-loco": ("train.heads.whisper", "the default recipe reading layers 3-4 only; leave one corpus out"),
    "whisper-head-centred-loco": ("train.heads.whisper", "the default recipe pooling statistics relative to the clip's own mean (std and quantiles minus the mean, no mean); leave one corpus out"),
    "whisper-head-multicorpus-centred-loco": ("train.heads.whisper", "whisper-head-multicorpus pooling statistics relative to the clip's own mean; leave one corpus out"),
    "whisper-head-multicorpus-urdu-loco": ("train.heads.whisper", "research row, not shippable (URDU is for research only): whisper-head-multicorpus with URDU in training too; leave one corpus out"),
    "resnet18-ravdess-only": ("train.heads.resnet", "ablation: the ResNet18 recipe trained on RAVDESS alone, without the TESS clips (whose neutral clips have no calm counterpart)"),
    "resnet18-epochs30-distilled": ("train.heads.resnet", "the resnet18-epochs30 recipe distilled from the Whisper head: each RAVDESS clip's target is half its label, half the probabilities of a Whisper head that never heard its speaker (train/heads/distill.py)"),
    "resnet18-epochs30-distilled0.8": ("train.heads.resnet", "the resnet18-epochs30-distilled recipe with more weight on the teacher: each RAVDESS clip's target is 20% its label, 80% the Whisper head's probabilities"),
    "resnet18-epochs30": ("train.heads.resnet", "ablation: the ResNet18 recipe with 30 instead of 45 epochs (the one-cycle schedule shortened to match; the default until 2026-11-30)"),
    "resnet18-speed": ("train.heads.resnet", "ablation: the resnet18-epochs30 recipe, each epoch drawing every RAVDESS clip at its own speed or at 0.9x or 1.1x"),
    "resnet18-mean-pooling": ("train.heads.resnet", "ablation: the resnet18-epochs30 recipe with ResNet18's global average pooling only (the default until 2026-11-29)"),
    "resnet18-short-crops": ("train.heads.resnet", "ablation: the resnet18-mean-pooling recipe with 1.5-s crops and 40 epochs (the default until 2026-11-29)"),
    "resnet18-early-stopping": ("train.heads.resnet", "ablation: the resnet18-short-crops recipe, but each fold keeps the best epoch on 2 held-out training actors"),
}
# what `python -m train.evaluation.evaluate` (make evaluate) reruns by default: the five families, whose CV wall times in
# reports/accuracy.md add up to under three hours on 2 cores (most of it the ResNet; the first run also encodes every clip
# once for the Whisper rows). The other rows are ablations and seeds (all rows together: about 26 hours), each rerun by
# name (--models <row>) or with --models all.
MAIN_ROWS = ("whisper-head", "whisper-linear-probe", "resnet18", "classic-mlp", "egemaps-cnn")
# recipes also run with other seeds (the row itself is seed 0): one run's score is partly luck, and the report gives the
# spread. Their rows are `<recipe>-seed<N>`. Not the Whisper heads: a logistic regression on fixed features does not depend
# on the seed (seed 1 reproduced whisper-head's every fold).
SEEDS = {"resnet18": (1, 2, 3, 4), "resnet18-epochs30": (1, 2), "resnet18-epochs30-distilled0.8": (1, 2, 3, 4),
         "resnet18-speed": (1,), "resnet18-mean-pooling": (1, 2),
         # the profiles drawn in training and the test speakers' profile clips both follow the seed: how far that moves it
         "whisper-head-profile-loco": (1,)}
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
PROFILE = ["--speaker_norm", "profile"]  # scored with a voice profile (train/inputs/speaker_norm.py)
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
    "whisper-head-lower-loco": ["--hidden_states", "0", "1", "2", "--protocol", "loco"],
    "whisper-head-profile-loco": [*PROFILE, "--protocol", "loco"],
    "whisper-head-profile-plain-loco": [*PROFILE, "--profile_plain", "--protocol", "loco"],
    "whisper-head-profile-app-loco": [*PROFILE, "--profile_moods", "app", "--protocol", "loco"],
    **{f"whisper-head-profile-app{k}-loco": [*PROFILE, "--profile_moods", "app", "--profile_size", str(k), "--protocol", "loco"]
       for k in (1, 2, 3)},
    "whisper-head-multicorpus-profile-loco": [*MULTICORPUS, *PROFILE, "--protocol", "loco"],
    "whisper-head-multicorpus-profile-plain-loco": [*MULTICORPUS, *PROFILE, "--profile_plain", "--protocol", "loco"],
    "whisper-head-lower-profile-loco": ["--hidden_states", "0", "1", "2", *PROFILE, "--protocol", "loco"],
    "whisper-head-lower-profile-plain-loco": ["--hidden_states", "0", "1", "2", *PROFILE, "--profile_plain", "--protocol", "loco"],
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


# The shipped families under the two other protocols (ser/evaluation/protocols.py): `<family>-loco` (leave one corpus out, the
# unseen-corpus test) and `<family>-emobox` (EmoBox's RAVDESS folds). `--models unseen` reruns them all.
PROTOCOL_SUFFIXES = {"loco": "-loco", "emobox": "-emobox"}
UNSEEN_ROWS = tuple(f"{family}{suffix}" for suffix in PROTOCOL_SUFFIXES.values() for family in MAIN_ROWS)
# `make evaluate-unseen`: the README's unseen-corpus table (the default model's calibrated and calibrate-to-my-voice
# rows after the rows they are computed from); `make evaluate-emobox`: the rows comparable with EmoBox
LOCO_ROWS = (*(f"{family}-loco" for family in MAIN_ROWS), f"{MAIN_ROWS[0]}-profile-loco", f"{MAIN_ROWS[0]}-profile-plain-loco",
             *(f"{MAIN_ROWS[0]}-profile-app{k}-loco" for k in ("", 1, 2, 3)),
             f"{MAIN_ROWS[0]}-loco-calibrated", f"{MAIN_ROWS[0]}-profile-loco-calibrated")
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
            if module == "train.heads.egemaps":  # its 6-fold row predates masking there; other corpora need it
                CV_ARGS[recipe + suffix].append("--mask_absent_labels")


def add_seed_rows() -> None:
    for recipe, seeds in SEEDS.items():
        for seed in seeds:
            FAMILIES[common.seed_row(recipe, seed)] = (FAMILIES[recipe][0], f"the {recipe} recipe with seed {seed} instead of 0: "
                                                                     "how far a score moves by chance")
            CV_ARGS[common.seed_row(recipe, seed)] = [*CV_ARGS.get(recipe, []), "--seed", str(seed)]


add_seed_rows()
add_protocol_rows()


def add_calibrated_rows(rows=("whisper-head-loco", "whisper-head-reference-loco", "whisper-head-profile-loco")) -> None:
    """`<row>-calibrated`: a LOCO row's probabilities temperature-scaled, each corpus by a temperature fitted on the
    others (train/calibration/emotion.py); no training."""
    for row in rows:
        FAMILIES[row + "-calibrated"] = ("train.calibration.emotion", f"{row} with temperature scaling fitted under leave one corpus out")
        CV_ARGS[row + "-calibrated"] = [row]


add_calibrated_rows()

# rows of the one fine-tuning run on a lent GPU (train/finetune/loco.py; docs/experiments.md): in the report, never rerun
# here, since a CPU needs days for them
GPU_MODULE = "train.finetune.loco"
for _variant, _what in (("frozen", "the control: encoder frozen, only the head trained by the same optimiser"),
                        ("top2", "the top 2 of the 4 encoder layers the head reads trained with the head"),
                        ("all4", "all 4 encoder layers and the convolutions trained with the head")):
    for _seed in (0, 1):
        FAMILIES[common.seed_row(f"whisper-finetune-{_variant}-loco", _seed)] = (
            GPU_MODULE, f"fine-tuning on a lent GPU, {_what}; RAVDESS, TESS and TurEV-DB from 12-kbps Opus copies (every other "
                        f"TESS clip), seed {_seed}; leave one corpus out")
