"""The classic baseline: summary statistics of MFCC/chroma/mel (`ser.audio.features.summary_features`) -> standardise -> MLP.

Trained with scikit-learn's `MLPClassifier`, but saved without pickle: the scaler and every layer's weights go into
`model.safetensors`, and prediction is a numpy forward pass, so loading never runs code and never needs scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ser.audio.load import trim_silence
from ser.audio.features import SUMMARY_SIZE, summary_features
from ser.models.base import WEIGHTS_FILE, EmotionModel, ModelError

# scikit-learn's hidden-layer activations, as numpy functions of the pre-activation
ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "logistic": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "identity": lambda x: x,
}
MEAN_KEY, SCALE_KEY = "scaler.mean", "scaler.scale"


def clip_features(wave: np.ndarray, trim: bool = True) -> np.ndarray:
    """The model's input vector for one clip; trimming first makes RAVDESS's long silences and tight TESS clips alike."""
    return summary_features(trim_silence(wave) if trim else wave)


class ClassicModel(EmotionModel):
    kind = "classic_mlp"

    def __init__(self, config: dict, weights: dict[str, np.ndarray]):
        super().__init__(config)
        self.activation = config.get("activation", "relu")
        if self.activation not in ACTIVATIONS:
            raise ModelError(f"Unknown activation {self.activation!r} in the classic model's config.")
        self.n_layers = len(config["hidden_layer_sizes"]) + 1
        needed = [MEAN_KEY, SCALE_KEY] + [f"layers.{i}.{p}" for i in range(self.n_layers) for p in ("weight", "bias")]
        missing = [key for key in needed if key not in weights]
        if missing:
            raise ModelError(f"The classic model's weights lack {', '.join(missing)}; the model directory is damaged.")
        self.weights = {key: np.asarray(weights[key], dtype=np.float32) for key in needed}
        if self.weights[f"layers.{self.n_layers - 1}.bias"].shape[0] != len(self.labels):
            raise ModelError("The classic model's output layer does not match its labels; the model directory is damaged.")
        self.trim = bool(config.get("trim_silence", True))

    @classmethod
    def from_sklearn(cls, scaler, mlp, config: dict) -> "ClassicModel":
        """Copy a fitted `StandardScaler` + `MLPClassifier` (trained on label indices 0..n-1) into a pickle-free model."""
        n_labels = len(config["labels"])
        if list(mlp.classes_) != list(range(n_labels)):
            raise ValueError("every label needs training examples: the MLP saw classes " + ", ".join(map(str, mlp.classes_)))
        weights = {MEAN_KEY: scaler.mean_, SCALE_KEY: scaler.scale_}
        for i, (coef, intercept) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
            weights[f"layers.{i}.weight"], weights[f"layers.{i}.bias"] = coef, intercept
        config = {
            **config, "activation": mlp.activation, "hidden_layer_sizes": [int(c.shape[1]) for c in mlp.coefs_[:-1]],
            "n_features": int(scaler.mean_.shape[0]), "features": "ser.audio.features.summary_features",
        }
        return cls(config, weights)

    def logits_from_features(self, features: np.ndarray) -> np.ndarray:
        """Forward pass on summary vectors (clips, n_features); softmax of the result is sklearn's `predict_proba`."""
        x = (np.asarray(features, dtype=np.float64) - self.weights[MEAN_KEY]) / self.weights[SCALE_KEY]
        act = ACTIVATIONS[self.activation]
        for i in range(self.n_layers):
            x = x @ self.weights[f"layers.{i}.weight"] + self.weights[f"layers.{i}.bias"]
            if i < self.n_layers - 1:
                x = act(x)
        return x.astype(np.float32)

    def predict_logits(self, waves: list[np.ndarray]) -> np.ndarray:
        return self.logits_from_features(self._features(waves))

    def _features(self, waves: list[np.ndarray]) -> np.ndarray:
        if not waves:
            return np.zeros((0, SUMMARY_SIZE), dtype=np.float32)
        return np.stack([clip_features(w, self.trim) for w in waves])

    def novelty(self, features: np.ndarray) -> np.ndarray:
        """Mean squared z-score of each clip's features under the training clips' mean and spread (the scaler), as the
        default model measures it on its encoder statistics: about 1 for a clip like those it learned from."""
        z = (np.asarray(features, dtype=np.float64) - self.weights[MEAN_KEY]) / self.weights[SCALE_KEY]
        return (z ** 2).mean(axis=1)

    def predict_details(self, waves: list[np.ndarray], reference: np.ndarray | None = None):
        """Emotion probabilities, no gender, and each clip's novelty, from one feature pass."""
        features = self._features(list(waves))
        return self.probabilities(self.logits_from_features(features)), None, self.novelty(features)

    def _save_weights(self, model_dir: Path) -> None:
        from safetensors.numpy import save_file

        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in self.weights.items()}, str(model_dir / WEIGHTS_FILE))

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> "ClassicModel":
        from safetensors.numpy import load_file

        path = Path(model_dir) / WEIGHTS_FILE
        if not path.exists():
            raise ModelError(f"{model_dir} has no {WEIGHTS_FILE}; the model directory is incomplete.")
        weights = load_file(str(path))
        if MEAN_KEY in weights and weights[MEAN_KEY].shape[0] != SUMMARY_SIZE:
            raise ModelError("The classic model expects a different feature size than this version computes.")
        return cls(config, weights)
