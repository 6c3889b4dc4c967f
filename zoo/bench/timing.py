"""Side-by-side timing: the candidates run in turn inside each repeat, so a slow spell of a noisy
machine hits all of them, and a ratio is the median of per-repeat ratios."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def interleaved(candidates: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each candidate, ``repeats`` times, candidates alternating within a repeat."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        for run in candidates.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            _sync()
            start = time.perf_counter()
            run()
            _sync()
            times[name].append(time.perf_counter() - start)
    return times


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over repeats of ``numerator[i] / denominator[i]``."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def median(values: list[float]) -> float:
    return statistics.median(values)
