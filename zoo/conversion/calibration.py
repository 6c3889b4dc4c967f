"""Calibrating a converted SNN for the ``T`` it runs at (Li et al., "A Free Lunch From ANN", ICML 2021,
after Deng & Gu's layer-wise error analysis, ICLR 2021).

An IF neuron with soft reset fed a constant current ``a`` for ``T`` steps (with the bias shift) emits
``clamp(floor(a T / threshold + 1/2), 0, T)`` spikes: the ReLU's activation is *clipped* at the
threshold and *rounded* to ``T`` levels (:func:`quantise`). Every piece here lowers that per-layer error
against the ANN's activation, layer by layer from the input, on a few hundred training images:

- :func:`search_threshold`: the threshold whose clip-and-round error on the recorded activations is
  smallest, searched on the authors' grid (the maximum times 1.00, 0.99, ..., 0.06), instead of a
  fixed percentile; a lower threshold clips a few activations but rounds all the others more finely.
  Searched per channel by default (the authors' ``channel_wise`` option): channels of one layer
  span very different ranges, and at small T one shared threshold rounds the small ones to zero.
- :func:`calibrate_potentials`: *bias calibration* (BC) adds, per channel, the mean difference between
  the ANN's activation and the SNN's output to that layer's current; *potential calibration* (PC) puts
  ``T`` times the difference, per neuron, into the initial membrane potential.
- :func:`calibrate_weights`: *weight calibration* (WC) fits the weights of the layer that drives each
  neuron so that the rounded response to the SNN's own mean input matches the ANN's activation
  (straight-through gradient of the rounding; Adam with a cosine decay, as the authors' code).
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from .ifnet import STEP_CHUNK, ConvertedSNN, IFNeuron, is_activation

THRESHOLD_GRID = 95  # the authors' grid: max * (1 - 0.01 i), i < 95


def quantise(values: torch.Tensor, threshold: torch.Tensor | float, T: int, bias_shift: bool = True) -> torch.Tensor:
    """What an IF neuron outputs on average over ``T`` steps for the constant current ``values``."""
    levels = values * T / threshold + (0.5 if bias_shift else 0.0)
    return torch.clamp(torch.floor(levels), 0, T) * threshold / T


def _quantise_ste(values: torch.Tensor, threshold: torch.Tensor, T: int, bias_shift: bool) -> torch.Tensor:
    """:func:`quantise` with the rounding's gradient taken as 1 (straight-through), the clamp's as is."""
    levels = torch.clamp(values * T / threshold + (0.5 if bias_shift else 0.0), 0, T)
    return (levels + (torch.floor(levels) - levels).detach()) * threshold / T


def _sample(values: torch.Tensor, limit: int = 2_000_000) -> torch.Tensor:
    flat = values.flatten().float()
    if flat.numel() > limit:  # an even subsample keeps the statistics and bounds the cost
        flat = flat[torch.linspace(0, flat.numel() - 1, limit).long()]
    return flat


def percentile_threshold(values: torch.Tensor, percentile: float) -> float:
    """Threshold balancing: the ``percentile`` of the activations (100: their maximum)."""
    return max(float(torch.quantile(_sample(values), percentile / 100.0)), 1e-6)


def search_threshold(values: torch.Tensor, T: int, bias_shift: bool = True) -> float:
    """The threshold on the authors' grid whose clip-and-round error on ``values`` is smallest at ``T``."""
    flat = _sample(values)
    top = float(flat.max())
    if top <= 0:
        return 1e-6
    candidates = [top * (1.0 - 0.01 * i) for i in range(THRESHOLD_GRID)]
    errors = [float((quantise(flat, c, T, bias_shift) - flat).square().mean()) for c in candidates]
    return candidates[min(range(len(errors)), key=errors.__getitem__)]


