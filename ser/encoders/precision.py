"""The precision the Whisper encoder runs in: bfloat16, float32 or int8 (`SER_ENCODER_DTYPE`), and int8 quantisation."""

from __future__ import annotations

import torch
from torch import nn

from ser.encoders.path import chosen_path
from ser.encoders.whisper import WhisperBaseEncoder


def fast_dtype(choice: str | None = None) -> torch.dtype:
    """The precision of the path the encoder runs on (`ser.encoders.path.chosen_path`): bfloat16 where the CPU computes
    it natively (AVX512_BF16/AMX) and it was timed fastest there (~2x float32 on such a CPU; states within a few
    percent, see tests/test_whisper_offline.py), else float32. `choice` ("auto", "float32", "bfloat16" or "int8",
    default `SER_ENCODER_DTYPE`) overrides it. The app's default model encodes in this dtype; training reads float32
    states unless `--states_dtype` says otherwise. "int8" (`torch.qint8`) quantises the Linear layers' weights and,
    per batch, their inputs (`quantize_int8`): ~1.4x faster than float32 on a CPU without bfloat16
    (reports/bench.md), at a cost in the states' precision, so only when asked for. An unknown choice is logged
    and treated as "auto"."""
    name = chosen_path(choice).path.dtype
    return torch.qint8 if name == "int8" else getattr(torch, name)


def precision_name(dtype: torch.dtype) -> str:
    """The name `SER_ENCODER_DTYPE` and `--states_dtype` use for an encoder dtype: float32, bfloat16 or int8."""
    return "int8" if dtype == torch.qint8 else str(dtype).removeprefix("torch.")


def quantize_int8(encoder: WhisperBaseEncoder) -> WhisperBaseEncoder:
    """The float32 encoder, its Linear layers replaced in place by dynamically quantised int8 ones (fbgemm/oneDNN
    kernels; convolutions, layer norms and attention stay float32, so states still come out in float32)."""
    import warnings

    # torch.ao.quantization warns that it is deprecated in favour of torchao; it is what runs int8 matmuls in eager
    # CPU mode with the pinned torch, and tests/test_whisper_offline.py checks its states stay near float32's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(encoder, {nn.Linear}, dtype=torch.qint8, inplace=True)

