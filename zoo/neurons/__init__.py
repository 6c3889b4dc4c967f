"""Spiking neurons and surrogate gradients: a thin layer over SpikingJelly (see ``backend``)."""
from .backend import backend_for, cupy_available
from .nodes import (NEURONS, AdaptiveThresholdNode, CurrentLIFNode, IFNode, LIFNode,
                    ParametricLIFNode, build_neuron)
from .surrogates import SURROGATES, Dspike, Rectangle, Triangle, build_surrogate

__all__ = ["NEURONS", "SURROGATES", "AdaptiveThresholdNode", "CurrentLIFNode", "Dspike", "IFNode",
           "LIFNode", "ParametricLIFNode", "Rectangle", "Triangle", "backend_for", "build_neuron",
           "build_surrogate", "cupy_available"]
