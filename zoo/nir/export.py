"""Export of the zoo's feed-forward SNNs to NIR (the Neural Intermediate Representation, Pedersen et al.,
Nature Communications 2024), the graph format that neuromorphic hardware and other simulators read.

The network's multi-step forward is traced with ``torch.fx`` (layers and neurons as leaves), so the graph
is the model's own dataflow: every layer is a node named as in the model, and an addition of two values
(a SEW ADD connection, a residual) becomes edges, since a NIR node sums all its inputs. A batch norm that
follows a convolution is folded into it (the evaluation-mode affine map), as hardware runs it.

Neurons are written in NIR's continuous form for a time step ``dt``. SpikingJelly's LIF charge
``H = V + (X - V) / tau_sj`` (``decay_input=True``) is the Euler step of ``tau dv/dt = (v_leak - v) + R I``
with ``tau = tau_sj dt``, ``R = 1``; without input decay (``H = V (1 - 1 / tau_sj) + X``) ``R = tau_sj``; an
IF neuron is ``dv/dt = R I`` with ``R = 1 / dt``; a PLIF exports the LIF its learned ``tau`` gives, layer by
layer. A hard reset is NIR's ``v_reset``. The graph starts at the first layer: the model's input encoding
(rate, latency) and a mean/std normalisation inside the model are not part of it (the normalisation is
recorded in the graph's metadata), so a reader is fed the encoded input (the normalised image at every
step under direct encoding). NIR neurons fire on ``v >= v_threshold``; STBP's neurons fire on ``>``, so
the two differ where a membrane equals the threshold exactly.

What NIR cannot say is refused, naming the layer: max-pooling, a soft reset (subtracting the threshold),
products of spikes (SEW AND/IAND), learnable-threshold and temporal-coding neurons, a batch norm with no
convolution before it, and any other operation between layers.
"""
from __future__ import annotations

import operator
from typing import Any

import numpy as np
import torch
import torch.fx.passes.shape_prop  # noqa: F401  (importing fx does not import its passes)
from torch import fx, nn

from ..errors import ZooError
from ..neurons.compat import import_spikingjelly

sj = import_spikingjelly()

__all__ = ["export_nir", "NIRExportError"]

_ADDITIONS = {operator.add, torch.add}
_PRODUCTS = {operator.mul, torch.mul, operator.sub, torch.sub, torch.rsub}


class NIRExportError(ZooError, ValueError):
    """The model holds something NIR cannot express (the message names the layer)."""


def require_nir(use: str = "export"):
    """The ``nir`` package, or one line saying how to install it (NIR is an extra)."""
    try:
        import nir
    except ImportError:
        raise ImportError(f"NIR {use} needs the nir package: pip install -e '.[nir]'") from None
    return nir



class _Sequence(nn.Module):
    """The model's multi-step forward as the module fx traces (its layers under ``model.``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.model.forward_sequence(x_seq)


class _LayerTracer(fx.Tracer):
    """Layers without children and neurons are the graph's nodes; containers are traced through."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, sj.neuron.BaseNode) or not list(module.children())


def _trace(model: nn.Module, probe: torch.Tensor) -> fx.GraphModule:
    root = _Sequence(model)
    try:
        graph = _LayerTracer().trace(root)
    except Exception as error:  # fx raises many types for Python control flow on tensors
        raise NIRExportError(f"{type(model).__name__} cannot be traced layer by layer: {error}") from None
    module = fx.GraphModule(root, graph)
    try:
        with torch.no_grad():
            sj.functional.reset_net(model)
            fx.passes.shape_prop.ShapeProp(module).propagate(probe)
    except RuntimeError as error:
        raise NIRExportError(f"{type(model).__name__} does not run on a {list(probe.shape[2:])} input: "
                             f"{str(error).splitlines()[0]}") from None
    finally:
        sj.functional.reset_net(model)
    return module


def _module_path(node: fx.Node) -> str:
    """The model's module that runs an operation between layers ("" at the top)."""
    stack = node.meta.get("nn_module_stack") or {}
    return str(next(reversed(stack.values()))[0]).removeprefix("model").lstrip(".") if stack else ""


def _layer_name(node: fx.Node) -> str:
    if node.op == "call_module":
        return node.target.removeprefix("model.")
    where = _module_path(node)
    return f"{where} ({node.name})" if where else node.name


def _value_name(node: fx.Node) -> str:
    """A NIR node name for an operation between layers: its fx name under the module that runs it."""
    where = _module_path(node)
    return f"{where}.{node.name}" if where else node.name


def _shape(node: fx.Node) -> tuple:
    """A value's shape per sample (without the time and batch dimensions)."""
    return tuple(node.meta["tensor_meta"].shape[2:])


