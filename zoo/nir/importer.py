"""NIR graphs written by any library, as zoo networks: the inverse of :mod:`zoo.nir.export`.

A feed-forward NIR graph becomes a :class:`NIRNetwork` whose nodes are SpikingJelly multi-step layers and
the zoo's neurons (so an imported graph runs on the same fused loops and CuPy kernels as the zoo's own
models), run on whole ``[T, B, ...]`` sequences in topological order, each node's inputs summed as NIR
defines. Neurons go back from NIR's continuous form with the graph's time step ``dt`` (its metadata, else
the argument): ``IF`` with ``r = 1 / dt``; ``LIF`` with ``tau / dt > 1``, ``r = 1`` (SpikingJelly's
``decay_input``) or ``r = tau / dt`` (without), ``v_leak = v_reset``; one threshold and reset a layer.

What the zoo's layers cannot run is refused, naming the node: recurrent graphs, CubaLIF and other node
types, per-neuron parameters that differ within a layer. A file that is not a NIR graph is one clear
error.
"""
from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ZooError
from ..neurons import build_neuron
from ..neurons.compat import import_spikingjelly
from .export import require_nir

sj = import_spikingjelly()
layer = sj.layer

__all__ = ["NIRImportError", "NIRNetwork", "import_nir"]


class NIRImportError(ZooError, ValueError):
    """A NIR file that cannot be read, or a graph the zoo's layers cannot run (the message names the node)."""


def _nir():
    return require_nir("import")


def _uniform(name: str, field: str, value) -> float:
    unique = np.unique(np.asarray(value, dtype=np.float64))
    if unique.size != 1:
        raise NIRImportError(f"node {name}: {field} differs between neurons; the zoo's layers take one value")
    return float(unique[0])


def _ints(value) -> tuple[int, ...] | int:
    array = np.atleast_1d(np.asarray(value)).astype(int)
    return int(array[0]) if array.size == 1 else tuple(int(v) for v in array)


def _close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=1e-5, atol=1e-12))


def _neuron(name: str, node, dt: float) -> nn.Module:
    nir = _nir()
    threshold = _uniform(name, "v_threshold", node.v_threshold)
    reset = _uniform(name, "v_reset", node.v_reset)
    if isinstance(node, nir.IF):
        r = _uniform(name, "r", node.r)
        if not _close(r * dt, 1.0):
            raise NIRImportError(f"node {name} (IF): r = {r:g} is not 1 / dt = {1 / dt:g}; the zoo's IF adds its "
                                 f"input unscaled")
        return build_neuron("if", v_threshold=threshold, v_reset=reset)
    tau = _uniform(name, "tau", node.tau) / dt
    r = _uniform(name, "r", node.r)
    if not np.isfinite(tau) or tau <= 1.0:
        raise NIRImportError(f"node {name} (LIF): tau / dt = {tau:g} must be finite and above 1")
    if not _close(_uniform(name, "v_leak", node.v_leak), reset):
        raise NIRImportError(f"node {name} (LIF): v_leak differs from v_reset; SpikingJelly's LIF leaks to v_reset")
    if _close(r, 1.0):
        decay_input = True
    elif _close(r, tau):
        decay_input = False
    else:
        raise NIRImportError(f"node {name} (LIF): r = {r:g} is neither 1 nor tau / dt = {tau:g}")
    return build_neuron("lif", tau=tau, decay_input=decay_input, v_threshold=threshold, v_reset=reset)


def _layer(name: str, node, dt: float) -> nn.Module:
    nir = _nir()
    if isinstance(node, (nir.IF, nir.LIF)):
        return _neuron(name, node, dt)
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = torch.as_tensor(np.asarray(node.weight, dtype=np.float32))
        module = layer.Linear(weight.shape[1], weight.shape[0], bias=isinstance(node, nir.Affine), step_mode="m")
        module.weight.data.copy_(weight)
        if isinstance(node, nir.Affine):
            module.bias.data.copy_(torch.as_tensor(np.asarray(node.bias, dtype=np.float32)))
        return module
    if isinstance(node, nir.Conv2d):
        weight = torch.as_tensor(np.asarray(node.weight, dtype=np.float32))
        if isinstance(node.padding, str):
            raise NIRImportError(f"node {name} (Conv2d): padding {node.padding!r} is not imported; give numbers")
        module = layer.Conv2d(weight.shape[1] * int(node.groups), weight.shape[0], tuple(weight.shape[-2:]),
                              stride=_ints(node.stride), padding=_ints(node.padding), dilation=_ints(node.dilation),
                              groups=int(node.groups), bias=True, step_mode="m")
        module.weight.data.copy_(weight)
        bias = np.broadcast_to(np.asarray(node.bias, dtype=np.float32), (weight.shape[0],))
        module.bias.data.copy_(torch.as_tensor(bias.copy()))
        return module
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        divisor = 1 if isinstance(node, nir.SumPool2d) else None
        return layer.AvgPool2d(_ints(node.kernel_size), _ints(node.stride), _ints(node.padding),
                               divisor_override=divisor, step_mode="m")
    if isinstance(node, nir.Flatten):
        end = int(node.end_dim)
        return layer.Flatten(int(node.start_dim) + 1, end if end < 0 else end + 1, step_mode="m")
    raise NIRImportError(f"node {name} ({type(node).__name__}): the zoo imports Affine, Linear, Conv2d, AvgPool2d, "
                         f"SumPool2d, Flatten, IF and LIF nodes")


