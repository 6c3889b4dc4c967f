"""``training``: one training step's time and the memory it keeps for the backward, under BPTT, SLTT
and SLTT-K (:mod:`zoo.train.gradients`), at T = 4, 8 and 16, measured side by side (the methods
alternate within each repeat).

Memory is the peak, over the step, of the distinct non-parameter tensors autograd holds for a backward
still to come, plus what SLTT keeps outside autograd for its fully connected layers' one weight product
(their inputs and output gradients, a few KiB a step): BPTT holds every step's activations until its one
backward; SLTT frees each step's graph at its own backward. The step is the forward and backward of the recipes' bfloat16 autocast on a CPU (float16 on
CUDA), optimizer excluded (it costs the same under every method)."""
from __future__ import annotations

import functools
from typing import Iterator

import torch

from ..hub.factory import create_model
from ..train.gradients import OnlineStep, draw_steps
from ..train.losses import build_loss
from . import timing
from .memory import ARCH_KWARGS
from .timing import interleaved, median_ratio

STEPS = (4, 8, 16)
K = 2  # SLTT-K's steps, as the authors' DVS and ImageNet runs
LABELS = {"bptt": "BPTT", "sltt": "SLTT", "sltt-k": f"SLTT-{K}"}
MODELS = {  # the shipped Fashion-MNIST configurations and their losses
    "sew_resnet18 w16 cifar-stem B=16": ("sew_resnet18", ARCH_KWARGS, "ce"),
    "plif_net_mnist B=16": ("plif_net_mnist", {}, "mse"),
}


class LiveSaved:
    """The bytes of tensors autograd has saved and not yet released, and their peak: saved-tensor hooks
    that count a storage while any graph node holds it."""

    def __init__(self, model: torch.nn.Module):
        self.params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.holders: dict[int, int] = {}
        self.live = self.peak = 0

    def pack(self, tensor: torch.Tensor):
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key in self.params:
            return tensor
        if key not in self.holders:
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
        self.holders[key] = self.holders.get(key, 0) + 1
        return _Held(self, tensor, key, storage.nbytes())

    @staticmethod
    def unpack(held):
        return held.tensor if isinstance(held, _Held) else held

    def hooks(self):
        return torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack)


class _Held:
    """One saved tensor as a graph node holds it; releasing the node releases the count."""

    def __init__(self, meter: LiveSaved, tensor: torch.Tensor, key: int, nbytes: int):
        self.meter, self.tensor, self.key, self.nbytes = meter, tensor, key, nbytes

    def __del__(self):
        holders = self.meter.holders
        holders[self.key] -= 1
        if holders[self.key] == 0:
            del holders[self.key]
            self.meter.live -= self.nbytes


def training_step(model, method: str, images, labels, loss_fn, autocast, generator) -> int:
    """Forward and backward of one batch under ``method``; gradients left in ``.grad``. Returns the
    bytes held outside autograd for a deferred weight gradient (SLTT's fully connected layers)."""
    model.zero_grad(set_to_none=True)
    if method == "bptt":
        with autocast():
            steps = model.forward_steps(images)
        loss_fn(steps.float(), labels).backward()
        return 0
    trained = draw_steps(model.T, K, generator) if method == "sltt-k" else None
    step = OnlineStep(model, loss_fn, autocast=autocast)
    step(images, labels, trained)
    return step.held_bytes


