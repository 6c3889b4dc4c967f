"""LT-SNN networks (Hasssan, Meng, Seo, "LT-SNN: Self-Adaptive Spiking Neural Network for Event-based
Classification and Object Detection", IJCNN 2024): every spiking layer is a LIF with a learnable
threshold (:mod:`zoo.neurons.learnable_threshold`), whose gradient follows the authors' code by default
(``threshold_gradient='authors'``: the explicit penalty-window term plus the input path through
``H - V_th``, reset not detached) or the paper's separate path alone (``'separate'``).

Following the authors' code (github.com/Ahmedhasssan/LV-Surrogate-Gradient-TE-SNN-VGG): one threshold
per layer, initialised at 1, decay 0.5 with hard reset, the first layer's threshold fixed.
``ltsnn_vgg9`` is their ``VGGSNN9`` for DVS-CIFAR10 at 48x48 (32-64-64-P-128-128-P-256-256-P-512-512-P,
FC512, dropout 0.5, FC classes; 3x3 convolutions with bias and BN, average pooling); their frames are
events drawn as RGB images (3 channels), the zoo's are two polarity channels, hence ``in_channels=2``.
``ltsnn_resnet19`` is ResNet-19 as defined by tdBN (Zheng et al., AAAI 2021; the authors' code uses a
64-channel stem where tdBN uses 128). ``ltsnn_cnn`` is a small net for Fashion-MNIST.
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

PAPER = "Hasssan, Meng, Seo, LT-SNN: Self-Adaptive Spiking Neural Network for Event-based Classification, IJCNN 2024"


class _Neurons:
    """Builds the neurons of one network with shared settings; the first one built keeps a fixed
    threshold when ``fixed_first``."""

    def __init__(self, per_channel: bool, v_threshold: float, decay: float, dsr: bool, alpha: float,
                 threshold_gradient: str = "authors", fixed_first: bool = True):
        self.per_channel, self.fixed_first, self.built = per_channel, fixed_first, 0
        self.kwargs = {"v_threshold": v_threshold, "decay": decay, "dsr": dsr, "alpha": alpha,
                       "threshold_gradient": threshold_gradient}

    def __call__(self, channels: int) -> LearnableThresholdLIF:
        learnable = not (self.fixed_first and self.built == 0)
        self.built += 1
        return LearnableThresholdLIF(channels if self.per_channel else None, learnable=learnable, **self.kwargs)


def conv_bn(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False) -> list[nn.Module]:
    return [layer.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=bias, step_mode="m"),
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

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential, *, T: int, in_channels: int,
                 num_classes: int, input_size: tuple[int, int], encoding: str = "direct"):
        super().__init__(T=T, encoding=encoding, in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size)
        self.features = features
        self.classifier = classifier
        self.head = f"classifier.{len(classifier) - 1}"

    def forward_sequence(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x_seq), 2))

    def thresholds(self) -> dict[str, torch.Tensor]:
        """Every layer's threshold(s), by module name."""
        return {name: m.v_threshold.detach() for name, m in self.named_modules() if isinstance(m, LearnableThresholdLIF)}


def _convs(config: list, in_channels: int, neurons: _Neurons, bias: bool) -> tuple[nn.Sequential, int, int]:
    """Conv-BN-LIF layers and 2x2 average pools ("A"); returns the layers, channels out, pools."""
    modules, channels, pools = [], in_channels, 0
    for item in config:
        if item == "A":
            modules.append(layer.AvgPool2d(2, 2, step_mode="m"))
            pools += 1
        else:
            modules += [*conv_bn(channels, item, bias=bias), neurons(item)]
            channels = item
    return nn.Sequential(*modules), channels, pools


def _flat_size(channels: int, pools: int, input_size) -> int:
    h, w = input_size[0] >> pools, input_size[1] >> pools
    if h < 1 or w < 1:
        raise ValueError(f"input_size {tuple(input_size)} is too small for {pools} 2x2 poolings")
    return channels * h * w


