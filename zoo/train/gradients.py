"""How a training step takes gradients through time: ``train.gradient``.

``bptt``
    Backpropagation through time: the whole sequence runs at once and the loss's gradient flows back
    through every step and through the membranes from step to step. Memory and backward time grow with T.
``sltt``
    Spatial learning through time (Meng et al., ICCV 2023, "Towards Memory- and Time-Efficient
    Backpropagation for Training Spiking Neural Networks"): the temporal terms of the gradient are
    dropped, so each step's gradient is the spatial path alone, and the network is trained online as in
    the authors' code (qymeng94/SLTT, ``train_SLTT.py``): one time step at a time, the membrane carried
    into the next step detached (their ``SLTTNeuron``: ``v.detach() * (1 - 1/tau) + x``), the step's loss
    ``loss(O[t], y) / T`` backpropagated at once and its graph freed. Only one step's activations are kept
    for the backward, whatever T.
``sltt-k``
    SLTT backpropagating only ``K`` time steps drawn at random for each batch
    (``torch.randperm(T)[:K]``, as ``train_SLTTK.py``); the other steps run without a graph. The draw
    comes from a generator seeded by ``train.seed`` whose state the checkpoints keep.

The forward pass is the same under every method: the same spikes from the same weights and inputs.
One difference is inherent to running online: a batch-norm in training mode normalises each step's
batch on its own (the authors' ``nn.BatchNorm2d`` does the same), where the sequence at once shares one
set of statistics over all steps. In evaluation mode, and in networks without batch-norm, the spikes
are identical bit for bit.

A fully connected layer's weight gradient is the sum over steps of ``dL/dY[t]^T X[t]``: computed
step by step it writes (and, under autocast, converts and adds) a whole weight-sized matrix at every
step, which made a PLIF net's online step 2x slower than BPTT's on a CPU. Here its per-step inputs and
output gradients, rows of a few thousand numbers, are kept and multiplied once at the end of the step
(:class:`DeferredLinearWeights`): the same sum, one matrix product.

The per-step loss is the recipe's loss on one step's read-out: for ``tet`` (per-step cross-entropy)
it is exactly the sequence loss split over steps; for ``ce``/``mse`` on firing rates it is the
instantaneous form the SLTT and OTTT papers train with, ``(1/T) sum_t loss(O[t], y)``.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..encoding import DirectEncoder
from ..errors import ZooError
from ..models.base import SpikingClassifier
from ..neurons.compat import import_spikingjelly

sj = import_spikingjelly()

GRADIENTS = ("bptt", "sltt", "sltt-k")
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def check_online(model: torch.nn.Module, gradient: str) -> None:
    """Online methods run a model one step at a time through :meth:`SpikingClassifier.forward_sequence`;
    a model with its own ``forward_steps`` (recurrent read-outs, continuous-time nets, ANNs) cannot."""
    if not isinstance(model, SpikingClassifier) or type(model).forward_steps is not SpikingClassifier.forward_steps:
        raise ZooError(f"train.gradient {gradient!r} runs a network one time step at a time; "
                       f"{type(model).__name__} has its own time loop, so train it with gradient 'bptt'")


def draw_steps(T: int, k: int, generator: torch.Generator) -> list[int]:
    """The ``k`` time steps SLTT-K backpropagates for one batch, drawn without replacement."""
    return sorted(torch.randperm(T, generator=generator)[:k].tolist())


class _LinearInputGradOnly(torch.autograd.Function):
    """``F.linear`` whose backward returns the input's (and bias's) gradient and hands ``dL/dY`` to its
    :class:`DeferredLinearWeights` instead of forming the weight's."""

    @staticmethod
    def forward(ctx, x, weight, bias, owner, layer, index):
        ctx.owner, ctx.layer, ctx.index, ctx.has_bias = owner, layer, index, bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_y):
        ctx.owner.grads[ctx.layer][ctx.index] = grad_y
        grad_x = grad_y @ ctx.owner.weight_as(ctx.layer, grad_y.dtype) if ctx.needs_input_grad[0] else None
        grad_bias = grad_y.flatten(0, -2).sum(0).to(ctx.layer.bias.dtype) if ctx.has_bias else None
        return grad_x, None, grad_bias, None, None, None


