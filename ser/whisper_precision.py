"""The precision the Whisper encoder runs in: bfloat16, float32 or int8 (`SER_ENCODER_DTYPE`), and int8 quantisation."""

from __future__ import annotations

import functools
import logging

import torch
from torch import nn

from ser import settings
from ser.whisper_encoder import WhisperBaseEncoder

logger = logging.getLogger(__name__)


def fast_dtype(choice: str | None = None) -> torch.dtype:
    """bfloat16 where oneDNN runs it natively (AVX512-BF16/AMX CPUs: ~2x faster than float32, states within a few
    percent, see tests/test_whisper_offline.py), else float32 (emulated bfloat16 would be slower); `choice` ("auto",
    "float32", "bfloat16" or "int8", default `SER_ENCODER_DTYPE`) overrides it. The app's default model encodes in
    this dtype; training reads float32 states unless `--states_dtype` says otherwise. "int8" (`torch.qint8`)
    quantises the Linear layers' weights and, per batch, their inputs (`quantize_int8`): ~1.4x faster than float32 on
    a CPU without bfloat16 (reports/bench.md), at a cost in the states' precision. An unknown choice is logged and
    treated as "auto"."""
    choice = choice or settings.encoder_dtype()
    if choice in ("float32", "bfloat16"):
        return getattr(torch, choice)
    if choice == "int8":
        return torch.qint8
    if choice != "auto":
        _warn_unknown_dtype(choice)
    try:
        return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else torch.float32
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return torch.float32


@functools.lru_cache(maxsize=None)
def _warn_unknown_dtype(choice: str) -> None:  # once per value, not once per clip
    logger.warning("SER_ENCODER_DTYPE=%r is not one of auto, float32, bfloat16, int8; using auto.", choice)


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

