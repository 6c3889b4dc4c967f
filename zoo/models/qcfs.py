"""The quantisation clip-floor-shift activation (Bu, Fang, Ding, Dai, Yu, Huang, "Optimal ANN-SNN
Conversion for High-Accuracy and Ultra-Low-Latency Spiking Neural Networks", ICLR 2022).

An ANN trained with it in place of ReLU converts into IF neurons that lose little at small ``T``:

    QCFS(x) = lambda * clip(floor(x L / lambda + phi) / L, 0, 1),

``L`` quantisation levels, a trainable threshold ``lambda`` per layer and the shift ``phi = 1/2``. The
converted neuron takes ``lambda`` as its threshold and starts at ``phi * lambda``: with ``T = L`` steps
of a constant input its mean output equals ``QCFS(x)`` exactly, and for any ``T`` the expected
conversion error is zero (the paper's Theorem 2). As in the authors' code (putshua/ANN_SNN_QCFS,
``Models/layer.py``), the input is clipped before the floor, the floor passes gradients straight
through, and ``lambda`` starts at 8.
"""
from __future__ import annotations

import torch
from torch import nn


class _FloorStraightThrough(torch.autograd.Function):
    """``floor`` whose gradient is the identity's (the authors' ``GradFloor``)."""

    @staticmethod
    def forward(ctx, x):
        return x.floor()

    @staticmethod
    def backward(ctx, grad):
        return grad


class QCFS(nn.Module):
    """``lambda * clip(floor(x L / lambda + shift) / L, 0, 1)`` with a trainable ``lambda``."""

    def __init__(self, levels: int = 8, threshold: float = 8.0, shift: float = 0.5):
        super().__init__()
        if levels < 1:
            raise ValueError(f"QCFS needs at least one quantisation level, got {levels}")
        self.levels, self.shift = levels, shift
        self.threshold = nn.Parameter(torch.tensor([float(threshold)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.clamp(x / self.threshold, 0, 1)
        return _FloorStraightThrough.apply(y * self.levels + self.shift) / self.levels * self.threshold

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.threshold.detach()):.4g}, shift={self.shift}"
