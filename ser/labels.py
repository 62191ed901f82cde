"""The one label set: the eight RAVDESS emotion names, and how every corpus's codes map onto them."""

from __future__ import annotations

EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
BOREDOM = "boredom"  # EmoDB only; kept as its own label, outside the 8-class set
ALL_LABELS = EMOTIONS + (BOREDOM,)
GENDERS = ("female", "male")
CALM_NEUTRAL = "calm/neutral"  # the merged class offered by the app and CLI

RAVDESS_CODES = {f"{i:02d}": name for i, name in enumerate(EMOTIONS, start=1)}
TESS_CODES = {"angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
              "neutral": "neutral", "ps": "surprised", "sad": "sad"}
SAVEE_CODES = {"a": "angry", "d": "disgust", "f": "fearful", "h": "happy", "n": "neutral", "sa": "sad", "su": "surprised"}
CREMA_CODES = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
EMODB_CODES = {"W": "angry", "L": BOREDOM, "E": "disgust", "A": "fearful", "F": "happy", "T": "sad", "N": "neutral"}
URDU_CODES = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
TUREV_CODES = {"kz": "angry", "sk": "calm", "mt": "happy", "hl": "sad"}  # kızgın, sakin, mutlu, hüzünlü
ASED_CODES = {"n": "neutral", "f": "fearful", "h": "happy", "s": "sad", "a": "angry"}


def label_index(name: str, labels: tuple[str, ...] = EMOTIONS) -> int:
    """Position of `name` in `labels`; ValueError names the label set when it is not there."""
    try:
        return labels.index(name)
    except ValueError:
        raise ValueError(f"{name!r} is not one of the labels {', '.join(labels)}") from None


def merge_calm_neutral(labels: list[str], probabilities) -> tuple[list[str], list]:
    """Sum calm and neutral into one class: the two differ mostly in arousal, and listeners confuse them too.

    `probabilities` is a sequence (one clip) or a 2-D array (clips x labels); returns the new labels and values.
    """
    import numpy as np

    if "calm" not in labels or "neutral" not in labels:
        return list(labels), probabilities
    probs = np.asarray(probabilities, dtype=np.float64)
    calm, neutral = labels.index("calm"), labels.index("neutral")
    keep = [i for i in range(len(labels)) if i not in (calm, neutral)]
    merged = probs[..., calm] + probs[..., neutral]
    new_labels = [CALM_NEUTRAL] + [labels[i] for i in keep]
    new_probs = np.concatenate([merged[..., None], probs[..., keep]], axis=-1)
    return new_labels, new_probs
