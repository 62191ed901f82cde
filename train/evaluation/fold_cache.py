"""Fitted fold models kept on disk, so rows that differ only in how they score (the profile's moods, a partial profile,
the plain head on a profile row's clips) fit each fold's heads once, and LOCO folds with the same training clips (URDU,
TurEV-DB and ASED under the shipped recipe) share one fit. Keyed by everything that changes a fit; safetensors, checked
by their checksums on load like every model (`ser.models.load_dir`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable

from ser import settings
from ser.models import load_dir

CACHE_VERSION = "v1"  # bump when the fitting code changes what a fit gives
SCORING_ONLY = ("profile_moods", "profile_size", "profile_plain", "test_states_dtype", "reference_clips", "threads")


def fit_key(args, corpora: list[str], seed: int, train_paths: list[str]) -> str:
    """What decides a fold's fit: the head's arguments (not the scoring-only ones), corpora, seed and training clips."""
    fields = {k: v for k, v in sorted(vars(args).items()) if k not in SCORING_ONLY}
    text = json.dumps([CACHE_VERSION, fields, sorted(corpora), seed, sorted(train_paths)], default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def cached_fit(key: str, fit: Callable[[], object]):
    """The model saved under `key`, or `fit()` saved there first. Its far threshold and second head travel in its config."""
    folder = settings.cache_dir() / "fold-models" / key
    if (folder / "config.json").is_file():
        try:
            return load_dir(folder)
        except Exception:  # a half-written or stale entry: fit again
            pass
    model = fit()
    model.config["far_threshold"] = model.far_threshold
    if getattr(model, "profile_head", None) is not None:
        model.config.setdefault("profile", {"fold_model": True})
        model.profile_head.gender = None  # gender comes from the main head
    model.save(folder)
    return model
