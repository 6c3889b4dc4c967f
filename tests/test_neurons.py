import math

import pytest
import torch

from zoo.models.stbp import stbp_lif
from zoo.neurons import NEURONS, SURROGATES, backend_for, build_neuron, build_surrogate
from zoo.neurons import backend as backend_module
from zoo.neurons.compat import LegacyNumpy, import_spikingjelly, patch_cifar10_dvs, spikingjelly_major

X = torch.linspace(-2.0, 2.0, 401, dtype=torch.float64)


def surrogate_grad(name: str, alpha: float | None = None) -> torch.Tensor:
    x = X.clone().requires_grad_(True)
    build_surrogate(name, alpha)(x).sum().backward()
    return x.grad


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_rectangle_matches_stbp_window(alpha):
    expected = (X.abs() < alpha / 2).double() / alpha
    assert torch.equal(surrogate_grad("rectangle", alpha), expected)


def test_triangle_matches_formula():
    assert torch.allclose(surrogate_grad("triangle", 1.0), (1 - X.abs()).clamp(min=0))


def test_dspike_matches_formula_and_integrates_to_one():
    b = 3.0
    grad = surrogate_grad("dspike", b)
    inside = X.abs() <= 0.5
    expected = torch.where(inside, b * (1 - torch.tanh(b * X) ** 2) / (2 * math.tanh(b / 2)), torch.zeros_like(X))
    assert torch.allclose(grad, expected)
    assert torch.trapezoid(grad, X).item() == pytest.approx(1.0, abs=2e-2)


def test_sigmoid_and_atan_match_formulas():
    s = torch.sigmoid(4.0 * X)
    assert torch.allclose(surrogate_grad("sigmoid"), 4.0 * s * (1 - s))
    assert torch.allclose(surrogate_grad("atan"), 2.0 / 2 / (1 + (math.pi / 2 * 2.0 * X) ** 2))


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_surrogates_spike_with_heaviside(name):
    out = build_surrogate(name)(X)
    assert torch.equal(out, (X >= 0).double())


@pytest.mark.parametrize("name", ["rectangle", "triangle", "dspike"])
def test_zoo_surrogates_emit_float_cuda_code(name):
    code = build_surrogate(name).cuda_codes(y="const float g", x="x_v", dtype="float")
    assert "const float g =" in code and "x_v" in code
    with pytest.raises(NotImplementedError):
        build_surrogate(name).cuda_codes(y="g", x="x", dtype="half2")


def test_unknown_names_are_clear():
    with pytest.raises(ValueError, match="unknown surrogate 'rect'.*rectangle"):
        build_surrogate("rect")
    with pytest.raises(ValueError, match="unknown neuron 'lfi'.*lif"):
        build_neuron("lfi")


def stbp_reference(currents: torch.Tensor, decay=0.2, thresh=0.5, lens=0.5) -> torch.Tensor:
    """STBP's own update (the paper's code), spike = u > thresh, gradient 1{|u - thresh| < lens}."""

    class ActFun(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u):
            ctx.save_for_backward(u)
            return u.gt(thresh).to(u)

        @staticmethod
        def backward(ctx, grad):
            (u,) = ctx.saved_tensors
            return grad * ((u - thresh).abs() < lens).to(u) / (2 * lens)

    mem = spike = torch.zeros_like(currents[0])
    out = []
    for current in currents:
        mem = mem * decay * (1.0 - spike) + current
        spike = ActFun.apply(mem)
        out.append(spike)
    return torch.stack(out)


def test_stbp_lif_equals_the_papers_iterative_lif_forward_and_backward():
    torch.manual_seed(0)
    currents = (torch.rand(12, 64, dtype=torch.float64) * 1.2 - 0.1)
    a = currents.clone().requires_grad_(True)
    b = currents.clone().requires_grad_(True)
    neuron = stbp_lif(decay=0.2, v_threshold=0.5, surrogate="rectangle", surrogate_alpha=1.0)
    ours, ref = neuron(a), stbp_reference(b)
    assert torch.equal(ours, ref)
    weights = torch.randn_like(currents)
    (ours * weights).sum().backward()
    (ref * weights).sum().backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-12)


@pytest.mark.parametrize("name", sorted(NEURONS))
def test_every_neuron_is_multistep_and_differentiable(name):
    neuron = build_neuron(name)
    x = torch.rand(6, 3, 5, requires_grad=True)
    out = neuron(x)
    assert out.shape == x.shape and set(out.unique().tolist()) <= {0.0, 1.0}
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_current_based_lif_integrates_its_synaptic_current():
    neuron = build_neuron("cuba_lif", tau=2.0, tau_syn=2.0, v_threshold=100.0)
    x = torch.zeros(3, 1)
    x[0] = 1.0
    neuron(x)
    # I = 1, 0.5, 0.25 ; V_t = V + (I - V)/2 -> 0.5, 0.5, 0.375
    assert neuron.v.item() == pytest.approx(0.375)


def test_adaptive_threshold_rises_after_each_spike():
    neuron = build_neuron("gif", tau=1.5, tau_adapt=10.0, beta=0.5, v_threshold=1.0, detach_reset=True)
    spikes = neuron(torch.full((40, 1), 1.2))
    plain = build_neuron("lif", tau=1.5, v_threshold=1.0)(torch.full((40, 1), 1.2))
    assert 0 < spikes.sum() < plain.sum()


