"""SEW-ResNet (Fang et al., "Deep Residual Learning in Spiking Neural Networks", NeurIPS 2021) and
the plain Spiking ResNet it is compared with, built the way torchvision builds ResNets.

A SEW block adds its shortcut *after* the last neuron, with a spike-element-wise function
``g(A, S)`` of the residual branch's spikes ``A`` and the shortcut's spikes ``S``: ADD ``A + S``,
AND ``A * S``, IAND ``(1 - A) * S``. With the last BN of the branch zero-initialised, ``A = 0``, so
ADD and IAND blocks start as exact identity mappings; AND blocks get the BN bias 1 instead (``A = 1``),
as in the authors' code. The plain Spiking ResNet adds the shortcut to
the last BN's output *before* the neuron, ``S = SN(BN(...) + shortcut)``, as in the paper's baseline.

Module names follow SpikingJelly's ``sew_resnet``/``spiking_resnet`` (``conv1``, ``bn1``, ``sn1``,
``layerN.i.*``, ``downsample``, ``downsample_sn``, ``fc``), so their state dicts load directly.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..hub.registry import register_model
from ..neurons import build_neuron
from ..neurons.compat import import_spikingjelly
from .base import SpikingClassifier

sj = import_spikingjelly()
layer = sj.layer

CONNECTIONS = ("ADD", "AND", "IAND")
IAND_ORDERS = ("paper", "spikingjelly")  # (1 - A) * S, or SpikingJelly's Bottleneck: A * (1 - S)
STEMS = ("imagenet", "cifar")
PAPER = "Fang et al., Deep Residual Learning in Spiking Neural Networks, NeurIPS 2021"
NeuronFactory = Callable[[], nn.Module]


def check_connection(cnf: str) -> str:
    """``cnf`` if it names a connection function, else a ``ValueError`` listing them."""
    if cnf not in CONNECTIONS:
        raise ValueError(f"unknown connection function {cnf!r}; choose from {', '.join(CONNECTIONS)}")
    return cnf


def connect(residual: torch.Tensor, shortcut: torch.Tensor, cnf: str) -> torch.Tensor:
    """SEW's ``g(A, S)`` with ``A`` the residual branch's spikes and ``S`` the shortcut's."""
    if cnf == "ADD":
        return residual + shortcut
    if cnf == "AND":
        return residual * shortcut
    if check_connection(cnf) == "IAND":
        return (1.0 - residual) * shortcut


def check_iand(iand: str) -> str:
    """``iand`` if it names an IAND argument order, else a ``ValueError`` listing them."""
    if iand not in IAND_ORDERS:
        raise ValueError(f"iand must be one of {', '.join(IAND_ORDERS)}, got {iand!r}")
    return iand


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Module:
    return layer.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False, step_mode="m")


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Module:
    return layer.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False, step_mode="m")


def batch_norm(planes: int) -> nn.Module:
    return layer.BatchNorm2d(planes, step_mode="m")


class _Block(nn.Module):
    """Shared shortcut logic; subclasses define ``branch`` (up to the last BN) and ``last_sn``."""

    expansion = 1
    iand = "paper"  # Bottleneck may take SpikingJelly's argument order

    def __init__(self, downsample: nn.Module | None, cnf: str | None, new_neuron: NeuronFactory):
        super().__init__()
        self.cnf = cnf if cnf is None else check_connection(cnf)  # None: plain Spiking ResNet block
        self.downsample = downsample
        if downsample is not None and cnf is not None:
            self.downsample_sn = new_neuron()

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def last_sn(self) -> nn.Module:
        raise NotImplementedError

    def last_bn(self) -> nn.Module:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        if self.cnf is None:
            return self.last_sn()(self.branch(x) + shortcut)
        if self.downsample is not None:
            shortcut = self.downsample_sn(shortcut)
        residual = self.last_sn()(self.branch(x))
        if self.iand == "spikingjelly":  # its Bottleneck calls g(S, A): for IAND, A * (1 - S)
            residual, shortcut = shortcut, residual
        return connect(residual, shortcut, self.cnf)

    def extra_repr(self) -> str:
        return f"cnf={self.cnf}" if self.cnf else "plain"


