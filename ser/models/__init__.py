"""Load any model kind by name (a folder in `assets/models`), by directory, or by Hub id; cached per process.

    model = load_model("whisper-head")          # shipped model
    probs = model.predict([wave])[0]             # over model.labels
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

from ser import settings
from ser.models.base import EmotionModel, ModelError, check_model_files

# kind -> module defining the class; imported lazily so the classic model does not pay for torch/transformers
KINDS = {
    "whisper_head": "ser.models.whisper_head:WhisperHeadModel",
    "resnet18": "ser.models.resnet:ResNetModel",
    "classic_mlp": "ser.models.classic:ClassicModel",
    "hf_audio_classification": "ser.models.hf:HFAudioModel",
}


def model_class(kind: str) -> type[EmotionModel]:
    if kind not in KINDS:
        raise ModelError(f"Unknown model kind {kind!r}; this project reads {', '.join(KINDS)}.")
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def local_models() -> list[str]:
    """Names of the shipped models (folders of `assets/models` with a config.json), default first."""
    names = sorted(p.parent.name for p in settings.MODELS_DIR.glob("*/config.json"))
    default = settings.DEFAULT_MODEL
    return sorted(names, key=lambda n: n != default)


def _resolve(ref: str | Path | None) -> tuple[Path, str | None]:
    """(local model directory, sentence to show or None) for a shipped name, a directory or a Hub id."""
    ref = str(ref or settings.default_model())
    if (settings.MODELS_DIR / ref / "config.json").exists():
        return settings.MODELS_DIR / ref, None
    path = Path(ref).expanduser()
    if path.is_dir():
        return path, None
    from ser import hub

    if hub.looks_like_hub_id(ref):
        result = hub.pull(ref)
        return Path(result.path), (result.message if result.source == "cache" else None)
    raise ModelError(f"No model {ref!r}: give a shipped model ({', '.join(local_models()) or 'none installed'}), a folder, or a Hub id.")


def resolve(ref: str | Path | None) -> Path:
    """A shipped model name, a directory, or a Hub id (`owner/name[@revision]`) -> a local model directory."""
    return _resolve(ref)[0]


def load_dir(model_dir: str | Path) -> EmotionModel:
    """Load a model directory after refusing unsafe files and checksum mismatches."""
    model_dir = Path(model_dir)
    config = check_model_files(model_dir)
    model = model_class(config["kind"]).from_dir(model_dir, config)
    model.name = config.get("name") or model_dir.name
    return model


@functools.lru_cache(maxsize=4)
def load_model(ref: str | None = None) -> EmotionModel:
    """Load once per process: the app and CLI call this on every request.

    `model.notice` is a sentence for the user when a Hub model came from the offline cache.
    """
    path, notice = _resolve(ref)
    model = load_dir(path)
    model.notice = notice
    return model


def load_with_fallback(ref: str | None = None) -> tuple[EmotionModel, str | None]:
    """`load_model`, but an unreachable Hub with no cached copy falls back to the shipped default model.

    Returns the model and the sentence to show (cached copy used / fell back), or None.
    """
    from ser.hub import HubUnavailable

    try:
        model = load_model(ref)
    except HubUnavailable as error:
        return load_model(settings.default_model()), error.fallback_message()
    return model, model.notice
