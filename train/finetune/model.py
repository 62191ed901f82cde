"""The model, training loop and prediction of `train.finetune.loco`: Whisper-base's first 4 layers under `WhisperHead`.

Variants, which differ only in what is trained (the head, its pooling and standardisation are the same):
- `frozen`: the encoder as pretrained; only the emotion and gender outputs learn (the control).
- `top2`: layers 3-4 are trained as the head's `top`, the format `ser.models.whisper_head.WhisperHeadModel` ships
  (config finetuned_layers=2); the convolutions and layers 1-2 stay frozen.
- `all4`: all 4 layers and both convolutions are trained (the positional table stays Whisper's).
Clips are log-mels, held on the device in one [80, frames] tensor; a training batch holds clips of similar length, each
cropped at random to the shortest (no padding, so no attention mask), as train/finetune/top_layers.py does; prediction
runs full clips, batching only clips of exactly the same length.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ser.labels import EMOTIONS, GENDERS
from ser.models.whisper_head import ENCODER_LAYERS, QUANTILES, WhisperHead, pooled_statistics
from ser.encoders.whisper import forward_states
from train.masked.loss import masked_cross_entropy
from train.finetune.top_layers import length_batches

VARIANTS = ("frozen", "top2", "all4")
TOP_LAYERS = 2  # what `top2` trains: the head's `top`, the shippable format


class FinetuneModel(nn.Module):
    """Encoder (convolutions, positions and the layers below the head's `top`) + `WhisperHead`: log-mel -> logits."""

    def __init__(self, encoder: nn.Module, variant: str, dropout: float = 0.0):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"Unknown variant {variant!r}; choose from {', '.join(VARIANTS)}.")
        self.variant = variant
        encoder = copy.deepcopy(encoder)
        top = TOP_LAYERS if variant == "top2" else 0
        self.head = WhisperHead(len(EMOTIONS), len(GENDERS), ENCODER_LAYERS, top, dropout, QUANTILES)
        if top:  # the head's trained copies start from Whisper's own weights; the frozen encoder stops below them
            for layer, pretrained in zip(self.head.top, encoder.layers[ENCODER_LAYERS - top:ENCODER_LAYERS]):
                layer.load_state_dict(pretrained.state_dict())
        encoder.layers = encoder.layers[:ENCODER_LAYERS - top]
        self.encoder = encoder
        for linear in (self.head.emotion, self.head.gender):  # outputs start from zero: uniform probabilities
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)
        self.encoder.requires_grad_(variant == "all4")
        self.encoder.embed_positions.requires_grad_(False)

    def pooled(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, 80, T] log-mel -> the pooled statistics the head standardises [B, 5 x 2560]."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.variant == "all4"):
            states = torch.stack(forward_states(self.encoder, mel, len(self.encoder.layers)), dim=1)
        return self.head.statistics(pooled_statistics(states, self.head.quantiles), states[:, -1])

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.pooled(mel))

    def parameter_groups(self, encoder_lr: float, head_lr: float) -> list[dict]:
        """AdamW groups: trained encoder layers (the head's `top` included) at `encoder_lr`, the outputs at `head_lr`."""
        layers = [p for p in self.encoder.parameters() if p.requires_grad] + list(self.head.top.parameters() if self.head.top else [])
        groups = [{"params": [*self.head.emotion.parameters(), *self.head.gender.parameters()], "lr": head_lr}]
        return groups + ([{"params": layers, "lr": encoder_lr}] if layers else [])

    @torch.no_grad()
    def round_to_float16(self) -> None:
        """Round the encoder's weights as they are saved (float16), so that what is scored is what is shipped."""
        for module in (self.encoder, self.head.top):
            for param in (module.parameters() if module is not None else []):
                param.copy_(param.half().float())


class Clips:
    """Every clip's log-mel in one [80, total frames] tensor on the device; `crops` and `full` cut batches from it."""

    def __init__(self, mels: list[np.ndarray], device: torch.device):
        self.frames = np.array([m.shape[1] for m in mels])
        self.offsets = np.concatenate([[0], np.cumsum(self.frames)[:-1]])
        self.data = torch.from_numpy(np.concatenate(mels, axis=1)).to(device)
        self.device = device

    def crops(self, idx: np.ndarray, frames: int, starts: np.ndarray) -> torch.Tensor:
        """[B, 80, frames]: clip idx[i] from frame starts[i] on (one gather)."""
        first = torch.as_tensor(self.offsets[idx] + starts, device=self.device)
        return self.data[:, first[:, None] + torch.arange(frames, device=self.device)].permute(1, 0, 2)

    def full(self, idx: np.ndarray) -> torch.Tensor:
        """[B, 80, T] of clips that all have T frames."""
        return self.crops(idx, int(self.frames[idx[0]]), np.zeros(len(idx), dtype=np.int64))


