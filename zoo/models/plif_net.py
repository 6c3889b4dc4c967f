"""The PLIF paper's networks (Fang, Yu, Chen, Masquelier, Huang, Tian, "Incorporating Learnable Membrane
Time Constant to Enhance Learning of Spiking Neural Networks", ICCV 2021).

Every stage is ``{c{channels}k3s1-BN-PLIF} x n`` followed by a 2x2 max-pool; then
``DP-FC{hidden}-PLIF-DP-FC{10 * classes}-PLIF`` (the CIFAR-10 net has no dropout before the last layer)
and a voting layer that averages each class's ten output neurons. As in the authors' code
(``codes/models.py``) convolutions and fully connected layers have no bias, and the hidden layer is a
quarter of the flattened features for the event-data nets (``channels * h * w // 4``), 2048 for the static
ones; parameter counts equal the authors' (tested against their layout). The first conv-BN-PLIF is the
learnable encoder of static images (direct input).
PLIF neurons start from ``tau = 2`` with a hard, detached reset, threshold 1 and the atan surrogate;
dropout keeps one mask for all time steps (SpikingJelly's multi-step ``Dropout``). The paper trains
with MSE between output firing rates and one-hot labels, Adam and cosine annealing, batch 16.
"""
from __future__ import annotations

import torch
from torch import nn

from ..hub.registry import register_model
from ..neurons import build_neuron
from ..neurons.compat import import_spikingjelly
from .base import SpikingClassifier
from .sew_resnet import batch_norm, conv3x3

sj = import_spikingjelly()
layer = sj.layer

PAPER = ("Fang et al., Incorporating Learnable Membrane Time Constant to Enhance Learning of Spiking "
         "Neural Networks, ICCV 2021")
VOTERS = 10  # output neurons per class


class PLIFNet(SpikingClassifier):
    """Conv stages of ``convs_per_stage`` conv-BN-PLIF layers (each stage ends in a 2x2 max-pool), two
    fully connected spiking layers and the voting read-out."""

    stem = "stages.0.0"
    head = "fc2"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, T: int = 8,
                 input_size: tuple[int, int] = (28, 28), channels: int = 128,
                 convs_per_stage: tuple[int, ...] = (1, 1), hidden: int = 2048, dropout: float = 0.5,
                 dropout_before_head: bool = True, encoding: str = "direct", neuron: str = "plif",
                 surrogate: str = "atan", neuron_kwargs: dict | None = None):
        super().__init__(T=T, encoding=encoding, in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size)
        defaults = {"init_tau": 2.0} if neuron == "plif" else {}

        def new_neuron() -> nn.Module:
            return build_neuron(neuron, surrogate=surrogate, detach_reset=True,
                                **{**defaults, **(neuron_kwargs or {})})

        stages, width, (h, w) = [], in_channels, input_size
        for n_convs in convs_per_stage:
            stage = []
            for _ in range(n_convs):
                stage += [conv3x3(width, channels), batch_norm(channels), new_neuron()]
                width = channels
            stage.append(layer.MaxPool2d(2, 2, step_mode="m"))
            stages.append(nn.Sequential(*stage))
            h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"input_size {input_size} is too small for {len(convs_per_stage)} 2x2 poolings")
        self.stages = nn.Sequential(*stages)
        self.flatten = layer.Flatten(step_mode="m")
        self.dropout1 = layer.Dropout(dropout, step_mode="m")
        self.fc1 = layer.Linear(channels * h * w, hidden, bias=False, step_mode="m")
        self.sn1 = new_neuron()
        self.dropout2 = layer.Dropout(dropout, step_mode="m") if dropout_before_head else nn.Identity()
        self.fc2 = layer.Linear(hidden, num_classes * VOTERS, bias=False, step_mode="m")
        self.sn2 = new_neuron()

    static_stem = True

    def forward_stem(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.stages[0][1](self.stages[0][0](x_seq))     # the first conv and its batch-norm

    def forward_body(self, current: torch.Tensor) -> torch.Tensor:
        x = current
        for module in list(self.stages[0])[2:]:   # the first stage after its conv and batch-norm
            x = module(x)
        for stage in list(self.stages)[1:]:
            x = stage(x)
        x = self.flatten(x)
        x = self.sn1(self.fc1(self.dropout1(x)))
        spikes = self.sn2(self.fc2(self.dropout2(x)))
        return spikes.unflatten(-1, (self.num_classes, VOTERS)).mean(-1)  # voting


@register_model(paper=PAPER)
def plif_net_mnist(**kwargs) -> PLIFNet:
    """MNIST / Fashion-MNIST net: {c128k3s1-BN-PLIF-MPk2s2} x 2, FC2048, FC100 voting; T=8, 28x28."""
    return PLIFNet(**kwargs)


@register_model(paper=PAPER)
def plif_net_nmnist(**kwargs) -> PLIFNet:
    """N-MNIST net: {c128k3s1-BN-PLIF-MPk2s2} x 2 on 2-polarity 34x34 frames, FC2048 (8192 / 4), FC100
    voting."""
    return PLIFNet(**{"in_channels": 2, "input_size": (34, 34), "T": 10, **kwargs})


@register_model(paper=PAPER)
def plif_net_cifar10(**kwargs) -> PLIFNet:
    """CIFAR-10 net: {{c256k3s1-BN-PLIF} x 3, MPk2s2} x 2, DP-FC2048, FC100 voting (no dropout before
    the last layer); T=8, 32x32."""
    return PLIFNet(**{"in_channels": 3, "input_size": (32, 32), "channels": 256, "convs_per_stage": (3, 3),
                      "dropout_before_head": False, **kwargs})


@register_model(paper=PAPER)
def plif_net_cifar10dvs(**kwargs) -> PLIFNet:
    """CIFAR10-DVS net: {c128k3s1-BN-PLIF-MPk2s2} x 4, FC2048 (8192 / 4), FC100 voting; 128x128 frames."""
    return PLIFNet(**{"in_channels": 2, "input_size": (128, 128), "T": 20, "convs_per_stage": (1, 1, 1, 1),
                      "hidden": 2048, **kwargs})


@register_model(paper=PAPER)
def plif_net_dvsgesture(**kwargs) -> PLIFNet:
    """DVS Gesture net: {c128k3s1-BN-PLIF-MPk2s2} x 5, FC512 (2048 / 4), FC110 voting (11 classes);
    128x128 frames."""
    return PLIFNet(**{"in_channels": 2, "input_size": (128, 128), "T": 20, "convs_per_stage": (1,) * 5,
                      "hidden": 512, "num_classes": 11, **kwargs})
