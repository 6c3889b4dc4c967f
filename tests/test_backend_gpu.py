"""CuPy against torch backend: same spikes and gradients, from one neuron to whole networks and shipped
weights. Runs only where CUDA and CuPy are present (`make test-gpu`)."""
import json
import warnings

import pytest
import torch

import zoo
from zoo.errors import DatasetNotFoundError
from zoo.hub.publish import evaluate_weights
from zoo.hub.weights import REPO_WEIGHTS
from zoo.neurons import backend as backend_module
from zoo.neurons import build_neuron, cupy_available

pytestmark = pytest.mark.skipif(not cupy_available(), reason="needs a CUDA GPU and CuPy (the cuda extra)")


@pytest.fixture(autouse=True)
def exact_cuda_arithmetic():
    """Float32 convolutions and products (no TF32) and deterministic kernels, so the two backends see
    the same neuron inputs and their gradients can be compared."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.deterministic
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.deterministic = saved
    assert not backend_module._cupy_broken, "a CuPy kernel failed and the process fell back to torch"


def backends_used(model: torch.nn.Module) -> set[str]:
    return {m.backend for m in model.modules() if isinstance(getattr(m, "backend", None), str)}


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
    grad_diff = float((results["cupy"][1] - results["torch"][1]).abs().max())
    assert torch.allclose(results["cupy"][1], results["torch"][1], atol=1e-5), f"gradients differ by {grad_diff:.3g}"


@pytest.mark.parametrize("neuron", ["if", "lif", "plif"])
def test_bfloat16_input_keeps_the_cupy_kernels(monkeypatch, neuron):
    """Autocast hands the neurons bfloat16 inputs, which SpikingJelly's kernels do not take: they run in
    float32 (the same spikes as a float32 input) instead of switching the process to torch."""
    monkeypatch.setenv("ZOO_BACKEND", "cupy")
    torch.manual_seed(0)
    x = (torch.rand(8, 32, 64, device="cuda") * 1.5).to(torch.bfloat16).requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        node = build_neuron(neuron).cuda()
        spikes = node(x)
        spikes.float().sum().backward()
    reference = build_neuron(neuron).cuda()(x.detach().float())
    assert node.backend == "cupy" and spikes.dtype == torch.bfloat16 and x.grad.dtype == torch.bfloat16
    assert torch.equal(spikes.float(), reference) and 0 < float(reference.mean()) < 1


NETWORKS = {
    "sew_resnet18 IF": ("sew_resnet18", {"T": 4, "stem": "cifar", "width": 16, "neuron": "if"}, (8, 3, 32, 32)),
    "sew_resnet18 LIF": ("sew_resnet18", {"T": 4, "stem": "cifar", "width": 16, "neuron": "lif"}, (8, 3, 32, 32)),
    "plif_net_mnist": ("plif_net_mnist", {"T": 4}, (8, 1, 28, 28)),
    "spikformer_4_256": ("spikformer_4_256", {"T": 2}, (8, 3, 32, 32)),
}


def train_step(model: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, dict]:
    torch.manual_seed(1)  # the same dropout masks on both backends
    model.zero_grad()
    logits = model(images)
    (logits * torch.linspace(-1, 1, logits.shape[1], device=logits.device)).sum().backward()
    return logits.detach().clone(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("label", NETWORKS)
def test_networks_train_alike_on_both_backends(monkeypatch, label):
    arch, kwargs, shape = NETWORKS[label]
    torch.manual_seed(0)
    model = zoo.create_model(arch, **kwargs).cuda().train()
    images = torch.rand(shape, device="cuda")
    results = {}
    for backend in ("torch", "cupy"):
        monkeypatch.setenv("ZOO_BACKEND", backend)
        results[backend] = train_step(model, images)
        assert "cupy" not in backends_used(model) if backend == "torch" else "cupy" in backends_used(model)
    (logits_t, grads_t), (logits_c, grads_c) = results["torch"], results["cupy"]
    logit_diff = float((logits_t - logits_c).abs().max())
    assert torch.allclose(logits_t, logits_c, atol=1e-4, rtol=1e-4), f"logits differ by up to {logit_diff:.3g}"
    assert grads_t.keys() == grads_c.keys()
    largest = max(float(grad.abs().max()) for grad in grads_t.values())
    for name, grad in grads_t.items():  # a bias before BatchNorm has a zero gradient up to rounding
        scale = float(grad.abs().max())
        diff = float((grad - grads_c[name]).abs().max())
        assert diff <= 1e-3 * scale + 1e-6 * largest, f"{name}: gradients differ by {diff:.3g} (largest {scale:.3g})"


@pytest.mark.parametrize("dtype, surrogate", [(torch.bfloat16, "atan"), (torch.float16, "atan"),
                                             (torch.float16, "dspike")])
def test_an_autocast_step_runs_on_cupy(monkeypatch, dtype, surrogate):
    """An autocast step keeps the CuPy kernels, without warnings: bfloat16 (measured on the H100) and the
    trainer's float16, on SpikingJelly's half2 kernels where the surrogate has half2 code (atan) and on
    float32 kernels for the zoo's surrogates (dspike), whose backward code is built lazily."""
    monkeypatch.setenv("ZOO_BACKEND", "cupy")
    torch.manual_seed(0)
    model = zoo.create_model("sew_resnet18", T=4, stem="cifar", width=16, surrogate=surrogate).cuda().train()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with torch.autocast("cuda", dtype=dtype):
            logits = model(torch.rand(8, 3, 32, 32, device="cuda"))
        logits.float().logsumexp(dim=1).sum().backward()
    assert backends_used(model) == {"cupy"}
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


GPU_CHECKED = ["sew_resnet18.fmnist_add_t4", "spikformer_4_256.fmnist_t4_long_leg1", "sew_4b_net.fmnist_dvs"]


@pytest.mark.parametrize("name", GPU_CHECKED)
def test_shipped_weights_reproduce_their_cards_on_the_gpu(name):
    """The card's test slice, evaluated on the GPU with CuPy neurons (IF, LIF and PLIF among these three),
    gives the card's number (measured on a CPU) within the same 0.5 points as tests/test_shipped.py."""
    card_path = REPO_WEIGHTS / f"{name}.json"
    if not card_path.is_file():
        pytest.skip(f"{card_path} is not in this checkout")
    card = json.loads(card_path.read_text())
    try:
        result = evaluate_weights(name, limit=card["check"]["num_samples"], progress=False, device="cuda")
    except DatasetNotFoundError as error:
        pytest.skip(str(error))
    assert result["num_samples"] == card["check"]["num_samples"]
    assert abs(result["acc1"] - card["check"]["acc1"]) <= 0.5, (result["acc1"], card["check"]["acc1"])