def autocast(device: torch.device):
    """bfloat16 autocast on a GPU; float32 on the CPU (whose bfloat16 the head's `top` chooses by itself)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def by_length(model: FinetuneModel, clips: Clips, idx: np.ndarray, batch: int, what: str) -> torch.Tensor:
    """`pooled` statistics [n, features] or emotion `probabilities` [n, labels] of full clips, in eval mode; batches
    hold clips of exactly the same length, so nothing is padded or cropped."""
    model.eval()
    idx = np.asarray(idx)
    out = [None] * len(idx)
    for length in np.unique(clips.frames[idx]):
        same = np.flatnonzero(clips.frames[idx] == length)
        for chunk in np.array_split(same, -(-len(same) // batch)):
            with autocast(clips.device):
                mel = clips.full(idx[chunk])
                rows = model.pooled(mel).float() if what == "pooled" else torch.softmax(model(mel)[0].float(), dim=-1)
            for position, row in zip(chunk, rows):
                out[position] = row
    return torch.stack(out)


def standardise(model: FinetuneModel, pretrained_pooled: torch.Tensor) -> None:
    """Fix the head's standardisation to the pretrained model's statistics over the training clips (as StandardScaler:
    population std, constant features scaled by 1)."""
    std = pretrained_pooled.std(dim=0, correction=0)
    model.head.mean.copy_(pretrained_pooled.mean(dim=0))
    model.head.scale.copy_(torch.where(std > 0, std, torch.ones_like(std)))


@dataclass
class TrainConfig:
    epochs: float = 5.0
    batch_size: int = 32
    encoder_lr: float = 3e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0


def train(model: FinetuneModel, clips: Clips, train_idx: np.ndarray, targets: dict[str, torch.Tensor], weights: np.ndarray,
          cfg: TrainConfig, stop_at: float, log=print) -> dict:
    """AdamW with a one-cycle schedule over `cfg.epochs` x (training clips / batch) steps. Each epoch draws as many clips
    as the fold has, with probability `weights` (corpus-balanced), and batches them by length. `targets`: per clip (all
    records) `emotion` ids, `allowed` label mask, `gender` ids (-1: unknown, left out of the gender loss). Stops early
    when time.time() passes `stop_at`. Returns what it did."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    positions = -(-clips.frames // 2)  # encoder positions: what the batches group by (train/finetune/top_layers.py's unit)
    per_epoch = -(-len(train_idx) // cfg.batch_size)
    planned = max(1, int(round(cfg.epochs * per_epoch)))
    fused = clips.device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameter_groups(cfg.encoder_lr, cfg.head_lr), weight_decay=cfg.weight_decay, fused=fused)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                                   total_steps=planned, pct_start=0.1)
    trained = [p for g in optimizer.param_groups for p in g["params"]]
    p = weights[train_idx] / weights[train_idx].sum()
    model.train()
    started, step, window, losses, running = time.time(), 0, 0, [], torch.zeros((), device=clips.device)
    while step < planned and time.time() < stop_at:
        drawn = rng.choice(train_idx, size=len(train_idx), p=p)
        for batch in length_batches(positions[drawn], cfg.batch_size, rng):
            if step >= planned or time.time() >= stop_at:
                break
            idx = drawn[batch]
            frames = int(clips.frames[idx].min())
            starts = rng.integers(0, clips.frames[idx] - frames + 1)
            on_device = torch.as_tensor(idx, device=clips.device)  # one copy to the device, for the three look-ups
            with autocast(clips.device):
                emotion, gender = model(clips.crops(idx, frames, starts))
            loss = masked_cross_entropy(emotion.float(), targets["emotion"][on_device], targets["allowed"][on_device])
            genders = targets["gender"][on_device]  # summed over the clips whose gender is known (none in TurEV-DB)
            loss = loss + F.cross_entropy(gender.float(), genders, ignore_index=-1, reduction="sum") / (genders >= 0).sum().clamp_min(1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, cfg.grad_clip)
            optimizer.step()
            schedule.step()
            running += loss.detach()
            step, window = step + 1, window + 1
            if step % per_epoch == 0 or step == planned:  # one host-device sync per epoch
                losses.append(round(running.item() / window, 4))
                log(f"  step {step}/{planned}: mean loss {losses[-1]:.3f}, {(time.time() - started) / step * 1000:.0f} ms/step")
                running.zero_()
                window = 0
    model.eval()
    return {"steps": step, "planned_steps": planned, "stopped_early": step < planned, "train_s": round(time.time() - started, 1),
            "epoch_losses": losses}
