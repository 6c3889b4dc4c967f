"""Sparse spiking gradient descent (Perez-Nieves & Goodman, "Sparse Spiking Gradient Descent",
NeurIPS 2021).

The paper's fully connected net as in its code: RC-latency-coded pixels (one spike per pixel,
``tau_eff`` 20 steps, threshold 0.2, 100 steps of 1 ms) -> LIF layers of 200 neurons (``tau_mem``
10 ms, threshold 1, subtractive reset after the leak: ``V[t] = beta V[t-1] + W x[t] - S[t-1]``) -> a
non-spiking leaky read-out (``tau_readout`` 10 ms) whose maximum over time is the class score. Weights
start from a normal law with standard deviation ``20 (1 - beta) / sqrt(fan_in)``. With ``sparse_grad=True`` only neurons within ``window`` (the paper's
``B_th``) of threshold take part in the backward pass (:mod:`zoo.neurons.sparse_grad`).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..hub.registry import register_model
from ..neurons.sparse_grad import SparseGradLIFLinear
from .base import SpikingClassifier
from .readout import LeakyReadout


class SSGDNet(SpikingClassifier):
    """LIF multilayer perceptron trained with (optionally) sparse spiking gradients.

    ``forward`` returns the maximum over time of the read-out membranes ``[B, num_classes]``;
    :meth:`readout_trace` gives the membranes ``[T, B, num_classes]``. Input is an image
    ``[B, C, H, W]`` (RC-latency coded inside) or a spike/frame sequence ``[T, B, C, H, W]``.
    """

    stem = "layers.0"
    head = "readout"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, T: int = 100,
                 input_size: tuple[int, int] = (28, 28), hidden: tuple[int, ...] = (200, 200),
                 tau_mem: float = 10.0, tau_readout: float = 10.0, v_threshold: float = 1.0,
                 window: float = 0.2, surrogate_scale: float = 100.0, sparse_grad: bool = True,
                 latency_tau: float = 20.0, latency_threshold: float = 0.2, weight_scale: float = 20.0):
        super().__init__(T=T, encoding="latency", in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size,
                         encoding_kwargs={"mode": "rc", "tau": latency_tau, "threshold": latency_threshold})
        if not hidden:
            raise ValueError("hidden must name at least one layer width, e.g. (200, 200)")
        widths = [in_channels * input_size[0] * input_size[1], *hidden]
        self.layers = nn.ModuleList(
            SparseGradLIFLinear(n_in, n_out, tau=tau_mem, v_threshold=v_threshold, window=window,
                                surrogate_scale=surrogate_scale, sparse_grad=sparse_grad)
            for n_in, n_out in zip(widths[:-1], widths[1:]))
        self.readout = LeakyReadout(widths[-1], num_classes, tau_readout)
        std_factor = weight_scale * (1.0 - math.exp(-1.0 / tau_mem))
        for module in (*self.layers, self.readout):
            nn.init.normal_(module.weight, std=std_factor / math.sqrt(module.weight.shape[1]))

    @property
    def sparse_grad(self) -> bool:
        return self.layers[0].sparse_grad

    @sparse_grad.setter
    def sparse_grad(self, value: bool) -> None:
        for layer in self.layers:
            layer.sparse_grad = value

    def forward_sequence(self, x_seq: torch.Tensor) -> torch.Tensor:
        x, active = x_seq.flatten(2), None
        for layer in self.layers:  # each sparse layer hands the next its active entries (see spikes_and_active)
            x, active = layer.spikes_and_active(x, active)
        return self.readout(x)

    def readout_trace(self, x: torch.Tensor) -> torch.Tensor:
        """The read-out membranes at every step, ``[T, B, num_classes]``."""
        return super().forward_steps(x)

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """The class scores as a one-step sequence ``[1, B, num_classes]``: the paper's loss is on the
        maximum over time, not on a per-step read-out."""
        return self.readout_trace(x).amax(dim=0, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x)[0]


@register_model(paper="Perez-Nieves & Goodman, Sparse Spiking Gradient Descent, NeurIPS 2021")
def ssgd_fc3(**kwargs) -> SSGDNet:
    """The sparse-gradient paper's three-layer network (784-200-200-10: two LIF layers of 200 and a
    leaky read-out), RC-latency input over 100 steps, SuperSpike surrogate, backward through neurons
    within 0.2 of threshold only (``sparse_grad=False`` for ordinary BPTT)."""
    return SSGDNet(**kwargs)
