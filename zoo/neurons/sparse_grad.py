"""A fully connected LIF layer whose backward pass only touches neurons near threshold.

Sparse spiking gradient descent (Perez-Nieves & Goodman, NeurIPS 2021). With the reset detached, the
membrane of a layer with weights ``W`` and input spikes ``x`` is linear in ``W``::

    V[t] = beta V[t-1] + W x[t] - V_th S[t-1],        S[t] = 1{V[t] > V_th}
         = W e[t] - (detached reset terms),           e[t] = beta e[t-1] + x[t]   (input trace)

so BPTT reduces to ``g[t] = dL/dS[t] * sg'(V[t] - V_th)`` and

    dL/dW = sum_t g[t]^T e[t],        dL/dx[k] = sum_{t >= k} beta^(t-k) W^T g[t].

The sparse mode keeps ``g`` only where ``|V - V_th| < B_th`` (the paper's *active* neurons, about 1-5%
of all) and does both products as sparse-dense matrix products over those entries, so the backward
work shrinks with the active fraction instead of masking a dense computation. The dense mode runs
the same formulas with dense products: exactly BPTT through the LIF loop (tested against autograd).
The surrogate is SuperSpike's fast sigmoid ``1 / (scale |V - V_th| + 1)^2`` as in the paper's code.
"""
from __future__ import annotations

import math
import warnings

import torch


def superspike(x: torch.Tensor, scale: float) -> torch.Tensor:
    """SuperSpike's surrogate derivative (Zenke & Ganguli 2018), the one the paper trains with."""
    return 1.0 / (scale * x.abs() + 1.0) ** 2


def lif_recurrence(current: torch.Tensor, beta: float, v_threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the LIF over ``current [T, B, N]``; return spikes and membranes (no graph).

    ``V[t] = beta V[t-1] + I[t] - V_th S[t-1]``: the reset of the previous spike is subtracted after the
    leak, unscaled, as in the authors' code (``new_mem = beta * mem + h1[:, t] - rst``)."""
    spikes = torch.empty_like(current)
    membrane = torch.empty_like(current)
    v = torch.zeros_like(current[0])
    for t in range(current.shape[0]):
        v.mul_(beta).add_(current[t])
        if t > 0:
            v.sub_(spikes[t - 1], alpha=v_threshold)
        membrane[t].copy_(v)
        spikes[t].copy_(v > v_threshold)
    return spikes, membrane


def input_trace(x: torch.Tensor, beta: float) -> torch.Tensor:
    """``e[t] = beta e[t-1] + x[t]``: what ``dV[t]/dW`` is when the reset is detached."""
    trace = x.detach().clone()
    for t in range(1, trace.shape[0]):
        trace[t].add_(trace[t - 1], alpha=beta)
    return trace


def reverse_trace_(grad_trace: torch.Tensor, beta: float) -> torch.Tensor:
    """The adjoint of :func:`input_trace`, in place: ``dx[k] = sum_{t >= k} beta^(t-k) de[t]``."""
    for t in range(grad_trace.shape[0] - 2, -1, -1):
        grad_trace[t].add_(grad_trace[t + 1], alpha=beta)
    return grad_trace


def csr(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape: tuple[int, int],
        sorted_rows: bool = False) -> torch.Tensor:
    """A CSR matrix from COO entries (CSR times dense is the sparse product CPUs do fastest); entries
    already in row order (as ``nonzero`` gives them) skip the sort."""
    if not sorted_rows:
        order = torch.argsort(rows, stable=True)
        cols, values = cols[order], values[order]
    crow = torch.zeros(shape[0] + 1, dtype=torch.long, device=rows.device)
    torch.cumsum(torch.bincount(rows, minlength=shape[0]), 0, out=crow[1:])
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the products used here are not
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols, values, shape, check_invariants=False)