class BasicBlock(_Block):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 cnf: str | None = "ADD", new_neuron: NeuronFactory = None):
        super().__init__(downsample, cnf, new_neuron)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = batch_norm(planes)
        self.sn1 = new_neuron()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = batch_norm(planes)
        self.sn2 = new_neuron()

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x)))))

    def last_sn(self) -> nn.Module:
        return self.sn2

    def last_bn(self) -> nn.Module:
        return self.bn2


class Bottleneck(_Block):
    """``iand='spikingjelly'`` computes IAND as SpikingJelly 0.0.0.0.14's ``Bottleneck`` does,
    ``A * (1 - S)`` (its arguments swapped against the paper and its own ``BasicBlock``), so that
    SpikingJelly-trained IAND checkpoints of depth 50 and more keep their function."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 cnf: str | None = "ADD", new_neuron: NeuronFactory = None, iand: str = "paper"):
        super().__init__(downsample, cnf, new_neuron)
        self.iand = check_iand(iand)
        out = planes * self.expansion
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = batch_norm(planes)
        self.sn1 = new_neuron()
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = batch_norm(planes)
        self.sn2 = new_neuron()
        self.conv3 = conv1x1(planes, out)
        self.bn3 = batch_norm(out)
        self.sn3 = new_neuron()

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sn1(self.bn1(self.conv1(x)))
        x = self.sn2(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))

    def last_sn(self) -> nn.Module:
        return self.sn3

    def last_bn(self) -> nn.Module:
        return self.bn3


def zero_init_block(block: _Block) -> None:
    """Start a block as an identity mapping, as the authors' ``zero_init_blocks`` does: the last BN's
    weight is zeroed, so the branch's last neuron sees only the BN's bias. With bias 0 it stays silent
    (``A = 0``: ADD and IAND give ``S``); for AND the bias is 1, so an IF neuron with threshold 1 fires
    at every step (``A = 1``: ``A * S = S``)."""
    bn = block.last_bn()
    nn.init.zeros_(bn.weight)
    nn.init.constant_(bn.bias, 1.0 if block.cnf == "AND" else 0.0)


class SEWResNet(SpikingClassifier):
    """SEW-ResNet (``cnf`` = ADD/AND/IAND) or, with ``cnf=None``, the plain Spiking ResNet.

    ``stem='imagenet'``: 7x7/2 conv and 3x3/2 max-pool; ``stem='cifar'``: 3x3/1 conv, no pool, for
    28-32 px inputs. ``width`` scales the four stages (64 in the paper). ``neuron``/``surrogate`` and
    ``neuron_kwargs`` configure every neuron (IF with atan and detached reset, as the paper's ImageNet
    nets, by default). ``mean``/``std`` normalise image inputs inside the model. ``iand='spikingjelly'``
    gives Bottleneck IAND blocks SpikingJelly's argument order (for its depth-50+ IAND checkpoints).
    """

    stem = "conv1"
    head = "fc"

    def __init__(self, block: type[_Block], layers: list[int], cnf: str | None = "ADD",
                 num_classes: int = 1000, in_channels: int = 3, T: int = 4, encoding: str = "direct",
                 neuron: str = "if", surrogate: str = "atan", surrogate_alpha: float | None = None,
                 neuron_kwargs: dict | None = None, detach_reset: bool = True, stem: str = "imagenet",
                 width: int = 64, zero_init_residual: bool = True, input_size: tuple[int, int] | None = None,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None, iand: str = "paper"):
        super().__init__(T=T, encoding=encoding, in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size)
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {', '.join(STEMS)}, got {stem!r}")
        self.cnf = cnf

        def new_neuron() -> nn.Module:
            return build_neuron(neuron, surrogate=surrogate, surrogate_alpha=surrogate_alpha,
                                detach_reset=detach_reset, **(neuron_kwargs or {}))

        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        if mean is not None:
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        else:
            self.mean = self.std = None
        self.inplanes = width
        self.iand = check_iand(iand)
        if stem == "imagenet":
            self.conv1 = layer.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False, step_mode="m")
            self.maxpool = layer.MaxPool2d(3, stride=2, padding=1, step_mode="m")
        else:
            self.conv1 = conv3x3(in_channels, width)
            self.maxpool = nn.Identity()
        self.bn1 = batch_norm(width)
        self.sn1 = new_neuron()
        stages = []
        for index, (blocks, factor) in enumerate(zip(layers, (1, 2, 4, 8))):
            stages.append(self._make_layer(block, width * factor, blocks, 1 if index == 0 else 2, cnf, new_neuron))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = layer.AdaptiveAvgPool2d((1, 1), step_mode="m")
        self.fc = layer.Linear(width * 8 * block.expansion, num_classes, step_mode="m")
        self._init_weights(zero_init_residual)

    def _make_layer(self, block: type[_Block], planes: int, blocks: int, stride: int, cnf: str | None,
                    new_neuron: NeuronFactory) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       batch_norm(planes * block.expansion))
        extra = {"iand": self.iand} if block is Bottleneck else {}
        stage = [block(self.inplanes, planes, stride, downsample, cnf, new_neuron, **extra)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes, 1, None, cnf, new_neuron, **extra) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, _Block):
                    zero_init_block(module)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mean is None else (x - self.mean) / self.std

    static_stem = True

    def forward_stem(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.bn1(self.conv1(x_seq))

    def forward_body(self, current: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.sn1(current))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 2))


DEPTHS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]), 50: (Bottleneck, [3, 4, 6, 3]),
          101: (Bottleneck, [3, 4, 23, 3]), 152: (Bottleneck, [3, 8, 36, 3])}


def _sew(depth: int, kwargs: dict) -> SEWResNet:
    block, layers = DEPTHS[depth]
    return SEWResNet(block, layers, **{"cnf": "ADD", **kwargs})


def _plain(depth: int, kwargs: dict) -> SEWResNet:
    if kwargs.get("cnf") is not None:
        raise ValueError("the plain Spiking ResNet has no connection function; use sew_resnet* for cnf")
    block, layers = DEPTHS[depth]
    return SEWResNet(block, layers, **{**kwargs, "cnf": None})


@register_model(paper=PAPER)
def sew_resnet18(**kwargs) -> SEWResNet:
    """SEW-ResNet-18 (BasicBlock [2, 2, 2, 2]); ``cnf`` ADD (default), AND or IAND."""
    return _sew(18, kwargs)


@register_model(paper=PAPER)
def sew_resnet34(**kwargs) -> SEWResNet:
    """SEW-ResNet-34 (BasicBlock [3, 4, 6, 3]); ``cnf`` ADD (default), AND or IAND."""
    return _sew(34, kwargs)


@register_model(paper=PAPER)
def sew_resnet50(**kwargs) -> SEWResNet:
    """SEW-ResNet-50 (Bottleneck [3, 4, 6, 3]); ``cnf`` ADD (default), AND or IAND."""
    return _sew(50, kwargs)


@register_model(paper=PAPER)
def sew_resnet101(**kwargs) -> SEWResNet:
    """SEW-ResNet-101 (Bottleneck [3, 4, 23, 3]); ``cnf`` ADD (default), AND or IAND."""
    return _sew(101, kwargs)


@register_model(paper=PAPER)
def sew_resnet152(**kwargs) -> SEWResNet:
    """SEW-ResNet-152 (Bottleneck [3, 8, 36, 3]); ``cnf`` ADD (default), AND or IAND."""
    return _sew(152, kwargs)


@register_model(paper=PAPER)
def spiking_resnet18(**kwargs) -> SEWResNet:
    """Plain Spiking ResNet-18, the SEW paper's baseline: ``SN(BN(...) + shortcut)``."""
    return _plain(18, kwargs)


@register_model(paper=PAPER)
def spiking_resnet34(**kwargs) -> SEWResNet:
    """Plain Spiking ResNet-34, the SEW paper's baseline: ``SN(BN(...) + shortcut)``."""
    return _plain(34, kwargs)


@register_model(paper=PAPER)
def spiking_resnet50(**kwargs) -> SEWResNet:
    """Plain Spiking ResNet-50, the SEW paper's baseline: ``SN(BN(...) + shortcut)``."""
    return _plain(50, kwargs)


@register_model(paper=PAPER)
def spiking_resnet101(**kwargs) -> SEWResNet:
    """Plain Spiking ResNet-101, the SEW paper's baseline: ``SN(BN(...) + shortcut)``."""
    return _plain(101, kwargs)


@register_model(paper=PAPER)
def spiking_resnet152(**kwargs) -> SEWResNet:
    """Plain Spiking ResNet-152, the SEW paper's baseline: ``SN(BN(...) + shortcut)``."""
    return _plain(152, kwargs)