class NIRNetwork(nn.Module):
    """A feed-forward NIR graph as a multi-step network: ``forward`` takes ``[T, B, *input shape]`` and
    returns the output node's ``[T, B, ...]``, every neuron reset first."""

    def __init__(self, graph: Any, dt: float = 1e-4):
        super().__init__()
        nir = _nir()
        inputs: dict[str, list[str]] = {name: [] for name in graph.nodes}
        for source, target in graph.edges:
            if source not in inputs or target not in inputs:
                raise NIRImportError(f"edge {source} -> {target} names a node the graph does not have")
            inputs[target].append(source)
        try:
            order = list(TopologicalSorter(inputs).static_order())
        except CycleError as error:
            raise NIRImportError(f"the graph is recurrent (through {' -> '.join(error.args[1])}); the zoo imports "
                                 f"feed-forward graphs") from None
        kinds = {name: type(node) for name, node in graph.nodes.items()}
        self.input_names = [name for name in order if kinds[name] is nir.Input]
        self.output_names = [name for name in order if kinds[name] is nir.Output]
        if len(self.input_names) != 1 or len(self.output_names) != 1:
            raise NIRImportError(f"the graph has {len(self.input_names)} inputs and {len(self.output_names)} "
                                 f"outputs; the zoo imports one of each")
        self.dt = float(dt)
        self.layers = nn.ModuleDict()
        self.steps: list[tuple[str, str, list[str]]] = []  # (node, module key, the nodes it sums)
        for name in order:
            if kinds[name] in (nir.Input, nir.Output):
                continue
            if not inputs[name]:
                raise NIRImportError(f"node {name} has no input")
            key = name.replace(".", "__")
            try:
                self.layers[key] = _layer(name, graph.nodes[name], self.dt)
            except NIRImportError:
                raise
            except (RuntimeError, ValueError, TypeError, AttributeError) as error:  # shapes that do not fit
                raise NIRImportError(f"node {name} ({type(graph.nodes[name]).__name__}): "
                                     f"{str(error).splitlines()[0]}") from None
            self.steps.append((name, key, inputs[name]))
        self.output_inputs = inputs[self.output_names[0]]

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        sj.functional.reset_net(self)
        values = {self.input_names[0]: x_seq}
        for name, key, sources in self.steps:
            values[name] = self.layers[key](_sum(values, sources))
        return _sum(values, self.output_inputs)


def _sum(values: dict[str, torch.Tensor], sources: list[str]) -> torch.Tensor:
    total = values[sources[0]]
    for source in sources[1:]:
        total = total + values[source]
    return total


def import_nir(source: str | Path | Any, dt: float | None = None) -> NIRNetwork:
    """A NIR graph (a ``nir.NIRGraph`` or a ``.nir`` file) as a :class:`NIRNetwork`; ``dt`` defaults to the
    graph's metadata, else 1e-4 s (as snnTorch and SpikingJelly read NIR)."""
    nir = _nir()
    graph = source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise NIRImportError(f"{path}: no such NIR file")
        try:
            graph = nir.read(str(path))
        except Exception as error:  # h5py, KeyError, TypeError... for anything that is not a NIR graph
            raise NIRImportError(f"{path}: not a readable NIR file ({type(error).__name__}: "
                                 f"{str(error).splitlines()[0] if str(error) else 'no detail'})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise NIRImportError(f"import_nir takes a nir.NIRGraph or a .nir file, got {type(graph).__name__}")
    if dt is None:
        dt = float((graph.metadata or {}).get("dt", 1e-4))
    return NIRNetwork(graph, dt=dt)
