"""LT-SNN networks: every spiking layer is a LIF with a learnable threshold
(:mod:`zoo.neurons.learnable_threshold`), trained through the separate gradient path.

``ltsnn_resnet19`` is ResNet-19 as defined for SNNs by tdBN (Zheng et al., AAAI 2021), the LT-SNN
paper's CIFAR-10 net; ``ltsnn_vgg9`` is the VGG-9 of SNN work on DVS data (Lee et al. 2020: 64-64-P-
128-128-P-256-256-256-P, FC1024, FC classes, average pooling); ``ltsnn_cnn`` is a small net for
Fashion-MNIST. Convolutions are followed by BN; thresholds are per channel by default.
"""
from __future__ import annotations

import torch
from torch import nn

from ..hub.registry import register_model
from ..neurons.compat import import_spikingjelly
from ..neurons.learnable_threshold import LearnableThresholdLIF
from .base import SpikingClassifier

sj = import_spikingjelly()
layer = sj.layer

PAPER = "LT-SNN: learnable thresholds with a separate gradient path and a gradient penalty window"


class _Neurons:
    """Builds the neurons of one network with shared settings."""

    def __init__(self, per_channel: bool, v_threshold: float, decay: float, dsr: bool, alpha: float):
        self.per_channel, self.kwargs = per_channel, {"v_threshold": v_threshold, "decay": decay, "dsr": dsr,
                                                       "alpha": alpha}

    def __call__(self, channels: int) -> LearnableThresholdLIF:
        return LearnableThresholdLIF(channels if self.per_channel else None, **self.kwargs)


def conv_bn(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [layer.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False, step_mode="m"),
            layer.BatchNorm2d(out_channels, step_mode="m")]


class BasicBlock(nn.Module):
    """ResNet-19's block: ``LIF(BN(conv(LIF(BN(conv(x))))) + shortcut(x))``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, neurons: _Neurons):
        super().__init__()
        self.branch = nn.Sequential(*conv_bn(in_channels, out_channels, stride), neurons(out_channels),
                                    *conv_bn(out_channels, out_channels))
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                layer.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, step_mode="m"),
                layer.BatchNorm2d(out_channels, step_mode="m"))
        self.sn = neurons(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sn(self.branch(x) + self.shortcut(x))


class LTSNN(SpikingClassifier):
    """``features`` (multi-step modules on ``[T, B, C, H, W]``), flattened, then ``classifier``."""

    stem = "features.0"
    head = "classifier.2"

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential, *, T: int, in_channels: int,
                 num_classes: int, input_size: tuple[int, int], encoding: str = "direct"):
        super().__init__(T=T, encoding=encoding, in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size)
        self.features = features
        self.classifier = classifier

    def forward_sequence(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x_seq), 2))

    def thresholds(self) -> dict[str, torch.Tensor]:
        """Every layer's learned threshold(s), by module name."""
        return {name: m.v_threshold.detach() for name, m in self.named_modules() if isinstance(m, LearnableThresholdLIF)}


def _vgg(config: list, in_channels: int, neurons: _Neurons) -> tuple[nn.Sequential, int, int]:
    """Conv-BN-LIF layers and 2x2 average pools ("A"); returns the layers, channels out, pools."""
    modules, channels, pools = [], in_channels, 0
    for item in config:
        if item == "A":
            modules.append(layer.AvgPool2d(2, 2, step_mode="m"))
            pools += 1
        else:
            modules += [*conv_bn(channels, item), neurons(item)]
            channels = item
    return nn.Sequential(*modules), channels, pools


def _classifier(features: int, hidden: int, num_classes: int, neurons: _Neurons) -> nn.Sequential:
    return nn.Sequential(layer.Linear(features, hidden, step_mode="m"), neurons(hidden),
                         layer.Linear(hidden, num_classes, step_mode="m"))


def _build(config: list, hidden: int, *, T, in_channels, num_classes, input_size, per_channel, v_threshold,
           decay, dsr, alpha, encoding) -> LTSNN:
    neurons = _Neurons(per_channel, v_threshold, decay, dsr, alpha)
    features, channels, pools = _vgg(config, in_channels, neurons)
    h, w = input_size[0] >> pools, input_size[1] >> pools
    if h < 1 or w < 1:
        raise ValueError(f"input_size {tuple(input_size)} is too small for {pools} 2x2 poolings")
    classifier = _classifier(channels * h * w, hidden, num_classes, neurons)
    return LTSNN(features, classifier, T=T, in_channels=in_channels, num_classes=num_classes,
                 input_size=input_size, encoding=encoding)


@register_model(paper=PAPER)
def ltsnn_vgg9(num_classes: int = 10, in_channels: int = 2, T: int = 10, input_size: tuple[int, int] = (48, 48),
               per_channel: bool = True, v_threshold: float = 1.0, decay: float = 0.5, dsr: bool = False,
               alpha: float = 1.0, encoding: str = "direct") -> LTSNN:
    """VGG-9 for DVS-CIFAR10 (T=10, two polarities, 48x48 frames): 64-64-P-128-128-P-256-256-256-P-FC1024-FC."""
    return _build([64, 64, "A", 128, 128, "A", 256, 256, 256, "A"], 1024, T=T, in_channels=in_channels,
                  num_classes=num_classes, input_size=input_size, per_channel=per_channel,
                  v_threshold=v_threshold, decay=decay, dsr=dsr, alpha=alpha, encoding=encoding)


@register_model(paper=PAPER)
def ltsnn_cnn(num_classes: int = 10, in_channels: int = 1, T: int = 4, input_size: tuple[int, int] = (28, 28),
              per_channel: bool = True, v_threshold: float = 1.0, decay: float = 0.5, dsr: bool = False,
              alpha: float = 1.0, encoding: str = "direct", width: int = 32) -> LTSNN:
    """A Fashion-MNIST-sized LT-SNN: {width}-P-{2 width}-P-FC256-FC10, direct input."""
    return _build([width, "A", 2 * width, "A"], 256, T=T, in_channels=in_channels, num_classes=num_classes,
                  input_size=input_size, per_channel=per_channel, v_threshold=v_threshold, decay=decay,
                  dsr=dsr, alpha=alpha, encoding=encoding)


@register_model(paper=PAPER)
def ltsnn_resnet19(num_classes: int = 10, in_channels: int = 3, T: int = 6, input_size: tuple[int, int] = (32, 32),
                   per_channel: bool = True, v_threshold: float = 1.0, decay: float = 0.5, dsr: bool = False,
                   alpha: float = 1.0, encoding: str = "direct") -> LTSNN:
    """ResNet-19 for CIFAR-10 (T=6): conv128, 3x block128, 3x block256 /2, 2x block512 /2, global
    average pool, FC256, FC10."""
    neurons = _Neurons(per_channel, v_threshold, decay, dsr, alpha)
    stages, channels = [*conv_bn(in_channels, 128), neurons(128)], 128
    for out_channels, blocks, stride in ((128, 3, 1), (256, 3, 2), (512, 2, 2)):
        for index in range(blocks):
            stages.append(BasicBlock(channels, out_channels, stride if index == 0 else 1, neurons))
            channels = out_channels
    stages.append(layer.AdaptiveAvgPool2d((1, 1), step_mode="m"))
    return LTSNN(nn.Sequential(*stages), _classifier(512, 256, num_classes, neurons), T=T, in_channels=in_channels,
                 num_classes=num_classes, input_size=input_size, encoding=encoding)
