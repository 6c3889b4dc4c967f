"""Export of the zoo's feed-forward SNNs to NIR (the Neural Intermediate Representation, Pedersen et al.,
Nature Communications 2024), the graph format that neuromorphic hardware and other simulators read.

The network is traced once on a small input: its leaf layers, in the order they run, become a chain of NIR
nodes (so chains export; residual graphs are not traced yet). The neurons' discrete update is written in
NIR's continuous form for a time step ``dt``. SpikingJelly's LIF charge ``H = V + (X - V) / tau_sj``
(``decay_input=True``) is the Euler step of ``tau dv/dt = (v_leak - v) + R I`` with ``tau = tau_sj dt``,
``R = 1``; without input decay (``H = V (1 - 1 / tau_sj) + X``) ``R = tau_sj``; an IF neuron is
``dv/dt = R I`` with ``R = 1 / dt``. A hard reset is NIR's ``v_reset``. The graph starts at the first
layer: the model's input encoding (rate, latency) is not part of it, so a reader is fed the encoded spikes.

What NIR cannot say is refused, naming the layer: max-pooling, a soft reset (subtracting the threshold),
learnable-threshold and temporal-coding neurons, and (not yet exported) batch norm; a network whose layers,
run one after the other, do not give its output (a residual connection) is refused as a whole.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import ZooError
from .neurons.compat import import_spikingjelly

sj = import_spikingjelly()

__all__ = ["export_nir", "NIRExportError"]


class NIRExportError(ZooError, ValueError):
    """The model holds something NIR cannot express (the message names the layer)."""


def _nir():
    try:
        import nir
    except ImportError:
        raise ImportError("NIR export needs the nir package: pip install -e '.[nir]'") from None
    return nir


def _trace(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, tuple, tuple]]:
    """``(name, module, input shape, output shape)`` of every leaf layer in the order it runs (shapes
    per sample, without the time and batch dimensions)."""
    calls, hooks = [], []
    names = {module: name for name, module in model.named_modules()}

    def record(module, inputs, output):
        calls.append((names[module], module, tuple(inputs[0].shape[2:]), tuple(output.shape[2:])))

    for module in model.modules():
        if module is not model and (not list(module.children()) or isinstance(module, sj.neuron.BaseNode)):
            hooks.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            sj.functional.reset_net(model)
            model.forward_sequence(x)
    finally:
        for hook in hooks:
            hook.remove()
    return [call for call in calls if not _inside_neuron(call[0], calls)]


def _check_chain(model: nn.Module, calls: list, x: torch.Tensor) -> None:
    """The traced layers, run one after the other, must be the model: a residual connection or any other
    operation between layers would be lost from a chain."""
    with torch.no_grad():
        sj.functional.reset_net(model)
        expected = model.forward_sequence(x)
        sj.functional.reset_net(model)
        try:
            for _, module, *_ in calls:
                x = module(x)
        except (RuntimeError, ValueError):
            x = None
    if x is None or x.shape != expected.shape or not torch.equal(x, expected):
        raise NIRExportError(f"{type(model).__name__} is not a chain of layers (residual connections or "
                             f"operations between layers): the zoo exports chains to NIR so far")


def _inside_neuron(name: str, calls) -> bool:
    """Surrogate functions and other children of a neuron are the neuron's business."""
    return any(name.startswith(other + ".") and isinstance(module, sj.neuron.BaseNode) for other, module, *_ in calls)


def _neuron(name: str, module: nn.Module, shape: tuple, dt: float):
    nir = _nir()
    kind = type(module).__name__.removeprefix("Fused")
    if kind not in ("IFNode", "LIFNode", "ParametricLIFNode"):
        raise NIRExportError(f"layer {name} ({kind}): NIR export supports IF, LIF and PLIF neurons")
    if module.v_reset is None:
        raise NIRExportError(f"layer {name} ({kind}): a soft reset (subtracting the threshold) has no NIR form; "
                             f"NIR neurons reset to v_reset")
    full = np.ones(shape, dtype=np.float32)
    threshold, reset = full * float(module.v_threshold), full * float(module.v_reset)
    if kind == "IFNode":
        return nir.IF(r=full / dt, v_threshold=threshold, v_reset=reset)
    tau_sj = float(1.0 / module.w.sigmoid()) if kind == "ParametricLIFNode" else float(module.tau)
    r = 1.0 if module.decay_input else tau_sj
    return nir.LIF(tau=full * tau_sj * dt, r=full * r, v_leak=reset.copy(), v_threshold=threshold, v_reset=reset)


def _pair(value) -> np.ndarray:
    return np.array(value if isinstance(value, (tuple, list)) else (value, value))


def _layer(name: str, module: nn.Module, in_shape: tuple, out_shape: tuple, dt: float):
    nir = _nir()
    if isinstance(module, sj.neuron.BaseNode):
        return _neuron(name, module, out_shape, dt)
    if isinstance(module, nn.Conv2d):
        bias = module.bias.detach().numpy() if module.bias is not None else np.zeros(module.out_channels, np.float32)
        return nir.Conv2d(input_shape=in_shape[-2:], weight=module.weight.detach().numpy(), stride=_pair(module.stride),
                          padding=_pair(module.padding), dilation=_pair(module.dilation), groups=module.groups,
                          bias=bias)
    if isinstance(module, nn.Linear):
        weight = module.weight.detach().numpy()
        return nir.Affine(weight=weight, bias=module.bias.detach().numpy()) if module.bias is not None \
            else nir.Linear(weight=weight)
    if isinstance(module, nn.AvgPool2d):
        return nir.AvgPool2d(kernel_size=_pair(module.kernel_size), stride=_pair(module.stride or module.kernel_size),
                             padding=_pair(module.padding))
    if isinstance(module, nn.Flatten):
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=module.start_dim - 1,
                           end_dim=module.end_dim)
    if isinstance(module, nn.MaxPool2d):
        raise NIRExportError(f"layer {name} (MaxPool2d): NIR has no max-pooling; sum or average pooling exports")
    raise NIRExportError(f"layer {name} ({type(module).__name__}): no NIR node for this layer")


def export_nir(model: nn.Module, dt: float = 1e-4) -> Any:
    """The model as a ``nir.NIRGraph`` with one node per layer (named as in the model) between ``input``
    and ``output``; ``dt`` is the seconds one time step stands for (1e-4 as snnTorch reads NIR)."""
    nir = _nir()
    if not hasattr(model, "forward_sequence") or not getattr(model, "in_channels", None):
        raise NIRExportError(f"{type(model).__name__}: NIR export takes the zoo's multi-step SNN classifiers")
    if getattr(model, "input_size", None) is None:
        raise NIRExportError(f"{type(model).__name__}: NIR export needs a model with a fixed input_size")
    model = model.eval()
    probe = (torch.rand(4, 2, model.in_channels, *model.input_size) < 0.3).float()
    try:
        calls = _trace(model, probe)
    except (RuntimeError, ValueError) as error:
        raise NIRExportError(f"{type(model).__name__} cannot be traced layer by layer: {error}") from None
    nodes = {"input": nir.Input(input_type={"input": np.array((model.in_channels, *model.input_size))})}
    edges, previous = [], "input"
    for name, module, in_shape, out_shape in calls:
        nodes[name] = _layer(name, module, in_shape, out_shape, dt)
        edges.append((previous, name))
        previous = name
    _check_chain(model, calls, probe)
    nodes["output"] = nir.Output(output_type={"output": np.array(calls[-1][3])})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt, "source": "spiking model zoo"})
