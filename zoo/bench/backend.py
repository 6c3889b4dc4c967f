"""``backend``: SpikingJelly's CuPy kernels against its torch backend for multi-step LIF, IF and PLIF
(forward + backward) at a realistic shape, with the largest output and gradient differences."""
from __future__ import annotations

import os

import torch

from ..neurons import build_neuron, cupy_available
from .timing import interleaved, median, median_ratio

SHAPE = (16, 32, 64 * 16 * 16)  # T, B, a 64-channel 16x16 feature map


def run(repeats: int = 10) -> list[dict]:
    if not cupy_available():
        return [{"suite": "backend", "case": "skipped: needs a CUDA GPU and CuPy (pip install -e .[cuda])"}]
    rows = []
    name = torch.cuda.get_device_name()
    for neuron in ("lif", "if", "plif"):
        torch.manual_seed(0)
        x = (torch.rand(*SHAPE, device="cuda") * 1.5).requires_grad_()
        weights = torch.randn_like(x)
        steps, results = {}, {}
        for backend in ("torch", "cupy"):
            os.environ["ZOO_BACKEND"] = backend
            node = build_neuron(neuron).cuda()

            def step(node=node):
                x.grad = None
                out = node(x)
                (out * weights).sum().backward()
                return out

            out = step()
            results[backend] = (out.detach().clone(), x.grad.clone())
            steps[backend] = step
        os.environ.pop("ZOO_BACKEND", None)
        times = interleaved(steps, repeats)
        rows.append({"suite": "backend", "case": f"{neuron} T={SHAPE[0]} B={SHAPE[1]} N={SHAPE[2]} on {name}",
                     "torch_s": median(times["torch"]), "cupy_s": median(times["cupy"]),
                     "ratio": median_ratio(times["torch"], times["cupy"]),
                     "max_out_diff": float((results["torch"][0] - results["cupy"][0]).abs().max()),
                     "max_grad_diff": float((results["torch"][1] - results["cupy"][1]).abs().max())})
    return rows
