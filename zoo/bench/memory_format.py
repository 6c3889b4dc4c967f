"""``memory_format``: a training step of each network the zoo trains here on a CPU, in the precision the
recipes' ``train.amp: auto`` takes on this machine (bfloat16 autocast on a CPU that runs it natively, float32
on one that would emulate it, float16 on CUDA; :mod:`zoo.train.precision`; the last row is the ``amp``
suite's network), with the 4-D weights in PyTorch's default layout (NCHW) against channels-last
(``train.channels_last``, :mod:`zoo.train.memory_format`). Both copies
start from the same weights; so that the speed is not bought with another update, the row gives how far
each copy's update after the timed steps is from the same steps' update in float32 (the norm of the
difference over the norm of float32's): mixed precision moves both, channels-last should not add to it."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..hub.factory import create_model
from ..train import precision
from ..train.memory_format import to_channels_last
from .steps import training_step
from .timing import interleaved, median, median_ratio

QCFS_W32 = {"width": 32, "activation": "qcfs", "qcfs_levels": 4}
FMNIST = {"in_channels": 1, "input_size": (28, 28)}
# (architecture, keyword arguments, batch, image shape): the networks and batches of the recipes named
NETWORKS = (
    ("ann_resnet20", QCFS_W32, 128, (3, 32, 32)),  # ann_resnet20_w32_qcfs_cifar10_*.yaml
    ("converted_resnet20", {"T": 4, **QCFS_W32}, 64, (3, 32, 32)),  # converted_resnet20_w32_qcfs_cifar10_t4.yaml
    ("spikformer_4_256", {"T": 1}, 64, (3, 32, 32)),  # spikformer_4_256_cifar10_t1_*.yaml
    ("sdt_2_256", {"T": 1, **FMNIST}, 64, (1, 28, 28)),  # sdt_2_256_fashion_mnist_t1_*.yaml
    ("plif_net_mnist", {"T": 8}, 16, (1, 28, 28)),  # plif_net_fashion_mnist.yaml
    ("sew_resnet18", {"T": 4, "width": 32, "stem": "cifar", "num_classes": 10, **FMNIST}, 64, (1, 28, 28)),
)


def _train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype | None):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    # every copy's step draws the same dropout masks
    return training_step(model, optimizer, images, labels, dtype, seed=0)


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def run(repeats: int = 3, device: str = "cpu", networks=NETWORKS) -> list[dict]:
    """Ratio NCHW / channels-last seconds of a training step (above 1: channels-last is faster)."""
    rows = []
    dtype = precision.autocast_dtype("auto", torch.device(device))
    arithmetic = precision.precision_name(dtype)
    for name, kwargs, batch, shape in networks:
        torch.manual_seed(0)
        default = create_model(name, **kwargs).train().to(device)
        channels_last = to_channels_last(copy.deepcopy(default))
        full = copy.deepcopy(default)  # the float32 reference, stepped as often as the timed copies
        start = _flat(default)
        images = torch.rand(batch, *shape, device=device)
        labels = torch.randint(0, 10, (batch,), device=device)
        times = interleaved({"nchw": _train_step(default, images, labels, dtype),
                             "channels_last": _train_step(channels_last, images, labels, dtype)}, repeats)
        reference = _train_step(full, images, labels, None)
        for _ in range(repeats + 1):  # interleaved's warm-up step and the timed ones
            reference()
        exact = _flat(full) - start
        nchw, last = (float((_flat(model) - start - exact).norm() / exact.norm()) for model in (default, channels_last))
        T = f" T={kwargs['T']}" if "T" in kwargs else ""
        qcfs = " QCFS" if kwargs.get("activation") == "qcfs" else ""
        rows.append({"suite": "memory_format", "case": f"{name}{qcfs}{T} B={batch} {'x'.join(map(str, shape))}: train step NCHW / channels-last "
                     f"in {arithmetic} (after {repeats + 1} steps the updates are {100 * nchw:.1f}% and "
                     f"{100 * last:.1f}% from float32's)",
                     "precision": arithmetic, "nchw_s": median(times["nchw"]), "channels_last_s": median(times["channels_last"]),
                     "nchw_from_float32": nchw, "channels_last_from_float32": last,
                     "ratio": median_ratio(times["nchw"], times["channels_last"])})
    return rows
