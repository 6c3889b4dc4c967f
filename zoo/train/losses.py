"""Losses on the per-step read-out ``[T, B, num_classes]`` of a spiking classifier.

``ce`` and ``mse`` act on the firing rates (the mean over time); ``tet`` is temporal efficient
training (Deng et al., ICLR 2022): cross-entropy at every time step, averaged, plus a small MSE pull of
every step's output towards ``tet_phi``: ``(1 - lambda) * mean_t CE(O_t, y) + lambda * MSE(O, phi)``.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

LOSSES = ("ce", "mse", "tet")
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def rate_mse(steps: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """STBP's loss: mean squared error between output firing rates and one-hot labels."""
    rates = steps.mean(0)
    return F.mse_loss(rates, F.one_hot(target, rates.shape[-1]).to(rates.dtype))


def rate_ce(steps: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy with firing rates as logits."""
    return F.cross_entropy(steps.mean(0), target, label_smoothing=label_smoothing)


def tet(steps: torch.Tensor, target: torch.Tensor, lamb: float = 1e-3, phi: float = 1.0,
        label_smoothing: float = 0.0) -> torch.Tensor:
    """Temporal efficient training: the per-step cross-entropy, regularised towards ``phi``."""
    per_step = F.cross_entropy(steps.flatten(0, 1), target.repeat(steps.shape[0]), label_smoothing=label_smoothing)
    if lamb == 0:
        return per_step
    return (1.0 - lamb) * per_step + lamb * F.mse_loss(steps, torch.full_like(steps, phi))


def build_loss(name: str, label_smoothing: float = 0.0, tet_lambda: float = 1e-3, tet_phi: float = 1.0) -> Loss:
    """The loss ``name`` with the recipe's options bound."""
    if name == "mse":
        if label_smoothing:
            raise ValueError("label smoothing applies to 'ce' and 'tet', not to 'mse'")
        return rate_mse
    if name == "ce":
        return lambda steps, target: rate_ce(steps, target, label_smoothing)
    if name == "tet":
        return lambda steps, target: tet(steps, target, tet_lambda, tet_phi, label_smoothing)
    raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
