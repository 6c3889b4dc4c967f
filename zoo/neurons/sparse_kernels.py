"""CPU kernels for the two sparse products of sparse spiking gradient descent, compiled by Numba.

``g`` is the ``[R, N]`` matrix of active gradients in CSR form (``R = T * B`` rows, ``nnz`` entries). Both
kernels walk its rows once, so each touches ``nnz x width`` numbers plus one dense row per active row:
``g W`` adds one weight row per entry into its output row, and ``g^T e`` reads each active trace row once
and adds it into the entries' weight-gradient rows, which stay in cache (one copy per thread, summed at
the end in a fixed order, so results do not depend on scheduling). The inner loops may reassociate and
contract to FMAs (``fastmath={"contract", "reassoc"}``, no assumptions about NaN or infinity), which is
what lets them vectorize: the sums agree with the dense products to rounding. torch's and SciPy's CPU CSR products
were slower on the ``ssgd_fc3`` shapes when these were written; ``python -m zoo bench --suite sparse``
times these against the dense products."""
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
def csr_matmul(crow: np.ndarray, cols: np.ndarray, values: np.ndarray, dense: np.ndarray,
               out: np.ndarray) -> None:
    """``out = g @ dense`` for ``g`` in CSR (``crow``, ``cols``, ``values``); ``out`` is ``[R, width]``."""
    width = dense.shape[1]
    for r in numba.prange(crow.shape[0] - 1):
        row = out[r]
        row[:] = 0.0
        for k in range(crow[r], crow[r + 1]):
            v, source = values[k], dense[cols[k]]
            for j in range(width):
                row[j] += v * source[j]


@numba.njit(parallel=True, cache=True, fastmath={"contract", "reassoc"})
def csr_matmul_reverse_trace(crow: np.ndarray, cols: np.ndarray, values: np.ndarray, dense: np.ndarray,
                             out: np.ndarray, steps: int, beta: float) -> None:
    """``out[t] = beta out[t + 1] + (g @ dense)[t]`` for rows ``r = t * batch + b``: the product and the
    reverse input trace in one pass that writes each output row once (no zero fill, no second sweep
    over ``[T * B, width]``); each batch entry's rows run on one thread, from the last step back."""
    width = dense.shape[1]
    batch = (crow.shape[0] - 1) // steps
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
            for k in range(crow[r], crow[r + 1]):
                v, source = values[k], dense[cols[k]]
                for j in range(width):
                    row[j] += v * source[j]


@numba.njit(parallel=True, cache=True, fastmath={"contract", "reassoc"})
def csr_transposed_matmul(crow: np.ndarray, cols: np.ndarray, values: np.ndarray, dense: np.ndarray,
                          n_cols: int, n_threads: int) -> np.ndarray:
    """``g.T @ dense`` (``[n_cols, width]``) for ``g`` in CSR, rows split into ``n_threads`` fixed chunks."""
    n_rows, width = crow.shape[0] - 1, dense.shape[1]
    partial = np.zeros((n_threads, n_cols, width), dtype=dense.dtype)
    chunk = (n_rows + n_threads - 1) // n_threads
    for p in numba.prange(n_threads):
        acc = partial[p]
        for r in range(p * chunk, min(n_rows, (p + 1) * chunk)):
            source = dense[r]
            for k in range(crow[r], crow[r + 1]):
                v, target = values[k], acc[cols[k]]
                for j in range(width):
                    target[j] += v * source[j]
    total = partial[0].copy()
    for p in range(1, n_threads):
        total += partial[p]
    return total
