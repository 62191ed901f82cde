"""The default model: a linear classifier on pooled statistics of the lower frozen Whisper-base layers.

wave -> trim silence -> Whisper log-mel -> frozen encoder, first 4 of its 6 layers (5 hidden states, no 30-s padding)
     -> mean, standard deviation and 10/50/90% quantiles over time of each state (5 x 2560) -> standardise
     -> emotion (and gender) logits.
Only the head is trained and shipped; the encoder comes from the PyPI wheels (see `ser.encoders.offline`).
Why quantiles: with them the same linear head scores 78.9% UAR instead of 77.6% with mean and std alone (the whisper-head
and whisper-head-mean-std rows of reports/accuracy.md); older heads without them (no `pooling_quantiles` in config) still load.
Why linear: on the 6-fold actor-disjoint protocol it scored as well as the attentive-pooling and MLP heads we tried,
trains in seconds, and cannot overfit 24 speakers as easily.
Why 4 layers: in that protocol the top two layers added nothing (mean+std pooling, speed copies only: 4 layers in bfloat16
76.9% UAR, `git show 016dedb:reports/accuracy.md`; all 6 in float32, 76.5%, `git show b4ace8f:reports/accuracy.md`)
and cost a third of the encoder's time. The app's encoder runs on the path timed fastest on the CPU (`ser.encoders.path`;
bfloat16 only where the CPU computes it natively);
the shipped head is trained on float32 states, and the CV scores it on both (whisper-head, whisper-head-bf16-test).
Optionally (config `finetuned_layers`: k) the top k of those layers are trained with the head and shipped with it;
the frozen encoder then runs only the layers below them (`python -m train.heads.whisper --finetune_layers 2`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ser.audio import load as audio
from ser.audio import features
from ser.encoders.offline import ENCODER_LAYERS
from ser.models.base import WEIGHTS_FILE, EmotionModel, ModelError, softmax

LEGACY_ENCODER_LAYERS = 6  # heads whose config does not say read all 6 layers (the first shipped version)
D_MODEL = 512
MAX_FRAMES = 3000  # the encoder's 30-s limit; longer clips are scored in 30-s pieces
MAX_SAMPLES = MAX_FRAMES * features.HOP_LENGTH
PROFILE_PREFIX = "profile."  # weights of the optional voice-profile head, beside the main head's in one file
LEGACY_REFERENCE_PREFIX = "reference."  # the neutral-reference head of older heads, which a profile replaced
QUANTILES = (0.1, 0.5, 0.9)  # pooled beside mean and std by new heads: the shape of each feature's spread over time


def n_features(encoder_layers: int = ENCODER_LAYERS, quantiles: tuple[float, ...] = QUANTILES) -> int:
    """Length of the pooled vector: mean, std and the quantiles (512 values each) of the embedding output and each layer read."""
    return (encoder_layers + 1) * (2 + len(quantiles)) * D_MODEL


def centred_statistics(pooled: torch.Tensor | np.ndarray, quantiles: tuple[float, ...] = QUANTILES):
    """Pooled statistics relative to the clip itself: per state, the std and the quantiles minus the mean over time,
    without the mean. The mean of each state over the clip carries the speaker's voice and the microphone as much as the
    emotion; what moves within the clip carries less of them (the cepstral-mean-normalisation idea, on encoder states)."""
    x = torch.as_tensor(pooled)
    n_stats = 2 + len(quantiles)
    x = x.reshape(*x.shape[:-1], -1, n_stats, D_MODEL)
    out = torch.cat([x[..., 1:2, :], x[..., 2:, :] - x[..., 0:1, :]], dim=-2).flatten(-3)
    return out.numpy() if isinstance(pooled, np.ndarray) else out


def pairwise_spread(z: np.ndarray) -> float:
    """The mean squared difference between two rows of standardised statistics `z` [clips, features], over every pair:
    0 for identical clips. The training (train/cards/profile_config.py) chooses the near-identical level with it."""
    pairs = [(i, j) for i in range(len(z)) for j in range(i + 1, len(z))]
    return float(np.mean([np.mean((z[i] - z[j]) ** 2) for i, j in pairs])) if pairs else 0.0


class WhisperHead(nn.Module):
    """Standardisation + linear emotion and gender outputs over pooled statistics [B, n_features(encoder_layers)],
    and, when `finetuned_layers` > 0, the trained copies of the encoder's top layers (`top`)."""

    def __init__(self, n_labels: int, n_genders: int = 0, encoder_layers: int = ENCODER_LAYERS, finetuned_layers: int = 0,
                 dropout: float = 0.0, quantiles: tuple[float, ...] = QUANTILES, centre: bool = False):
        super().__init__()
        from ser.encoders.whisper import EncoderLayer

        self.quantiles = tuple(quantiles)
        self.centre = centre  # read the statistics relative to the clip's own mean (`centred_statistics`)
        size = n_features(encoder_layers, self.quantiles)
        size = size // (2 + len(self.quantiles)) * (1 + len(self.quantiles)) if centre else size
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("scale", torch.ones(size))
        self.top = nn.ModuleList(EncoderLayer() for _ in range(finetuned_layers)) if finetuned_layers else None
        self.dropout = nn.Dropout(dropout)  # only while training; no weights
        self.emotion = nn.Linear(size, n_labels)
        self.gender = nn.Linear(size, n_genders) if n_genders else None

    def novelty(self, pooled: torch.Tensor) -> torch.Tensor:
        """Mean squared z-score of each clip's pooled statistics under the training clips' mean and spread: about 1 for
        a clip like those it learned from, far more for a voice, language or microphone unlike them."""
        return ((self.inputs(pooled) - self.mean) / self.scale).pow(2).mean(dim=-1)

    def inputs(self, pooled: torch.Tensor) -> torch.Tensor:
        """What the standardisation and the outputs read: the pooled statistics, or their clip-centred form."""
        return centred_statistics(pooled, self.quantiles) if self.centre else pooled

    def forward(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.dropout((self.inputs(pooled) - self.mean) / self.scale)
        return self.emotion(x), (self.gender(x) if self.gender is not None else None)

    def top_statistics(self, x: torch.Tensor) -> torch.Tensor:
        """Input of the first fine-tuned layer [B, T, D_MODEL] -> pooled statistics of each fine-tuned layer's output.
        Runs in bfloat16 autocast where the encoder does, in training and inference alike."""
        from ser.encoders.precision import fast_dtype

        outputs, x = [], x.float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast_dtype() == torch.bfloat16):
            for layer in self.top:
                x = layer(x)
                outputs.append(x)
        return pooled_statistics(torch.stack(outputs, dim=1), self.quantiles)

    def statistics(self, frozen: torch.Tensor, top_input: torch.Tensor | None) -> torch.Tensor:
        """What the outputs read: the frozen states' pooled statistics [B, ...], then the fine-tuned layers' (if any)."""
        return frozen if self.top is None else torch.cat([frozen, self.top_statistics(top_input)], dim=-1)


