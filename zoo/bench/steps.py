"""The training step the bench suites time: the firing-rate read-out's cross-entropy through
``forward_steps``, under autocast in ``dtype`` (float32 where it is None)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
                  dtype: torch.dtype | None, seed: int | None = None) -> Callable[[], None]:
    """One step of ``model`` on the batch; with ``seed`` every call draws the same random numbers (dropout
    masks), so copies of a network stepped in turn stay comparable."""
    def step() -> None:
        if seed is not None:
            torch.manual_seed(seed)
        with torch.autocast(images.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            steps = model.forward_steps(images)
        loss = nn.functional.cross_entropy(steps.float().mean(0), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step
