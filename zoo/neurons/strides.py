"""Tensors read and written in the layout they come in (``train.channels_last`` trains convolutional
networks channels-last): ``reshape(-1)`` copies a channels-last tensor into NCHW order, ``empty_like`` and
autograd's sums fall back to NCHW for tensors expanded over time, and an element-wise operation on two
tensors of different layouts (or a batch norm's backward given a gradient in the other one) runs on
PyTorch's slow strided path. The fused neurons, QCFS and the static stem use these helpers so that a
channels-last network stays channels-last through the backward pass."""
from __future__ import annotations

import torch


def in_memory_order(x: torch.Tensor) -> torch.Tensor:
    """``x``'s elements as one vector in the order memory holds them: a view for any dense tensor."""
    if x.is_contiguous():
        return x.view(-1)
    outer_first = sorted(range(x.dim()), key=x.stride, reverse=True)
    return x.permute(outer_first).reshape(-1)


def flat_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(a * b).sum()`` as one dot product, reading both in place where they share a layout."""
    if a.stride() == b.stride():
        return torch.dot(in_memory_order(a), in_memory_order(b))
    return torch.dot(a.reshape(-1), b.reshape(-1))


def like(x: torch.Tensor, reference: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``x`` (converted to ``dtype``) in ``reference``'s layout: ``x`` itself where it already is, else one copy."""
    dtype = dtype or x.dtype
    if x.dtype == dtype and x.stride() == reference.stride():
        return x
    return torch.empty_like(reference, dtype=dtype).copy_(x)


def empty_steps(x_seq: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor of ``x_seq``'s shape ``[T, ...]`` whose every step has the layout of
    ``x_seq[0]``: also where ``x_seq`` is one step expanded over T (a static stem's output, stride 0 in
    time), for which ``empty_like`` falls back to NCHW order."""
    step = torch.empty_like(x_seq[0])
    return torch.empty_strided(x_seq.shape, (step.numel(), *step.stride()), dtype=x_seq.dtype, device=x_seq.device)


def is_dense(x: torch.Tensor) -> bool:
    """Whether ``x``'s elements fill its memory exactly once (any order: NCHW, channels-last, permuted)."""
    expected = 1
    for stride, size in sorted((stride, size) for size, stride in zip(x.shape, x.stride()) if size > 1):
        if stride != expected:
            return False
        expected *= size
    return True


class _ExpandSteps(torch.autograd.Function):
    """``x`` ([1, ...]) expanded over ``T`` steps, whose gradient (the sum over the steps) comes back in
    ``x``'s layout; autograd's own sum writes NCHW order, which sent a channels-last stem's batch norm onto
    its mixed-layout backward (ten times slower)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, T: int) -> torch.Tensor:
        ctx.layout = (x.shape, x.stride()) if is_dense(x) else None
        return x.expand(T, *x.shape[1:])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        if ctx.layout is None or torch.is_grad_enabled():  # a sparse x, or a second derivative: autograd's sum
            return grad.sum(0, keepdim=True), None
        shape, stride = ctx.layout
        if grad.shape[0] == 1 and grad.stride() == stride:  # one step in x's layout: nothing to sum
            return grad, None
        summed = torch.empty_strided(shape, stride, dtype=grad.dtype, device=grad.device)
        return torch.sum(grad, 0, keepdim=True, out=summed), None


def expand_steps(x: torch.Tensor, T: int) -> torch.Tensor:
    """``x.expand(T, ...)`` for a ``[1, ...]`` tensor, its gradient in ``x``'s layout."""
    return _ExpandSteps.apply(x, T)
