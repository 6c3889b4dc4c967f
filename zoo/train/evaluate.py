"""Accuracy of a model on a dataset, reproducible: stochastic encoders draw from a seeded RNG that
is forked, so evaluation neither depends on nor disturbs the training RNG."""
from __future__ import annotations

import contextlib

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from ..analysis import ActivityMonitor
from ..data.augment import time_major


@torch.no_grad()
def evaluate(model: torch.nn.Module, dataset: Dataset, batch_size: int = 500, seed: int = 0,
             limit: int | None = None, device: str | torch.device = "cpu",
             progress: bool = True, desc: str = "eval", per_sample: bool = False,
             activity: bool = False) -> dict:
    """``{"acc1": percent, "num_samples": n, "correct": k}`` over the first ``limit`` samples, plus
    ``"per_sample"`` (whether each sample was right, in order) and the ``"predictions"`` and
    ``"targets"`` when asked, and with ``activity`` the :class:`zoo.analysis.ActivityReport`."""
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    was_training = model.training
    model.eval()
    hits: list[bool] = []
    predictions: list[int] = []
    targets: list[int] = []
    correct = 0
    monitor = ActivityMonitor(model) if activity else contextlib.nullcontext()
    with torch.random.fork_rng(devices=[]), monitor:
        torch.manual_seed(seed)
        bar = tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch")
        for images, labels in bar:
            predicted = model(time_major(images.to(device))).argmax(dim=1).cpu()
            batch_hits = (predicted == labels).tolist()
            hits += batch_hits
            predictions += predicted.tolist()
            targets += labels.tolist()
            correct += sum(batch_hits)
            bar.set_postfix(acc=f"{100.0 * correct / len(hits):.2f}%")
    model.train(was_training)
    if not hits:
        raise ValueError("cannot evaluate on an empty dataset")
    result = {"acc1": round(100.0 * correct / len(hits), 2), "num_samples": len(hits), "correct": correct}
    if per_sample:
        result.update(per_sample=hits, predictions=predictions, targets=targets)
    if activity:
        result["activity"] = monitor.report()
    return result