class DeferredLinearWeights:
    """Within the context, every ``nn.Linear`` of ``model`` whose weight learns keeps its inputs and
    output gradients; :meth:`flush` adds ``sum_t dL/dY[t]^T X[t]`` to the weight's ``.grad``."""

    def __init__(self, model: nn.Module):
        self.layers = [m for m in model.modules() if isinstance(m, nn.Linear) and m.weight.requires_grad]
        self.inputs: dict[nn.Linear, list[torch.Tensor]] = {}
        self.grads: dict[nn.Linear, dict[int, torch.Tensor]] = {}
        self.casts: dict[tuple[nn.Linear, torch.dtype], torch.Tensor] = {}

    def weight_as(self, layer: nn.Linear, dtype: torch.dtype) -> torch.Tensor:
        """The weight in the backward's dtype, cast once a training step (bfloat16 under autocast)."""
        key = (layer, dtype)
        if key not in self.casts:
            self.casts[key] = layer.weight.detach().to(dtype)
        return self.casts[key]

    def __enter__(self):
        for layer in self.layers:
            self.inputs[layer], self.grads[layer] = [], {}
            layer.forward = self._forward_of(layer)
        return self

    def __exit__(self, *exc):
        for layer in self.layers:
            del layer.forward  # the class's forward again
        self.inputs, self.grads, self.casts = {}, {}, {}

    def _forward_of(self, layer: nn.Linear) -> Callable[[torch.Tensor], torch.Tensor]:
        def forward(x: torch.Tensor) -> torch.Tensor:
            if not torch.is_grad_enabled():
                return F.linear(x, layer.weight, layer.bias)
            inputs = self.inputs[layer]
            inputs.append(x.detach())
            return _LinearInputGradOnly.apply(x, layer.weight, layer.bias, self, layer, len(inputs) - 1)
        return forward

    def held_bytes(self) -> int:
        """What the deferred products keep: the inputs and output gradients of every trained step."""
        return sum(t.nbytes for layer in self.layers for t in (*self.inputs.get(layer, ()),
                                                               *self.grads.get(layer, {}).values()))

    def flush(self) -> None:
        for layer in self.layers:
            grads = self.grads[layer]
            if not grads:
                continue
            x = torch.cat([self.inputs[layer][i].flatten(0, -2) for i in sorted(grads)])
            g = torch.cat([grads[i].flatten(0, -2) for i in sorted(grads)])
            weight_grad = (g.T @ x.to(g.dtype)).to(layer.weight.dtype)
            if layer.weight.grad is None:
                layer.weight.grad = weight_grad
            else:
                layer.weight.grad += weight_grad
            self.inputs[layer], self.grads[layer] = [], {}
        self.casts = {}


class OnlineStep:
    """One SLTT / SLTT-K training step of a :class:`SpikingClassifier`: gradients accumulated in the
    parameters' ``.grad`` (scaled by ``scale``), the per-step read-out returned detached."""

    def __init__(self, model: SpikingClassifier, loss_fn: Loss,
                 autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                 scale: Callable[[torch.Tensor], torch.Tensor] = lambda loss: loss):
        self.model, self.loss_fn, self.autocast, self.scale = model, loss_fn, autocast, scale
        self.held_bytes = 0  # what the last call kept outside autograd for its deferred weight products

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, trained: list[int] | None = None) -> torch.Tensor:
        """Run every step of ``x`` (images or ``[T, B, ...]`` frames); backpropagate the steps in
        ``trained`` (all when None). Returns the read-out ``[T, B, classes]``, detached."""
        # one autocast region for the whole sequence: its cache casts each weight once, not once a step
        with self.autocast(), DeferredLinearWeights(self.model) as deferred:
            outputs = self._steps(x, labels, trained)
            self.held_bytes = deferred.held_bytes()
            deferred.flush()
        return outputs

    def _steps(self, x: torch.Tensor, labels: torch.Tensor, trained: list[int] | None) -> torch.Tensor:
        model = self.model
        model.check_input(x)
        sj.functional.reset_net(model)
        static = (x.dim() == 4 and model.static_stem and isinstance(model.encoder, DirectEncoder)
                  and type(model).forward_sequence is SpikingClassifier.forward_sequence)
        stem = None
        if static:  # the stem once, as the sequence path runs it; its gradient gathered over the steps
            stem = model.forward_stem(model.normalise(x).unsqueeze(0))
            current = stem.detach().requires_grad_(stem.requires_grad)
            T = model.T
        else:
            x_seq = model.encoder(model.normalise(x)) if x.dim() == 4 else x
            T = x_seq.shape[0]
        trained = set(range(T)) if trained is None else set(trained)
        outputs = []
        for t in range(T):
            sj.functional.detach_net(model)  # the membrane enters step t with no gradient path back
            with torch.set_grad_enabled(t in trained):
                out = model.forward_body(current) if static else model.forward_sequence(x_seq[t:t + 1])
            if t in trained:
                loss = self.loss_fn(out.float(), labels) / T
                self.scale(loss).backward()
            outputs.append(out.detach())
        if stem is not None and current.grad is not None:
            stem.backward(current.grad)
        return torch.cat(outputs).float()