def iter_rows(repeats: int = 3, device: str = "cpu", batch: int = 16, steps: tuple[int, ...] = STEPS,
              models: dict = MODELS) -> Iterator[dict]:
    """The rows as they are measured: per model and T, the two ratios of each SLTT method; per model,
    the memory growth from T=4 to T=16."""
    dtype = torch.float16 if device.startswith("cuda") else torch.bfloat16

    def autocast():
        return torch.autocast(torch.device(device).type, dtype=dtype)

    for case, (arch, kwargs, loss) in models.items():
        loss_fn = build_loss(loss)
        by_t = {}
        for T in steps:
            torch.manual_seed(0)
            model = create_model(arch, T=T, **kwargs).to(device).train()
            images = torch.rand(batch, 1, 28, 28, device=device)
            labels = torch.randint(0, 10, (batch,), device=device)
            methods = ("bptt", "sltt", "sltt-k")
            memory = {}
            generator = torch.Generator().manual_seed(0)
            for m in methods:  # the warm-up, measuring memory (deterministic: one measure is enough)
                meter = LiveSaved(model)
                with meter.hooks():
                    deferred = training_step(model, m, images, labels, loss_fn, autocast, generator)
                memory[m] = (meter.peak + deferred) / 2**20  # an upper bound: both at their largest
            seconds = interleaved({m: functools.partial(training_step, model, m, images, labels, loss_fn, autocast,
                                                        generator) for m in methods}, repeats, warmup=0)
            median = {m: timing.median(v) for m, v in seconds.items()}
            for m in ("sltt", "sltt-k"):
                common = {"suite": "training", "T": T, "model": case, "method": m}
                yield {**common, "case": f"{case} T={T}: {LABELS[m]} / BPTT step time", "measure": "time",
                       "bptt_s": median["bptt"], f"{m}_s": median[m], "ratio": median_ratio(seconds[m], seconds["bptt"])}
                yield {**common, "case": f"{case} T={T}: {LABELS[m]} / BPTT memory kept for backward",
                       "measure": "memory", "bptt_mb": memory["bptt"], f"{m}_mb": memory[m],
                       "ratio": memory[m] / memory["bptt"]}
            by_t[T] = memory
        if 4 in by_t and 16 in by_t:
            for m in ("bptt", "sltt", "sltt-k"):
                yield {"suite": "training", "case": f"{case}: {LABELS[m]} memory at T=16 / at T=4", "T": 16,
                       "model": case, "method": m, "measure": "growth", "t4_mb": by_t[4][m],
                       "t16_mb": by_t[16][m], "ratio": by_t[16][m] / by_t[4][m]}


def run(repeats: int = 3, device: str = "cpu", batch: int = 16, steps: tuple[int, ...] = STEPS) -> list[dict]:
    return list(iter_rows(repeats, device, batch, steps))


def plot(rows: list[dict], path) -> None:
    """Memory kept for the backward against T, and the step time as a fraction of BPTT's, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (memory_ax, time_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    models = list(dict.fromkeys(row["model"] for row in rows if "model" in row))
    for model, style in zip(models, ("-", "--")):
        memory = [row for row in rows if row.get("model") == model and row.get("measure") == "memory"]
        steps = sorted({row["T"] for row in memory})
        bptt = [next(row["bptt_mb"] for row in memory if row["T"] == T) for T in steps]
        memory_ax.plot(steps, bptt, style, marker="o", color="C0", label=f"BPTT, {model}")
        for m, color in (("sltt", "C1"), ("sltt-k", "C2")):
            mb = [next(row[f"{m}_mb"] for row in memory if row["T"] == T and row["method"] == m) for T in steps]
            memory_ax.plot(steps, mb, style, marker="o", color=color, label=f"{LABELS[m]}, {model}")
            timing = [row for row in rows if row.get("model") == model and row.get("measure") == "time"
                      and row["method"] == m]
            time_ax.plot([row["T"] for row in timing], [row["ratio"] for row in timing], style, marker="o",
                         color=color, label=f"{LABELS[m]}, {model}")
    time_ax.axhline(1.0, color="C0", lw=1, label="BPTT")
    for ax, ylabel in ((memory_ax, "kept for backward (MiB)"), (time_ax, "step time / BPTT's")):
        ax.set_xlabel("time steps T")
        ax.set_ylabel(ylabel)
        ax.set_xticks(sorted({row["T"] for row in rows if row.get("measure") == "time"}))
        ax.grid(alpha=0.3)
    memory_ax.legend(fontsize=7)
    time_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
