"""CPU kernels for the backward pass of sparse spiking gradient descent, compiled by Numba.

Rows are ``r = t * batch + b`` (``T * B`` rows). ``g`` is the matrix of active gradients in CSR form
(``nnz`` entries), the layer's input spikes are in CSR form too, and both kernels walk one batch entry's
rows through time with the running input trace (or its adjoint) in a vector that stays in cache. So
nothing of size ``T * B x width`` is read or written: the work is ``nnz x width`` products plus one
in-cache decay of ``width`` numbers per row, and the only outputs are the weight gradient and the
input gradient at the entries asked for. Batch entries are split into fixed chunks, one per thread,
and per-thread weight gradients are summed in a fixed order, so results do not depend on scheduling.
The inner loops may reassociate and contract to FMAs (``fastmath={"contract", "reassoc"}``, no
assumptions about NaN or infinity), which is what lets them vectorize: the sums agree with the dense
products to rounding. ``python -m zoo bench --suite sparse`` times them against the dense formulas."""
from __future__ import annotations

import numba
import numpy as np

numba.config.THREADING_LAYER = "workqueue"  # Numba's own pool: no second OpenMP runtime beside torch's


@numba.njit(parallel=True, cache=True)
def gather_scaled(dense: np.ndarray, rows: np.ndarray, cols: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``dense[rows, cols] * scale``: the active gradients, read in row order (torch's advanced
    indexing costs several times more for the same entries)."""
    out = np.empty(rows.shape[0], dtype=dense.dtype)
    for k in numba.prange(rows.shape[0]):
        out[k] = dense[rows[k], cols[k]] * scale[k]
    return out


@numba.njit(parallel=True, cache=True, fastmath={"contract", "reassoc"})
def weight_grad_from_spikes(in_crow: np.ndarray, in_cols: np.ndarray, in_values: np.ndarray,
                            g_crow: np.ndarray, g_cols: np.ndarray, g_values: np.ndarray, steps: int,
                            beta: float, n_out: int, n_in: int, n_threads: int) -> np.ndarray:
    """``dL/dW = sum_t g[t]^T e[t]`` (``[n_out, n_in]``) with the input trace ``e[t] = beta e[t-1] + x[t]``
    rebuilt on the fly from the input's nonzero entries instead of read from a stored ``[T * B, n_in]``
    trace."""
    batch = (g_crow.shape[0] - 1) // steps
    partial = np.zeros((n_threads, n_out, n_in), dtype=g_values.dtype)
    chunk = (batch + n_threads - 1) // n_threads
    for p in numba.prange(n_threads):
        acc = partial[p]
        trace = np.zeros(n_in, dtype=g_values.dtype)
        for b in range(p * chunk, min(batch, (p + 1) * chunk)):
            trace[:] = 0.0
            for t in range(steps):
                r = t * batch + b
                if t > 0:
                    for j in range(n_in):
                        trace[j] *= beta
                for k in range(in_crow[r], in_crow[r + 1]):
                    trace[in_cols[k]] += in_values[k]
                for k in range(g_crow[r], g_crow[r + 1]):
                    v, target = g_values[k], acc[g_cols[k]]
                    for j in range(n_in):
                        target[j] += v * trace[j]
    total = partial[0].copy()
    for p in range(1, n_threads):
        total += partial[p]
    return total


@numba.njit(parallel=True, cache=True, fastmath={"contract", "reassoc"})
def input_grad_at(g_crow: np.ndarray, g_cols: np.ndarray, g_values: np.ndarray, weight: np.ndarray,
                  steps: int, beta: float, want_crow: np.ndarray, want_cols: np.ndarray) -> np.ndarray:
    """``dL/dx[k] = sum_{t >= k} beta^(t-k) (g W)[t]`` at the entries ``want`` (CSR over the same rows) only:
    the adjoint trace runs backward in time in one cache-resident vector per batch entry and is read
    where asked, so the dense ``[T * B, n_in]`` gradient is never written."""
    batch = (g_crow.shape[0] - 1) // steps
    n_in = weight.shape[1]
    out = np.zeros(want_cols.shape[0], dtype=g_values.dtype)
    for b in numba.prange(batch):
        acc = np.zeros(n_in, dtype=g_values.dtype)
        for t in range(steps - 1, -1, -1):
            r = t * batch + b
            if t < steps - 1:
                for j in range(n_in):
                    acc[j] *= beta
            for k in range(g_crow[r], g_crow[r + 1]):
                v, source = g_values[k], weight[g_cols[k]]
                for j in range(n_in):
                    acc[j] += v * source[j]
            for k in range(want_crow[r], want_crow[r + 1]):
                out[k] = acc[want_cols[k]]
    return out


@numba.njit(parallel=True, cache=True, fastmath={"contract", "reassoc"})
def input_grad_dense(g_crow: np.ndarray, g_cols: np.ndarray, g_values: np.ndarray, weight: np.ndarray,
                     out: np.ndarray, steps: int, beta: float) -> None:
    """The same adjoint trace written at every entry, ``out[t] = beta out[t + 1] + (g W)[t]``, for a
    caller that needs the whole ``[T * B, n_in]`` input gradient: each output row is written once
    (no zero fill, no second sweep)."""
    width = weight.shape[1]
    batch = (g_crow.shape[0] - 1) // steps
    for b in numba.prange(batch):
        for t in range(steps - 1, -1, -1):
            r = t * batch + b
            row = out[r]
            if t == steps - 1:
                row[:] = 0.0
            else:
                later = out[r + batch]
                for j in range(width):
                    row[j] = beta * later[j]
            for k in range(g_crow[r], g_crow[r + 1]):
                v, source = g_values[k], weight[g_cols[k]]
                for j in range(width):
                    row[j] += v * source[j]


@numba.njit(cache=True)
def row_pointers(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """CSR row pointers of entries in row order (serial and in Numba: no torch parallel region between
    the kernels, whose spinning OpenMP threads would contend with Numba's)."""
    crow = np.zeros(n_rows + 1, dtype=np.int64)
    for r in rows:
        crow[r + 1] += 1
    for r in range(n_rows):
        crow[r + 1] += crow[r]
    return crow
