"""Non-spiking leaky read-out neurons, the output layer of the recurrent and sparse-gradient nets."""
from __future__ import annotations

import math

import torch
from torch import nn


class LeakyReadout(nn.Module):
    """``y[t] = beta y[t-1] + (1 - beta) W s[t]`` with ``beta = exp(-1 / tau)``: membranes that integrate
    the last layer's spikes ``[T, B, in]`` into class scores ``[T, B, out]`` without firing."""

    def __init__(self, in_features: int, out_features: int, tau: float):
        super().__init__()
        if tau <= 0:
            raise ValueError(f"read-out tau must be positive, got {tau}")
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's default
        self.tau = tau
        self.beta = math.exp(-1.0 / tau)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        drive = (1.0 - self.beta) * (spikes @ self.weight.t())
        y = torch.zeros_like(drive[0])
        trace = []
        for t in range(drive.shape[0]):
            y = self.beta * y + drive[t]
            trace.append(y)
        return torch.stack(trace)

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[1]}, out_features={self.weight.shape[0]}, tau={self.tau}"
