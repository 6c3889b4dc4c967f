"""Recurrent spiking networks: one or two recurrent spiking layers and a leaky read-out, the network of
the reading notes (``../shared/papers/002``: input, recurrent layer, output; current-based synapses;
implicit recurrence through the membrane, explicit through a weight matrix; BPTT with surrogate
gradients), as Zenke & Vogels (2021) and Bellec et al. (NeurIPS 2018, LSNN) train them.

The input is a sequence ``[T, B, F]`` (``F`` features per step), or an image ``[B, C, H, W]`` that the
model reads as one (``image_order="rows"``: ``T = H`` steps of ``C * W`` pixels; ``"pixels"``: ``H * W``
steps of ``C``). The class scores are the read-out membranes averaged over the last ``readout_steps``
steps (all steps by default): a working-memory net answers only after its recall cue.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..encoding import build_encoder
from ..hub.registry import register_model
from ..neurons.compat import import_spikingjelly
from ..neurons.recurrent import RecurrentSpikingLayer
from .base import ResettableHead, warn_outside_unit_range
from .readout import LeakyReadout

sj = import_spikingjelly()


class RecurrentSNN(ResettableHead, nn.Module):
    """Recurrent spiking layers of widths ``hidden`` and a leaky read-out; ``forward`` returns
    ``[B, num_classes]``, :meth:`forward_steps` the read-out ``[readout_steps, B, num_classes]``."""

    stem = "layers.0.input"
    head = "readout"

    def __init__(self, num_classes: int = 10, input_features: int = 28, hidden: tuple[int, ...] = (256,),
                 neuron: str = "cuba_lif", recurrent: bool = True, tau_readout: float = 20.0,
                 readout_steps: int | None = None, image_order: str | None = "rows",
                 image_shape: tuple[int, int, int] = (1, 28, 28), neuron_kwargs: dict[str, Any] | None = None):
        super().__init__()
        if num_classes < 1 or input_features < 1 or not hidden or min(hidden) < 1:
            raise ValueError(f"num_classes, input_features and hidden widths must be positive, got "
                             f"{num_classes}, {input_features}, {hidden}")
        if readout_steps is not None and readout_steps < 1:
            raise ValueError(f"readout_steps must be positive (or None for all steps), got {readout_steps}")
        self.num_classes, self.input_features, self.readout_steps = num_classes, input_features, readout_steps
        self.image_order = image_order
        self.encoder = None
        self.in_channels, self.input_size, self.T = input_features, None, None  # read by cards and tools
        if image_order is not None:
            c, h, w = image_shape
            steps, features = (h, c * w) if image_order == "rows" else (h * w, c)
            if features != input_features:
                raise ValueError(f"images of shape {list(image_shape)} read by {image_order} give {features} "
                                 f"features a step, but input_features is {input_features}")
            self.encoder = build_encoder(image_order, steps)
            self.in_channels, self.input_size, self.T = c, (h, w), steps
        widths = [input_features, *hidden]
        self.layers = nn.ModuleList(
            RecurrentSpikingLayer(n_in, n_out, neuron=neuron, recurrent=recurrent, **(neuron_kwargs or {}))
            for n_in, n_out in zip(widths[:-1], widths[1:]))
        self.readout = LeakyReadout(widths[-1], num_classes, tau_readout)

    def expected_shape(self) -> str:
        sequence = f"[T, B, {self.input_features}]"
        if self.encoder is None:
            return sequence
        return f"{sequence} or images [B, {self.in_channels}, {self.input_size[0]}, {self.input_size[1]}]"

    def check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        sequence_ok = x.dim() == 3 and x.shape[-1] == self.input_features and x.shape[0] > 0
        image_ok = (self.encoder is not None and x.dim() == 4
                    and tuple(x.shape[1:]) == (self.in_channels, *self.input_size))
        if not (sequence_ok or image_ok):
            raise ValueError(f"{type(self).__name__} expects input of shape {self.expected_shape()}, "
                             f"got {list(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{type(self).__name__} expects float input, got {x.dtype}")
        if image_ok:
            warn_outside_unit_range(self, x)

    def forward_sequence(self, x_seq: torch.Tensor) -> torch.Tensor:
        """The read-out membranes at every step, ``[T, B, num_classes]``."""
        for layer in self.layers:
            x_seq = layer(x_seq)
        return self.readout(x_seq)

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """The read-out over the answer window, ``[readout_steps, B, num_classes]`` (what the loss sees)."""
        self.check_input(x)
        x_seq = self.encoder(x) if x.dim() == 4 else x
        sj.functional.reset_net(self)
        trace = self.forward_sequence(x_seq)
        return trace if self.readout_steps is None else trace[-self.readout_steps:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x).mean(dim=0)


@register_model(paper="Bellec et al., Long short-term memory and learning-to-learn in networks of spiking "
                      "neurons, NeurIPS 2018; Zenke & Vogels, Neural Computation 2021")
def rsnn(**kwargs) -> RecurrentSNN:
    """Recurrent spiking network: recurrent layers (``hidden``, explicit recurrent weights unless
    ``recurrent=False``; any zoo neuron, current-based LIF by default as in the notes) and a leaky
    read-out. Takes sequences ``[T, B, F]`` or images read row by row (``image_order``)."""
    return RecurrentSNN(**kwargs)
