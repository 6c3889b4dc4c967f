"""``snn_vs_ann``: an SNN training step against the identical network with ReLU in place of its
neurons, run on all ``T * B`` images, so the ratio is the price of the neurons and the time loop less
what the SNN saves by running its stem once on a static image."""
from __future__ import annotations

import torch
from torch import nn

from ..hub.factory import create_model
from ..models.base import copy_replacing
from ..neurons.compat import import_spikingjelly
from .timing import interleaved, median, median_ratio

sj = import_spikingjelly()


def relu_twin(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every spiking neuron replaced by ``nn.ReLU`` (same weights), which runs
    every layer on all ``T * B`` images, the stem too (the ANN the SNN's cost is measured against)."""
    twin = copy_replacing(model, sj.neuron.BaseNode, lambda _: nn.ReLU())
    twin.static_stem = False
    return twin


def train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor):
    """One SGD step of cross-entropy on ``images``, as a closure for the timing loops."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def _inference(model: nn.Module, images: torch.Tensor):
    def run():
        with torch.no_grad():
            model(images)
    return run


CASES = {
    # name: (arch, kwargs, kwargs that select SpikingJelly's own nodes, batch)
    "sew_resnet18": ("sew_resnet18", {"T": 4, "stem": "cifar", "width": 16, "in_channels": 1,
                                      "input_size": (28, 28), "zero_init_residual": False, "num_classes": 10},
                     {"neuron_kwargs": {"fused": False}}, 32),
    "stbp_cnn": ("stbp_cnn", {"T": 8, "encoding": "direct"}, {"fused": False}, 32),
}


def run(repeats: int = 5, device: str = "cpu") -> list[dict]:
    """Training-step and inference ratios SNN / ReLU twin: the model as ``create_model`` gives it (the
    zoo's default neurons) and with SpikingJelly's own nodes."""
    rows = []
    for case, (arch, kwargs, spikingjelly_kwargs, batch) in CASES.items():
        torch.manual_seed(0)
        images = torch.rand(batch, kwargs.get("in_channels", 1), 28, 28, device=device)
        labels = torch.randint(0, 10, (batch,), device=device)
        snn = create_model(arch, **kwargs).to(device)
        reference = create_model(arch, **kwargs, **spikingjelly_kwargs).to(device)
        reference.load_state_dict(snn.state_dict())
        ann = relu_twin(snn)
        for mode, make in (("train step", train_step), ("inference", _inference)):
            args = (images, labels) if mode == "train step" else (images,)
            times = interleaved({"snn": make(snn, *args), "ann": make(ann, *args),
                                 "spikingjelly": make(reference, *args)}, repeats)
            for label, key in (("default neurons", "snn"), ("SpikingJelly's nodes", "spikingjelly")):
                rows.append({"suite": "snn_vs_ann", "case": f"{case} T={snn.T} B={batch}: {mode}, {label}",
                             "ann_s": median(times["ann"]), "snn_s": median(times[key]),
                             "ratio": median_ratio(times[key], times["ann"])})
    return rows