def sparse_backward(grad_spikes: torch.Tensor, weight: torch.Tensor, trace: torch.Tensor | None,
                    rows: torch.Tensor, cols: torch.Tensor, surrogate: torch.Tensor,
                    need_input: bool = True, steps: int | None = None,
                    beta: float | None = None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(dL/de, dL/dW)`` from the active entries only. ``grad_spikes`` is ``[R, N]`` (``R = T * B``),
    ``rows``/``cols`` the active entries in row order and ``surrogate`` their ``sg'``; ``trace`` the input
    trace ``[R, fan_in]`` (None: no weight gradient). With ``beta`` (and ``steps = T``) the first result
    is ``dL/dx`` instead: the reverse input trace (:func:`reverse_trace_`) folded into the product.

    The active gradients ``g`` are gathered once (``nnz`` values) and both products are sparse times
    dense: ``dL/dW = g^T e`` reads only the trace rows it needs and ``dL/de = g W`` adds one weight row per
    active entry, so the work is ``nnz x fan_in`` and nothing of size ``R x N`` is built. On a CPU the
    products run in the Numba kernels of :mod:`zoo.neurons.sparse_kernels` (the reverse trace inside
    the ``g W`` pass), elsewhere as torch CSR products."""
    n_rows, n_out = grad_spikes.shape
    if grad_spikes.device.type == "cpu":
        return _cpu_products(grad_spikes, surrogate, rows, cols, weight, trace, need_input, steps, beta)
    values = grad_spikes[rows, cols].mul_(surrogate)
    grad_w = csr(cols, rows, values, (n_out, n_rows)) @ trace if trace is not None else None
    grad_e = csr(rows, cols, values, (n_rows, n_out), sorted_rows=True) @ weight if need_input else None
    if grad_e is not None and beta is not None:
        reverse_trace_(grad_e.view(steps, -1, grad_e.shape[1]), beta)
    return grad_e, grad_w


def _cpu_products(grad_spikes: torch.Tensor, surrogate: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                  weight: torch.Tensor, trace: torch.Tensor | None, need_input: bool, steps: int | None,
                  beta: float | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``g W`` (or with ``beta`` its reverse trace) and ``g^T e`` on NumPy views of the torch tensors (no
    copies of the dense operands)."""
    import numba

    from . import sparse_kernels

    shape = grad_spikes.shape
    crow = torch.zeros(shape[0] + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(rows, minlength=shape[0]), 0, out=crow[1:])
    rows, cols = rows.contiguous().numpy(), cols.contiguous().numpy()
    values = sparse_kernels.gather_scaled(grad_spikes.detach().contiguous().numpy(), rows, cols,
                                          surrogate.detach().contiguous().numpy())
    crow = crow.numpy()
    grad_w = grad_e = None
    if trace is not None:
        grad_w = torch.from_numpy(sparse_kernels.csr_transposed_matmul(
            crow, cols, values, trace.detach().contiguous().numpy(), shape[1], numba.get_num_threads()))
    if need_input:
        grad_e = torch.empty(shape[0], weight.shape[1], dtype=weight.dtype)
        dense = weight.detach().contiguous().numpy()
        if beta is None:
            sparse_kernels.csr_matmul(crow, cols, values, dense, grad_e.numpy())
        else:
            sparse_kernels.csr_matmul_reverse_trace(crow, cols, values, dense, grad_e.numpy(), steps,
                                                    dense.dtype.type(beta))
    return grad_e, grad_w


def dense_backward(grad_spikes: torch.Tensor, weight: torch.Tensor, trace: torch.Tensor | None,
                   surrogate: torch.Tensor, need_input: bool = True) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The same formulas as :func:`sparse_backward` with dense products over every neuron-step (``surrogate``
    is ``[R, N]``): exact BPTT through the detached-reset LIF."""
    g = grad_spikes * surrogate
    grad_w = g.t() @ trace if trace is not None else None
    grad_e = g @ weight if need_input else None
    return grad_e, grad_w


class _SparseGradLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, beta, v_threshold, window, scale, sparse):
        T, B, n_in = x.shape
        current = (x.reshape(T * B, n_in) @ weight.t()).reshape(T, B, -1)
        spikes, membrane = lif_recurrence(current, beta, v_threshold)
        ctx.beta, ctx.sparse = beta, sparse
        trace = input_trace(x, beta).reshape(T * B, n_in) if ctx.needs_input_grad[1] else None
        centred = membrane.sub_(v_threshold).reshape(T * B, -1)
        active = centred.abs() < window  # the neurons the sparse rule keeps; also returned for the active fraction
        if sparse:
            rows, cols = active.nonzero(as_tuple=True)  # row-major: already in CSR order
            ctx.save_for_backward(weight, trace, rows, cols, superspike(centred[rows, cols], scale))
        else:
            ctx.save_for_backward(weight, trace, superspike(centred, scale))
        ctx.shape = (T, B, n_in)
        ctx.mark_non_differentiable(active)
        ctx.set_materialize_grads(False)  # no zero-filled gradient for the mask output
        return spikes, active.reshape(T, B, -1)

    @staticmethod
    def backward(ctx, grad_spikes, _grad_active):
        T, B, n_in = ctx.shape
        if grad_spikes is None:
            return None, None, None, None, None, None, None
        grad_flat = grad_spikes.reshape(T * B, -1)
        need_input = ctx.needs_input_grad[0]
        if ctx.sparse:
            weight, trace, rows, cols, surrogate = ctx.saved_tensors
            grad_x, grad_w = sparse_backward(grad_flat, weight, trace, rows, cols, surrogate, need_input,
                                             steps=T, beta=ctx.beta)
            grad_x = grad_x.view(T, B, n_in) if grad_x is not None else None
        else:
            weight, trace, surrogate = ctx.saved_tensors
            grad_e, grad_w = dense_backward(grad_flat, weight, trace, surrogate, need_input)
            grad_x = reverse_trace_(grad_e.reshape(T, B, n_in), ctx.beta) if grad_e is not None else None
        return grad_x, grad_w, None, None, None, None, None


class SparseGradLIFLinear(torch.nn.Module):
    """Linear weights followed by a LIF (subtractive, detached reset) over ``[T, B, in_features]``.

    ``sparse_grad`` picks the sparse backward (only ``|V - V_th| < window`` takes part) or the dense one;
    both run the same forward. After a forward, ``active_fraction`` is the share of neuron-steps that
    took part in the sparse backward (what its cost scales with).
    """

    def __init__(self, in_features: int, out_features: int, tau: float = 10.0, v_threshold: float = 1.0,
                 window: float = 0.2, surrogate_scale: float = 100.0, sparse_grad: bool = True):
        super().__init__()
        if tau <= 1.0:
            raise ValueError(f"tau is in time steps and must be > 1, got {tau}")
        if window <= 0:
            raise ValueError(f"the backward window B_th must be positive, got {window}")
        self.weight = torch.nn.Parameter(torch.empty(out_features, in_features))
        self.beta = math.exp(-1.0 / tau)
        self.v_threshold, self.window, self.surrogate_scale = v_threshold, window, surrogate_scale
        self.sparse_grad = sparse_grad
        self.active_fraction = float("nan")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.weight.shape[1]:
            raise ValueError(f"{type(self).__name__} expects [T, B, {self.weight.shape[1]}], got {list(x.shape)}")
        spikes, active = _SparseGradLIF.apply(x, self.weight, self.beta, self.v_threshold, self.window,
                                              self.surrogate_scale, self.sparse_grad)
        self.active_fraction = float(active.float().mean())
        return spikes

    def extra_repr(self) -> str:
        return (f"in_features={self.weight.shape[1]}, out_features={self.weight.shape[0]}, beta={self.beta:.4f}, "
                f"v_threshold={self.v_threshold}, window={self.window}, sparse_grad={self.sparse_grad}")


class _SuperSpikeStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, centred, scale, window):
        ctx.save_for_backward(centred)
        ctx.scale, ctx.window = scale, window
        return (centred > 0).to(centred.dtype)

    @staticmethod
    def backward(ctx, grad):
        (centred,) = ctx.saved_tensors
        derivative = superspike(centred, ctx.scale)
        if ctx.window is not None:
            derivative = derivative * (centred.abs() < ctx.window)
        return grad * derivative, None, None


def reference_lif_linear(x: torch.Tensor, weight: torch.Tensor, beta: float, v_threshold: float,
                         scale: float, window: float | None = None) -> torch.Tensor:
    """The same layer as plain autograd BPTT through a Python loop over time (the paper's "original"
    backward, or with ``window`` its sparse rule written densely): the reference the custom backward
    is tested and benchmarked against."""
    current = x @ weight.t()
    v = torch.zeros_like(current[0])
    s = torch.zeros_like(current[0])
    out = []
    for t in range(current.shape[0]):
        v = beta * v + current[t] - v_threshold * s.detach()
        s = _SuperSpikeStep.apply(v - v_threshold, scale, window)
        out.append(s)
    return torch.stack(out)
