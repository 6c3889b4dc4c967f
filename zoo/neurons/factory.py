"""Neurons by name: ``build_neuron("lif", ...)`` gives the fused IF/LIF/PLIF of :mod:`.fused` on the torch
backend or SpikingJelly's nodes (``fused=False``), and the zoo's own current-based LIF and adaptive GIF."""
from __future__ import annotations

from typing import Any

import torch

from .fused import FusedIFNode, FusedLIFNode, FusedParametricLIFNode
from .nodes import AdaptiveThresholdNode, CurrentLIFNode, IFNode, LIFNode, ParametricLIFNode
from .surrogates import build_surrogate

NEURONS = {
    "if": IFNode,
    "lif": LIFNode,
    "plif": ParametricLIFNode,
    "cuba_lif": CurrentLIFNode,
    "gif": AdaptiveThresholdNode,
}


def build_neuron(name: str, surrogate: str = "atan", surrogate_alpha: float | None = None,
                 detach_reset: bool = False, fused: bool = True, strict_threshold: bool = False,
                 **kwargs: Any) -> torch.nn.Module:
    """A multi-step neuron by name (``if``, ``lif``, ``plif``, ``cuba_lif``, ``gif``).

    ``kwargs`` go to the neuron (``tau``, ``v_threshold``, ``v_reset``, ``decay_input``, ...).
    IF, LIF and PLIF run the single-autograd-function loop of :mod:`zoo.neurons.fused` on the torch
    backend (same spikes and membranes as SpikingJelly's nodes, gradients equal to rounding);
    ``fused=False`` gives SpikingJelly's nodes as they are. ``strict_threshold=True`` fires on
    ``H > V_th`` instead of ``H >= V_th`` (STBP's code).
    """
    try:
        cls = NEURONS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown neuron {name!r}; choose from {', '.join(NEURONS)}") from None
    if fused:
        cls = {IFNode: FusedIFNode, LIFNode: FusedLIFNode, ParametricLIFNode: FusedParametricLIFNode}.get(cls, cls)
    return cls(surrogate_function=build_surrogate(surrogate, surrogate_alpha, strict=strict_threshold),
               detach_reset=detach_reset, step_mode="m", **kwargs)
