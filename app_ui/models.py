"""The model a visitor asked for (a shipped name or a Hub id, never a folder on this server), loaded once per process.

A Hub id the visitor typed is loaded from the Hub or the HF cache, or not at all: when the Hub cannot be reached, the
visitor reads why in the status line rather than getting the default model's answer behind a passing notice.
"""

from __future__ import annotations

import logging
import threading

from ser import inference, settings
from ser.audio import features
from ser.models import load_for_visitor
from ser.models.base import ModelError, read_config
from ser.models.base import is_calibrated as calibrated

log = logging.getLogger("ser.app")

_model_lock = threading.Lock()  # concurrent first requests must not load the same model twice
_ready_models: set[str] = set()
CLEAR_HUB_ID = "Clear the Hub id box to use a shipped model."
NOT_CALIBRATED = "not calibrated"
FEATURE_CODE_READY = "the classic model's feature code (librosa's numba functions) is compiled, in"


def is_calibrated(name: str) -> bool:
    """`ser.models.base.is_calibrated` for a shipped model, read from its config without loading it."""
    try:  # only the shipped folders: a Hub id is not looked up while the page is built
        config = read_config(settings.MODELS_DIR / name)
    except ModelError:  # a Hub id or a damaged folder: loading it says what is wrong
        return True
    return calibrated(config)


def model_choices(names: list[str]) -> list[tuple[str, str]]:
    """The model picker's (label, value) pairs: a model without the default's honesty signals says so in its label."""
    return [(name if is_calibrated(name) else f"{name} ({NOT_CALIBRATED})", name) for name in names]


def hub_message(err: Exception) -> str | None:
    """The sentence of a `ser.models.hub.client` error (bad id, unreachable Hub, unsafe repo), or None for anything else."""
    try:
        from ser.models.hub.client import HubError, HubUnavailable
    except ImportError:
        return None
    if isinstance(err, HubUnavailable):
        return f"{str(err).rstrip('.')}. {CLEAR_HUB_ID}"
    return str(err) if isinstance(err, HubError) else None


def model_ref(choice: str | None, hub_id: str | None) -> str:
    """The Hub id when one is typed, else the chosen shipped model, else the default (one name per model:
    `load_model` caches by name, so the default must not also be loaded as None). Whatever a visitor sends is
    checked by `ser.models.visitor_ref` when it is loaded: never a folder or path on this server."""
    return (hub_id or "").strip() or choice or settings.default_model()


def _load(ref: str, typed_hub_id: bool):
    """`load_for_visitor`, warmed up the first time (models load parts lazily, the Whisper encoder). Only the
    operator's default may fall back to the shipped default model when the Hub is unreachable."""
    with _model_lock:
        model, notice = load_for_visitor(ref, fallback=not typed_hub_id)
        if model.name not in _ready_models:
            inference.warm_up(model)
            _ready_models.add(model.name)
        return model, notice


def chosen_model(choice: str | None, hub_id: str | None):
    """(model, sentence to show or None: e.g. "the Hub is offline, using the cached copy"); any failure is a
    `ModelError` sentence."""
    ref = model_ref(choice, hub_id)
    try:
        return _load(ref, bool((hub_id or "").strip()))
    except ImportError as err:  # e.g. Hub support missing from this install
        raise ModelError(f"Models from the Hub cannot be loaded here ({err.name or 'a module'} is missing); pick a shipped model.") from None
    except Exception as err:
        message = hub_message(err)
        if message is None and isinstance(err, ModelError):
            raise
        raise ModelError(message or f"The model {ref!r} could not be loaded ({type(err).__name__}); pick another model.") from None


def model_for(choice: str | None, hub_id: str | None):
    """The model to use, loaded once per process; any failure is a `ModelError` sentence."""
    return chosen_model(choice, hub_id)[0]


def warm_feature_code() -> None:
    """Compile the classic model's feature code (for a background thread at start-up: ser/audio/features.py says why)."""
    try:
        log.info("%s %.1f s", FEATURE_CODE_READY, features.warm_up_summary_features())
    except Exception:
        log.exception("compiling the classic model's feature code failed; its first analysis will try again")
