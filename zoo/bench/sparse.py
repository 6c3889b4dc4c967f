"""``sparse``: the backward pass of sparse spiking gradient descent against dense BPTT, in the paper's
setting (``ssgd_fc3``: T=100, batch 256, the second 200-neuron layer's backward, as the paper times it).

Three backwards of the same layer: ``sparse`` (only neurons within B_th of threshold), ``dense`` (the
same formulas with dense products: exact BPTT) and ``autograd`` (BPTT through a Python loop over time,
the paper's "original" baseline). Inputs are Fashion-MNIST test images when the dataset is installed,
else uniform noise; the shipped weight is used when there is one, else the paper's initialisation, and
the active fraction is reported because the sparse cost scales with it."""
from __future__ import annotations

import torch

from ..errors import UnknownModelError
from ..hub.registry import create_model
from ..neurons.sparse_grad import reference_lif_linear
from .inputs import fashion_mnist_or_noise
from .timing import interleaved, median, median_ratio


def _model() -> tuple[torch.nn.Module, str]:
    try:
        return create_model("ssgd_fc3", pretrained=True), "shipped weight"
    except UnknownModelError:
        torch.manual_seed(0)
        return create_model("ssgd_fc3"), "paper's initialisation"


def run(repeats: int = 5, batch: int = 256) -> list[dict]:
    model, weights = _model()
    images, source = fashion_mnist_or_noise(batch)
    with torch.no_grad():
        hidden_in = model.layers[0](model.encoder(images).flatten(2))
    layer = model.layers[1]
    x = hidden_in.clone().requires_grad_()
    grad_out = torch.randn(x.shape[0], batch, layer.weight.shape[0])

    def backward_of(sparse: bool):
        layer.sparse_grad = sparse
        out = layer(x)
        return lambda: torch.autograd.grad(out, (x, layer.weight), grad_out, retain_graph=True)

    sparse_backward, dense_backward = backward_of(True), backward_of(False)
    active = layer.active_fraction
    reference = reference_lif_linear(x, layer.weight, layer.beta, layer.v_threshold, layer.surrogate_scale)
    times = interleaved({"sparse": sparse_backward, "dense": dense_backward,
                         "autograd": lambda: torch.autograd.grad(reference, (x, layer.weight), grad_out,
                                                                 retain_graph=True)}, repeats)
    layer.sparse_grad = True
    case = f"ssgd_fc3 layer 2 backward, T={x.shape[0]} B={batch} ({weights}, {source}, {100 * active:.1f}% active)"
    return [{"suite": "sparse", "case": case + ": autograd BPTT / sparse", "dense_s": median(times["autograd"]),
             "sparse_s": median(times["sparse"]), "ratio": median_ratio(times["autograd"], times["sparse"])},
            {"suite": "sparse", "case": case + ": dense products / sparse", "dense_s": median(times["dense"]),
             "sparse_s": median(times["sparse"]), "ratio": median_ratio(times["dense"], times["sparse"])}]
