"""``cifar10``: one training step of each CIFAR-10 network the zoo could train directly at T <= 6, against
the step of the QCFS ANN it converts (ResNet-20 of width 32), measured side by side: what choosing the
directly trained CIFAR-10 SNN rests on, and of a wider ANN to convert (Page's ResNet-9). One step for all:
3x32x32 images, batch 64, the precision the recipes' ``train.amp: auto`` trains in (bfloat16 autocast on a CPU
that runs it natively, float32 on one that does not, float16 on CUDA without the trainer's gradient scaler),
cross-entropy on the mean over time, the fused
Adam; each network at its paper's width, T=4 for the SNNs (the PLIF and LT-SNN recipes' own T, batch and
loss differ: the step is compared at one setting), and the Spikformer also at T=1, where its CIFAR-10 legs
train. The first candidate is the reference. A row's ratio is the SNN's step over the ANN's; its medians
give both steps in seconds and the hours of an epoch of the recipes' 45,000 training images (10% held out).
Not in the default run (it trains eight full-size networks): ``python -m zoo bench --suite cifar10``."""
from __future__ import annotations

from typing import Callable

import torch

from ..hub.factory import create_model
from ..train.precision import autocast_dtype
from ..train.optimizers import fused_if_supported
from .steps import training_step
from .timing import interleaved, median, median_ratio

ANN = "ann_resnet20 width 32, QCFS (the ANN converted)"
CANDIDATES: dict[str, tuple[str, dict]] = {  # label -> architecture and arguments
    ANN: ("ann_resnet20", {"width": 32, "activation": "qcfs", "qcfs_levels": 4}),
    "ann_resnet9 (Page's, average pooling), QCFS: a wider ANN to convert":
        ("ann_resnet9", {"activation": "qcfs", "qcfs_levels": 4}),
    "converted_resnet20 width 32, T=4 (its conversion, fine-tuned through time)":
        ("converted_resnet20", {"width": 32, "T": 4, "activation": "qcfs", "qcfs_levels": 4}),
    "spikformer_4_256, T=1": ("spikformer_4_256", {"T": 1}),
    "spikformer_4_256, T=4": ("spikformer_4_256", {"T": 4}),
    "sew_resnet18 ADD, CIFAR stem, width 64, T=4": ("sew_resnet18", {"T": 4, "cnf": "ADD", "stem": "cifar",
                                                                    "width": 64, "input_size": (32, 32)}),
    "plif_net_cifar10, T=4": ("plif_net_cifar10", {"T": 4}),
    "ltsnn_resnet19, T=4": ("ltsnn_resnet19", {"T": 4}),
}
EPOCH_IMAGES = 45_000  # CIFAR-10's 50,000 less the recipes' 10% validation split


def _train_step(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                dtype: torch.dtype | None = None) -> Callable[[], None]:
    """The shared training step (:func:`~zoo.bench.steps.training_step`) with the fused Adam."""
    optimizer = fused_if_supported(torch.optim.Adam, list(model.parameters()), lr=1e-3)
    return training_step(model, optimizer, images, labels, dtype)


def run(repeats: int = 3, device: str = "cpu", batch: int = 64, candidates: dict | None = None) -> list[dict]:
    """Per candidate after the first (the reference): its step over the reference's (above 1: slower), both
    steps' seconds and the hours of its epoch."""
    candidates = candidates or CANDIDATES
    torch.manual_seed(0)
    images = torch.rand(batch, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    dtype = autocast_dtype("auto", images.device)
    steps = {}
    for label, (arch, kwargs) in candidates.items():
        model = create_model(arch, num_classes=10, **kwargs).to(device).train()
        steps[label] = _train_step(model, images, labels, dtype)
    times = interleaved(steps, repeats)
    reference = next(iter(candidates))
    seconds = {label: median(times[label]) for label in candidates}
    return [{"suite": "cifar10", "case": f"{label}: train step (B={batch}) / the ANN's",
             "step_s": seconds[label], "ann_s": seconds[reference],
             "epoch_h": seconds[label] * EPOCH_IMAGES / batch / 3600,
             "ratio": median_ratio(times[label], times[reference])}
            for label in candidates if label != reference]
