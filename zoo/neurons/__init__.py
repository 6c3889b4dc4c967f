"""Spiking neurons and surrogate gradients: a thin layer over SpikingJelly (see ``backend``)."""
from .backend import backend_for, cupy_available
from .factory import NEURONS, build_neuron
from .nodes import AdaptiveThresholdNode, CurrentLIFNode, IFNode, LIFNode, ParametricLIFNode
from .surrogates import SURROGATES, Dspike, Rectangle, Triangle, build_surrogate

__all__ = ["NEURONS", "SURROGATES", "AdaptiveThresholdNode", "CurrentLIFNode", "Dspike", "IFNode",
           "LIFNode", "ParametricLIFNode", "Rectangle", "Triangle", "backend_for", "build_neuron",
           "build_surrogate", "cupy_available"]
