"""ReLU networks to be converted into SNNs (:mod:`zoo.conversion`).

``ann_resnet20`` is He et al.'s CIFAR ResNet-20 (3 stages of 3 basic blocks, 16/32/64 channels, global
average pooling); ``ann_resnet9`` is Page's ResNet-9 ("How to train your ResNet", 2018: 94% on CIFAR-10 in
24 epochs, the fastest-training CIFAR net of the DAWNBench era) with average instead of max pooling, which
spikes cannot compute. Every activation is its own module, so conversion can give each one its own neurons
and threshold. ``activation="qcfs"`` trains it with the quantisation clip-floor-shift activation
(:mod:`zoo.models.qcfs`) in place of ReLU, for conversion at small ``T``. ANNs answer the zoo's classifier interface (``forward_steps`` gives a single "step"), so the
zoo's trainer, evaluation and hub treat them like the SNNs.
"""
from __future__ import annotations

import torch
from torch import nn

from ..hub.registry import register_model
from .base import ImageClassifier
from .qcfs import QCFS

ACTIVATIONS = ("relu", "qcfs")


def activation_factory(activation: str, qcfs_levels: int):
    """A function making one new activation module per call."""
    if activation == "relu":
        return nn.ReLU
    if activation == "qcfs":
        return lambda: QCFS(qcfs_levels)
    raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")

PAPER = "He et al., Deep Residual Learning for Image Recognition, CVPR 2016 (CIFAR ResNet-20)"
RESNET9_PAPER = "Page, How to train your ResNet (Myrtle.ai, 2018; DAWNBench CIFAR-10 ResNet-9)"
RESNET9_SCALE = 0.125  # Page's Mul(0.125) on the logits
POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, activation=nn.ReLU):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = activation()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        self.relu2 = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNetANN(ImageClassifier):
    stem = "conv1"
    head = "fc"

    def __init__(self, blocks: int = 3, width: int = 16, num_classes: int = 10, in_channels: int = 3,
                 input_size: tuple[int, int] = (32, 32), activation: str = "relu", qcfs_levels: int = 8):
        super().__init__(in_channels, num_classes, input_size)
        new_activation = activation_factory(activation, qcfs_levels)
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = new_activation()
        layers, planes = [], width
        for stage, channels in enumerate((width, 2 * width, 4 * width)):
            for index in range(blocks):
                layers.append(BasicBlock(planes, channels, 2 if stage > 0 and index == 0 else 1, new_activation))
                planes = channels
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(planes, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        out = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(out), 1))


@register_model(paper=PAPER)
def ann_resnet20(num_classes: int = 10, in_channels: int = 3, input_size: tuple[int, int] = (32, 32),
                 width: int = 16, activation: str = "relu", qcfs_levels: int = 8) -> ResNetANN:
    """ResNet-20 (3x3 basic blocks per stage, 16-32-64 channels): the ANN that is converted; ReLU, or
    ``activation="qcfs"`` with ``qcfs_levels`` quantisation levels."""
    return ResNetANN(3, width, num_classes, in_channels, input_size, activation, qcfs_levels)


class ConvBN(nn.Sequential):
    """Page's ``conv_bn``: 3x3 convolution without bias, BatchNorm, activation."""

    def __init__(self, in_channels: int, out_channels: int, new_activation):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = new_activation()


class Residual(nn.Module):
    """``x + res2(res1(x))``: two ``conv_bn`` at the same width."""

    def __init__(self, channels: int, new_activation):
        super().__init__()
        self.res1 = ConvBN(channels, channels, new_activation)
        self.res2 = ConvBN(channels, channels, new_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res2(self.res1(x))


class ResNet9ANN(ImageClassifier):
    """prep ``conv_bn`` (64), layer1 ``conv_bn`` (128) + pool + residual, layer2 ``conv_bn`` (256) + pool,
    layer3 ``conv_bn`` (512) + pool + residual, a global pool, a bias-free linear layer scaled by 0.125.
    ``width`` scales every stage (64 is Page's). ``pool="max"`` is Page's net exactly; ``"avg"`` (the
    default) converts, a max of spike trains not being the spike train of the max."""

    stem = "prep.conv"
    head = "fc"

    def __init__(self, width: int = 64, num_classes: int = 10, in_channels: int = 3,
                 input_size: tuple[int, int] = (32, 32), activation: str = "relu", qcfs_levels: int = 8,
                 pool: str = "avg"):
        super().__init__(in_channels, num_classes, input_size)
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {pool!r}")
        new_activation = activation_factory(activation, qcfs_levels)
        self.prep = ConvBN(in_channels, width, new_activation)
        self.layer1 = nn.Sequential(ConvBN(width, 2 * width, new_activation), POOLS[pool](2),
                                    Residual(2 * width, new_activation))
        self.layer2 = nn.Sequential(ConvBN(2 * width, 4 * width, new_activation), POOLS[pool](2))
        self.layer3 = nn.Sequential(ConvBN(4 * width, 8 * width, new_activation), POOLS[pool](2),
                                    Residual(8 * width, new_activation))
        self.pool = nn.AdaptiveAvgPool2d(1) if pool == "avg" else nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(8 * width, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        out = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.fc(torch.flatten(self.pool(out), 1)) * RESNET9_SCALE


@register_model(paper=RESNET9_PAPER)
def ann_resnet9(num_classes: int = 10, in_channels: int = 3, input_size: tuple[int, int] = (32, 32),
                width: int = 64, activation: str = "relu", qcfs_levels: int = 8, pool: str = "avg") -> ResNet9ANN:
    """Page's ResNet-9 (64-128-256-512 channels, 6.57M parameters): ReLU, or ``activation="qcfs"`` with
    ``qcfs_levels`` quantisation levels; average pooling unless ``pool="max"``."""
    return ResNet9ANN(width, num_classes, in_channels, input_size, activation, qcfs_levels, pool)
