"""A fully connected LIF layer whose backward pass only touches neurons near threshold.

Sparse spiking gradient descent (Perez-Nieves & Goodman, NeurIPS 2021). With the reset detached, the
membrane of a layer with weights ``W`` and input spikes ``x`` is linear in ``W``::

    V[t] = beta V[t-1] + W x[t] - V_th S[t-1],        S[t] = 1{V[t] > V_th}
         = W e[t] - (detached reset terms),           e[t] = beta e[t-1] + x[t]   (input trace)

so BPTT reduces to ``g[t] = dL/dS[t] * sg'(V[t] - V_th)`` and

    dL/dW = sum_t g[t]^T e[t],        dL/dx[k] = sum_{t >= k} beta^(t-k) W^T g[t].

The sparse mode keeps ``g`` only where ``|V - V_th| < B_th`` (the paper's *active* neurons, about 1-5%
of all) and does both products over those entries only, so the backward work shrinks with the active
fraction instead of masking a dense computation. As in the paper's kernels, ``dL/dx`` is computed only
where the layer below is active (the only entries its own sparse backward reads) and handed down as a
sparse gradient, and the weight gradient reads the input spikes instead of a stored input trace. The
dense mode runs the same formulas with dense products: exactly BPTT through the LIF loop (tested
against autograd).
The surrogate is SuperSpike's fast sigmoid ``1 / (scale |V - V_th| + 1)^2`` as in the paper's code.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

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


ActiveEntries = tuple[torch.Tensor, torch.Tensor]
"""The ``(rows, cols)`` of a layer's active neuron-steps over its ``[T * B, N]`` output, in row order."""


