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

from ..neurons.strides import flat_dot, like


class _QCFSFunction(torch.autograd.Function):
    """QCFS in one pass: the authors' ops (divide, clip, scale, shift, floor with a straight-through
    gradient, rescale) done in place on one buffer, and both gradients written out, since autograd's
    seven-op graph made the activation ten times a ReLU's cost. In one dtype the values equal the
    unfused form's exactly; a bfloat16 input under autocast (a float32 threshold) is computed in float32
    and rounded back to bfloat16, as ReLU keeps its input's dtype. The backward recomputes from ``x``
    instead of storing the intermediates."""

    @staticmethod
    def forward(ctx, x, threshold, levels: int, shift: float):
        ctx.save_for_backward(x, threshold)
        ctx.levels, ctx.shift = levels, shift
        level = (x / threshold).clamp_(0, 1).mul_(levels).add_(shift).floor_()
        return level.div_(levels).mul_(threshold).to(x.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable  # the floor's straight-through gradient has no second order
    def backward(ctx, grad):
        x, threshold = ctx.saved_tensors
        scaled = x / threshold
        # in x's layout: a gradient arriving NCHW through a residual sum would otherwise take every op below,
        # and the batch norm's backward before it, onto their slow mixed-layout paths
        grad = like(grad, scaled, dtype=scaled.dtype)
        # the clip's gradient mask through hardtanh's backward: torch's ``where`` and ``masked_fill`` branch
        # per element on a CPU and cost ten times as much on a mask of mixed signs
        clipped = torch.ops.aten.hardtanh_backward
        grad_x = clipped(grad, scaled, 0.0, 1.0).to(x.dtype) if ctx.needs_input_grad[0] else None
        grad_threshold = None
        if ctx.needs_input_grad[1]:  # of lambda * q / L, q = floor(clip(x / lambda) L + phi) passed straight
            level = scaled.clamp(0, 1).mul_(ctx.levels).add_(ctx.shift).floor_().div_(ctx.levels)
            level.sub_(clipped(scaled, scaled, 0.0, 1.0))  # q / L - x / lambda inside the clip, q / L outside
            grad_threshold = flat_dot(grad, level).reshape(threshold.shape)
        return grad_x, grad_threshold, None, None


class QCFS(nn.Module):
    """``lambda * clip(floor(x L / lambda + shift) / L, 0, 1)`` with a trainable ``lambda``."""

    def __init__(self, levels: int = 8, threshold: float = 8.0, shift: float = 0.5):
        super().__init__()
        if levels < 1:
            raise ValueError(f"QCFS needs at least one quantisation level, got {levels}")
        self.levels, self.shift = levels, shift
        self.threshold = nn.Parameter(torch.tensor([float(threshold)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _QCFSFunction.apply(x, self.threshold, self.levels, self.shift)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.threshold.detach()):.4g}, shift={self.shift}"
