"""``backend``: SpikingJelly's CuPy kernels against the zoo's fused torch loop on the same GPU, for
multi-step LIF, IF and PLIF (forward + backward, with the largest output and gradient differences) and
for a whole training step of a spiking ResNet (plain and under bfloat16 autocast)."""
from __future__ import annotations

import os
from typing import Callable

import torch

from ..hub.factory import create_model
from ..neurons import build_neuron, cupy_available
from .speed import train_step
from .timing import interleaved, median, median_ratio

SHAPE = (16, 32, 64 * 16 * 16)  # T, B, a 64-channel 16x16 feature map
BACKENDS = ("torch", "cupy")


def on_backend(backend: str, call: Callable[[], object]) -> Callable[[], object]:
    """``call`` with the neurons forced onto ``backend`` (they choose at every call); the user's own
    ``ZOO_BACKEND`` comes back afterwards."""
    def forced():
        before = os.environ.get("ZOO_BACKEND")
        os.environ["ZOO_BACKEND"] = backend
        try:
            return call()
        finally:
            if before is None:
                os.environ.pop("ZOO_BACKEND", None)
            else:
                os.environ["ZOO_BACKEND"] = before
    return forced


def neuron_rows(repeats: int, name: str) -> list[dict]:
    rows = []
    for neuron in ("lif", "if", "plif"):
        torch.manual_seed(0)
        x = (torch.rand(*SHAPE, device="cuda") * 1.5).requires_grad_()
        weights = torch.randn_like(x)
        steps, results = {}, {}
        for backend in BACKENDS:
            node = build_neuron(neuron).cuda()

            def step(node=node):
                x.grad = None
                node.reset()  # a fresh membrane: the last call's belongs to a freed graph
                out = node(x)
                (out * weights).sum().backward()
                return out

            steps[backend] = on_backend(backend, step)
            out = steps[backend]()
            assert node.backend == backend, f"{neuron} ran on {node.backend}, not {backend}"
            results[backend] = (out.detach().clone(), x.grad.clone())
        times = interleaved(steps, repeats)
        rows.append({"suite": "backend", "case": f"{neuron} T={SHAPE[0]} B={SHAPE[1]} N={SHAPE[2]} on {name}: "
                                                 "fused torch loop / CuPy kernels, forward + backward",
                     "torch_s": median(times["torch"]), "cupy_s": median(times["cupy"]),
                     "ratio": median_ratio(times["torch"], times["cupy"]),
                     "max_out_diff": float((results["torch"][0] - results["cupy"][0]).abs().max()),
                     "max_grad_diff": float((results["torch"][1] - results["cupy"][1]).abs().max())})
    return rows


def training_rows(repeats: int, name: str) -> list[dict]:
    rows = []
    for batch, autocast in ((64, False), (64, True), (256, False), (256, True)):
        torch.manual_seed(0)
        model = create_model("sew_resnet18", T=4, stem="cifar", width=64).cuda().train()
        images = torch.rand(batch, 3, 32, 32, device="cuda")
        labels = torch.randint(0, 10, (batch,), device="cuda")
        step = train_step(model, images, labels)

        def autocast_step(step=step, autocast=autocast):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                step()

        times = interleaved({backend: on_backend(backend, autocast_step) for backend in BACKENDS}, repeats)
        rows.append({"suite": "backend", "case": f"sew_resnet18 width 64 cifar-stem T=4 B={batch} train step"
                                                 f"{', bfloat16 autocast' if autocast else ''} on {name}: "
                                                 "fused torch loop / CuPy kernels",
                     "torch_s": median(times["torch"]), "cupy_s": median(times["cupy"]),
                     "ratio": median_ratio(times["torch"], times["cupy"])})
    return rows


def run(repeats: int = 10) -> list[dict]:
    if not cupy_available():
        return [{"suite": "backend", "case": "skipped: needs a CUDA GPU and CuPy (pip install -e .[cuda])"}]
    name = torch.cuda.get_device_name()
    return neuron_rows(repeats, name) + training_rows(repeats, name)
