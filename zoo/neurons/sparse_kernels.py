"""CPU kernels for the backward pass of sparse spiking gradient descent, compiled by Numba.

Rows are ``r = t * batch + b`` (``T * B`` rows). ``g`` is the matrix of active gradients in CSR form
(``nnz`` entries) and the layer's input spikes are in CSR form too. The kernels walk one batch entry's
rows backward through time with the reverse trace of ``g`` in a vector that stays in cache, so nothing
of size ``T * B x width`` is read or written unless a dense input gradient is asked for: the work is
one ``width``-long product per input spike and per wanted input-gradient entry, plus one in-cache
decay per row. Batch entries are split into fixed chunks, one per thread,
and per-thread weight gradients are summed in a fixed order, so results do not depend on scheduling.
The inner loops may reassociate and contract to FMAs (``fastmath={"contract", "reassoc"}``, no
assumptions about NaN or infinity), which is what lets them vectorize: the sums agree with the dense
products to rounding. ``python -m zoo bench --suite sparse`` times them against the dense formulas."""
from __future__ import annotations

import numba
import numpy as np
import torch

numba.config.THREADING_LAYER = "workqueue"  # Numba's own pool: no second OpenMP runtime beside torch's


def share_torch_threads() -> int:
    """Run the kernels on as many threads as torch uses (``torch.set_num_threads``, ``--threads``), so the
    two pools together never ask for more cores than the user gave torch; returns that count."""
    threads = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(threads)
    return threads


@numba.njit(parallel=True, cache=True)
def gather_scaled(dense: np.ndarray, rows: np.ndarray, cols: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``dense[rows, cols] * scale``: the active gradients, read in row order (torch's advanced
    indexing costs several times more for the same entries)."""
    out = np.empty(rows.shape[0], dtype=dense.dtype)
    for k in numba.prange(rows.shape[0]):
        out[k] = dense[rows[k], cols[k]] * scale[k]
    return out


@numba.njit(parallel=True, cache=True, fastmath={"contract", "reassoc"})
def reverse_pass(g_crow: np.ndarray, g_cols: np.ndarray, g_values: np.ndarray, in_crow: np.ndarray,
                 in_cols: np.ndarray, in_values: np.ndarray, weight_t: np.ndarray, want_crow: np.ndarray,
                 want_cols: np.ndarray, steps: int, beta: float, n_threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Both products from one state: the reverse trace of the active gradients, ``G[t] = g[t] + beta G[t+1]``
    (``n_out`` numbers per batch entry, run backward in time in cache). Since
    ``dL/dW = sum_t g[t]^T e[t] = sum_t G[t]^T x[t]`` and ``dL/dx[t] = G[t] W``, each input spike adds one
    row to ``dL/dW^T`` and each wanted input entry is one dot product with a column of ``W``
    (``weight_t = W^T``): the work is ``(input spikes + wanted entries) x n_out``, and the layer's own
    active entries cost one addition each. Returns ``dL/dW^T`` (``[n_in, n_out]``; all zero when there
    is no input given) and ``dL/dx`` at ``want``."""
    batch = (g_crow.shape[0] - 1) // steps
    n_in, n_out = weight_t.shape
    partial = np.zeros((n_threads, n_in, n_out), dtype=g_values.dtype)
    out = np.zeros(want_cols.shape[0], dtype=g_values.dtype)
    chunk = (batch + n_threads - 1) // n_threads
    for p in numba.prange(n_threads):
        acc = partial[p]
        reverse = np.zeros(n_out, dtype=g_values.dtype)
        for b in range(p * chunk, min(batch, (p + 1) * chunk)):
            reverse[:] = 0.0
            for t in range(steps - 1, -1, -1):
                r = t * batch + b
                if t < steps - 1:
                    for j in range(n_out):
                        reverse[j] *= beta
                for k in range(g_crow[r], g_crow[r + 1]):
                    reverse[g_cols[k]] += g_values[k]
                for k in range(in_crow[r], in_crow[r + 1]):
                    v, target = in_values[k], acc[in_cols[k]]
                    for j in range(n_out):
                        target[j] += v * reverse[j]
                for k in range(want_crow[r], want_crow[r + 1]):
                    column, total = weight_t[want_cols[k]], out[k]  # out[k] is a zero of the right dtype
                    for j in range(n_out):
                        total += reverse[j] * column[j]
                    out[k] = total
    grad_w_t = partial[0].copy()
    for p in range(1, n_threads):
        grad_w_t += partial[p]
    return grad_w_t, out


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


@numba.njit(cache=True)
def coo_index(rows: np.ndarray, cols: np.ndarray, batch: int) -> np.ndarray:
    """The ``[3, nnz]`` index ``(t, b, col)`` of entries given as rows ``t * batch + b`` (serial, in Numba for
    the same reason as :func:`row_pointers`)."""
    index = np.empty((3, rows.shape[0]), dtype=np.int64)
    for k in range(rows.shape[0]):
        index[0, k], index[1, k], index[2, k] = rows[k] // batch, rows[k] % batch, cols[k]
    return index


@numba.njit(cache=True)
def holds_entries(index: np.ndarray, rows: np.ndarray, cols: np.ndarray, batch: int) -> bool:
    """Whether a ``[3, nnz]`` COO index is exactly the entries ``rows``/``cols``, in order."""
    if index.shape[1] != rows.shape[0]:
        return False
    for k in range(rows.shape[0]):
        if index[0, k] * batch + index[1, k] != rows[k] or index[2, k] != cols[k]:
            return False
    return True
