"""Load any model kind by name (a folder in `assets/models`), by directory, or by Hub id; cached per process.

    model = load_model("whisper-head")          # shipped model
    probs = model.predict([wave])[0]             # over model.labels

`load_model` / `resolve` trust their caller (the CLI, scripts): a folder on this machine is a valid model. For a name
typed by someone else (a web visitor) use `load_for_visitor` / `resolve_for_visitor`: only shipped models, the
configured default and Hub ids, and a Hub id is only ever looked up on the Hub, never on this machine's disk.

One module per kind (`base` is what they share), and `hub/` for models on the Hugging Face Hub. Imports `ser.audio`,
`ser.encoders` and `ser.settings`.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

from ser import settings
from ser.models.base import EmotionModel, ModelError, check_model_files, one_blas_thread

# kind -> module defining the class; imported lazily so the classic model does not pay for torch/transformers
KINDS = {
    "whisper_head": "ser.models.whisper_head:WhisperHeadModel",
    "resnet18": "ser.models.resnet:ResNetModel",
    "classic_mlp": "ser.models.classic:ClassicModel",
    "egemaps": "ser.models.egemaps:EgemapsModel",
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


def _pull(ref: str) -> tuple[Path, str | None]:
    """(snapshot directory in the HF cache, sentence to show or None) for a Hub id; never looks at local folders."""
    from ser.models.hub import client as hub

    result = hub.pull(ref)
    return Path(result.path), (result.message if result.source == "cache" else None)


def _resolve(ref: str | Path | None) -> tuple[Path, str | None]:
    """(local model directory, sentence to show or None) for a shipped name, a directory or a Hub id."""
    ref = str(ref or settings.default_model())
    if (settings.MODELS_DIR / ref / "config.json").exists():
        return settings.MODELS_DIR / ref, None
    path = Path(ref).expanduser()
    if path.is_dir():
        return path, None
    from ser.models.hub import client as hub

    if hub.looks_like_hub_id(ref):
        return _pull(ref)
    raise ModelError(f"No model {ref!r}: give a shipped model ({', '.join(local_models()) or 'none installed'}), a folder, or a Hub id.")


def resolve(ref: str | Path | None) -> Path:
    """A shipped model name, a directory, or a Hub id (`owner/name[@revision]`) -> a local model directory."""
    return _resolve(ref)[0]


VISITOR_REF_SHOWN = 80  # characters of a refused name repeated back to the visitor


def visitor_ref(ref: object) -> tuple[str, bool]:
    """Check a model name sent by an untrusted caller (a web visitor): (name to load, whether only the Hub may serve it).

    Accepted: nothing (the default model), the configured default (`SER_MODEL`, set by the operator, so it may be a
    folder), a shipped model name, or a Hub id `owner/name[@revision]`, which is then looked up only on the Hub and in
    the HF cache, never as a path on this machine (even if a folder of that name exists). Anything else is a
    ModelError whose sentence depends only on the text sent, never on what exists on disk.
    """
    text = "" if ref is None else str(ref).strip()
    default = settings.default_model()
    if text == "" or text == default:
        return default, False
    names = local_models()
    if text in names:
        return text, False
    from ser.models.hub import client as hub

    try:
        hub.parse_model_ref(text)
    except hub.HubError:
        shown = repr(text if len(text) <= VISITOR_REF_SHOWN else text[:VISITOR_REF_SHOWN] + "…")
        raise ModelError(f"No model {shown}: give a shipped model ({', '.join(names) or 'none installed'}) or a "
                         "Hugging Face Hub id (owner/name or owner/name@revision); folders on the server are not "
                         "accepted.") from None
    return text, True


def resolve_for_visitor(ref: object) -> Path:
    """`resolve` for a name an untrusted caller sent (see `visitor_ref`): a shipped model, the default, or a Hub id."""
    ref, hub_only = visitor_ref(ref)
    return (_pull(ref) if hub_only else _resolve(ref))[0]


def load_dir(model_dir: str | Path) -> EmotionModel:
    """Load a model directory after refusing unsafe files and checksum mismatches."""
    model_dir = Path(model_dir)
    config = check_model_files(model_dir)
    one_blas_thread()  # this process is about to run a model: see why in base.py
    model = model_class(config["kind"]).from_dir(model_dir, config)
    model.name = config.get("name") or model_dir.name
    model.model_dir = model_dir  # its card says what it was trained on (ser.evaluation.provenance)
    return model


@functools.lru_cache(maxsize=4)
def _load(ref: str | Path | None, hub_only: bool) -> EmotionModel:
    """One cache for every caller, keyed by (name, how it is resolved): a visitor's Hub id "a/b" and a trusted
    caller's folder "a/b" are different models and never share an entry."""
    path, notice = _pull(str(ref)) if hub_only else _resolve(ref)
    model = load_dir(path)
    model.notice = notice
    return model


def load_model(ref: str | None = None) -> EmotionModel:
    """Load once per process (cached by `ref`): the app and CLI call this on every request.

    `model.notice` is a sentence for the user when a Hub model came from the offline cache.
    """
    return _load(ref, False)


def _with_fallback(ref: str | Path | None, hub_only: bool) -> tuple[EmotionModel, str | None]:
    from ser.models.hub.client import HubUnavailable

    try:
        model = _load(ref, hub_only)
    except HubUnavailable as error:
        return load_model(settings.default_model()), error.fallback_message()
    return model, model.notice


def load_with_fallback(ref: str | None = None) -> tuple[EmotionModel, str | None]:
    """`load_model`, but an unreachable Hub with no cached copy falls back to the shipped default model.

    Returns the model and the sentence to show (cached copy used / fell back), or None.
    """
    return _with_fallback(ref, False)


def load_for_visitor(ref: object, fallback: bool = True) -> tuple[EmotionModel, str | None]:
    """`load_with_fallback` for a name an untrusted caller sent (see `visitor_ref`): a shipped model, the configured
    default, or a Hub id fetched from the Hub / HF cache only; anything else (a folder, a path) is a ModelError.
    `fallback=False`: an unreachable Hub id raises `HubUnavailable` instead of quietly giving the default model (the
    app shows a visitor who typed an id that sentence rather than another model's answer)."""
    ref, hub_only = visitor_ref(ref)
    if fallback:
        return _with_fallback(ref, hub_only)
    model = _load(ref, hub_only)
    return model, model.notice
