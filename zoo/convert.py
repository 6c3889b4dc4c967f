"""ANN-to-SNN conversion: a trained ReLU network becomes an IF-neuron SNN.

1. **BN folding** into the preceding convolution (:func:`fold_bn`), checked numerically.
2. **Threshold balancing**: every ReLU becomes an integrate-and-fire neuron with soft reset (subtract
   the threshold) whose threshold is the ReLU's maximum or ``percentile`` activation on calibration
   data; a neuron outputs ``threshold`` per spike, so its mean output over ``T`` steps estimates the
   ReLU's activation.
3. **Bias shift** of ``threshold / (2T)`` added to the input current at every step, which centres the
   rate-quantisation error (a ReLU output ``a`` is seen as ``floor(a T / threshold + 1/2)`` spikes).
4. **Layer-wise calibration** (Li et al., "A Free Lunch From ANN", ICML 2021), layer by layer from the
   input: *bias calibration* adds, per channel, the mean difference between the ANN activation and
   the SNN's output to that layer's input current; *potential calibration* puts ``T`` times that
   difference into the initial membrane potential instead.

The SNN runs the ANN's own modules on all ``T`` steps at once (``[T*B, ...]``: the layers between
neurons are linear and stateless), and each neuron unrolls its steps.
"""
from __future__ import annotations

import copy
from typing import Iterable

import torch
from torch import nn

CALIBRATIONS = ("none", "bias", "potential")


def fold_bn(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) with every BatchNorm that directly follows a convolution in
    registration order folded into it and replaced by ``Identity``."""
    folded = copy.deepcopy(model).eval()
    for parent in folded.modules():
        children = list(parent.named_children())
        for (_, first), (name, second) in zip(children, children[1:]):
            if isinstance(first, nn.Conv2d) and isinstance(second, nn.BatchNorm2d):
                scale = second.weight.detach() / torch.sqrt(second.running_var + second.eps)
                first.weight.data = first.weight.data * scale.view(-1, 1, 1, 1)
                bias = first.bias.data if first.bias is not None else torch.zeros_like(second.running_mean)
                first.bias = nn.Parameter((bias - second.running_mean) * scale + second.bias.detach())
                setattr(parent, name, nn.Identity())
    return folded


class IFNeuron(nn.Module):
    """Integrate-and-fire with soft reset over ``T`` steps of a ``[T*B, C, ...]`` input; outputs
    ``threshold`` per spike. ``shift`` (per channel) is added to the current at every step and
    ``v_init`` (per channel) is the initial membrane potential, on top of ``threshold / 2`` worth of
    bias shift when ``bias_shift`` is on."""

    def __init__(self, channels: int, T: int = 32, bias_shift: bool = True):
        super().__init__()
        self.T, self.bias_shift = T, bias_shift
        self.register_buffer("threshold", torch.ones(()))
        self.register_buffer("shift", torch.zeros(channels))
        self.register_buffer("v_init", torch.zeros(channels))

    def _per_channel(self, value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return value.view(1, -1, *([1] * (like.dim() - 2)))

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        steps = current.view(self.T, -1, *current.shape[1:])
        shift = self._per_channel(self.shift, steps[0])
        if self.bias_shift:
            shift = shift + self.threshold / (2 * self.T)
        v = self._per_channel(self.v_init, steps[0]).expand_as(steps[0]).clone()
        out = []
        for x in steps:
            v = v + x + shift
            spike = (v >= self.threshold).to(x.dtype)
            v = v - spike * self.threshold
            out.append(spike * self.threshold)
        return torch.stack(out).view_as(current)

    def extra_repr(self) -> str:
        return f"threshold={float(self.threshold):.4g}, T={self.T}, bias_shift={self.bias_shift}"


class ConvertedSNN(nn.Module):
    """The ANN with IF neurons in place of its ReLUs; images ``[B, C, H, W]`` are fed directly at every
    step and the output is the mean of the read-out over ``T`` steps."""

    def __init__(self, ann: nn.Module, T: int = 32, bias_shift: bool = True):
        super().__init__()
        if T < 1:
            raise ValueError(f"T must be a positive number of time steps, got {T}")
        self.net = ann
        self.in_channels = getattr(ann, "in_channels", None)
        self.num_classes = getattr(ann, "num_classes", None)
        self.input_size = getattr(ann, "input_size", None)
        self.stem, self.head = f"net.{ann.stem}" if getattr(ann, "stem", "") else "", f"net.{ann.head}" if getattr(ann, "head", "") else ""
        self._T = T
        _replace_relus(self.net, lambda channels: IFNeuron(channels, T, bias_shift))

    @property
    def T(self) -> int:
        return self._T

    @T.setter
    def T(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"T must be a positive number of time steps, got {value}")
        self._T = value
        for neuron in self.neurons():
            neuron.T = value

    def neurons(self) -> list[IFNeuron]:
        return [m for m in self.modules() if isinstance(m, IFNeuron)]

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self.net, "check_input"):
            self.net.check_input(x)
        repeated = x.unsqueeze(0).expand(self.T, *x.shape).reshape(self.T * x.shape[0], *x.shape[1:])
        return self.net(repeated).view(self.T, x.shape[0], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x).mean(0)


def _relu_channels(ann: nn.Module) -> dict[str, int]:
    """Channels seen by every ReLU (found with one forward pass), checking each ReLU runs once."""
    seen: dict[str, list[int]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.setdefault(name, []).append(out.shape[1]))
             for name, m in ann.named_modules() if isinstance(m, nn.ReLU)]
    try:
        ann(torch.zeros(1, ann.in_channels, *ann.input_size))
    finally:
        for hook in hooks:
            hook.remove()
    shared = [name for name, calls in seen.items() if len(calls) > 1]
    if shared:
        raise ValueError(f"ReLU modules used more than once per forward pass cannot become neurons: {', '.join(shared)}; "
                         f"give every activation its own nn.ReLU")
    return {name: calls[0] for name, calls in seen.items()}


def _replace_relus(ann: nn.Module, make) -> None:
    channels = _relu_channels(ann)
    for name, count in channels.items():
        parent_name, _, attr = name.rpartition(".")
        parent = ann.get_submodule(parent_name) if parent_name else ann
        setattr(parent, attr, make(count))


@torch.no_grad()
def relu_activations(ann: nn.Module, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every ReLU's outputs on the calibration batches, by module name."""
    recorded: dict[str, list[torch.Tensor]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: recorded.setdefault(name, []).append(out.detach()))
             for name, m in ann.named_modules() if isinstance(m, nn.ReLU)]
    try:
        for batch in batches:
            ann(batch)
    finally:
        for hook in hooks:
            hook.remove()
    return {name: torch.cat(outs) for name, outs in recorded.items()}