def _neuron(name: str, module: nn.Module, shape: tuple, dt: float):
    nir = require_nir()
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
    tau_sj = float(1.0 / module.w.detach().sigmoid()) if kind == "ParametricLIFNode" else float(module.tau)
    r = 1.0 if module.decay_input else tau_sj
    return nir.LIF(tau=full * tau_sj * dt, r=full * r, v_leak=reset.copy(), v_threshold=threshold, v_reset=reset)


def _pair(value) -> np.ndarray:
    return np.array(value if isinstance(value, (tuple, list)) else (value, value))


def _conv(module: nn.Conv2d, in_shape: tuple, bn: nn.BatchNorm2d | None):
    """NIR ``Conv2d``, with a following batch norm folded into the weight and bias."""
    weight = module.weight.detach().double()
    bias = module.bias.detach().double() if module.bias is not None else torch.zeros(module.out_channels,
                                                                                      dtype=torch.float64)
    if bn is not None:
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        weight = weight * scale.view(-1, 1, 1, 1)
        bias = (bias - bn.running_mean.double()) * scale + bn.bias.detach().double()
    return require_nir().Conv2d(input_shape=in_shape[-2:], weight=weight.float().numpy(),
                                stride=_pair(module.stride), padding=_pair(module.padding),
                                dilation=_pair(module.dilation), groups=module.groups, bias=bias.float().numpy())