@torch.no_grad()
def relu_activations(ann: nn.Module, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every activation's (ReLU or QCFS) outputs on the calibration batches, by module name, in the order
    they run."""
    recorded: dict[str, list[torch.Tensor]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: recorded.setdefault(name, []).append(out.detach()))
             for name, m in ann.named_modules() if is_activation(m)]
    try:
        for batch in batches:
            ann(batch)
    finally:
        for hook in hooks:
            hook.remove()
    return {name: torch.cat(outs) for name, outs in recorded.items()}


class _Reached(Exception):
    """Raised by a hook to end a forward pass once the layer being calibrated has run."""


def _over_steps(tensor: torch.Tensor, T: int, batch: int) -> torch.Tensor:
    """The mean over the steps of a ``[T*B, ...]`` tensor (a static ``[B, ...]`` one is its own mean)."""
    return tensor if tensor.shape[0] == batch else tensor.view(T, batch, *tensor.shape[1:]).mean(0)


@torch.no_grad()
def record_snn(snn: ConvertedSNN, batches: Iterable[torch.Tensor], modules: dict[str, str],
               stop_after: str | None = None) -> dict[str, torch.Tensor]:
    """Mean over the ``T`` steps of the given tensors of the SNN's layers on the calibration batches:
    ``modules`` maps a layer name to ``"input"`` or ``"output"``; the forward pass ends once
    ``stop_after`` has run (the layers after it do not matter to the layer being calibrated)."""
    named = dict(snn.net.named_modules())
    recorded: dict[str, list[torch.Tensor]] = {name: [] for name in modules}
    size = {}

    def hook(module, inputs, output, name):
        tensor = inputs[0] if modules.get(name) == "input" else output
        if name in modules:
            recorded[name].append(_over_steps(tensor, snn.T, size["batch"]))
        if name == stop_after:
            raise _Reached

    hooks = [named[name].register_forward_hook(lambda mod, inp, out, name=name: hook(mod, inp, out, name))
             for name in {*modules, *([stop_after] if stop_after else [])}]
    try:
        for batch in batches:
            for part in batch.split(max(1, STEP_CHUNK // snn.T)):
                size["batch"] = part.shape[0]
                try:
                    snn(part)
                except _Reached:
                    pass
    finally:
        for h in hooks:
            h.remove()
    return {name: torch.cat(outs) for name, outs in recorded.items()}


def neuron_outputs(snn: ConvertedSNN, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every neuron's mean output over the ``T`` steps (its estimate of the ReLU's activation)."""
    names = [name for name, m in snn.net.named_modules() if isinstance(m, IFNeuron)]
    return record_snn(snn, batches, dict.fromkeys(names, "output"))


def layer_errors(snn: ConvertedSNN, activations: dict[str, torch.Tensor], batches: list[torch.Tensor]) -> dict[str, float]:
    """Relative error ``||SNN output - ANN activation|| / ||ANN activation||`` of every neuron layer."""
    outputs = neuron_outputs(snn, batches)
    return {name: float((outputs[name] - act).norm() / act.norm().clamp(min=1e-12)) for name, act in activations.items()}


def set_thresholds(snn: ConvertedSNN, activations: dict[str, torch.Tensor], threshold: str | float,
                   channel_wise: bool = True) -> None:
    """Every neuron's threshold from its ReLU's activations: ``"mse"`` searches it for the SNN's ``T``
    (per channel when ``channel_wise``, as the authors' code can), a number is the percentile of the
    whole layer's activations to balance to; ``"qcfs"`` keeps the thresholds a QCFS network trained."""
    named = dict(snn.net.named_modules())
    if threshold == "qcfs":  # the trained lambdas, set when the neurons replaced the QCFS activations
        return
    for name, values in activations.items():
        neuron = named[name]
        if threshold != "mse":
            neuron.threshold.fill_(percentile_threshold(values, float(threshold)))
        elif channel_wise:
            per_channel = values.transpose(0, 1).reshape(values.shape[1], -1)
            neuron.threshold.copy_(torch.tensor([search_threshold(c, snn.T, neuron.bias_shift) for c in per_channel]))
        else:
            neuron.threshold.fill_(search_threshold(values, snn.T, neuron.bias_shift))


@torch.no_grad()
def calibrate_potentials(snn: ConvertedSNN, activations: dict[str, torch.Tensor], batches: list[torch.Tensor],
                         mode: str = "bias", progress: bool = False) -> None:
    """Bias (per channel) or potential (per neuron) calibration, one neuron layer at a time from the input."""
    named = dict(snn.net.named_modules())
    for name in tqdm(list(activations), desc=f"{mode} calibration T={snn.T}", disable=not progress, leave=False):
        output = record_snn(snn, batches, {name: "output"}, stop_after=name)[name]
        error = activations[name] - output
        neuron = named[name]
        if mode == "bias":
            neuron.shift += error.transpose(0, 1).flatten(1).mean(1)
        else:
            neuron.v_init += error.mean(0) * snn.T


def driver_layers(snn: ConvertedSNN) -> dict[str, str]:
    """For every neuron, the convolution or linear layer whose output it integrates: the last one that
    runs before it in the same parent module (a residual block's main path, not its shortcut)."""
    order: list[str] = []
    named = dict(snn.net.named_modules())
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: order.append(name))
             for name, m in named.items() if isinstance(m, (nn.Conv2d, nn.Linear, IFNeuron))]
    try:
        with torch.no_grad():
            snn.forward_steps_reference(torch.zeros(1, snn.in_channels, *snn.input_size))
    finally:
        for h in hooks:
            h.remove()
    drivers = {}
    for index, name in enumerate(order):
        if isinstance(named[name], IFNeuron):
            parent = name.rpartition(".")[0]
            before = [n for n in order[:index] if not isinstance(named[n], IFNeuron) and n.rpartition(".")[0] == parent]
            if not before:
                raise ValueError(f"weight calibration needs a convolution or linear layer before the neuron {name} "
                                 f"in the same module")
            drivers[name] = before[-1]
    return drivers


def calibrate_weights(snn: ConvertedSNN, activations: dict[str, torch.Tensor], batches: list[torch.Tensor],
                      steps: int = 1000, lr: float = 1e-4, batch_size: int = 32, seed: int = 0,
                      progress: bool = False) -> None:
    """Weight calibration, one neuron layer at a time from the input: the driving layer's weights are fitted
    so that the neuron's rounded response to the SNN's mean input (and the mean of the rest of its
    current, e.g. a residual) matches the ANN's activation."""
    named = dict(snn.net.named_modules())
    generator = torch.Generator().manual_seed(seed)
    drivers = driver_layers(snn)
    for name in tqdm(list(activations), desc=f"weight calibration T={snn.T}", disable=not progress, leave=False):
        layer, neuron = named[drivers[name]], named[name]
        seen = record_snn(snn, batches, {drivers[name]: "input", name: "input"}, stop_after=name)
        inputs = seen[drivers[name]]
        with torch.no_grad():
            rest = torch.cat([seen[name][i:i + 256] - layer(inputs[i:i + 256]) for i in range(0, len(inputs), 256)])
            constant = rest + neuron.per_channel(neuron.shift) + neuron.v_init / snn.T
        target = activations[name]
        optimizer = torch.optim.Adam([layer.weight], lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        for _ in range(steps):
            pick = torch.randint(0, len(inputs), (batch_size,), generator=generator)
            response = _quantise_ste(layer(inputs[pick]) + constant[pick], neuron.per_channel(neuron.threshold),
                                     snn.T, neuron.bias_shift)
            loss = (response - target[pick]).square().sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        layer.zero_grad(set_to_none=True)
