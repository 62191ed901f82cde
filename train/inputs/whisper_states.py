"""The Whisper encoder states the heads train on, computed once per clip (and per augmented copy) and kept on disk.

Shared by the default head (`train.heads.whisper`), the linear probe and the distilled ResNet's teacher.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from ser import settings
from ser.evaluation.corpora import Record, load_clip
from ser.models.whisper_head import ENCODER_LAYERS, QUANTILES, hidden_states, pooled_statistics
from ser.encoders.offline import fast_dtype
from train.inputs.augment import AUGMENTATIONS

CACHE_VERSION = "v2"  # bump when preprocessing changes, so stale states are not reused (v2: 4 layers, fast dtype)


@dataclass
class StatesArguments:
    """Which encoder states the training reads (shared by the head and the linear probe)."""

    # float32 by default, not the app's "auto": every CPU computes float32 states alike, so the report and the shipped
    # head come out the same on any machine, and the CV measures that head on the other precisions the app may use
    # (--test_states_dtype bfloat16 / int8). Training on bfloat16 states scored no better (reports/accuracy.md).
    states_dtype: Literal["auto", "float32", "bfloat16", "int8"] = field(default="float32", metadata={
        "help": "float32, bfloat16, int8 (quantised Linear layers) or auto (as the app: SER_ENCODER_DTYPE if set, else "
                "bfloat16 where the CPU runs it natively, else float32): the encoder's precision for the training states"})

    @property
    def dtype(self) -> torch.dtype:
        return fast_dtype(None if self.states_dtype == "auto" else self.states_dtype)


def _cache_path(record: Record, augment: str, dtype: torch.dtype) -> Path:
    # Keyed by the clip's bytes, not its path or modification time: a corpus copied, restored from a backup or
    # re-provisioned (new mtimes, same audio) reuses its states instead of re-encoding thousands of clips.
    digest = hashlib.sha1(Path(record.path).read_bytes()).hexdigest()
    tag = augment.removeprefix("speed") if augment.startswith("speed") else augment
    extra = (f"|{tag}" if augment else "") + f"|{ENCODER_LAYERS}|{dtype}"
    key = hashlib.sha1(f"{CACHE_VERSION}|{digest}{extra}".encode()).hexdigest()
    return settings.cache_dir() / "whisper-states" / key[:2] / f"{key}.npy"


def cached_states(records: list[Record], augment: str = "", dtype: torch.dtype | None = None) -> list[torch.Tensor]:
    """Encoder states [ENCODER_LAYERS + 1, T, 512] (stored fp16) per clip, or per augmented copy of it (a name from
    AUGMENTATIONS), computed once in `dtype` (default: the encoder's fast dtype on this CPU) and kept on disk."""
    dtype = dtype or fast_dtype()
    states = []
    for record in tqdm(records, desc=f"Whisper states ({augment or 'original'})", unit="clip"):
        path = _cache_path(record, augment, dtype)
        if (cached := _load(path)) is not None:
            states.append(torch.from_numpy(cached))
            continue
        wave = load_clip(record.path)
        array = hidden_states(AUGMENTATIONS[augment](wave) if augment else wave, dtype=dtype).to(torch.float16).numpy()
        _save(path, array)
        states.append(torch.from_numpy(array))
    return states


def _load(path: Path) -> np.ndarray | None:
    """A cached array, or None when it is missing or unreadable (a run killed while writing it): then it is recomputed."""
    try:
        return np.load(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError):
        print(f"cached file {path} is unreadable; computing it again")
        return None


def _save(path: Path, array: np.ndarray) -> None:
    """Write then rename: several training runs share the cache, and none may read a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with open(partial, "wb") as handle:
        np.save(handle, array)
    os.replace(partial, path)


def pooled_table(records: list[Record], augment: str = "", quantiles: tuple[float, ...] = QUANTILES,
                 dtype: torch.dtype | None = None) -> dict[str, np.ndarray]:
    """Per clip path: the pooled statistics of its states (or of its `augment` copy's), cached on disk beside the
    states: a head is refitted many times (folds, protocols, recipes), and re-reading the full states each time took
    most of a run (12,000 clips and copies x 0.8 MB)."""
    dtype = dtype or fast_dtype()
    tag = "|".join(f"{q:g}" for q in quantiles)
    paths = [_cache_path(r, augment, dtype) for r in records]
    pooled = [p.with_name(f"{p.stem}.pooled-{hashlib.sha1(tag.encode()).hexdigest()[:8]}.npy") for p in paths]
    vectors = [_load(p) for p in pooled]
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        for i, states in zip(missing, cached_states([records[i] for i in missing], augment, dtype)):
            vectors[i] = pooled_statistics(states, quantiles).numpy()
            _save(pooled[i], vectors[i])
    return {r.path: v for r, v in zip(records, vectors)}


def feature_table(records: list[Record], augment: str = "", finetune_layers: int = 0,
                  quantiles: tuple[float, ...] = QUANTILES, dtype: torch.dtype | None = None) -> dict[str, tuple]:
    """Per clip path: pooled statistics of the states the head reads frozen, and, when fine-tuning, the states
    entering the first trained layer (else None)."""
    frozen = ENCODER_LAYERS - finetune_layers
    return {r.path: (pooled_statistics(s[:frozen + 1], quantiles).numpy(), s[frozen].clone() if finetune_layers else None)
            for r, s in zip(records, cached_states(records, augment, dtype))}