def pooled_statistics(states: torch.Tensor, quantiles: tuple[float, ...] = QUANTILES) -> torch.Tensor:
    """[..., states, T, D_MODEL] -> mean, std and `quantiles` over time of each state, flattened state by state to
    [..., states * (2 + len(quantiles)) * D_MODEL] (so the frozen and the fine-tuned states' vectors concatenate)."""
    states = states.float()
    return torch.cat([states.mean(dim=-2), states.std(dim=-2, correction=0), *time_quantiles(states, quantiles)], dim=-1).flatten(-2)


def time_quantiles(states: torch.Tensor, quantiles: tuple[float, ...]) -> list[torch.Tensor]:
    """Quantiles over time (dim -2) with linear interpolation, equal to `torch.quantile`'s (which refuses inputs over 16M
    values). Without gradients the frames of CPU tensors are sorted by numpy, whose vectorised sort took ~1 ms where
    torch's took ~10 (5 states x 200 frames x 512 = a 4-s clip, 2 threads; ad-hoc timing)."""
    if not quantiles:
        return []
    if states.requires_grad or states.device.type != "cpu":  # fine-tuning (torch's sort is differentiable), or a GPU
        ordered = states.sort(dim=-2).values.transpose(-1, -2)
    else:
        ordered = torch.from_numpy(np.sort(np.ascontiguousarray(states.detach().transpose(-1, -2).numpy()), axis=-1))
    last = states.shape[-2] - 1
    out = []
    for q in quantiles:
        low, frac = int(q * last), q * last - int(q * last)
        out.append(ordered[..., low] * (1 - frac) + ordered[..., min(low + 1, last)] * frac)
    return out


def preprocess(wave: np.ndarray) -> np.ndarray:
    """Trim leading/trailing silence and compute Whisper's log-mel; training and inference share this exactly."""
    return features.whisper_log_mel(audio.trim_silence(wave))


