"""What every model kind shares: its directory format, safe weight loading, and the `predict` interface.

A model directory holds `config.json` (kind, labels, preprocessing, training data, metrics, licence),
weights as `*.safetensors`, `checksums.json` (sha256 of each weight file) and usually a `README.md` model card.
Nothing else is ever read from it: no pickles, no code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CHECKSUMS_FILE = "checksums.json"
SAFE_SUFFIXES = (".json", ".safetensors", ".md", ".txt")
LICENSE = "cc-by-nc-sa-4.0"  # RAVDESS is CC BY-NC-SA 4.0, TESS CC BY-NC-ND 4.0: trained weights inherit non-commercial use


class ModelError(ValueError):
    """A model that cannot be found or loaded safely; the message is one sentence for the user."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_config(model_dir: str | Path) -> dict:
    path = Path(model_dir) / CONFIG_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{model_dir} has no {CONFIG_FILE}; it is not a model directory.") from None
    except ValueError:
        raise ModelError(f"{path} is not valid JSON; the model directory is damaged.") from None


def check_model_files(model_dir: str | Path) -> None:
    """Refuse directories holding anything but JSON/safetensors/text, and weights whose sha256 differs from checksums.json."""
    model_dir = Path(model_dir)
    unsafe = sorted(p.name for p in model_dir.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix not in SAFE_SUFFIXES)
    if unsafe:
        raise ModelError(
            f"Refusing to load {model_dir.name}: it contains {', '.join(unsafe)}; only safetensors and JSON are ever loaded "
            "(pickles and code can run arbitrary commands)."
        )
    checksums_path = model_dir / CHECKSUMS_FILE
    if checksums_path.exists():
        try:
            checksums = json.loads(checksums_path.read_text())
        except ValueError:
            raise ModelError(f"{checksums_path} is not valid JSON; the model directory is damaged.") from None
        for name, expected in checksums.items():
            path = model_dir / name
            if not path.exists() or sha256_file(path) != expected:
                raise ModelError(f"Refusing to load {model_dir.name}: {name} does not match its recorded sha256 (corrupt or tampered).")


def write_checksums(model_dir: str | Path) -> None:
    model_dir = Path(model_dir)
    sums = {p.name: sha256_file(p) for p in sorted(model_dir.glob("*.safetensors"))}
    (model_dir / CHECKSUMS_FILE).write_text(json.dumps(sums, indent=2) + "\n")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class EmotionModel:
    """Interface used by the app, CLI, training and benchmarks.

    Subclasses set `kind`, implement `predict_logits` (and `_save_weights` / `from_dir` for their weights).
    """

    kind = "base"

    def __init__(self, config: dict):
        self.config = dict(config)
        self.config["kind"] = self.kind
        self.labels: list[str] = list(config["labels"])
        self.gender_labels: list[str] | None = config.get("gender_labels")
        self.name: str = config.get("name", self.kind)

    # --- prediction -------------------------------------------------------------------------------------------
    def predict(self, waves: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """Probabilities over `self.labels`, shape (clips, labels), for 16-kHz mono float32 waveforms."""
        waves = [waves] if isinstance(waves, np.ndarray) and waves.ndim == 1 else list(waves)
        return softmax(np.asarray(self.predict_logits(waves), dtype=np.float64)).astype(np.float32)

    def predict_logits(self, waves: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def predict_gender(self, waves: list[np.ndarray]) -> np.ndarray | None:
        """Probabilities over `self.gender_labels`, or None for models without a gender head."""
        return None

    # --- files ------------------------------------------------------------------------------------------------
    def save(self, model_dir: str | Path, card: str | None = None) -> Path:
        """Write config, safetensors weights, checksums and (optionally) the model card."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        self.config["labels"] = self.labels
        self.config["id2label"] = {str(i): label for i, label in enumerate(self.labels)}
        (model_dir / CONFIG_FILE).write_text(json.dumps(self.config, indent=2) + "\n")
        self._save_weights(model_dir)
        write_checksums(model_dir)
        if card is not None:
            (model_dir / "README.md").write_text(card)
        return model_dir

    def _save_weights(self, model_dir: Path) -> None:
        raise NotImplementedError

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> "EmotionModel":
        raise NotImplementedError
