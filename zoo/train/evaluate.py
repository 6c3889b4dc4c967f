"""Accuracy of a model on a dataset, reproducible: stochastic encoders draw from a seeded RNG that
is forked, so evaluation neither depends on nor disturbs the training RNG."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from ..data.augment import time_major


@torch.no_grad()
def evaluate(model: torch.nn.Module, dataset: Dataset, batch_size: int = 500, seed: int = 0,
             limit: int | None = None, device: str | torch.device = "cpu",
             progress: bool = True, desc: str = "eval", per_sample: bool = False) -> dict:
    """``{"acc1": percent, "num_samples": n, "correct": k}`` over the first ``limit`` samples, plus
    ``"per_sample"`` (whether each sample was right, in order) when asked."""
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    was_training = model.training
    model.eval()
    hits: list[bool] = []
    correct = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        bar = tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch")
        for images, labels in bar:
            scores = model(time_major(images.to(device)))
            batch_hits = (scores.argmax(dim=1).cpu() == labels).tolist()
            hits += batch_hits
            correct += sum(batch_hits)
            bar.set_postfix(acc=f"{100.0 * correct / len(hits):.2f}%")
    model.train(was_training)
    if not hits:
        raise ValueError("cannot evaluate on an empty dataset")
    result = {"acc1": round(100.0 * correct / len(hits), 2), "num_samples": len(hits), "correct": correct}
    if per_sample:
        result["per_sample"] = hits
    return result
