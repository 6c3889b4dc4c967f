"""ReLU networks to be converted into SNNs (:mod:`zoo.conversion`).

``ann_resnet20`` is He et al.'s CIFAR ResNet-20 (3 stages of 3 basic blocks, 16/32/64 channels, global
average pooling): every activation is its own module, so conversion can give each one its own neurons
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
