"""A multi-layer perceptron trained like scikit-learn's MLPClassifier (Adam, L2 penalty alpha, minibatches, early
stopping on a random 10% of the clips, the best epoch kept), but whose softmax runs, per clip, over the labels its
corpus has: scikit-learn's cannot mask labels, and a TESS neutral clip would teach it that calm never happens.

The result has MLPClassifier's fitted attributes (`classes_`, `coefs_`, `intercepts_`, `activation`, `n_iter_`), so
`ser.models.classic.ClassicModel.from_sklearn` copies it like a scikit-learn one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from train.masked.loss import masked_cross_entropy

VALIDATION_SHARE = 0.1
PATIENCE = 20  # epochs without a better validation accuracy before stopping (MLPClassifier's n_iter_no_change)


@dataclass
class FittedMLP:
    classes_: np.ndarray
    coefs_: list[np.ndarray]  # [in, out] per layer, as scikit-learn stores them
    intercepts_: list[np.ndarray]
    n_iter_: int
    activation: str = "relu"

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Softmax over every label, as MLPClassifier's (the training masks are not applied at prediction)."""
        for i, (coef, intercept) in enumerate(zip(self.coefs_, self.intercepts_)):
            x = x @ coef + intercept
            if i < len(self.coefs_) - 1:
                x = np.maximum(x, 0.0)
        x = np.exp(x - x.max(axis=1, keepdims=True))
        return x / x.sum(axis=1, keepdims=True)


def _network(sizes: list[int]) -> nn.Sequential:
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def fit_masked_mlp(x: np.ndarray, y, allowed: np.ndarray, hidden: list[int], alpha: float = 1e-2, batch_size: int = 64,
                   lr: float = 1e-3, max_iter: int = 500, seed: int = 0, early_stopping: bool = True) -> FittedMLP:
    """Fit on standardised features `x`, label ids `y` and `allowed` [clips, labels] booleans. Without
    `early_stopping` every clip trains, and training stops when the training loss has not improved for PATIENCE epochs."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x_t, y_t = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(np.asarray(y), dtype=torch.long)
    mask = torch.as_tensor(allowed, dtype=torch.bool)
    order = torch.randperm(len(y_t), generator=generator)
    n_val = max(1, int(VALIDATION_SHARE * len(y_t))) if early_stopping else 0
    val, train = order[:n_val], order[n_val:]
    net = _network([x.shape[1], *hidden, allowed.shape[1]])
    with torch.no_grad():  # the output layer starts at 0, so a label no clip allows stays exactly at 0 (no gradient)
        net[-1].weight.zero_()
        net[-1].bias.zero_()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    weights = [m.weight for m in net if isinstance(m, nn.Linear)]
    best, best_state, stale, epoch = float("-inf"), None, 0, 0
    for epoch in range(1, max_iter + 1):
        net.train()
        total = 0.0
        for batch in train[torch.randperm(len(train), generator=generator)].split(batch_size):
            # scikit-learn's penalty: alpha / 2 x squared weights, per sample of the batch
            loss = masked_cross_entropy(net(x_t[batch]), y_t[batch], mask[batch]) + alpha / 2 * sum(w.pow(2).sum() for w in weights) / len(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        net.eval()
        with torch.no_grad():
            if early_stopping:
                score = (net(x_t[val]).masked_fill(~mask[val], float("-inf")).argmax(1) == y_t[val]).float().mean().item()
            else:
                score = -total / len(train)
        if score > best:
            best, best_state, stale = score, {k: v.clone() for k, v in net.state_dict().items()}, 0
        else:
            stale += 1
            if stale >= PATIENCE:
                break
    net.load_state_dict(best_state)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    return FittedMLP(np.arange(allowed.shape[1]), [m.weight.detach().numpy().T.astype(np.float64) for m in linears],
                     [m.bias.detach().numpy().astype(np.float64) for m in linears], epoch)
