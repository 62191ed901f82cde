"""The model a visitor asked for (a shipped name or a Hub id, never a folder on this server), loaded once per process,
and the cross-validated scores the app shows beside it."""

from __future__ import annotations

import html
import threading

import gradio as gr

from ser import inference, settings
from ser.metrics import ACCURACY_REPORT, model_scores, read_report
from ser.models import load_for_visitor
from ser.models.base import ModelError

_model_lock = threading.Lock()  # concurrent first requests must not load the same model twice
_ready_models: set[str] = set()


def hub_message(err: Exception) -> str | None:
    """The sentence of a `ser.hub` error (bad id, unreachable Hub, unsafe repo), or None for anything else."""
    try:
        from ser.hub import HubError
    except ImportError:
        return None
    return str(err) if isinstance(err, HubError) else None


def model_ref(choice: str | None, hub_id: str | None) -> str:
    """The Hub id when one is typed, else the chosen shipped model, else the default (one name per model:
    `load_model` caches by name, so the default must not also be loaded as None). Whatever a visitor sends is
    checked by `ser.models.visitor_ref` when it is loaded: never a folder or path on this server."""
    return (hub_id or "").strip() or choice or settings.default_model()


def _load(ref: str):
    """`load_for_visitor` (a shipped model, the default or a Hub id; an unreachable Hub falls back to the cache or the
    default model, with a sentence to show), warmed up the first time: models load parts lazily (the Whisper encoder)."""
    with _model_lock:
        model, notice = load_for_visitor(ref)
        if model.name not in _ready_models:
            inference.warm_up(model)
            _ready_models.add(model.name)
        return model, notice


def model_for(choice: str | None, hub_id: str | None):
    """The model to use, loaded once per process; any failure is a `ModelError` sentence."""
    ref = model_ref(choice, hub_id)
    try:
        model, notice = _load(ref)
        if notice:
            gr.Info(html.escape(notice, quote=False))  # e.g. "Hub unreachable; falling back to the embedded default model."
        return model
    except ModelError:
        raise
    except ImportError as err:  # e.g. Hub support missing from this install
        raise ModelError(f"Models from the Hub cannot be loaded here ({err.name or 'a module'} is missing); pick a shipped model.") from None
    except Exception as err:
        message = hub_message(err) or f"The model {ref!r} could not be loaded ({type(err).__name__}); pick another model."
        raise ModelError(message) from None


def cv_scores(name: str) -> tuple[dict | None, str]:
    """A model's cross-validated scores and where they come from: the accuracy report, else its own CV report."""
    scores = model_scores(name)
    if scores:
        return scores, f"reports/{ACCURACY_REPORT}"
    own = read_report(f"cv/{name}.json")
    return (own, f"reports/cv/{name}.json") if "uar" in own else (None, "")
