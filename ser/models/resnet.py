"""The CNN baseline: the ResNet18 layout (BasicBlock, [2, 2, 2, 2]) at half width on log-mel spectrograms, from scratch.

Input: trimmed clip -> `ser.audio.features.log_mel` (64 bands, dB) -> one channel normalised with the training set's global
mean/std. Pooling over frequency and time (the mean and standard deviation over time of the frequency-averaged channels,
or ResNet18's plain global average) lets one network take clips of any length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ser.audio.load import trim_silence
from ser.audio.features import N_MELS, log_mel
from ser.models.base import WEIGHTS_FILE, EmotionModel, ModelError

BASE_WIDTH = 32  # half of ResNet18's 64: channels 32-64-128-256, ~2.8M parameters, affordable on a CPU
LAYERS = (2, 2, 2, 2)  # BasicBlocks per stage, as in ResNet18
LAYOUT = "ResNet18 layout at half width"
# how the last stage's (channels, mels, frames) map becomes one vector -> what the model card says. The spread over time
# carries how much the voice varies (prosody), not only its average.
POOLINGS = {
    "mean": "global average pooling",
    "mean_std": "mean and standard deviation over time of the frequency-averaged channels",
}


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet18 structure (7x7 stem, max-pool, four stages, pooling, linear), 1 input channel; `pooling` is a
    key of POOLINGS ("mean" = ResNet18's global average pool, the default for configs written before the key existed)."""

    def __init__(self, n_classes: int, base_width: int = BASE_WIDTH, layers=LAYERS, dropout: float = 0.0, pooling: str = "mean"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ModelError(f"Unknown pooling {pooling!r}; choose from {', '.join(POOLINGS)}.")
        self.pooling = pooling
        self.stem = nn.Sequential(
            nn.Conv2d(1, base_width, 7, 2, 3, bias=False), nn.BatchNorm2d(base_width), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        )
        stages, channels = [], base_width
        for i, blocks in enumerate(layers):
            width = base_width * 2**i
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(channels, width, stride)] + [BasicBlock(width, width) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels * (2 if pooling == "mean_std" else 1), n_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():  # zero the last BN of each block: every block starts as identity (trains better from scratch)
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 1, mels, frames) -> (batch, n_classes) logits."""
        x = self.stages(self.stem(x))
        if self.pooling == "mean_std":  # average over frequency, then mean and spread over time (x-vector style)
            x = x.mean(dim=2)
            x = torch.cat([x.mean(dim=2), x.std(dim=2, correction=0)], dim=1)
        else:
            x = x.mean(dim=(2, 3))
        return self.fc(self.dropout(x))


def clip_log_mel(wave: np.ndarray, trim: bool = True) -> np.ndarray:
    """Un-normalised network input for one clip, (N_MELS, frames); trimming makes leading silence irrelevant."""
    return log_mel(trim_silence(wave) if trim else wave, N_MELS)


class ResNetModel(EmotionModel):
    kind = "resnet18"

    def __init__(self, config: dict, network: ResNet | None = None):
        super().__init__(config)
        self.mean = float(config["mel_mean"])
        self.std = float(config["mel_std"])
        self.trim = bool(config.get("trim_silence", True))
        self.network = network or ResNet(len(self.labels), config.get("base_width", BASE_WIDTH), config.get("layers", LAYERS),
                                         config.get("dropout", 0.0), config.get("pooling", "mean"))
        self.network.eval()

    def normalise(self, mel: np.ndarray) -> np.ndarray:
        return (mel - self.mean) / self.std

    def logits_from_mels(self, mels: list[np.ndarray]) -> np.ndarray:
        """Logits for un-normalised log-mels of any lengths, one clip at a time (no padding to bias the average pool)."""
        self.network.eval()
        out = np.zeros((len(mels), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            for i, mel in enumerate(mels):
                x = torch.from_numpy(np.ascontiguousarray(self.normalise(mel), dtype=np.float32))[None, None]
                out[i] = self.network(x)[0].numpy()
        return out

    def predict_logits(self, waves: list[np.ndarray]) -> np.ndarray:
        return self.logits_from_mels([clip_log_mel(w, self.trim) for w in waves])

    def round_weights_to_half(self) -> None:
        """Round conv/linear/BN parameters to float16 values (computation stays float32) so saved fp16 weights load identically."""
        with torch.no_grad():
            for param in self.network.parameters():
                param.copy_(param.half().float())
        self.config["weights_dtype"] = "float16"

    def _save_weights(self, model_dir: Path) -> None:
        from safetensors.torch import save_file

        half = self.config.get("weights_dtype") == "float16"
        params = {name for name, _ in self.network.named_parameters()}
        state = {
            name: (t.half() if half and name in params else t).detach().contiguous().clone()
            for name, t in self.network.state_dict().items()
        }  # BN running statistics stay float32: they are tiny, and the variances need the range
        save_file(state, str(model_dir / WEIGHTS_FILE), metadata={"format": "pt"})

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> "ResNetModel":
        from safetensors.torch import load_file

        path = Path(model_dir) / WEIGHTS_FILE
        if not path.exists():
            raise ModelError(f"{model_dir} has no {WEIGHTS_FILE}; the model directory is incomplete.")
        model = cls(config)
        state = {name: t.float() if t.is_floating_point() else t for name, t in load_file(str(path)).items()}
        try:
            model.network.load_state_dict(state, strict=True)
        except RuntimeError:
            raise ModelError(f"The weights in {model_dir} do not fit a {LAYOUT} with this config; the model directory is damaged.") from None
        model.network.eval()
        return model