@register_model(paper=PAPER)
def ltsnn_vgg9(num_classes: int = 10, in_channels: int = 2, T: int = 10, input_size: tuple[int, int] = (48, 48),
               per_channel: bool = False, v_threshold: float = 1.0, decay: float = 0.5, dsr: bool = False,
               alpha: float = 1.0, encoding: str = "direct", threshold_gradient: str = "authors") -> LTSNN:
    """VGG-9 for DVS-CIFAR10 (T=10, 48x48 frames): 32-64-64-P-128-128-P-256-256-P-512-512-P, FC512,
    dropout 0.5, FC classes (the authors' VGGSNN9)."""
    neurons = _Neurons(per_channel, v_threshold, decay, dsr, alpha, threshold_gradient)
    features, channels, pools = _convs([32, 64, 64, "A", 128, 128, "A", 256, 256, "A", 512, 512, "A"],
                                       in_channels, neurons, bias=True)
    classifier = nn.Sequential(layer.Linear(_flat_size(channels, pools, input_size), 512, step_mode="m"),
                               layer.Dropout(0.5, step_mode="m"), layer.Linear(512, num_classes, step_mode="m"))
    return LTSNN(features, classifier, T=T, in_channels=in_channels, num_classes=num_classes,
                 input_size=input_size, encoding=encoding)


@register_model(paper=PAPER)
def ltsnn_cnn(num_classes: int = 10, in_channels: int = 1, T: int = 4, input_size: tuple[int, int] = (28, 28),
              per_channel: bool = False, v_threshold: float = 1.0, decay: float = 0.5, dsr: bool = False,
              alpha: float = 1.0, encoding: str = "direct", width: int = 32,
              threshold_gradient: str = "authors") -> LTSNN:
    """A Fashion-MNIST-sized LT-SNN: {width}-P-{2 width}-P-FC256-LIF-FC10, direct input."""
    neurons = _Neurons(per_channel, v_threshold, decay, dsr, alpha, threshold_gradient)
    features, channels, pools = _convs([width, "A", 2 * width, "A"], in_channels, neurons, bias=False)
    classifier = nn.Sequential(layer.Linear(_flat_size(channels, pools, input_size), 256, step_mode="m"),
                               neurons(256), layer.Linear(256, num_classes, step_mode="m"))
    return LTSNN(features, classifier, T=T, in_channels=in_channels, num_classes=num_classes,
                 input_size=input_size, encoding=encoding)


@register_model(paper=PAPER)
def ltsnn_resnet19(num_classes: int = 10, in_channels: int = 3, T: int = 6, input_size: tuple[int, int] = (32, 32),
                   per_channel: bool = False, v_threshold: float = 1.0, decay: float = 0.5, dsr: bool = False,
                   alpha: float = 1.0, encoding: str = "direct", threshold_gradient: str = "authors") -> LTSNN:
    """ResNet-19 for CIFAR-10 (T=6): conv128, 3x block128, 3x block256 /2, 2x block512 /2, global
    average pool, FC256-LIF-FC10."""
    neurons = _Neurons(per_channel, v_threshold, decay, dsr, alpha, threshold_gradient)
    stages, channels = [*conv_bn(in_channels, 128), neurons(128)], 128
    for out_channels, blocks, stride in ((128, 3, 1), (256, 3, 2), (512, 2, 2)):
        for index in range(blocks):
            stages.append(BasicBlock(channels, out_channels, stride if index == 0 else 1, neurons))
            channels = out_channels
    stages.append(layer.AdaptiveAvgPool2d((1, 1), step_mode="m"))
    classifier = nn.Sequential(layer.Linear(512, 256, step_mode="m"), neurons(256),
                               layer.Linear(256, num_classes, step_mode="m"))
    return LTSNN(nn.Sequential(*stages), classifier, T=T, in_channels=in_channels, num_classes=num_classes,
                 input_size=input_size, encoding=encoding)
