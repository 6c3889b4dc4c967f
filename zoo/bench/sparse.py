"""``sparse``: the backward pass of sparse spiking gradient descent against dense BPTT, in the paper's
setting (``ssgd_fc3``: T=100, batch 256, the second 200-neuron layer's backward, as the paper times it).

Three backwards of the same layer: ``sparse`` (only neurons within B_th of threshold), ``dense`` (the
same formulas with dense products: exact BPTT) and ``autograd`` (BPTT through a Python loop over time,
the paper's "original" baseline). Inputs are Fashion-MNIST test images when the dataset is installed,
else uniform noise; the shipped weight is used when there is one, else the paper's initialisation, and
the active fraction is reported because the sparse cost scales with it.

The sparse layer computes its input gradient only at the entries where layer 1 is active (the only ones
layer 1's sparse backward reads, as in the paper's kernels); the dense formulas write all of it.

A sweep then fixes the activity (0.5%, 2%, 10%, 50% of neuron-steps active in the layer and in the layer
below, and as many input spikes, drawn at random, in the same layer shape) and times the sparse backward
against the dense formulas, handing down the input gradient at the layer below's active entries and, for
a consumer that needs all of it, as a dense tensor, to show where sparsity stops paying."""
from __future__ import annotations

from typing import Iterator

import torch

from ..errors import UnknownModelError
from ..hub.factory import create_model
from ..neurons.sparse_grad import (SavedInput, dense_backward, input_trace, reference_lif_linear, reverse_trace_,
                                   sparse_backward)
from .inputs import fashion_mnist_or_noise
from .timing import interleaved, median, median_ratio


def _model() -> tuple[torch.nn.Module, str]:
    try:
        return create_model("ssgd_fc3", pretrained=True), "shipped weight"
    except UnknownModelError:
        torch.manual_seed(0)
        return create_model("ssgd_fc3"), "paper's initialisation"


FRACTIONS = (0.005, 0.02, 0.1, 0.5)


def sweep(repeats: int, steps: int = 100, batch: int = 256, width: int = 200, beta: float = 0.9,
          fractions: tuple[float, ...] = FRACTIONS) -> Iterator[dict]:
    """Dense / sparse backward time of a ``width x width`` layer at fixed activity: the share of active
    neuron-steps in the layer and in the layer below, and of input spikes (the sparse cost grows with
    all three; in ``ssgd_fc3`` they are 1-2.3%)."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(width, width, generator=generator) * 0.1
    grad = torch.randn(steps * batch, width, generator=generator)
    for fraction in fractions:
        spikes = (torch.rand(steps, batch, width, generator=generator) < fraction).float()
        trace = input_trace(spikes, beta).reshape(steps * batch, width)
        saved = SavedInput.of(spikes.reshape(steps * batch, width), steps, beta)
        rows, cols = (torch.rand(steps * batch, width, generator=generator) < fraction).nonzero(as_tuple=True)
        below = (torch.rand(steps * batch, width, generator=generator) < fraction).nonzero(as_tuple=True)
        surrogate = torch.rand(rows.numel(), generator=generator)
        dense_surrogate = torch.zeros(steps * batch, width)
        dense_surrogate[rows, cols] = surrogate

        def dense():
            grad_e, _ = dense_backward(grad, weight, trace, dense_surrogate)
            reverse_trace_(grad_e.view(steps, batch, width), beta)

        def sparse_handoff():
            return sparse_backward(grad, weight, saved, rows, cols, surrogate, steps, batch, beta, input_active=below)

        def sparse_dense_input():
            return sparse_backward(grad, weight, saved, rows, cols, surrogate, steps, batch, beta)

        times = interleaved({"dense": dense, "sparse": sparse_handoff, "sparse_dense_input": sparse_dense_input},
                            repeats)
        case = f"{width}x{width} layer, T={steps} B={batch}, {100 * fraction:g}% active and input spikes"
        yield from [{"suite": "sparse", "case": case + ": dense / sparse backward",
                      "dense_s": median(times["dense"]), "sparse_s": median(times["sparse"]),
                      "ratio": median_ratio(times["dense"], times["sparse"])},
                     {"suite": "sparse", "case": case + ": dense / sparse backward with a dense input gradient",
                      "dense_s": median(times["dense"]), "sparse_s": median(times["sparse_dense_input"]),
                      "ratio": median_ratio(times["dense"], times["sparse_dense_input"])}]


def run(repeats: int = 5, batch: int = 256) -> list[dict]:
    return list(iter_rows(repeats, batch))


def iter_rows(repeats: int = 5, batch: int = 256) -> Iterator[dict]:
    """The suite's rows, each as soon as it is measured (the sweep takes minutes)."""
    model, weights = _model()
    images, source = fashion_mnist_or_noise(batch)
    with torch.no_grad():
        hidden_in, below = model.layers[0].spikes_and_active(model.encoder(images).flatten(2))
    below_fraction = model.layers[0].active_fraction
    layer = model.layers[1]
    x = hidden_in.clone().requires_grad_()
    grad_out = torch.randn(x.shape[0], batch, layer.weight.shape[0])

    def backward_of(sparse: bool):
        layer.sparse_grad = sparse
        out = layer(x, input_active=below)
        return lambda: torch.autograd.grad(out, (x, layer.weight), grad_out, retain_graph=True)

    sparse, dense = backward_of(True), backward_of(False)
    active = layer.active_fraction
    reference = reference_lif_linear(x, layer.weight, layer.beta, layer.v_threshold, layer.surrogate_scale)
    times = interleaved({"sparse": sparse, "dense": dense,
                         "autograd": lambda: torch.autograd.grad(reference, (x, layer.weight), grad_out,
                                                                 retain_graph=True)}, repeats)
    layer.sparse_grad = True
    case = (f"ssgd_fc3 layer 2 backward, T={x.shape[0]} B={batch} ({weights}, {source}, {100 * active:.1f}% active, "
            f"input spikes {100 * float(hidden_in.mean()):.1f}%, layer 1 {100 * below_fraction:.1f}% active)")
    yield {"suite": "sparse", "case": case + ": autograd BPTT / sparse", "dense_s": median(times["autograd"]),
           "sparse_s": median(times["sparse"]), "ratio": median_ratio(times["autograd"], times["sparse"])}
    yield {"suite": "sparse", "case": case + ": dense products / sparse", "dense_s": median(times["dense"]),
           "sparse_s": median(times["sparse"]), "ratio": median_ratio(times["dense"], times["sparse"])}
    yield from sweep(repeats, batch=batch)
