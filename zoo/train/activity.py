"""What an SNN does while it classifies: firing rate per layer, synaptic operations (SynOps) and an
energy estimate against the same network run as an ANN.

Counting (forward hooks, any zoo model): a convolution or linear layer does ``MACs = output elements x
fan-in`` per step. A spiking self-attention (a module with ``attention_operations``) multiplies spikes by
spikes: it counts its own accumulates from the Q, K and V spikes its neurons fired, against the MACs of
the same attention on real values. Fed spikes, or spikes that an average pooling took the mean of (multiples of 1/k: the
1/k folds into the next layer's weights, so a pooled spike is still an event; a pooled input that holds
several spikes counts as one, as a SEW ADD count does), it does one accumulate per non-zero input and
synapse, which is
``MACs x (fraction of non-zero inputs)``; fed real values (the first layer of a directly coded SNN)
it does the MACs. The ANN of the same architecture does each layer's MACs once per sample, not once
per step. Energies per operation are the 45 nm figures of Horowitz (ISSCC 2014) that SNN papers use:
a 32-bit float multiply-accumulate 4.6 pJ, an accumulate 0.9 pJ.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import nn

from ..conversion.ifnet import IFNeuron
from ..neurons.compat import import_spikingjelly
from ..neurons.learnable_threshold import LearnableThresholdLIF
from ..neurons.recurrent import RecurrentSpikingLayer

sj = import_spikingjelly()

E_MAC_PJ = 4.6  # Horowitz, ISSCC 2014, 45 nm, 32-bit float multiply-accumulate
E_AC_PJ = 0.9   # same source, 32-bit float add
NEURON_TYPES = (sj.neuron.BaseNode, LearnableThresholdLIF, IFNeuron, RecurrentSpikingLayer)


def is_neuron(module: nn.Module) -> bool:
    return isinstance(module, NEURON_TYPES)


LINEAR_POOLING = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                  nn.AdaptiveAvgPool3d)  # SpikingJelly's layers subclass these


def _is_spikes(x: torch.Tensor) -> bool:
    """Binary or count-valued (SEW ADD) inputs, or spikes scaled by a threshold (one per channel in a
    converted SNN), are events."""
    nonzero = x[x != 0]
    if nonzero.numel() == 0 or bool(torch.all(nonzero == nonzero.flatten()[0]) or torch.all(nonzero == nonzero.round())):
        return True
    if x.dim() < 2:
        return False
    scale = x.abs().transpose(0, 1).flatten(1).amax(1).view(1, -1, *([1] * (x.dim() - 2)))
    return bool(torch.all((x == 0) | (x == scale)))


@dataclass
class ActivityReport:
    samples: int = 0
    steps: int = 1
    firing_rates: dict[str, float] = field(default_factory=dict)
    spikes: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)  # [T, N] of the first sample
    synops: float = 0.0      # per sample
    snn_macs: float = 0.0    # per sample: dense operations the SNN still does (real-valued inputs)
    ann_macs: float = 0.0    # per sample

    @property
    def energy_snn_uj(self) -> float:
        return (self.synops * E_AC_PJ + self.snn_macs * E_MAC_PJ) * 1e-6

    @property
    def energy_ann_uj(self) -> float:
        return self.ann_macs * E_MAC_PJ * 1e-6

    def summary(self) -> dict:
        return {"firing_rates": {k: round(v, 5) for k, v in self.firing_rates.items()},
                "synops_per_sample": round(self.synops), "snn_macs_per_sample": round(self.snn_macs),
                "ann_macs_per_sample": round(self.ann_macs), "energy_snn_uJ": round(self.energy_snn_uj, 4),
                "energy_ann_uJ": round(self.energy_ann_uj, 4),
                "energy_per_op_pJ": {"mac": E_MAC_PJ, "ac": E_AC_PJ, "source": "Horowitz, ISSCC 2014 (45 nm)"}}


def raster_sample(spikes: torch.Tensor, neurons: int) -> torch.Tensor:
    """``neurons`` columns of ``spikes [T, N]`` spread evenly over the neurons that fired at all, ordered
    by first spike time: a picture of the layer's timing, not only of its busiest neurons."""
    fired = spikes.any(0).nonzero().flatten()
    if fired.numel() == 0:
        return spikes[:, :0]
    chosen = fired[torch.linspace(0, fired.numel() - 1, min(neurons, fired.numel())).round().long()]
    first_spike = spikes[:, chosen].argmax(0)
    return spikes[:, chosen[first_spike.argsort(stable=True)]]


class FiringRateMeter:
    """Mean firing rate of all spiking neurons in the training-mode forward passes since the last
    :meth:`pop`, from forward hooks; the sum stays on the device, so reading it once per training step
    is the only sync. Passes in eval mode (validation) are not counted: nobody reads them."""

    def __init__(self, model: nn.Module):
        self.spikes: torch.Tensor | float = 0.0
        self.count = 0
        self.hooks = [m.register_forward_hook(self._hook) for m in model.modules() if is_neuron(m)]

    def _hook(self, module: nn.Module, inputs, output) -> None:
        if module.training and isinstance(output, torch.Tensor):
            self.spikes = self.spikes + torch.count_nonzero(output.detach())  # a converted SNN's spikes carry their threshold
            self.count += output.numel()

    def pop(self) -> float | None:
        """The rate (spikes per neuron and step) since the last call, or None without spiking neurons."""
        rate = float(self.spikes) / self.count if self.count else None
        self.spikes, self.count = 0.0, 0
        return rate

    def close(self) -> None:
        for hook in self.hooks:
            hook.remove()


