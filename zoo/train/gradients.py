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

The per-step loss is the recipe's loss on one step's read-out: for ``tet`` (per-step cross-entropy)
it is exactly the sequence loss split over steps; for ``ce``/``mse`` on firing rates it is the
instantaneous form the SLTT and OTTT papers train with, ``(1/T) sum_t loss(O[t], y)``.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch

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


class OnlineStep:
    """One SLTT / SLTT-K training step of a :class:`SpikingClassifier`: gradients accumulated in the
    parameters' ``.grad`` (scaled by ``scale``), the per-step read-out returned detached."""

    def __init__(self, model: SpikingClassifier, loss_fn: Loss,
                 autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                 scale: Callable[[torch.Tensor], torch.Tensor] = lambda loss: loss):
        self.model, self.loss_fn, self.autocast, self.scale = model, loss_fn, autocast, scale

    def __call__(self, x: torch.Tensor, labels: torch.Tensor, trained: list[int] | None = None) -> torch.Tensor:
        """Run every step of ``x`` (images or ``[T, B, ...]`` frames); backpropagate the steps in
        ``trained`` (all when None). Returns the read-out ``[T, B, classes]``, detached."""
        model = self.model
        model.check_input(x)
        sj.functional.reset_net(model)
        static = (x.dim() == 4 and model.static_stem and isinstance(model.encoder, DirectEncoder)
                  and type(model).forward_sequence is SpikingClassifier.forward_sequence)
        stem = None
        if static:  # the stem once, as the sequence path runs it; its gradient gathered over the steps
            with self.autocast():
                stem = model.forward_stem(model.normalise(x).unsqueeze(0))
            current = stem.detach().requires_grad_(stem.requires_grad)
            T = model.T
        else:
            with self.autocast():
                x_seq = model.encoder(model.normalise(x)) if x.dim() == 4 else x
            T = x_seq.shape[0]
        trained = set(range(T)) if trained is None else set(trained)
        outputs = []
        for t in range(T):
            sj.functional.detach_net(model)  # the membrane enters step t with no gradient path back
            with torch.set_grad_enabled(t in trained), self.autocast():
                out = model.forward_body(current) if static else model.forward_sequence(x_seq[t:t + 1])
            if t in trained:
                loss = self.loss_fn(out.float(), labels) / T
                self.scale(loss).backward()
            outputs.append(out.detach())
        if stem is not None and current.grad is not None:
            stem.backward(current.grad)
        return torch.cat(outputs).float()
