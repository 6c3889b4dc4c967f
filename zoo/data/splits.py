"""Seeded hold-out splits, so validation never touches the test set and is the same every run."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset


def holdout(dataset: Dataset, fraction: float, seed: int = 0) -> tuple[Subset, Subset]:
    """Split ``dataset`` into (train, validation) with ``fraction`` of it held out at random."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=generator).tolist()
    n_val = max(1, round(len(dataset) * fraction))
    return Subset(dataset, sorted(order[n_val:])), Subset(dataset, sorted(order[:n_val]))
