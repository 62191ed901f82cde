"""Cross-entropy whose softmax runs, per clip, over the labels the clip's corpus has.

A corpus without calm (TESS, URDU, ASED) or without neutral (TurEV-DB) has not shown that the missing label is
impossible; an ordinary softmax loss would teach the model exactly that, pushing every such clip away from it.
"""

from __future__ import annotations

import torch


def masked_log_softmax(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """log-probabilities over each row's allowed labels; 0 (not -inf) at the others, so products with 0 stay finite."""
    log_probs = torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)
    return torch.where(allowed, log_probs, torch.zeros_like(log_probs))


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, allowed: torch.Tensor,
                         class_weight: torch.Tensor | None = None, smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy over a batch. `target`: label ids [B] or probabilities [B, labels] (e.g. a teacher's, which are
    restricted to the allowed labels and renormalised); `smoothing` spreads that share of each target over the clip's
    allowed labels only; with `class_weight`, each clip counts with its target's weight (as torch's CrossEntropyLoss)."""
    allowed = allowed.bool()
    if target.dim() == 1:
        target = torch.nn.functional.one_hot(target, logits.shape[-1]).to(logits.dtype)
    target = target * allowed
    target = target / target.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    if smoothing:
        uniform = allowed.to(logits.dtype) / allowed.sum(dim=-1, keepdim=True)
        target = (1 - smoothing) * target + smoothing * uniform
    losses = -(target * masked_log_softmax(logits, allowed)).sum(dim=-1)
    if class_weight is None:
        return losses.mean()
    weights = target @ class_weight
    return (weights * losses).sum() / weights.sum()