def hidden_states(wave: np.ndarray, encoder_layers: int = ENCODER_LAYERS, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Frozen-encoder states [encoder_layers + 1, T, D_MODEL] for one clip of at most 30 s. Without `dtype` (inference),
    in the encoder's fast dtype on this CPU and on the runtime `SER_ENCODER_RUNTIME` picks (`ser.encoders.runtime`);
    with it (training's cached states), on torch in that dtype."""
    from ser.encoders.offline import encode, load_encoder

    mel = preprocess(wave[:MAX_SAMPLES])
    if dtype is None:
        from ser.encoders.runtime import encoder_states

        return encoder_states(mel, encoder_layers)
    return torch.stack(encode(load_encoder(dtype=dtype), mel[None], n_layers=encoder_layers), dim=1)[0]


class WhisperHeadModel(EmotionModel):
    kind = "whisper_head"

    def __init__(self, config: dict, head: WhisperHead | None = None):
        super().__init__(config)
        self.encoder_layers = config.get("encoder_layers", LEGACY_ENCODER_LAYERS)
        if self.encoder_layers not in range(1, LEGACY_ENCODER_LAYERS + 1):
            raise ModelError(f"This Whisper head's config asks for {self.encoder_layers!r} encoder layers; Whisper base has 1 to 6.")
        self.finetuned_layers = config.get("finetuned_layers", 0)
        if self.finetuned_layers not in range(self.encoder_layers):
            raise ModelError(f"This Whisper head's config asks for {self.finetuned_layers!r} fine-tuned layers; "
                             f"it reads {self.encoder_layers}, so 0 to {self.encoder_layers - 1} can be fine-tuned.")
        quantiles = config.get("pooling_quantiles", [])  # heads from before quantile pooling: mean and std only
        if not isinstance(quantiles, list) or not all(isinstance(q, (int, float)) and 0 <= q <= 1 for q in quantiles):
            raise ModelError(f"This Whisper head's config asks for pooling quantiles {quantiles!r}; give a list of numbers from 0 to 1.")
        self.head = head or WhisperHead(len(self.labels), len(self.gender_labels or []), self.encoder_layers, self.finetuned_layers,
                                        quantiles=tuple(quantiles), centre=bool(config.get("centred_pooling")))
        self.config["centred_pooling"] = self.head.centre
        self.config["pooling_quantiles"] = list(self.head.quantiles)  # a trained head's own pooling is what gets saved
        self.head.eval()
        # optional second emotion head, on pooled statistics minus the speaker's voice profile (the mean of a few of
        # their clips in mixed moods: ser.profile); trained with `--speaker_norm profile`
        self.profile_head: WhisperHead | None = None
        if config.get("profile"):
            self.profile_head = WhisperHead(len(self.labels), 0, self.encoder_layers, quantiles=self.head.quantiles,
                                            centre=self.head.centre).eval()

    @property
    def supports_profile(self) -> bool:
        return self.profile_head is not None

    @torch.no_grad()
    def clip_statistics(self, waves: list[np.ndarray]) -> np.ndarray:
        """The pooled statistics of each clip (30-s pieces averaged) [clips, features]: what a voice profile averages."""
        from ser.encoders.runtime import map_clips

        pieces = [[w[i : i + MAX_SAMPLES] for i in range(0, len(w), MAX_SAMPLES)] for w in waves]
        pooled = iter(map_clips(self._pooled, [p for clip in pieces for p in clip]))
        return np.stack([torch.stack([next(pooled) for _ in clip]).mean(dim=0).numpy() for clip in pieces])

    def profile_spread(self, vectors: np.ndarray) -> float:
        """How different a profile's clips sound from each other (`pairwise_spread` of their standardised statistics).
        Compared with `profile.min_spread` of the config."""
        return pairwise_spread((np.asarray(vectors, dtype=np.float32) - self.head.mean.numpy()) / self.head.scale.numpy())

    @torch.no_grad()
    def _logits(self, waves: list[np.ndarray], profile: np.ndarray | None = None):
        """Plain emotion logits, the profile head's (None without a profile), gender logits (or None) and novelty per
        clip, from one encoder pass. Returned, not kept on the model: the app runs two analyses at once on one model."""
        from ser.encoders.runtime import map_clips

        plain, profiled, gender, novelty, pieces = [], [], [], [], []
        for wave in waves:
            # up to 30 s in one pass; longer clips in 30-s pieces (a short tail is dropped) whose logits are averaged
            pieces.append([wave[i : i + MAX_SAMPLES] for i in range(0, len(wave), MAX_SAMPLES)])
            if len(pieces[-1]) > 1 and len(pieces[-1][-1]) < MAX_SAMPLES // 10:
                pieces[-1].pop()
        pooled_pieces = iter(map_clips(self._pooled, [piece for wave_pieces in pieces for piece in wave_pieces]))  # side by side
        use_profile = profile is not None and self.profile_head is not None
        for wave_pieces in pieces:
            pooled = torch.stack([next(pooled_pieces) for _ in wave_pieces])
            e, g = self.head(pooled)
            novelty.append(float(self.head.novelty(pooled).mean()))
            plain.append(e.mean(dim=0))
            if use_profile:
                profiled.append(self.profile_head(pooled - torch.as_tensor(profile, dtype=pooled.dtype))[0].mean(dim=0))
            gender.append(None if g is None else g.mean(dim=0))
        g_out = None if gender[0] is None else torch.stack(gender).numpy()
        return torch.stack(plain).numpy(), (torch.stack(profiled).numpy() if use_profile else None), g_out, np.array(novelty)

    def _pooled(self, wave: np.ndarray) -> torch.Tensor:
        """Pooled statistics of the frozen layers' states, then of the fine-tuned layers' (if any), for one piece."""
        states = hidden_states(wave, self.encoder_layers - self.finetuned_layers)
        return self.head.statistics(pooled_statistics(states, self.head.quantiles)[None], states[-1:])[0]

    def predict_logits(self, waves: list[np.ndarray]) -> np.ndarray:
        return self._logits(waves)[0]

    def predict_both(self, waves: list[np.ndarray], profile: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Emotion and gender probabilities from one encoder pass (the app shows both); with the speaker's voice profile
        (`ser.profile.VoiceProfile.vector`), emotion comes from the profile head (when the model has one)."""
        return self.predict_details(waves, profile)[:2]

    def predict_gender(self, waves: list[np.ndarray]) -> np.ndarray | None:
        return self.predict_both(waves)[1] if self.gender_labels else None

    def predict_details(self, waves: list[np.ndarray], profile: np.ndarray | None = None):
        """`predict_both` and each clip's novelty (`WhisperHead.novelty`), from the same encoder pass."""
        with_profile, plain, gender, novelty = self.predict_modes(waves, profile)
        return (plain if with_profile is None else with_profile), gender, novelty

    def predict_modes(self, waves: list[np.ndarray], profile: np.ndarray | None = None):
        """From one encoder pass: emotion probabilities with the profile (None without one, or without a profile head;
        at the profile mode's own temperature), without it, gender probabilities (or None) and novelty per clip."""
        plain, profiled, g, novelty = self._logits(list(waves), profile)
        gender = self.gender_probabilities(g) if g is not None else None
        if profiled is None:
            return None, self.probabilities(plain), gender, novelty
        temperature = self.config.get("profile", {}).get("temperature", self.temperature)
        profiled = softmax(np.asarray(profiled, np.float64) / temperature).astype(np.float32)
        return profiled, self.probabilities(plain), gender, novelty

    def _save_weights(self, model_dir: Path) -> None:
        # the linear head in float32: it is only ~0.5 MB, and fp16 would cost precision in the standardisation statistics.
        # Fine-tuned layers in float16, as the pretrained weights came (6.3 MB per layer); rounded in memory first, so the
        # model that was saved and the one that is loaded predict the same.
        if self.head.top is not None:
            with torch.no_grad():
                for param in self.head.top.parameters():
                    param.copy_(param.half().float())
        state = {k: (v.half() if k.startswith("top.") else v).detach().contiguous() for k, v in self.head.state_dict().items()}
        if self.profile_head is not None:
            state |= {f"{PROFILE_PREFIX}{k}": v.detach().contiguous() for k, v in self.profile_head.state_dict().items()}
        save_file(state, str(model_dir / WEIGHTS_FILE))

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> "WhisperHeadModel":
        model = cls(config)
        state = load_file(str(Path(model_dir) / WEIGHTS_FILE))
        # heads from before the voice profile carried a neutral-reference head ("reference."): no longer used
        state = {k: v for k, v in state.items() if not k.startswith(LEGACY_REFERENCE_PREFIX)}
        profile = {k.removeprefix(PROFILE_PREFIX): v for k, v in state.items() if k.startswith(PROFILE_PREFIX)}
        try:
            model.head.load_state_dict({k: v for k, v in state.items() if not k.startswith(PROFILE_PREFIX)}, strict=True)
            if model.profile_head is not None or profile:
                if model.profile_head is None:
                    raise RuntimeError("profile-head weights without a 'profile' entry in the config")
                model.profile_head.load_state_dict(profile, strict=True)
        except RuntimeError as error:  # e.g. weights trained on another number of encoder layers than the config says
            raise ModelError(f"The Whisper head's weights do not match its config ({str(error).splitlines()[0]}).") from error
        model.head.eval()
        return model