class ActivityMonitor:
    """Context manager that records activity while ``model`` runs; ``report()`` gives the totals."""

    def __init__(self, model: nn.Module, raster_neurons: int = 64):
        self.model, self.raster_neurons = model, raster_neurons
        self.hooks = []
        self._spikes = defaultdict(float)
        self._sites = defaultdict(float)
        self._raster: dict[str, torch.Tensor] = {}
        self._synops = self._snn_macs = self._ann_macs = 0.0
        self._samples = self._batch = 0
        self._steps = 1
        self._pooled_spikes: dict[int, torch.Tensor] = {}  # data pointer -> a pooling's output of spikes

    def __enter__(self) -> "ActivityMonitor":
        for name, module in self.model.named_modules():
            if is_neuron(module):
                self.hooks.append(module.register_forward_hook(self._neuron_hook(name)))
            elif isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                self.hooks.append(module.register_forward_hook(self._synapse_hook))
            elif isinstance(module, LINEAR_POOLING):
                self.hooks.append(module.register_forward_hook(self._pooling_hook))
            if hasattr(module, "attention_operations"):
                self._watch_attention(module)
        self.hooks.append(self.model.register_forward_pre_hook(self._count_samples))
        return self

    def __exit__(self, *exc) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks.clear()
        self._pooled_spikes.clear()

    def _count_samples(self, module, args) -> None:
        self._pooled_spikes.clear()
        x = args[0]
        sequence = x.dim() in (3, 5)  # time-major feature or frame sequences
        self._batch = x.shape[1] if sequence else x.shape[0]
        self._samples += self._batch
        self._steps = x.shape[0] if sequence else (getattr(module, "T", None) or 1)

    def _neuron_hook(self, name: str):
        def hook(module, inputs, output):
            self._spikes[name] += float((output != 0).sum())
            self._sites[name] += output.numel()
            if name not in self._raster:  # the first sample; outputs are time-major
                first = (self._first_sample(output) != 0).float().cpu()
                self._raster[name] = raster_sample(first, self.raster_neurons)
        return hook

    def _first_sample(self, output: torch.Tensor) -> torch.Tensor:
        """``[T, neurons]`` of the first sample of ``[T, B, ...]`` or ``[T*B, ...]``, or of ``[T*B', ...]``
        where ``B'`` is a chunk of the batch (a converted SNN runs its images in chunks)."""
        leading = output.shape[0]
        batch = self._batch if leading in (self._steps, self._steps * self._batch) else leading // self._steps
        return output.reshape(self._steps, batch, -1)[:, 0]

    def _events(self, x: torch.Tensor) -> bool:
        """Spikes, or a pooling's mean of spikes (the same memory, perhaps flattened)."""
        return x.data_ptr() in self._pooled_spikes or _is_spikes(x)

    def _pooling_hook(self, module, inputs, output) -> None:
        if self._events(inputs[0]):  # held until the next forward, so its memory cannot be reused meanwhile
            self._pooled_spikes[output.data_ptr()] = output

    def _watch_attention(self, module: nn.Module) -> None:
        """Keep the Q, K, V spikes of ``module``'s ``q_lif``, ``k_lif``, ``v_lif`` neurons for its count."""
        fired: dict[str, torch.Tensor] = {}
        for name in ("q", "k", "v"):
            neuron = getattr(module, f"{name}_lif")
            self.hooks.append(neuron.register_forward_hook(
                lambda mod, inputs, output, name=name: fired.__setitem__(name, output.detach())))

        def count(mod, inputs, output) -> None:
            accumulates, macs = mod.attention_operations(fired["q"], fired["k"], fired["v"])
            self._synops += accumulates
            self._ann_macs += macs  # over every step, as the layers' counts
            fired.clear()

        self.hooks.append(module.register_forward_hook(count))

    def _synapse_hook(self, module, inputs, output) -> None:
        x = inputs[0]
        fan_in = module.in_features if isinstance(module, nn.Linear) else \
            module.in_channels // module.groups * math.prod(module.kernel_size)
        macs = output.numel() * fan_in
        if self._events(x):
            self._synops += macs * float((x != 0).float().mean())
        else:
            self._snn_macs += macs
        # a multi-step layer that ran once on a static image (the stem) stands for every step of the ANN
        ran = output.shape[0] if getattr(module, "step_mode", "s") == "m" else self._steps
        self._ann_macs += macs * self._steps / ran

    def report(self) -> ActivityReport:
        samples, steps = max(self._samples, 1), max(self._steps, 1)
        return ActivityReport(
            samples=self._samples, steps=steps,
            firing_rates={name: self._spikes[name] / self._sites[name] for name in self._spikes if self._sites[name]},
            spikes=dict(self._raster), synops=self._synops / samples, snn_macs=self._snn_macs / samples,
            ann_macs=self._ann_macs / samples / steps)
