"""STBP spiking CNN (Wu et al., "Spatio-Temporal Backpropagation for Training High-Performance
Spiking Neural Networks", Frontiers in Neuroscience 2018).

The SCNN of the paper's code: conv(1->32, 3x3) -> LIF -> avgpool 2 -> conv(32->32, 3x3) -> LIF ->
avgpool 2 -> fc(1568->128) -> LIF -> fc(128->10) -> LIF, with the iterative LIF
``u_t = decay * u_{t-1} * (1 - o_{t-1}) + I_t``, ``o_t = H(u_t - V_th)``, decay 0.2, V_th 0.5 and the
rectangular surrogate of width 1 (``lens = 0.5``). The input is rate coded (Bernoulli per step) and
the output is the firing rate of the last layer, trained with MSE against one-hot targets.
"""
from __future__ import annotations

import torch
from torch import nn

from ..hub.registry import register_model
from ..neurons import build_neuron
from ..neurons.compat import import_spikingjelly
from .base import SpikingClassifier

sj = import_spikingjelly()
layer = sj.layer


def stbp_lif(decay: float, v_threshold: float, surrogate: str, surrogate_alpha: float | None,
             fused: bool = True) -> nn.Module:
    """STBP's iterative LIF as a SpikingJelly LIF node.

    With ``decay_input=False`` and ``v_reset=0`` SpikingJelly's charge is
    ``H_t = (1 - 1/tau) V_{t-1} + X_t`` and its hard reset gives ``V_t = H_t (1 - S_t)``, which is
    STBP's update when ``1 - 1/tau = decay``. The reset is not detached, and the neuron fires on
    ``u > V_th`` (``strict_threshold``), as in the paper's code (``mem > thresh``); SpikingJelly's nodes
    fire on ``>=``, which float32 ties make differ. ``fused=False`` runs SpikingJelly's node instead of the
    zoo's fused loop (same spikes).
    """
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"STBP decay must be in [0, 1), got {decay}")
    return build_neuron("lif", surrogate=surrogate, surrogate_alpha=surrogate_alpha,
                        tau=1.0 / (1.0 - decay), decay_input=False, v_threshold=v_threshold,
                        v_reset=0.0, fused=fused, strict_threshold=True)


class STBPCNN(SpikingClassifier):
    """The STBP SCNN; ``width``/``hidden`` default to the paper's 32 channels and 128 units.

    The neuron is STBP's iterative LIF by definition; ``decay``, ``v_threshold`` and the surrogate
    can be changed, and ``fused=False`` runs it on SpikingJelly's node."""

    stem = "conv1"
    head = "fc2"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, T: int = 8,
                 encoding: str = "rate", decay: float = 0.2, v_threshold: float = 0.5,
                 surrogate: str = "rectangle", surrogate_alpha: float | None = None,
                 width: int = 32, hidden: int = 128,
                 input_size: tuple[int, int] = (28, 28), fused: bool = True):
        super().__init__(T=T, encoding=encoding, in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size)
        if input_size[0] % 4 or input_size[1] % 4:
            raise ValueError(f"STBP CNN pools twice by 2, so input_size must be divisible by 4, got {input_size}")

        def neuron_layer() -> nn.Module:
            return stbp_lif(decay, v_threshold, surrogate, surrogate_alpha, fused)

        self.conv1 = layer.Conv2d(in_channels, width, 3, padding=1, step_mode="m")
        self.sn1 = neuron_layer()
        self.pool1 = layer.AvgPool2d(2, step_mode="m")
        self.conv2 = layer.Conv2d(width, width, 3, padding=1, step_mode="m")
        self.sn2 = neuron_layer()
        self.pool2 = layer.AvgPool2d(2, step_mode="m")
        self.flatten = layer.Flatten(step_mode="m")
        flat = width * (input_size[0] // 4) * (input_size[1] // 4)
        self.fc1 = layer.Linear(flat, hidden, step_mode="m")
        self.sn3 = neuron_layer()
        self.fc2 = layer.Linear(hidden, num_classes, step_mode="m")
        self.sn4 = neuron_layer()

    static_stem = True

    def forward_stem(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.conv1(x_seq)

    def forward_body(self, current: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.sn1(current))
        x = self.pool2(self.sn2(self.conv2(x)))
        x = self.sn3(self.fc1(self.flatten(x)))
        return self.sn4(self.fc2(x))


@register_model(paper="Wu et al., Spatio-Temporal Backpropagation for Training High-Performance "
                      "Spiking Neural Networks, Frontiers in Neuroscience 2018")
def stbp_cnn(**kwargs) -> STBPCNN:
    """STBP spiking CNN: 32C3-AP2-32C3-AP2-FC128-FC10, iterative LIF (decay 0.2, V_th 0.5),
    rectangular surrogate, Bernoulli rate-coded input, MSE on output firing rates."""
    return STBPCNN(**kwargs)


class STBPMLP(SpikingClassifier):
    """STBP's fully connected net (the paper's N-MNIST structure 34x34x2-800-10) with the same neuron."""

    stem = "fc1"
    head = "fc2"

    def __init__(self, num_classes: int = 10, in_channels: int = 2, T: int = 10, encoding: str = "rate",
                 decay: float = 0.2, v_threshold: float = 0.5, surrogate: str = "rectangle",
                 surrogate_alpha: float | None = None, hidden: int = 800,
                 input_size: tuple[int, int] = (34, 34), fused: bool = True):
        super().__init__(T=T, encoding=encoding, in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size)
        self.flatten = layer.Flatten(step_mode="m")
        self.fc1 = layer.Linear(in_channels * input_size[0] * input_size[1], hidden, step_mode="m")
        self.sn1 = stbp_lif(decay, v_threshold, surrogate, surrogate_alpha, fused)
        self.fc2 = layer.Linear(hidden, num_classes, step_mode="m")
        self.sn2 = stbp_lif(decay, v_threshold, surrogate, surrogate_alpha, fused)

    def forward_sequence(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.sn2(self.fc2(self.sn1(self.fc1(self.flatten(x_seq)))))


@register_model(paper="Wu et al., Spatio-Temporal Backpropagation for Training High-Performance "
                      "Spiking Neural Networks, Frontiers in Neuroscience 2018")
def stbp_mlp(**kwargs) -> STBPMLP:
    """STBP fully connected net for N-MNIST: 34x34x2-800-10, iterative LIF (decay 0.2, V_th 0.5),
    rectangular surrogate, MSE on output firing rates; event frames in, or rate-coded images."""
    return STBPMLP(**kwargs)
