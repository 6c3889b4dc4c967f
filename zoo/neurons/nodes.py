"""Spiking neurons, all multi-step (``step_mode='m'``), on the backend picked by
:mod:`zoo.neurons.backend` for each input's device.

IF, LIF and PLIF are SpikingJelly's nodes (and get its CuPy kernels on GPU);
:func:`zoo.neurons.factory.build_neuron` gives them the zoo's fused time loop on the torch backend by default (:mod:`zoo.neurons.fused`: the same spikes
and membranes, far fewer operations), and SpikingJelly's own nodes with ``fused=False``. The current-based LIF
and the generalized integrate-and-fire neuron with an adaptive threshold are written on SpikingJelly's
``BaseNode`` and run on the torch backend.
"""
from __future__ import annotations

from typing import Any

import torch

from . import backend as _backend
from .compat import import_spikingjelly


sj = import_spikingjelly()

__all__ = ["IFNode", "LIFNode", "ParametricLIFNode", "CurrentLIFNode", "AdaptiveThresholdNode"]


class AutoBackend:
    """Mixin: choose the backend from the input's device at every multi-step call."""

    implementation = "spikingjelly"  # what a card records beside the neuron's SpikingJelly name

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "supported_backends"):  # SpikingJelly 2.x picks its own kernels (triton on CUDA)
            return super().multi_step_forward(x_seq)
        # SpikingJelly's CuPy kernels fire on H >= V_th; a strict threshold runs on the torch backend
        wanted = "torch" if getattr(self.surrogate_function, "strict", False) else _backend.backend_for(x_seq.device)
        self.backend = wanted if wanted in self.supported_backends else "torch"
        if self.backend != "cupy":
            return super().multi_step_forward(x_seq)
        try:
            dtype = self.kernel_dtype(x_seq.dtype)
            if dtype != x_seq.dtype:  # spikes are exact in either dtype
                return super().multi_step_forward(x_seq.to(dtype)).to(x_seq.dtype)
            return super().multi_step_forward(x_seq)
        except Exception as error:  # a broken CuPy install must not end a run
            _backend.disable_cupy(error)
            self.backend = "torch"
            return super().multi_step_forward(x_seq)


    def kernel_dtype(self, dtype: torch.dtype) -> torch.dtype:
        """The dtype SpikingJelly's CuPy kernels run an input of ``dtype`` in: float32, and float16 where the
        surrogate has half2 code (SpikingJelly's own do, the zoo's are float32 only); anything else in
        float32. The backward's code is built lazily, so an unsupported dtype must not reach it at all."""
        if dtype == torch.float16 and getattr(self.surrogate_function, "half2_cuda", True):
            return dtype
        return torch.float32


class IFNode(AutoBackend, sj.neuron.IFNode):
    """Integrate-and-fire: ``H_t = V_{t-1} + X_t``."""


class LIFNode(AutoBackend, sj.neuron.LIFNode):
    """Leaky integrate-and-fire: ``H_t = V_{t-1} + (X_t - (V_{t-1} - V_reset)) / tau``
    (``decay_input=False``: ``H_t = V_{t-1} - (V_{t-1} - V_reset) / tau + X_t``)."""


class ParametricLIFNode(AutoBackend, sj.neuron.ParametricLIFNode):
    """LIF with a learnable time constant (PLIF, Fang et al. ICCV 2021)."""


class OwnStepLoop:
    """Mixin for neurons written on ``BaseNode``: charge, fire and reset one step at a time in the zoo's
    own code, SpikingJelly 0.0.0.0.14's order of operations, because 2.x's ``BaseNode`` runs a step
    through a functional form instead of these three methods."""

    def neuronal_fire(self) -> torch.Tensor:
        return self.surrogate_function(self.v - self.v_threshold)

    def neuronal_reset(self, spike: torch.Tensor) -> None:
        spike = spike.detach() if self.detach_reset else spike
        if self.v_reset is None:
            self.v = self.v - spike * self.v_threshold
        else:
            self.v = (1.0 - spike) * self.v + spike * self.v_reset

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(self.v, torch.Tensor):
            self.v = torch.full_like(x, self.v)
        self.neuronal_charge(x)
        spike = self.neuronal_fire()
        self.neuronal_reset(spike)
        return spike

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        spikes, v_seq = [], []
        for x in x_seq:
            spikes.append(self.single_step_forward(x))
            if self.store_v_seq:
                v_seq.append(self.v)
        if self.store_v_seq:
            self.v_seq = torch.stack(v_seq)
        return torch.stack(spikes)


