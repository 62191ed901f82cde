"""Whisper-base's audio encoder in plain torch (OpenAI, MIT licence), and `encode`, which runs it on log-mel features.

The module is written op for op as transformers' `WhisperEncoder` computes it (tests/test_whisper_offline.py checks the
states are equal, in float32 and bfloat16), and names its parameters as transformers does, so the same state dict loads
into either (strict). Why not transformers' class itself: importing it pulls in transformers' whole modelling stack
(~2.4 s), which every CLI run, app start and benchmark paid for five small layers. Weights: `ser.encoders.offline`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# Whisper base encoder hyper-parameters
N_MELS = 80
N_STATE = 512
N_HEAD = 8
N_LAYER = 6
N_FFN = 4 * N_STATE
HEAD_DIM = N_STATE // N_HEAD
N_CTX = 1500  # positions: 30 s at 2 mel frames per position
N_FRAMES = 2 * N_CTX  # 3000 mel frames = 30 s, the longest input the positional table covers


class SelfAttention(nn.Module):
    """Whisper's multi-head self-attention; the key projection has no bias."""

    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(N_STATE, N_STATE)
        self.k_proj = nn.Linear(N_STATE, N_STATE, bias=False)
        self.v_proj = nn.Linear(N_STATE, N_STATE)
        self.out_proj = nn.Linear(N_STATE, N_STATE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, frames, _ = x.shape
        heads = (batch, frames, N_HEAD, HEAD_DIM)
        # the query is scaled before the product, as Whisper and transformers do (the rounding differs otherwise)
        q = (self.q_proj(x) * HEAD_DIM**-0.5).view(heads).transpose(1, 2).contiguous()
        k = self.k_proj(x).view(heads).transpose(1, 2).contiguous()
        v = self.v_proj(x).view(heads).transpose(1, 2).contiguous()
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return self.out_proj(out.transpose(1, 2).reshape(batch, frames, N_STATE))


class EncoderLayer(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self):
        super().__init__()
        self.self_attn = SelfAttention()
        self.self_attn_layer_norm = nn.LayerNorm(N_STATE)
        self.fc1 = nn.Linear(N_STATE, N_FFN)
        self.fc2 = nn.Linear(N_FFN, N_STATE)
        self.final_layer_norm = nn.LayerNorm(N_STATE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm(x))
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class WhisperBaseEncoder(nn.Module):
    """Whisper-base's audio encoder, parameters named as in transformers' `WhisperEncoder`. Run it with `encode`."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, N_STATE, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(N_STATE, N_STATE, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(N_CTX, N_STATE)
        self.layers = nn.ModuleList(EncoderLayer() for _ in range(N_LAYER))
        self.layer_norm = nn.LayerNorm(N_STATE)


def new_encoder() -> WhisperBaseEncoder:
    """An untrained encoder with Whisper-base's shape."""
    return WhisperBaseEncoder()


def encode(
    encoder: WhisperBaseEncoder, log_mel: torch.Tensor | np.ndarray, output_hidden_states: bool = True, n_layers: int = N_LAYER
) -> tuple[torch.Tensor, ...]:
    """Hidden states [B, ceil(T/2), 512] for log-mel input [B, 80, T] (or [80, T]), T <= 3000 frames.

    Returns the embedding output and the 6 layer outputs, the last after the final layer norm, as
    transformers' WhisperEncoder does; only that last state if `output_hidden_states` is False (a 1-tuple).
    `n_layers` < 6 stops after that many layers (no final layer norm): a head that reads only the lower
    layers then costs only their compute. States come in the encoder's dtype.
    Unlike Whisper, the input is not padded to 30 s: the positional table is cut to the clip's length,
    which is ~50x cheaper for short clips. There is no attention mask: batch clips of similar length or
    pad them with silence (padding slightly changes the states, as every frame attends to every other).
    Callers window audio longer than 30 s.
    """
    features = torch.as_tensor(log_mel, dtype=encoder.conv1.weight.dtype, device=encoder.conv1.weight.device)
    if features.ndim == 2:
        features = features.unsqueeze(0)
    if features.ndim != 3 or features.shape[1] != N_MELS:
        raise ValueError(f"Expected log-mel features of shape [batch, {N_MELS}, frames], got {tuple(features.shape)}.")
    if not 0 < n_layers <= N_LAYER:
        raise ValueError(f"Whisper base has {N_LAYER} layers; cannot stop after {n_layers}.")
    if not 0 < features.shape[-1] <= N_FRAMES:
        raise ValueError(f"Expected 1 to {N_FRAMES} mel frames (30 s), got {features.shape[-1]}; window longer audio.")
    with torch.no_grad():  # not inference_mode: its tensors could not feed a head that is being trained
        states = forward_states(encoder, features, n_layers)
    return tuple(states) if output_hidden_states else (states[-1],)


def forward_states(encoder: WhisperBaseEncoder, features: torch.Tensor, n_layers: int = N_LAYER) -> list[torch.Tensor]:
    """`encode`'s computation without its checks and with gradients where the caller enables them (fine-tuning the
    encoder, train/finetune/model.py): the embedding output and the first `n_layers` layer outputs for [B, 80, T]."""
    x = F.gelu(encoder.conv1(features))
    x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = x + encoder.embed_positions.weight[: x.shape[1]]
    states = [x]
    for layer in encoder.layers[:n_layers]:
        x = layer(x)
        states.append(x)
    if n_layers == N_LAYER:
        states[-1] = encoder.layer_norm(x)
    return states
