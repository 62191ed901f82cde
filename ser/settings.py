"""Settings read from the environment, with the defaults a user gets when nothing is set.

Every setting is read when asked for (not at import), so tests and the app can change them per run.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = PROJECT_ROOT / "assets"
MODELS_DIR = ASSETS_DIR / "models"
EXAMPLES_DIR = ASSETS_DIR / "examples"
REPORTS_DIR = PROJECT_ROOT / "reports"

DEFAULT_MODEL = "whisper-head"


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    try:
        return float(value) if value else default
    except ValueError:
        return default


def data_dir() -> Path:
    """Where the corpora live (read-only): `SER_DATA_DIR`, default `../shared/data` beside the project."""
    return Path(os.environ.get("SER_DATA_DIR") or PROJECT_ROOT.parent / "shared" / "data")


def cache_dir() -> Path:
    """Where converted encoder weights and cached hidden states go: `SER_CACHE_DIR`, default `~/.cache/ser`."""
    base = os.environ.get("SER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ser"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def min_duration() -> float:
    """Shortest clip accepted, in seconds (`SER_MIN_SECONDS`, default 0.5)."""
    return _float("SER_MIN_SECONDS", 0.5)


def max_duration() -> float:
    """Longest clip accepted, in seconds (`SER_MAX_SECONDS`, default 600 = 10 minutes)."""
    return _float("SER_MAX_SECONDS", 600.0)


def max_upload_mb() -> float:
    """Largest file accepted, in megabytes (`SER_MAX_UPLOAD_MB`, default 100)."""
    return _float("SER_MAX_UPLOAD_MB", 100.0)


def max_hub_model_mb() -> float:
    """Largest Hub model downloaded, in megabytes: the files a pull would fetch, summed (`SER_MAX_HUB_MODEL_MB`,
    default 1500, room for a wav2vec2-large checkpoint in safetensors)."""
    return _float("SER_MAX_HUB_MODEL_MB", 1500.0)


def upload_ttl() -> float:
    """Seconds an upload stays in Gradio's temp folder before the app deletes it (`SER_UPLOAD_TTL_SECONDS`, default 900)."""
    return _float("SER_UPLOAD_TTL_SECONDS", 900.0)


def default_model() -> str:
    """Model the app and CLI use when none is named (`SER_MODEL`, default the shipped Whisper head)."""
    return os.environ.get("SER_MODEL") or DEFAULT_MODEL


def encoder_dtype() -> str:
    """Precision of the Whisper encoder behind the default model (`SER_ENCODER_DTYPE`): `auto` (default: the path
    timed fastest on this machine, `ser.encoders.path`; bfloat16 only where the CPU runs it natively), `float32`,
    `bfloat16` or `int8` (quantised Linear layers)."""
    return (os.environ.get("SER_ENCODER_DTYPE") or "auto").strip().lower()


def encoder_runtime() -> str:
    """Where the Whisper encoder behind the default model runs (`SER_ENCODER_RUNTIME`): `auto` (default: the path
    timed fastest on this machine, ONNX Runtime float32 until it is timed; `ser.encoders.path`), `torch`, `onnxruntime`
    or `openvino`. See `ser.encoders.runtime`."""
    return (os.environ.get("SER_ENCODER_RUNTIME") or "auto").strip().lower()