@torch.no_grad()
def neuron_outputs(snn: ConvertedSNN, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every neuron's mean output over the ``T`` steps (its estimate of the ReLU's activation)."""
    recorded: dict[str, list[torch.Tensor]] = {}

    def hook(module, inp, out, name):
        recorded.setdefault(name, []).append(out.view(module.T, -1, *out.shape[1:]).mean(0))

    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: hook(mod, inp, out, name))
             for name, m in snn.net.named_modules() if isinstance(m, IFNeuron)]
    try:
        for batch in batches:
            snn(batch)
    finally:
        for h in hooks:
            h.remove()
    return {name: torch.cat(outs) for name, outs in recorded.items()}


def _quantile(values: torch.Tensor, percentile: float) -> float:
    flat = values.flatten()
    if flat.numel() > 2_000_000:  # torch.quantile's input limit; an even subsample keeps the estimate
        flat = flat[torch.linspace(0, flat.numel() - 1, 2_000_000).long()]
    return float(torch.quantile(flat.float(), percentile / 100.0))


def convert(ann: nn.Module, calibration: list[torch.Tensor], T: int = 32, percentile: float = 99.99,
            bias_shift: bool = True, calibrate: str = "bias") -> ConvertedSNN:
    """Convert the ReLU network ``ann`` into an IF SNN with ``T`` steps, balancing thresholds on the
    image batches ``calibration`` (``percentile=100``: the maximum activation)."""
    if calibrate not in CALIBRATIONS:
        raise ValueError(f"calibrate must be one of {', '.join(CALIBRATIONS)}, got {calibrate!r}")
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    if not calibration:
        raise ValueError("conversion needs at least one calibration batch")
    folded = fold_bn(ann)
    with torch.no_grad():
        reference, check = ann.eval()(calibration[0]), folded(calibration[0])
    if not torch.allclose(reference, check, rtol=1e-4, atol=1e-4 * float(reference.abs().max())):
        raise ValueError("folding BatchNorm changed the network's outputs: a BatchNorm does not directly "
                         "follow its convolution in the module order")
    activations = relu_activations(folded, calibration)
    snn = ConvertedSNN(folded, T=T, bias_shift=bias_shift).eval()
    modules = dict(snn.net.named_modules())
    for name, values in activations.items():
        modules[name].threshold.fill_(max(_quantile(values, percentile), 1e-6))
    if calibrate != "none":
        calibrate_layers(snn, activations, calibration, calibrate)
    return snn


@torch.no_grad()
def calibrate_layers(snn: ConvertedSNN, activations: dict[str, torch.Tensor], calibration: list[torch.Tensor],
                     mode: str = "bias") -> None:
    """Li et al.'s layer-wise calibration, one neuron layer at a time from the input."""
    modules = dict(snn.net.named_modules())
    for name in activations:  # forward order
        outputs = neuron_outputs(snn, calibration)[name]
        error = (activations[name] - outputs).transpose(0, 1).flatten(1).mean(1)  # per channel
        neuron = modules[name]
        if mode == "bias":
            neuron.shift += error
        else:
            neuron.v_init += error * snn.T


def layer_errors(snn: ConvertedSNN, activations: dict[str, torch.Tensor], calibration: list[torch.Tensor]) -> dict[str, float]:
    """Relative error ``||SNN output - ANN activation|| / ||ANN activation||`` of every neuron layer."""
    outputs = neuron_outputs(snn, calibration)
    return {name: float((outputs[name] - act).norm() / act.norm().clamp(min=1e-12)) for name, act in activations.items()}
