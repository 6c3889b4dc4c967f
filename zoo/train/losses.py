"""Losses on firing-rate outputs ``[B, num_classes]``."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rate_mse(rates: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """STBP's loss: mean squared error between output firing rates and one-hot labels."""
    return F.mse_loss(rates, F.one_hot(target, rates.shape[-1]).to(rates.dtype))


def rate_ce(rates: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with firing rates as logits."""
    return F.cross_entropy(rates, target)


LOSSES = {"mse": rate_mse, "ce": rate_ce}