def _average_pool(name: str, module: nn.Module, in_shape: tuple, out_shape: tuple):
    nir = require_nir()
    if isinstance(module, nn.AvgPool2d):
        if module.ceil_mode or not module.count_include_pad and _pair(module.padding).any():
            raise NIRExportError(f"layer {name} (AvgPool2d): only floor-mode pooling that counts padding exports")
        return nir.AvgPool2d(kernel_size=_pair(module.kernel_size),
                             stride=_pair(module.stride or module.kernel_size), padding=_pair(module.padding))
    (h, w), (oh, ow) = in_shape[-2:], out_shape[-2:]
    if h % oh or w % ow:
        raise NIRExportError(f"layer {name} (AdaptiveAvgPool2d): {h}x{w} to {oh}x{ow} is not a fixed pooling")
    kernel = np.array((h // oh, w // ow))
    return nir.AvgPool2d(kernel_size=kernel, stride=kernel.copy(), padding=np.zeros(2, dtype=int))


def _module_node(name: str, module: nn.Module, in_shape: tuple, out_shape: tuple, dt: float,
                 folded_bn: nn.BatchNorm2d | None):
    nir = require_nir()
    if isinstance(module, sj.neuron.BaseNode):
        return _neuron(name, module, out_shape, dt)
    if isinstance(module, nn.Conv2d):
        return _conv(module, in_shape, folded_bn)
    if isinstance(module, nn.Linear):
        weight = module.weight.detach().numpy()
        return nir.Affine(weight=weight, bias=module.bias.detach().numpy()) if module.bias is not None \
            else nir.Linear(weight=weight)
    if isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return _average_pool(name, module, in_shape, out_shape)
    if isinstance(module, nn.Flatten):
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=module.start_dim - 1,
                           end_dim=module.end_dim)
    if isinstance(module, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
        raise NIRExportError(f"layer {name} ({type(module).__name__}): NIR has no max-pooling; sum or average "
                             f"pooling exports")
    if isinstance(module, nn.BatchNorm2d):
        raise NIRExportError(f"layer {name} (BatchNorm2d): no NIR node for a batch norm that does not follow a "
                             f"convolution")
    raise NIRExportError(f"layer {name} ({type(module).__name__}): no NIR node for this layer")


_PASS_THROUGH = (nn.Identity, nn.Dropout, sj.layer.Dropout)  # dropout does nothing in evaluation
# the zoo's models and layers NIR has no form for, and why
_MODEL_REFUSALS = {
    "ReLPSPNet": "temporal coding (one spike per neuron, a ReLU-like PSP kernel, a loss on spike times) has "
                 "no NIR form",
    "ConvertedSNN": "a converted SNN's IF neurons reset by subtracting their per-channel thresholds (soft "
                    "reset); NIR neurons reset to v_reset",
    "RecurrentSNN": "recurrent layers are not exported to NIR yet",
    "Spikformer": "its self-attention multiplies spike matrices (Q K^T V), products of spikes that no NIR node "
                  "computes",
    "SpikeDrivenTransformer": "its spike-driven self-attention masks spikes with spikes (Q * sum(K * V)), "
                              "products of spikes that no NIR node computes",
}
_LAYER_REFUSALS = {
    "SparseGradLIFLinear": "its LIF resets by subtracting the threshold (soft reset); NIR neurons reset to "
                           "v_reset",
    "LearnableThresholdLIF": "a learnable threshold with its own gradient path has no NIR form; NIR thresholds "
                             "are constants",
}


def export_nir(model: nn.Module, dt: float = 1e-4) -> Any:
    """The model as a ``nir.NIRGraph``: one node per layer (named as in the model, batch norms folded into
    their convolutions) between ``input`` and ``output``, additions as edges into the node that sums them;
    ``dt`` is the seconds one time step stands for (1e-4 as snnTorch reads NIR)."""
    require_nir()  # the missing package is the first thing to say
    if type(model).__name__ in _MODEL_REFUSALS:
        raise NIRExportError(f"{type(model).__name__}: {_MODEL_REFUSALS[type(model).__name__]}")
    for name, module in model.named_modules():  # before tracing: such layers may not even trace
        if type(module).__name__ in _LAYER_REFUSALS:
            raise NIRExportError(f"layer {name} ({type(module).__name__}): {_LAYER_REFUSALS[type(module).__name__]}")
    if not hasattr(model, "forward_sequence") or not getattr(model, "in_channels", None):
        raise NIRExportError(f"{type(model).__name__}: NIR export takes the zoo's multi-step SNN classifiers")
    if getattr(model, "input_size", None) is None:
        raise NIRExportError(f"{type(model).__name__}: NIR export needs a model with a fixed input_size")
    was_training = model.training
    model.eval()
    try:
        return _export(model, dt)
    finally:
        model.train(was_training)


def _export(model: nn.Module, dt: float) -> Any:
    nir = require_nir()
    probe = (torch.rand(2, 1, model.in_channels, *model.input_size) < 0.3).float()
    traced = _trace(model, probe)
    modules = dict(traced.named_modules())
    nodes = {"input": nir.Input(input_type={"input": np.array((model.in_channels, *model.input_size))})}
    edges: list[tuple[str, str]] = []
    sources: dict[fx.Node, list[str]] = {}  # what each traced value is: the sum of these NIR nodes' outputs
    folded: dict[fx.Node, fx.Node] = {}     # batch norm -> the convolution it is folded into

    def add_node(name: str, node_value, inputs: list[str]) -> None:
        nodes[name] = node_value
        edges.extend((source, name) for source in inputs)

    for node in traced.graph.nodes:
        if node.op == "placeholder":
            sources[node] = ["input"]
        elif node.op == "output":
            result = node.args[0]
            add_node("output", nir.Output(output_type={"output": np.array(_shape(result))}), sources[result])
        elif node.op == "call_module":
            module, name = modules[node.target], _layer_name(node)
            argument = node.args[0]
            if isinstance(module, _PASS_THROUGH):
                sources[node] = sources[argument]
                continue
            if node in folded:
                sources[node] = sources[argument]  # folded into the convolution before it
                continue
            bn = _following_batch_norm(node, modules)
            if bn is not None:
                folded[bn] = node
            add_node(name, _module_node(name, module, _shape(argument), _shape(node), dt,
                                        modules[bn.target] if bn is not None else None), sources[argument])
            sources[node] = [name]
        elif node.op == "call_function" and node.target in _ADDITIONS and len(node.args) == 2 \
                and all(isinstance(a, fx.Node) for a in node.args) and not node.kwargs:
            sources[node] = sources[node.args[0]] + sources[node.args[1]]
        elif (node.op == "call_function" and node.target is torch.flatten) or \
                (node.op == "call_method" and node.target == "flatten"):
            argument, start = node.args[0], (node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0))
            end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
            if start < 2:
                raise NIRExportError(f"layer {_layer_name(node)}: a flatten across time or batch has no NIR form")
            name = _value_name(node)
            add_node(name, nir.Flatten(input_type={"input": np.array(_shape(argument))}, start_dim=start - 2,
                                       end_dim=end if end < 0 else end - 2), sources[argument])
            sources[node] = [name]
        elif node.op == "call_function" and node.target in _PRODUCTS:
            raise NIRExportError(f"layer {_layer_name(node)}: a product or difference of spikes (SEW AND/IAND) "
                                 f"has no NIR form; NIR nodes sum their inputs, so ADD connections export")
        else:
            raise NIRExportError(f"layer {_layer_name(node)}: the operation {node.target} between layers has no "
                                 f"NIR form")
    if any(len(sources_) > len(set(sources_)) for sources_ in sources.values()):
        raise NIRExportError(f"{type(model).__name__} adds a value to itself; NIR edges cannot carry a weight of 2")
    metadata = {"dt": dt, "source": "spiking model zoo"}
    if getattr(model, "mean", None) is not None:
        metadata["input_normalisation"] = {"mean": model.mean.flatten().tolist(), "std": model.std.flatten().tolist()}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _following_batch_norm(node: fx.Node, modules: dict) -> fx.Node | None:
    """The batch norm a convolution's output goes to, when that is its only use."""
    if not isinstance(modules[node.target], nn.Conv2d) or len(node.users) != 1:
        return None
    user = next(iter(node.users))
    if user.op == "call_module" and isinstance(modules[user.target], nn.BatchNorm2d):
        return user
    return None
