"""LT-SNN's LIF neuron with a learnable threshold (per layer or per channel).

Forward: ``H[t] = decay * V[t-1] + X[t]``; the neuron fires when ``H >= alpha * V_th`` and resets to 0
(hard reset, detached). The spike is ``S = 1`` or, with ``dsr=True``, the differentiable spike
representation's ``S = V_th``.

Backward, ``threshold_gradient='authors'`` (the default; the authors' ``ZIFArchTan``): the neuron
spikes on ``U = H - V_th``, so autograd carries ``dL/dU`` to the threshold through the subtraction,
``-sum dL/dU``, and the spike function adds the explicit term below; the reset ``V = (1 - S) H`` is not
detached. ``threshold_gradient='separate'`` (the paper's description) keeps only the explicit term and
detaches the reset. Both share:

* to the membrane, the triangle surrogate ``dS/dH = max(0, 1 - |H - V_th|)``;
* to the threshold, its own path ``dS/dV_th = -max(0, 1 - |H - V_th|) * sigmoid(H - V_th)`` (the
  sigmoid gradient penalty window), counted only where the neuron fired (``1{H >= V_th}``) and summed
  over batch, time and space (and channels, for a per-layer threshold), so the threshold's gradient has
  its own shape.
"""
from __future__ import annotations

import torch
from torch import nn

from .compat import import_spikingjelly

sj = import_spikingjelly()


class LearnableThresholdSpike(torch.autograd.Function):
    """``S = amplitude * 1{h >= alpha * v_th}`` with the separate gradient path described above."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, v_th: torch.Tensor, alpha: float, dsr: bool) -> torch.Tensor:
        """``v_th`` has as many dimensions as ``h`` (size 1 where it is shared)."""
        ctx.save_for_backward(h, v_th)
        fired = (h >= alpha * v_th).to(h.dtype)
        return fired * v_th if dsr else fired

    @staticmethod
    def backward(ctx, grad_s: torch.Tensor):
        h, v_th = ctx.saved_tensors
        grad_h, grad_v_th = _surrogate_and_window(grad_s, h - v_th, v_th)
        return grad_h, grad_v_th, None, None


def _surrogate_and_window(grad_s: torch.Tensor, u: torch.Tensor,
                          v_th: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``dL/dU`` through the triangle surrogate (``U = H - V_th``) and the threshold's own term,
    ``-sum(dL/dU * sigmoid(U) * 1{U >= 0})``, summed over the dimensions ``v_th`` is shared along (it has
    as many dimensions as ``U``, size 1 where shared)."""
    grad_u = grad_s * (1.0 - u.abs()).clamp(min=0.0)
    reduce = [d for d in range(u.dim()) if v_th.shape[d] == 1]
    grad_v_th = -(grad_u * torch.sigmoid(u) * (u >= 0).to(u.dtype)).sum(dim=reduce, keepdim=True)
    return grad_u, grad_v_th


THRESHOLD_GRADIENTS = ("authors", "separate")


class ThresholdCrossing(torch.autograd.Function):
    """``S = 1{U >= 0}`` for ``U = H - V_th``, as the authors' ``sigmoid`` function: ``dL/dU`` through the
    triangle surrogate, and the explicit threshold term ``-sum(dL/dU * sigmoid(U) * 1{U >= 0})``."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, v_th: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(u, v_th)
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_s: torch.Tensor):
        u, v_th = ctx.saved_tensors
        return _surrogate_and_window(grad_s, u, v_th)


class LearnableThresholdLIF(sj.base.MemoryModule):
    """Multi-step LIF with a trainable threshold; input ``[T, B, C, ...]`` (or ``[T, B, C]``).

    ``channels`` gives a per-channel threshold (``None``: one per layer, as the authors' code). ``alpha``
    scales the firing threshold of the DSR form (``S = V_th * 1{H >= alpha V_th}``); with ``dsr=False``
    it is 1. ``learnable=False`` keeps the threshold fixed (the authors' first layer).
    ``threshold_gradient`` picks the authors' code or the paper's separate path (module docstring).
    """

    def __init__(self, channels: int | None = None, v_threshold: float = 1.0, decay: float = 0.5,
                 dsr: bool = False, alpha: float = 1.0, learnable: bool = True, threshold_gradient: str = "authors"):
        super().__init__()
        if threshold_gradient not in THRESHOLD_GRADIENTS:
            raise ValueError(f"threshold_gradient must be one of {', '.join(THRESHOLD_GRADIENTS)}, "
                             f"got {threshold_gradient!r}")
        self.threshold_gradient = threshold_gradient
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if v_threshold <= 0:
            raise ValueError(f"v_threshold must be positive, got {v_threshold}")
        self.channels, self.decay, self.dsr, self.alpha = channels, decay, dsr, alpha if dsr else 1.0
        self.v_threshold = nn.Parameter(torch.full((channels or 1,), float(v_threshold)), requires_grad=learnable)
        self.register_memory("v", 0.0)
        self.step_mode = "m"

    def threshold_for(self, x: torch.Tensor) -> torch.Tensor:
        """The threshold shaped to broadcast against one time step ``[B, C, ...]``."""
        if self.channels is None:
            return self.v_threshold.view([1] * x.dim())
        if x.dim() < 2 or x.shape[1] != self.channels:
            raise ValueError(f"per-channel threshold for {self.channels} channels got input {list(x.shape)}")
        return self.v_threshold.view(1, -1, *([1] * (x.dim() - 2)))

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() < 2:
            raise ValueError(f"{type(self).__name__} expects a sequence [T, B, ...], got {list(x_seq.shape)}")
        v = self.v if isinstance(self.v, torch.Tensor) else torch.zeros_like(x_seq[0])
        v_th = self.threshold_for(x_seq[0])
        spikes = []
        authors = self.threshold_gradient == "authors"
        for x in x_seq:
            h = self.decay * v + x
            if authors:  # the spike function sees H - V_th, so the threshold also gets -dL/dU
                fired = ThresholdCrossing.apply(h - self.alpha * v_th, v_th)
                s = fired * v_th if self.dsr else fired
                v = (1.0 - fired) * h
            else:
                s = LearnableThresholdSpike.apply(h, v_th, self.alpha, self.dsr)
                fired = (h >= self.alpha * v_th).detach()
                v = torch.where(fired, torch.zeros_like(h), h)
            spikes.append(s)
        self.v = v
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        kind = f"per-channel ({self.channels})" if self.channels else "per-layer"
        fixed = "" if self.v_threshold.requires_grad else " (fixed)"
        return (f"{kind} threshold{fixed}, decay={self.decay}, dsr={self.dsr}, alpha={self.alpha}, "
                f"threshold_gradient={self.threshold_gradient}")
