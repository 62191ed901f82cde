"""Optional step of `train.heads.whisper`: fine-tune the top Whisper layers together with the head.

    python -m train.heads.whisper --finetune_layers 2                     # layers 3-4 trained, 1-2 stay frozen
    python -m train.heads.whisper --finetune_layers 2 --cv --no_final --name whisper-head-finetune2

The frozen layers below still come from the state cache, so an epoch runs only the trained layers: about 5 minutes
with one CPU thread for 2 layers and the ~9,000 clips and copies of a CV fold (ad-hoc timing; reports/accuracy.md has
the 6-fold train time). The trained layers start from Whisper's own
weights, the outputs from zero; batches hold clips of similar length, cropped to the shortest (no padding, so no
attention mask). The pooled statistics are standardised with the pretrained layers' statistics, fixed during training.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ser import labels as L
from ser.models.whisper_head import ENCODER_LAYERS, QUANTILES, WhisperHead
from ser.encoders.offline import load_encoder


def new_head(finetuned_layers: int, dropout: float, quantiles: tuple[float, ...] = QUANTILES) -> WhisperHead:
    """A head whose `top` holds copies of the pretrained encoder's top layers, with zeroed outputs."""
    head = WhisperHead(len(L.EMOTIONS), len(L.GENDERS), ENCODER_LAYERS, finetuned_layers, dropout, quantiles)
    encoder = load_encoder(dtype=torch.float32)
    for layer, pretrained in zip(head.top, encoder.layers[ENCODER_LAYERS - finetuned_layers:ENCODER_LAYERS]):
        layer.load_state_dict(pretrained.state_dict())
    for linear in (head.emotion, head.gender):
        torch.nn.init.zeros_(linear.weight)
        torch.nn.init.zeros_(linear.bias)
    return head


@torch.no_grad()
def pooled_vectors(head: WhisperHead, frozen: np.ndarray, top_inputs: list[torch.Tensor]) -> torch.Tensor:
    """Full pooled statistics per clip: the frozen layers' (precomputed) followed by the fine-tuned layers'."""
    head.eval()
    frozen_t = torch.from_numpy(frozen).float()
    return torch.cat([head.statistics(frozen_t[i:i + 1], x[None]) for i, x in enumerate(top_inputs)])


@torch.no_grad()
def probabilities(head: WhisperHead, frozen: np.ndarray, top_inputs: list[torch.Tensor]) -> np.ndarray:
    logits, _ = head.eval()(pooled_vectors(head, frozen, top_inputs))
    return torch.softmax(logits, dim=-1).numpy()


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of clips of similar length (sorted with a little jitter, so batches differ between epochs)."""
    order = np.argsort(lengths + rng.uniform(0, 8, len(lengths)))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def finetune(args, frozen: np.ndarray, top_inputs: list[torch.Tensor], emotion_ids, gender_ids, seed: int = 0) -> WhisperHead:
    """Train `args.finetune_layers` top layers + emotion and gender outputs (summed cross-entropies), AdamW with a
    one-cycle schedule. `frozen`: pooled statistics of the frozen states per clip; `top_inputs`: each clip's states
    at the input of the first trained layer [T, 512]."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = new_head(args.finetune_layers, args.dropout, args.quantiles)
    start = pooled_vectors(head, frozen, top_inputs)
    head.mean.copy_(start.mean(dim=0))
    head.scale.copy_(torch.where(start.std(dim=0) > 0, start.std(dim=0), 1.0))  # as StandardScaler: constant -> 1
    emotion, gender = torch.as_tensor(np.asarray(emotion_ids)), torch.as_tensor(np.asarray(gender_ids))
    frozen_t = torch.from_numpy(frozen).float()
    lengths = np.array([x.shape[0] for x in top_inputs])
    steps = args.finetune_epochs * -(-len(top_inputs) // args.batch_size)
    optimizer = torch.optim.AdamW([{"params": head.top.parameters(), "lr": args.finetune_lr},
                                   {"params": [*head.emotion.parameters(), *head.gender.parameters()], "lr": args.head_lr}],
                                  weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[args.finetune_lr, args.head_lr], total_steps=steps, pct_start=0.1)
    head.train()
    for epoch in range(args.finetune_epochs):
        total = 0.0
        batches = length_batches(lengths, args.batch_size, rng)
        for batch in tqdm(batches, desc=f"fine-tuning, epoch {epoch + 1}/{args.finetune_epochs}", mininterval=30):
            frames = int(lengths[batch].min())
            starts = [int(rng.integers(0, lengths[i] - frames + 1)) for i in batch]
            x = torch.stack([top_inputs[i][s:s + frames] for i, s in zip(batch, starts)]).float()
            e, g = head(head.statistics(frozen_t[batch], x))
            loss = F.cross_entropy(e.float(), emotion[batch]) + F.cross_entropy(g.float(), gender[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        print(f"fine-tuning epoch {epoch + 1}: loss {total / len(batches):.3f}", flush=True)
    return head.eval()
