"""``qcfs``: a training step of the CIFAR-10 QCFS recipe's network (recipes/ann_resnet20_qcfs_cifar10.yaml:
ResNet-20 width 16, L = 4, 32x32 RGB, batch 128, SGD, bfloat16 autocast on a CPU) with the zoo's fused
QCFS against the same activation written as autograd's op graph (the authors' form, putshua/ANN_SNN_QCFS
``Models/layer.py``), and against ReLU (what the quantised activation costs). The first row also gives how
far the two QCFS forms' gradients are apart after the same step."""
from __future__ import annotations

import torch
from torch import nn

from ..hub.factory import create_model
from ..models.base import copy_replacing
from ..models.qcfs import QCFS
from .timing import interleaved, median, median_ratio

RECIPE = {"in_channels": 3, "input_size": (32, 32), "width": 16, "num_classes": 10}


class _FloorStraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.floor()

    @staticmethod
    def backward(ctx, grad):
        return grad


class GraphQCFS(nn.Module):
    """QCFS as the authors write it: autograd records each op (divide, clip, scale, shift, floor, rescale)."""

    def __init__(self, fused: QCFS):
        super().__init__()
        self.levels, self.shift, self.threshold = fused.levels, fused.shift, fused.threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.clamp(x / self.threshold, 0, 1)
        return _FloorStraightThrough.apply(y * self.levels + self.shift) / self.levels * self.threshold


def as_graph_qcfs(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with each fused QCFS replaced by its op-graph form (the same parameters' values)."""
    return copy_replacing(model, QCFS, GraphQCFS)


def _step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def step():
        with torch.autocast(images.device.type, dtype=torch.bfloat16 if images.device.type == "cpu"
                            else torch.float16):
            logits = model(images)
        loss = nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def gradient_difference(fused: nn.Module, graph: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Largest absolute difference between the two forms' parameter gradients on one float32 batch."""
    grads = []
    for model in (fused, graph):
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(images), labels).backward()
        grads.append([p.grad for p in model.parameters()])
    return max(float((a - b).abs().max()) for a, b in zip(*grads))


def run(repeats: int = 5, device: str = "cpu", batch: int = 128, levels: int = 4, **overrides) -> list[dict]:
    """Ratios: op-graph QCFS / fused QCFS and fused QCFS / ReLU seconds of a training step."""
    kwargs = {**RECIPE, **overrides}
    torch.manual_seed(0)
    fused = create_model("ann_resnet20", activation="qcfs", qcfs_levels=levels, **kwargs).to(device)
    graph = as_graph_qcfs(fused)
    relu = create_model("ann_resnet20", **kwargs).to(device)
    images = torch.rand(batch, kwargs["in_channels"], *kwargs["input_size"], device=device)
    labels = torch.randint(0, kwargs["num_classes"], (batch,), device=device)
    difference = gradient_difference(fused, graph, images, labels)
    times = interleaved({"graph": _step(graph, images, labels), "fused": _step(fused, images, labels),
                         "relu": _step(relu, images, labels)}, repeats)
    setting = f"ann_resnet20 width {kwargs['width']} L={levels} B={batch}, autocast: train step"
    return [{"suite": "qcfs", "case": f"{setting}, QCFS as autograd's op graph / fused (gradients apart by at most "
             f"{difference:.1e} in float32)", "graph_s": median(times["graph"]), "fused_s": median(times["fused"]),
             "max_difference": difference, "ratio": median_ratio(times["graph"], times["fused"])},
            {"suite": "qcfs", "case": f"{setting}, fused QCFS / ReLU", "fused_s": median(times["fused"]),
             "relu_s": median(times["relu"]), "ratio": median_ratio(times["fused"], times["relu"])}]