def test_adaptive_threshold_soft_reset_subtracts_the_threshold_that_was_crossed():
    neuron = build_neuron("gif", tau=2.0, tau_adapt=10.0, beta=0.5, v_threshold=1.0, v_reset=None, detach_reset=True)
    neuron.a = torch.tensor([0.4])           # the threshold stands at 1.4
    neuron.v = torch.tensor([1.0])
    spike = neuron.single_step_forward(torch.tensor([2.0]))  # V = 1 + (2 - 1) / 2 = 1.5 >= 1.4: spike
    assert spike.item() == 1.0 and neuron.v.item() == pytest.approx(1.5 - 1.4)


@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("v_reset", [0.0, None])
def test_adaptive_threshold_without_adaptation_is_spikingjellys_lif(decay_input, v_reset):
    torch.manual_seed(0)
    x = torch.rand(30, 4, 5) * (2.5 if decay_input else 0.6)
    gif = build_neuron("gif", tau=3.0, beta=0.0, decay_input=decay_input, v_reset=v_reset)
    lif = build_neuron("lif", tau=3.0, decay_input=decay_input, v_reset=v_reset, fused=False)
    spikes = gif(x)
    assert 0 < spikes.mean() < 1 and torch.equal(spikes, lif(x))
    assert torch.allclose(gif.v, lif.v, atol=1e-6)


def test_cpu_tensors_always_use_the_torch_backend(monkeypatch):
    monkeypatch.setenv("ZOO_BACKEND", "cupy")
    assert backend_for(torch.device("cpu")) == "torch"
    monkeypatch.setenv("ZOO_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match="ZOO_BACKEND"):
        backend_module.forced_backend()


def test_cupy_failure_falls_back_to_torch_once(monkeypatch):
    monkeypatch.setattr(backend_module, "_cupy_broken", False)
    with pytest.warns(RuntimeWarning, match="CuPy neuron kernel failed"):
        backend_module.disable_cupy(RuntimeError("no kernel"))
    assert backend_for(torch.device("cuda")) == "torch"


legacy_line = pytest.mark.skipif(spikingjelly_major() >= 2, reason="SpikingJelly 0.0.0.0.14's own modules")


@legacy_line
def test_compat_restores_numpy_aliases_for_spikingjelly():
    import numpy as np

    sj = import_spikingjelly()
    legacy = sj.auto_cuda.base.np
    assert isinstance(legacy, LegacyNumpy)
    assert legacy.int is int and legacy.float32 is np.float32
    assert not hasattr(np, "int") or np.int is int  # numpy itself is left alone


@legacy_line
def test_compat_cifar10_dvs_parser_reads_aedat_events():
    """SpikingJelly's CIFAR10-DVS parser (np.fromstring, np.bool) on a small AEDAT 2 stream."""
    import io

    import numpy as np

    module = patch_cifar10_dvs()
    x = np.array([3, 100, 7], dtype=">u4")
    y = np.array([5, 0, 127], dtype=">u4")
    p = np.array([1, 0, 1], dtype=">u4")
    t = np.array([10, 20, 35], dtype=">u4")
    addr = (y << 22) | (x << 12) | (p << 11)
    body = np.stack([addr, t], axis=1).astype(">u4").tobytes()
    stream = io.BytesIO(b"#!AER-DAT2.0\r\n# test\r\n" + body)
    ts, xs, ys, ps = module.load_events(stream)
    assert ts.tolist() == [10, 20, 35] and xs.tolist() == [3, 100, 7]
    assert ys.tolist() == [5, 0, 127] and ps.tolist() == [True, False, True]


@legacy_line
@pytest.mark.parametrize("name", ["rectangle", "triangle", "dspike"])
def test_zoo_surrogates_compile_inside_spikingjellys_cupy_kernels(name, tmp_path):
    """The LIF and IF backward kernels SpikingJelly generates for CuPy, with the zoo's surrogate
    inlined, compile with nvcc (no GPU needed to compile)."""
    import shutil
    import subprocess

    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not installed")
    from spikingjelly.activation_based.auto_cuda import neuron_kernel

    surrogate = build_surrogate(name)
    kernels = [neuron_kernel.LIFNodeBPTTKernel(decay_input=False, surrogate_function=surrogate.cuda_codes,
                                               hard_reset=True, detach_reset=False, dtype="float"),
               neuron_kernel.IFNodeBPTTKernel(surrogate_function=surrogate.cuda_codes, hard_reset=False,
                                              detach_reset=True, dtype="float")]
    source = tmp_path / "kernels.cu"
    source.write_text("#include <cuda_fp16.h>\n" + "\n".join(k.full_codes for k in kernels))
    result = subprocess.run(["nvcc", "-c", str(source), "-o", str(tmp_path / "kernels.o")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    plif_code = surrogate.cuda_code(x="over_th", y="grad_s_to_h")
    assert plif_code.startswith("const float grad_s_to_h =") or "const float grad_s_to_h =" in plif_code


@pytest.mark.parametrize("surrogate, half", [("atan", True), ("sigmoid", True), ("rectangle", False),
                                             ("triangle", False), ("dspike", False)])
def test_cupy_kernels_run_float16_only_where_the_surrogate_has_half2_code(surrogate, half):
    """SpikingJelly's kernels take float32 and float16 (half2); the zoo's surrogates have float32 code only,
    and a bfloat16 input has no kernel at all: those run in float32."""
    node = build_neuron("lif", surrogate=surrogate)
    assert node.kernel_dtype(torch.float16) == (torch.float16 if half else torch.float32)
    assert node.kernel_dtype(torch.bfloat16) == torch.float32 and node.kernel_dtype(torch.float32) == torch.float32
    if not half:
        with pytest.raises(NotImplementedError, match="float32 only"):
            node.surrogate_function.cuda_codes(y="g", x="x", dtype="half2")