class CurrentLIFNode(OwnStepLoop, sj.neuron.BaseNode):
    """LIF driven by a synaptic current (current-based synapse):
    ``I_t = alpha * I_{t-1} + X_t`` and ``H_t = V_{t-1} + (I_t - (V_{t-1} - V_reset)) / tau``.
    """

    implementation = "zoo-basenode"

    def __init__(self, tau: float = 2.0, tau_syn: float = 2.0, **kwargs: Any):
        super().__init__(**kwargs)
        if tau <= 1.0 or tau_syn <= 1.0:
            raise ValueError(f"time constants must be > 1, got tau={tau}, tau_syn={tau_syn}")
        self.tau = tau
        self.tau_syn = tau_syn
        self.register_memory("i", 0.0)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", tau={self.tau}, tau_syn={self.tau_syn}"

    def neuronal_charge(self, x: torch.Tensor) -> None:
        if not isinstance(self.i, torch.Tensor):
            self.i = torch.zeros_like(x)
        self.i = self.i * (1.0 - 1.0 / self.tau_syn) + x
        v_reset = 0.0 if self.v_reset is None else self.v_reset
        self.v = self.v + (self.i - (self.v - v_reset)) / self.tau


class AdaptiveThresholdNode(OwnStepLoop, sj.neuron.BaseNode):
    """Generalized integrate-and-fire neuron with a spike-triggered adaptive threshold:
    ``theta_t = V_th + a_t``, ``a_t = rho * a_{t-1} + beta * S_{t-1}``, LIF membrane (as SpikingJelly's
    LIF: ``H_t = V_{t-1} + (X_t - (V_{t-1} - V_reset)) / tau``, or with ``decay_input=False``
    ``H_t = V_{t-1} - (V_{t-1} - V_reset) / tau + X_t``).

    Each spike raises the threshold by ``beta``; the raise decays with ``rho = 1 - 1/tau_adapt``.
    """

    implementation = "zoo-basenode"

    def __init__(self, tau: float = 2.0, tau_adapt: float = 20.0, beta: float = 0.2, decay_input: bool = True,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if tau <= 1.0 or tau_adapt <= 1.0:
            raise ValueError(f"time constants must be > 1, got tau={tau}, tau_adapt={tau_adapt}")
        self.tau = tau
        self.tau_adapt = tau_adapt
        self.beta = beta
        self.decay_input = decay_input
        self.register_memory("a", 0.0)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", tau={self.tau}, tau_adapt={self.tau_adapt}, beta={self.beta}, "
                f"decay_input={self.decay_input}")

    def neuronal_charge(self, x: torch.Tensor) -> None:
        v_reset = 0.0 if self.v_reset is None else self.v_reset
        if self.decay_input:
            self.v = self.v + (x - (self.v - v_reset)) / self.tau
        else:
            self.v = self.v - (self.v - v_reset) / self.tau + x

    def neuronal_fire(self) -> torch.Tensor:
        return self.surrogate_function(self.v - (self.v_threshold + self.a))

    def neuronal_reset(self, spike: torch.Tensor) -> None:
        """Hard reset to ``v_reset``, or soft reset by the threshold the spike crossed, ``V_th + a``."""
        spike = spike.detach() if self.detach_reset else spike
        if self.v_reset is None:
            self.v = self.v - spike * (self.v_threshold + self.a)
        else:
            self.v = (1.0 - spike) * self.v + spike * self.v_reset

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(self.a, torch.Tensor):
            self.a = torch.zeros_like(x)
        spike = super().single_step_forward(x)
        self.a = self.a * (1.0 - 1.0 / self.tau_adapt) + self.beta * spike
        return spike
