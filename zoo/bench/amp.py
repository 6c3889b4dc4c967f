"""``amp``: a training step in float32 against the same step under autocast (``train.amp``), in the
setting of recipes/sew_resnet18_w32_fashion_mnist.yaml (SEW-ResNet-18 ADD, CIFAR stem, width 32, fused
IF, T=4, batch 64, Adam). Autocast runs bfloat16 on a CPU and float16 on CUDA. So that the speed is not
bought with wrong answers, the row also gives how often inference under autocast predicts the same class
as float32, with the shipped default ``sew_resnet18`` weight on Fashion-MNIST test images when both are
here (else the paper's initialisation on uniform noise, where near ties make it a weaker check)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import UnknownModelError
from ..hub.factory import create_model
from .inputs import fashion_mnist_or_noise
from .steps import training_step
from .timing import interleaved, median, median_ratio

SEW_W32 = {"T": 4, "cnf": "ADD", "neuron": "if", "surrogate": "atan", "stem": "cifar", "width": 32,
           "in_channels": 1, "input_size": (28, 28), "zero_init_residual": False, "num_classes": 10,
           "neuron_kwargs": {"fused": True}}


def _train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype | None):
    return training_step(model, torch.optim.Adam(model.parameters(), lr=1e-3), images, labels, dtype)


def prediction_agreement(model: nn.Module, images: torch.Tensor, dtype: torch.dtype) -> float:
    """Fraction of ``images`` ([B, C, H, W]) whose class under autocast equals the float32 one."""
    model.eval()
    with torch.no_grad():
        full = model(images).argmax(1)
        with torch.autocast(images.device.type, dtype=dtype):
            mixed = model(images).argmax(1)
    return float((full == mixed).float().mean())


def _check_model(pretrained: bool, overrides: dict) -> tuple[nn.Module, str]:
    if pretrained:
        try:
            return create_model("sew_resnet18", pretrained=True), "shipped weight"
        except UnknownModelError:
            pass
    torch.manual_seed(0)
    return create_model("sew_resnet18", **{**SEW_W32, **overrides}), "paper's initialisation"


def run(repeats: int = 5, device: str = "cpu", batch: int = 64, check_images: int = 500,
        pretrained: bool = True, **overrides) -> list[dict]:
    """Ratio float32 / autocast seconds of a training step (above 1: mixed precision is faster)."""
    dtype = torch.float16 if torch.device(device).type == "cuda" else torch.bfloat16
    kwargs = {**SEW_W32, **overrides}
    torch.manual_seed(0)
    full = create_model("sew_resnet18", **kwargs).to(device)
    mixed = copy.deepcopy(full)
    images = torch.rand(full.T, batch, kwargs["in_channels"], *kwargs["input_size"], device=device)
    labels = torch.randint(0, kwargs["num_classes"], (batch,), device=device)
    times = interleaved({"fp32": _train_step(full, images, labels, None),
                         "amp": _train_step(mixed, images, labels, dtype)}, repeats)
    model, weights = _check_model(pretrained, overrides)
    test_images, source = fashion_mnist_or_noise(check_images)
    agreement = prediction_agreement(model.to(device), test_images.to(device), dtype)
    name = str(dtype).removeprefix("torch.")
    return [{"suite": "amp", "case": f"sew_resnet18 width {kwargs['width']} T={full.T} B={batch}: train step "
             f"float32 / {name} autocast ({name} predicts the float32 class on {100 * agreement:.1f}% of "
             f"{len(test_images)} {source}, {weights})",
             "fp32_s": median(times["fp32"]), "amp_s": median(times["amp"]), "agreement": agreement,
             "ratio": median_ratio(times["fp32"], times["amp"])}]
