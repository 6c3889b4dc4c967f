"""The SEW paper's networks for event data (Fang et al., NeurIPS 2021, section 4.2): 7B-Net for DVS
Gesture and Wide-7B-Net for CIFAR10-DVS.

Each of the seven stages is a channel-changing ``conv1x1-BN-PLIF`` (only where the width changes), one
block of two ``conv3x3-BN-PLIF`` layers, and a 2x2 max-pool; the read-out is a linear layer on the
time-averaged features. ``block='sew'`` joins the block's input ``S`` and output ``A`` with the
connection function (ADD ``A + S``, AND ``A * S``, IAND ``(1 - A) * S``); ``'plain'`` has no
shortcut; ``'basic'`` is the Spiking ResNet form ``SN(S + BN(conv(...)))``. PLIF neurons with
``init_tau = 2``, atan surrogate and detached reset, as in the paper's code.
"""
from __future__ import annotations

import torch
from torch import nn

from ..hub.registry import register_model
from ..neurons import build_neuron
from ..neurons.compat import import_spikingjelly
from .base import SpikingClassifier
from .sew_resnet import PAPER, batch_norm, check_connection, connect, conv1x1, conv3x3

sj = import_spikingjelly()
layer = sj.layer

BLOCKS = ("sew", "plain", "basic")


class DVSBlock(nn.Module):
    """Two 3x3 conv-BN(-PLIF) layers with the shortcut chosen by ``block``."""

    def __init__(self, channels: int, mid_channels: int, block: str, cnf: str, new_neuron):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {', '.join(BLOCKS)}, got {block!r}")
        self.block = block
        self.cnf = check_connection(cnf) if block == "sew" else cnf
        self.conv1, self.bn1, self.sn1 = conv3x3(channels, mid_channels), batch_norm(mid_channels), new_neuron()
        self.conv2, self.bn2, self.sn2 = conv3x3(mid_channels, channels), batch_norm(channels), new_neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x)))))
        if self.block == "basic":
            return self.sn2(x + out)
        out = self.sn2(out)
        return connect(out, x, self.cnf) if self.block == "sew" else out

    def extra_repr(self) -> str:
        return f"block={self.block}" + (f", cnf={self.cnf}" if self.block == "sew" else "")


class SEWDVSNet(SpikingClassifier):
    """Stages of ``[channels]``, each ``(up-conv) -> DVSBlock -> max-pool 2``, then a linear read-out."""

    stem = "stages.0.up_conv"
    head = "fc"

    def __init__(self, channels: list[int], num_classes: int, cnf: str = "ADD", block: str = "sew",
                 in_channels: int = 2, T: int = 16, input_size: tuple[int, int] = (128, 128),
                 encoding: str = "direct", neuron: str = "plif", surrogate: str = "atan",
                 surrogate_alpha: float | None = None, neuron_kwargs: dict | None = None,
                 detach_reset: bool = True):
        super().__init__(T=T, encoding=encoding, in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size)
        kwargs = {"init_tau": 2.0} if neuron == "plif" else {}

        def new_neuron() -> nn.Module:
            return build_neuron(neuron, surrogate=surrogate, surrogate_alpha=surrogate_alpha,
                                detach_reset=detach_reset, **{**kwargs, **(neuron_kwargs or {})})

        stages, width, (h, w) = [], in_channels, input_size
        for out_channels in channels:
            stage = nn.Module()
            if out_channels != width:
                stage.up_conv, stage.up_bn, stage.up_sn = conv1x1(width, out_channels), batch_norm(out_channels), new_neuron()
            stage.block = DVSBlock(out_channels, out_channels, block, cnf, new_neuron)
            stage.pool = layer.MaxPool2d(2, 2, step_mode="m")
            stages.append(stage)
            width, h, w = out_channels, h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"input_size {input_size} is too small for {len(channels)} 2x2 poolings")
        self.stages = nn.ModuleList(stages)
        self.fc = layer.Linear(width * h * w, num_classes, step_mode="m")
        # the stem is the first stage's up-conv; without one there is nothing to adapt
        if not hasattr(self.stages[0], "up_conv"):
            self.stem = ""

    def forward_sequence(self, x_seq: torch.Tensor) -> torch.Tensor:
        x = x_seq
        for stage in self.stages:
            if hasattr(stage, "up_conv"):
                x = stage.up_sn(stage.up_bn(stage.up_conv(x)))
            x = stage.pool(stage.block(x))
        return self.fc(torch.flatten(x, 2))


@register_model(paper=PAPER)
def sew_7b_net(**kwargs) -> SEWDVSNet:
    """7B-Net for DVS Gesture: {c32 SEW block, max-pool 2} x 7, FC 11; PLIF, T=16, 128x128 input."""
    return SEWDVSNet(**{"channels": [32] * 7, "num_classes": 11, **kwargs})


@register_model(paper=PAPER)
def sew_wide_7b_net(**kwargs) -> SEWDVSNet:
    """Wide-7B-Net for CIFAR10-DVS: {c64 block, pool} x 4, {c128 block, pool} x 3, FC 10; PLIF, T=16."""
    return SEWDVSNet(**{"channels": [64] * 4 + [128] * 3, "num_classes": 10, **kwargs})


@register_model(paper=PAPER)
def sew_4b_net(**kwargs) -> SEWDVSNet:
    """7B-Net's design cut to four blocks for N-MNIST-sized input (not in the paper): {c16 SEW block,
    max-pool 2} x 4, FC 10 on 34x34x2 frames; PLIF, T=8. The read-out sees 2x2 positions, so only the
    head changes with the sensor size and a fine-tune on another sensor keeps every other weight."""
    return SEWDVSNet(**{"channels": [16] * 4, "num_classes": 10, "T": 8, "input_size": (34, 34), **kwargs})
