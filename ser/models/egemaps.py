"""Models on openSMILE's eGeMAPS parameters (`ser.audio.egemaps`): standardise the 88 values, then a small 1-D CNN over the
vector (`egemaps-cnn`) or an MLP (`egemaps-mlp`).

The scaler (mean and scale per parameter, fitted on the training clips only) is plain JSON in config.json; the networks'
weights are safetensors. A model may hold several networks (`members`), each early-stopped on other held-out speakers;
it averages their probabilities. `EgemapsNet.forward` returns logits, so training can mask labels a corpus lacks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ser.audio.egemaps import FEATURE_SET, N_FEATURES, egemaps_features
from ser.models.base import WEIGHTS_FILE, EmotionModel, ModelError

NETWORKS = ("cnn", "mlp")
CNN_CHANNELS = (16, 32)  # two conv stages over the 88 standardised parameters (wider ones cost 4x the CPU time)
KERNEL = 5
HIDDEN = 64  # the CNN's dense layer
MLP_HIDDEN = (256, 128)


class EgemapsNet(nn.Module):
    """(batch, 88) standardised parameters -> (batch, n_labels) logits.

    "cnn": the seed project's recipe, convolutions along the parameter vector (neighbouring parameters are related:
    openSMILE lists each descriptor's mean, spread and percentiles together), two conv/BN/ReLU/max-pool stages, a dense
    layer. "mlp": two dense layers. Both use dropout; a few thousand clips overfit anything bigger.
    """

    def __init__(self, n_labels: int, network: str = "cnn", dropout: float = 0.3, channels=CNN_CHANNELS,
                 hidden: int = HIDDEN, mlp_hidden=MLP_HIDDEN, n_features: int = N_FEATURES):
        super().__init__()
        if network not in NETWORKS:
            raise ModelError(f"Unknown eGeMAPS network {network!r}; choose from {', '.join(NETWORKS)}.")
        self.network = network
        if network == "cnn":
            layers, width, length = [], 1, n_features
            for out in channels:
                layers += [nn.Conv1d(width, out, KERNEL, padding=KERNEL // 2), nn.BatchNorm1d(out), nn.ReLU(), nn.MaxPool1d(2)]
                width, length = out, length // 2
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(width * length, hidden), nn.ReLU(),
                                            nn.Dropout(dropout), nn.Linear(hidden, n_labels))
        else:
            layers, width = [], n_features
            for out in mlp_hidden:
                layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU(), nn.Dropout(dropout)]
                width = out
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Linear(width, n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x[:, None, :] if self.network == "cnn" else x))


def network_from_config(config: dict) -> EgemapsNet:
    return EgemapsNet(len(config["labels"]), config.get("network", "cnn"), float(config.get("dropout", 0.3)),
                      tuple(config.get("channels", CNN_CHANNELS)), int(config.get("hidden", HIDDEN)),
                      tuple(config.get("mlp_hidden", MLP_HIDDEN)))


class EgemapsModel(EmotionModel):
    kind = "egemaps"

    def __init__(self, config: dict, networks: list[EgemapsNet] | None = None):
        super().__init__(config)
        scaler = config.get("scaler") or {}
        try:
            self.mean = np.asarray(scaler["mean"], dtype=np.float64)
            self.scale = np.asarray(scaler["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise ModelError("The eGeMAPS model's config.json lacks its scaler (mean and scale per parameter); the model is damaged.") from None
        if self.mean.shape != (N_FEATURES,) or self.scale.shape != (N_FEATURES,) or not np.all(self.scale > 0):
            raise ModelError(f"The eGeMAPS model's scaler does not hold {N_FEATURES} parameters; the model is damaged.")
        if config.get("feature_set", FEATURE_SET) != FEATURE_SET:
            raise ModelError(f"This model was trained on {config.get('feature_set')}, but this version computes {FEATURE_SET}.")
        self.trim = bool(config.get("trim_silence", True))
        self.members = nn.ModuleList(networks or [network_from_config(self.config) for _ in range(int(config.get("members", 1)))])
        self.config["members"] = len(self.members)
        self.members.eval()

    def standardise(self, features: np.ndarray) -> np.ndarray:
        return ((np.asarray(features, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)

    def logits_from_features(self, features: np.ndarray) -> np.ndarray:
        """Logits for raw eGeMAPS vectors (clips, 88): the log of the members' mean probabilities."""
        self.members.eval()
        x = torch.from_numpy(self.standardise(features))
        with torch.inference_mode():
            probs = torch.stack([torch.softmax(net(x), dim=-1) for net in self.members]).mean(dim=0)
            return torch.log(probs.clamp_min(1e-12)).numpy()

    def predict_logits(self, waves: list[np.ndarray]) -> np.ndarray:
        if not waves:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.logits_from_features(np.stack([egemaps_features(w, self.trim) for w in waves]))

    def _save_weights(self, model_dir: Path) -> None:
        from safetensors.torch import save_file

        state = {name: t.detach().contiguous().clone() for name, t in self.members.state_dict().items()}
        save_file(state, str(model_dir / WEIGHTS_FILE), metadata={"format": "pt"})

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> "EgemapsModel":
        from safetensors.torch import load_file

        path = Path(model_dir) / WEIGHTS_FILE
        if not path.exists():
            raise ModelError(f"{model_dir} has no {WEIGHTS_FILE}; the model directory is incomplete.")
        model = cls(config)
        try:
            model.members.load_state_dict(load_file(str(path)), strict=True)
        except RuntimeError:
            raise ModelError(f"The weights in {model_dir} do not fit the eGeMAPS networks its config describes; "
                             "the model directory is damaged.") from None
        model.members.eval()
        return model