def row_pointers(rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """CSR row pointers of entries already in row order (as ``nonzero`` gives them)."""
    crow = torch.zeros(n_rows + 1, dtype=torch.long, device=rows.device)
    torch.cumsum(torch.bincount(rows, minlength=n_rows), 0, out=crow[1:])
    return crow


def csr(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape: tuple[int, int],
        sorted_rows: bool = False) -> torch.Tensor:
    """A torch CSR matrix from COO entries (CSR times dense is the sparse product devices do fastest)."""
    if not sorted_rows:
        order = torch.argsort(rows, stable=True)
        cols, values = cols[order], values[order]
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the products used here are not
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(row_pointers(rows, shape[0]), cols, values, shape, check_invariants=False)


@dataclass(frozen=True)
class SavedInput:
    """What ``dL/dW`` needs of a layer's input ``[T * B, n_in]``. On a CPU its nonzero entries in CSR (spikes
    are mostly zero, and the kernel meets each one with the reverse trace of the gradients); elsewhere
    the input trace itself, for torch's CSR products."""

    crow: torch.Tensor | None = None
    cols: torch.Tensor | None = None
    values: torch.Tensor | None = None
    trace: torch.Tensor | None = None

    @classmethod
    def of(cls, flat_input: torch.Tensor, steps: int, beta: float) -> SavedInput:
        flat_input = flat_input.detach()
        if flat_input.device.type == "cpu":
            rows, cols = flat_input.nonzero(as_tuple=True)
            return cls(crow=row_pointers(rows, flat_input.shape[0]), cols=cols, values=flat_input[rows, cols])
        n_in = flat_input.shape[1]
        return cls(trace=input_trace(flat_input.view(steps, -1, n_in), beta).view(-1, n_in))


def sparse_backward(grad_spikes: torch.Tensor, weight: torch.Tensor, saved_input: SavedInput | None,
                    rows: torch.Tensor, cols: torch.Tensor, surrogate: torch.Tensor, steps: int, batch: int,
                    beta: float, input_active: ActiveEntries | None = None, need_input: bool = True,
                    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(dL/dx, dL/dW)`` of the layer from its active entries only.

    ``grad_spikes`` is ``[T * B, N]`` (rows ``t * B + b``), or already just its values at the active entries
    (1-D, as :func:`values_at` reads them from the layer above); ``rows``/``cols`` are the active entries
    in row order and ``surrogate`` their ``sg'``; ``saved_input`` is None when no weight gradient is wanted.
    ``dL/dx`` is ``[T * B, n_in]``, or with ``input_active`` (the layer below's active entries, the only
    ones its sparse backward reads) only the values there, in that order, as the paper's kernel computes it.

    On a CPU both products come from the reverse trace ``G`` of the ``nnz`` active gradients, kept in cache
    (:mod:`zoo.neurons.sparse_kernels`): ``dL/dW = sum_t G[t]^T x[t]`` over the input spikes and ``dL/dx = G W``
    at the wanted entries, so nothing of size ``T * B x N`` or ``T * B x n_in`` is touched unless a dense
    ``dL/dx`` is asked for. Elsewhere the products are torch CSR products."""
    if grad_spikes.device.type == "cpu":
        return _cpu_products(grad_spikes, surrogate, weight, saved_input, rows, cols, steps, batch, beta,
                             input_active, need_input)
    values = grad_spikes * surrogate if grad_spikes.dim() == 1 else grad_spikes[rows, cols] * surrogate
    trace = saved_input.trace if saved_input is not None else None
    return torch_products(values, weight, trace, rows, cols, steps, batch, beta, input_active, need_input)


def torch_products(values: torch.Tensor, weight: torch.Tensor, trace: torch.Tensor | None, rows: torch.Tensor,
                   cols: torch.Tensor, steps: int, batch: int, beta: float, input_active: ActiveEntries | None,
                   need_input: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The two products as torch CSR products (any device), from the stored input ``trace``."""
    n_out, n_in = weight.shape
    n_rows = steps * batch
    grad_w = csr(cols, rows, values, (n_out, n_rows)) @ trace if trace is not None else None
    grad_x = None
    if need_input:
        grad_x = csr(rows, cols, values, (n_rows, n_out), sorted_rows=True) @ weight
        reverse_trace_(grad_x.view(steps, batch, n_in), beta)
        if input_active is not None:
            grad_x = grad_x[input_active]
    return grad_x, grad_w


def _cpu_products(grad_spikes: torch.Tensor, surrogate: torch.Tensor, weight: torch.Tensor,
                  saved_input: SavedInput | None, rows: torch.Tensor, cols: torch.Tensor, steps: int, batch: int,
                  beta: float, input_active: ActiveEntries | None, need_input: bool,
                  ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The gather and both products in the Numba kernels, on NumPy views of the torch tensors (no copies),
    with no torch operation between them."""
    from . import sparse_kernels

    threads = sparse_kernels.share_torch_threads()
    n_in = weight.shape[1]
    n_rows = steps * batch
    rows_np, cols_np = rows.numpy(), cols.numpy()
    grad_np, surrogate_np = grad_spikes.detach().contiguous().numpy(), surrogate.detach().contiguous().numpy()
    values = (grad_np * surrogate_np if grad_np.ndim == 1
              else sparse_kernels.gather_scaled(grad_np, rows_np, cols_np, surrogate_np))
    crow = sparse_kernels.row_pointers(rows_np, n_rows)
    beta_typed = values.dtype.type(beta)
    no_rows, no_entries = np.zeros(n_rows + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    grad_w = grad_x = None
    handing_down = need_input and input_active is not None
    if saved_input is not None or handing_down:
        inputs = ((saved_input.crow.numpy(), saved_input.cols.numpy(), saved_input.values.numpy())
                  if saved_input is not None else (no_rows, no_entries, np.zeros(0, dtype=values.dtype)))
        want = ((sparse_kernels.row_pointers(input_active[0].numpy(), n_rows), input_active[1].numpy())
                if handing_down else (no_rows, no_entries))
        grad_w_t, grad_x_at = sparse_kernels.reverse_pass(
            crow, cols_np, values, *inputs, np.ascontiguousarray(weight.detach().numpy().T), *want, steps,
            beta_typed, threads)
        grad_w = torch.from_numpy(grad_w_t).t().contiguous() if saved_input is not None else None
        grad_x = torch.from_numpy(grad_x_at) if handing_down else None
    if need_input and input_active is None:
        grad_x = torch.empty(n_rows, n_in, dtype=weight.dtype)
        sparse_kernels.input_grad_dense(crow, cols_np, values, weight.detach().contiguous().numpy(),
                                        grad_x.numpy(), steps, beta_typed)
    return grad_x, grad_w


def dense_backward(grad_spikes: torch.Tensor, weight: torch.Tensor, trace: torch.Tensor | None,
                   surrogate: torch.Tensor, need_input: bool = True) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The same formulas as :func:`sparse_backward` with dense products over every neuron-step (``surrogate``
    is ``[R, N]``, ``trace`` the input trace ``[R, n_in]``): exact BPTT through the detached-reset LIF. The
    first result is ``dL/de``; :func:`reverse_trace_` turns it into ``dL/dx``."""
    g = grad_spikes * surrogate
    grad_w = g.t() @ trace if trace is not None else None
    grad_e = g @ weight if need_input else None
    return grad_e, grad_w


def sparse_gradient(values: torch.Tensor, entries: ActiveEntries, shape: tuple[int, int, int]) -> torch.Tensor:
    """A ``[T, B, n]`` gradient that is nonzero only at ``entries`` (rows ``t * B + b``), as a coalesced COO
    tensor: what a sparse layer hands the sparse layer below, which reads nothing else."""
    rows, cols = entries
    if rows.device.type == "cpu":
        from .sparse_kernels import coo_index

        index = torch.from_numpy(coo_index(rows.numpy(), cols.numpy(), shape[1]))
    else:
        index = torch.stack((rows.div(shape[1], rounding_mode="floor"), rows.remainder(shape[1]), cols))
    return torch.sparse_coo_tensor(index, values, shape, is_coalesced=True, check_invariants=False)


def values_at(grad: torch.Tensor, entries: ActiveEntries) -> torch.Tensor | None:
    """The values of a ``[T, B, N]`` COO gradient (:func:`sparse_gradient`) if it holds exactly ``entries``
    in their order, else None (the caller then reads it densely)."""
    rows, cols = entries
    if not grad.is_coalesced() or grad._nnz() != rows.numel() or grad.sparse_dim() != 3:
        return None
    index, batch = grad.indices(), grad.shape[1]
    if rows.device.type == "cpu":
        from .sparse_kernels import holds_entries

        same = holds_entries(index.contiguous().numpy(), rows.numpy(), cols.numpy(), batch)
    else:
        same = torch.equal(index[2], cols) and torch.equal(index[0] * batch + index[1], rows)
    return grad.values() if same else None


class _SparseGradLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, input_rows, input_cols, beta, v_threshold, window, scale, sparse):
        T, B, n_in = x.shape
        flat = x.reshape(T * B, n_in)
        current = (flat @ weight.t()).reshape(T, B, -1)
        spikes, membrane = lif_recurrence(current, beta, v_threshold)
        centred = membrane.sub_(v_threshold).reshape(T * B, -1)
        rows, cols = (centred.abs() < window).nonzero(as_tuple=True)  # the entries the sparse rule keeps
        ctx.beta, ctx.sparse, ctx.shape = beta, sparse, (T, B, n_in)
        if sparse:
            ctx.saved_input = SavedInput.of(flat, T, beta) if ctx.needs_input_grad[1] else None
            ctx.input_active = (input_rows, input_cols) if input_rows is not None else None
            ctx.save_for_backward(weight, rows, cols, superspike(centred[rows, cols], scale))
        else:
            trace = input_trace(x, beta).reshape(T * B, n_in) if ctx.needs_input_grad[1] else None
            ctx.save_for_backward(weight, trace, superspike(centred, scale))
        ctx.mark_non_differentiable(rows, cols)
        ctx.set_materialize_grads(False)  # no zero-filled gradients for the index outputs
        return spikes, rows, cols

    @staticmethod
    def backward(ctx, grad_spikes, _grad_rows, _grad_cols):
        T, B, n_in = ctx.shape
        if grad_spikes is None:
            return (None,) * 9
        need_input = ctx.needs_input_grad[0]
        if not ctx.sparse:
            weight, trace, surrogate = ctx.saved_tensors
            grad_e, grad_w = dense_backward(grad_spikes.to_dense().reshape(T * B, -1), weight, trace,
                                            surrogate, need_input)
            grad_x = reverse_trace_(grad_e.reshape(T, B, n_in), ctx.beta) if grad_e is not None else None
            return grad_x, grad_w, None, None, None, None, None, None, None
        weight, rows, cols, surrogate = ctx.saved_tensors
        grad = values_at(grad_spikes, (rows, cols)) if grad_spikes.is_sparse else None
        if grad is None:  # a dense gradient (from a dense consumer, or sums of several)
            grad = grad_spikes.to_dense().reshape(T * B, -1)
        grad_x, grad_w = sparse_backward(grad, weight, ctx.saved_input, rows, cols, surrogate, T, B, ctx.beta,
                                         ctx.input_active, need_input)
        if grad_x is not None:
            grad_x = (sparse_gradient(grad_x, ctx.input_active, (T, B, n_in)) if ctx.input_active is not None
                      else grad_x.view(T, B, n_in))
        return grad_x, grad_w, None, None, None, None, None, None, None


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

    def forward(self, x: torch.Tensor, input_active: ActiveEntries | None = None) -> torch.Tensor:
        return self.spikes_and_active(x, input_active)[0]

    def spikes_and_active(self, x: torch.Tensor, input_active: ActiveEntries | None = None,
                          ) -> tuple[torch.Tensor, ActiveEntries | None]:
        """The spikes and, in sparse mode, this layer's active entries.

        Give those entries as ``input_active`` to a sparse layer that takes exactly these spikes as input:
        its backward then computes ``dL/dx`` only there (the only entries this layer's backward reads) and
        hands it down as a sparse gradient, so no ``[T, B, N]`` gradient is ever written between them.
        A dense-mode layer ignores ``input_active`` and returns None (its backward reads every entry)."""
        if x.dim() != 3 or x.shape[-1] != self.weight.shape[1]:
            raise ValueError(f"{type(self).__name__} expects [T, B, {self.weight.shape[1]}], got {list(x.shape)}")
        input_rows, input_cols = input_active if input_active is not None and self.sparse_grad else (None, None)
        spikes, rows, cols = _SparseGradLIF.apply(x, self.weight, input_rows, input_cols, self.beta,
                                                  self.v_threshold, self.window, self.surrogate_scale,
                                                  self.sparse_grad)
        self.active_fraction = rows.numel() / spikes.numel()
        return spikes, ((rows, cols) if self.sparse_grad else None)

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
