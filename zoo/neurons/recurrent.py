"""A recurrent spiking layer: the building block of the notes' recurrent LIF network
(``../shared/papers/002``; Zenke & Vogels 2021, Bellec et al. 2018).

Each neuron has implicit recurrence through its own membrane (and current, or adaptive threshold, as the
neuron type has them) and, optionally, explicit recurrence through a weight matrix from the layer's own
spikes of the previous step::

    X[t] = W_in x[t] + b + W_rec S[t-1]
    S[t] = neuron(X[t])          (charge, fire, reset; any zoo neuron)

Without ``W_rec`` the whole sequence's input is one matrix product and the neuron runs multi-step (the
fused loop on CPU, SpikingJelly's CuPy kernels on CUDA). With it, step ``t`` needs ``S[t-1]``, so the
layer steps the neuron one time step at a time (SpikingJelly's single-step path, on any device).
Gradients are BPTT through autograd, with the neuron's surrogate for the spike.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .factory import build_neuron

__all__ = ["RecurrentSpikingLayer"]


class RecurrentSpikingLayer(nn.Module):
    """Multi-step recurrent spiking layer: ``[T, B, in_features]`` -> spikes ``[T, B, out_features]``.

    ``neuron`` names any zoo neuron (``lif``, ``cuba_lif``, ``gif``, ...); ``neuron_kwargs`` go to
    :func:`~zoo.neurons.build_neuron`. ``recurrent=False`` drops ``W_rec`` (a feed-forward layer).
    For activity hooks (:mod:`zoo.train.activity`) the layer is the neuron population: its output is the
    spikes, and the neuron inside is called through its step functions, not its ``forward``.
    """

    def __init__(self, in_features: int, out_features: int, neuron: str = "lif", recurrent: bool = True,
                 bias: bool = True, **neuron_kwargs: Any):
        super().__init__()
        self.input = nn.Linear(in_features, out_features, bias=bias)
        self.recurrent = nn.Linear(out_features, out_features, bias=False) if recurrent else None
        self.neuron = build_neuron(neuron, **neuron_kwargs)

    @property
    def in_features(self) -> int:
        return self.input.in_features

    @property
    def out_features(self) -> int:
        return self.input.out_features

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if x_seq.dim() != 3 or x_seq.shape[-1] != self.in_features:
            raise ValueError(f"{type(self).__name__} expects [T, B, {self.in_features}], got {list(x_seq.shape)}")
        drive = self.input(x_seq)
        if self.recurrent is None:
            return self.neuron.multi_step_forward(drive)
        spikes = drive.new_zeros(drive.shape[1:])
        trace = []
        for x_t in drive:
            spikes = self.neuron.single_step_forward(x_t + self.recurrent(spikes))
            trace.append(spikes)
        return torch.stack(trace)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, recurrent={self.recurrent is not None}"
