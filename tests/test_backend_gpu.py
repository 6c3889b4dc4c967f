"""CuPy against torch backend: same spikes and gradients. Runs only where CUDA and CuPy are present."""
import pytest
import torch

from zoo.neurons import build_neuron, cupy_available

pytestmark = pytest.mark.skipif(not cupy_available(), reason="needs a CUDA GPU and CuPy (the cuda extra)")


@pytest.mark.parametrize("surrogate", ["atan", "sigmoid", "rectangle", "triangle", "dspike"])
@pytest.mark.parametrize("neuron, kwargs", [
    ("if", {}),
    ("lif", {"tau": 1.25, "decay_input": False, "v_threshold": 0.5}),
    ("lif", {"tau": 2.0}),
    ("plif", {}),
])
def test_cupy_and_torch_backends_agree(monkeypatch, neuron, kwargs, surrogate):
    torch.manual_seed(0)
    x = (torch.rand(8, 32, 64, device="cuda") * 1.5).requires_grad_(True)
    weights = torch.randn_like(x)
    results = {}
    for backend in ("torch", "cupy"):
        monkeypatch.setenv("ZOO_BACKEND", backend)
        node = build_neuron(neuron, surrogate=surrogate, **kwargs).cuda()
        out = node(x)
        (out * weights).sum().backward()
        results[backend] = (out.detach().clone(), x.grad.clone(), node.backend)
        x.grad = None
    assert results["cupy"][2] == "cupy" and results["torch"][2] == "torch"
    assert torch.equal(results["cupy"][0], results["torch"][0])
    assert torch.allclose(results["cupy"][1], results["torch"][1], atol=1e-5)
