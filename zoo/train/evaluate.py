"""Accuracy of a model on a dataset, reproducible: stochastic encoders draw from a seeded RNG that
is forked, so evaluation neither depends on nor disturbs the training RNG."""
from __future__ import annotations

import contextlib
import math

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from .activity import ActivityMonitor, is_neuron
from ..data.augment import time_major


class LayerProgress:
    """A progress bar that counts images and moves within a batch: each spiking layer that finishes adds
    its share of the batch, so a batch of 500 images at T=128 does not sit at 0 for minutes."""

    def __init__(self, model: torch.nn.Module, bar):
        self.model, self.bar, self.done, self.share = model, bar, 0, 0.0
        neurons = {name: m for name, m in model.named_modules() if is_neuron(m)} if not getattr(bar, "disable", False) \
            else {}  # no bar to move (progress=False): no hook on the forward pass
        outer = [name for name in neurons if not any(name.startswith(other + ".") for other in neurons if other)]
        self.hooks = [neurons[name].register_forward_hook(self._layer_done) for name in outer]  # a neuron inside
        # another (a recurrent layer's) is counted once

    def start(self, images: int) -> None:
        chunks = math.ceil(images / getattr(self.model, "chunk_images", images))
        self.share = images / max(1, len(self.hooks) * chunks)

    def _layer_done(self, module, inputs, output) -> None:
        self.bar.update(min(self.share, (self.bar.total or math.inf) - self.bar.n))

    def finish(self, images: int) -> None:
        self.done += images
        self.bar.n = self.done  # exact at every batch's end
        self.bar.refresh()

    def close(self) -> None:
        for hook in self.hooks:
            hook.remove()
        self.bar.close()


@torch.no_grad()
def evaluate(model: torch.nn.Module, dataset: Dataset, batch_size: int = 500, seed: int = 0,
             limit: int | None = None, device: str | torch.device = "cpu",
             progress: bool = True, desc: str = "eval", per_sample: bool = False,
             activity: bool = False) -> dict:
    """``{"acc1": percent, "num_samples": n, "correct": k}`` over the first ``limit`` samples, plus
    ``"per_sample"`` (whether each sample was right, in order) and the ``"predictions"`` and
    ``"targets"`` when asked, and with ``activity`` the :class:`zoo.train.activity.ActivityReport`."""
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
    cuda = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), monitor:  # the caller's generators come back as they were
        torch.manual_seed(seed)
        bar = tqdm(total=len(dataset), desc=desc, leave=False, disable=not progress, unit="image",
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} images [{elapsed}<{remaining}{postfix}]")
        layers = LayerProgress(model, bar)
        try:
            for images, labels in loader:
                layers.start(len(labels))
                predicted = model(time_major(images.to(device))).argmax(dim=1).cpu()
                layers.finish(len(labels))
                batch_hits = (predicted == labels).tolist()
                hits += batch_hits
                predictions += predicted.tolist()
                targets += labels.tolist()
                correct += sum(batch_hits)
                bar.set_postfix(acc=f"{100.0 * correct / len(hits):.2f}%")
        finally:
            layers.close()
            model.train(was_training)
    if not hits:
        raise ValueError("cannot evaluate on an empty dataset")
    result = {"acc1": round(100.0 * correct / len(hits), 2), "num_samples": len(hits), "correct": correct}
    if per_sample:
        result.update(per_sample=hits, predictions=predictions, targets=targets)
    if activity:
        result["activity"] = monitor.report()
    return result
