"""The fused multi-step IF/LIF/PLIF (the zoo's default neurons) give SpikingJelly's spikes and membranes
bit for bit, and its gradients to rounding, for every reset mode and surrogate."""
import pytest
import torch

from zoo.neurons import build_neuron
from zoo.neurons.compat import import_spikingjelly
from zoo.neurons.fused import FusedIFNode, FusedLIFNode, FusedParametricLIFNode

sj = import_spikingjelly()


def _pair(kind, surrogate, dtype=torch.float64, **kwargs):
    reference = build_neuron(kind, surrogate=surrogate, fused=False, **kwargs).to(dtype)
    fused = build_neuron(kind, surrogate=surrogate, **kwargs).to(dtype)
    return reference, fused


CASES = [
    ("if", {"detach_reset": True}),
    ("if", {"detach_reset": False}),
    ("if", {"detach_reset": True, "v_reset": None}),
    ("if", {"detach_reset": False, "v_reset": None, "v_threshold": 0.7}),
    ("if", {"detach_reset": False, "v_reset": -0.2}),
    ("lif", {"tau": 2.0, "detach_reset": True}),
    ("lif", {"tau": 1.5, "detach_reset": False, "decay_input": False, "v_reset": 0.1}),
    ("lif", {"tau": 1.25, "detach_reset": False, "decay_input": False}),
    ("lif", {"tau": 3.0, "detach_reset": False, "v_reset": None}),
    ("lif", {"tau": 2.5, "detach_reset": True, "v_reset": 0.2}),
    ("plif", {"init_tau": 2.0, "detach_reset": True}),
    ("plif", {"init_tau": 3.0, "detach_reset": False, "v_reset": None}),
    ("plif", {"init_tau": 1.5, "detach_reset": False, "decay_input": False}),
    ("plif", {"init_tau": 2.5, "detach_reset": True, "decay_input": False, "v_reset": 0.1}),
    ("plif", {"init_tau": 2.0, "detach_reset": False, "v_reset": -0.1}),
]


def _run(neuron, x, upstream):
    sj.functional.reset_net(neuron)
    inp = x.clone().requires_grad_(True)
    out = neuron(inp)
    (out * upstream).sum().backward()
    w_grad = neuron.w.grad.clone() if hasattr(neuron, "w") else None
    return out.detach(), neuron.v.detach(), inp.grad, w_grad


@pytest.mark.parametrize("surrogate", ["atan", "sigmoid", "rectangle", "triangle", "dspike"])
@pytest.mark.parametrize("kind, kwargs", CASES)
def test_fused_equals_spikingjelly(kind, kwargs, surrogate):
    torch.manual_seed(0)
    reference, fused = _pair(kind, surrogate, **kwargs)
    x = torch.randn(6, 3, 5, dtype=torch.float64) * 1.5 + 0.6
    upstream = torch.randn(6, 3, 5, dtype=torch.float64)
    ref, got = _run(reference, x, upstream), _run(fused, x, upstream)
    assert torch.equal(ref[0], got[0]) and ref[0].sum() > 0
    assert torch.equal(ref[1], got[1])
    assert torch.allclose(ref[2], got[2], atol=1e-10), (ref[2] - got[2]).abs().max()
    if ref[3] is not None:
        assert torch.allclose(ref[3], got[3], atol=1e-10) and ref[3].abs() > 0


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kind, kwargs", CASES)
def test_float32_spikes_and_membranes_are_bit_identical(kind, kwargs, training):
    """The charge is SpikingJelly's operations in its order, so float32 rounding is the same too: a
    weight trained on either implementation gives the same spikes on the other."""
    torch.manual_seed(1)
    reference, fused = _pair(kind, "atan", dtype=torch.float32, **kwargs)
    x = torch.randn(16, 64, 33) * 1.2 + 0.5
    for neuron in (reference, fused):
        neuron.train(training)  # SpikingJelly's LIF has separate train and eval loops
    with torch.no_grad():
        outs = []
        for neuron in (reference, fused):
            sj.functional.reset_net(neuron)
            outs.append((neuron(x), neuron.v.clone()))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_plif_gradient_reaches_w_through_the_fused_loop_only_when_inputs_are_constant():
    """A PLIF whose input needs no gradient still trains its time constant."""
    reference, fused = _pair("plif", "atan", init_tau=2.0, detach_reset=True)
    x = torch.rand(5, 4, dtype=torch.float64) * 2
    grads = []
    for neuron in (reference, fused):
        sj.functional.reset_net(neuron)
        neuron(x).sum().backward()
        grads.append(neuron.w.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-12) and grads[0].abs() > 0


def test_defaults_are_fused_and_spikingjelly_is_one_option_away():
    assert type(build_neuron("if")) is FusedIFNode
    assert type(build_neuron("lif")) is FusedLIFNode
    assert type(build_neuron("plif")) is FusedParametricLIFNode
    assert type(build_neuron("if", fused=False)).__name__ == "IFNode"


def test_a_loss_on_the_final_membrane_reaches_the_input():
    _, fused = _pair("lif", "atan", tau=2.0)
    x = torch.rand(4, 2, dtype=torch.float64, requires_grad=True)
    fused(x)
    fused.v.sum().backward()
    assert x.grad.abs().sum() > 0


def test_the_sequence_can_continue_from_a_previous_call():
    reference, fused = _pair("if", "atan", detach_reset=True)
    x = torch.rand(8, 4, dtype=torch.float64)
    whole = reference(x)
    sj.functional.reset_net(fused)
    halves = torch.cat([fused(x[:4]), fused(x[4:])])
    assert torch.equal(whole, halves)


@pytest.mark.parametrize("surrogate", ["rectangle", "atan", "sigmoid", "triangle"])
@pytest.mark.parametrize("fused", [True, False])
def test_a_strict_threshold_does_not_fire_on_a_tie(surrogate, fused):
    """STBP's code fires on mem > thresh; SpikingJelly's nodes on >=. A membrane exactly at the
    threshold (0.5 = 0.25 + 0.25 in float32) separates them; gradients are the surrogate's either way."""
    kwargs = dict(tau=2.0, decay_input=False, v_threshold=0.5, v_reset=0.0, surrogate=surrogate, fused=fused)
    x = torch.tensor([[0.25], [0.375], [0.3]], requires_grad=True)  # H[1] = 0.25 / 2 + 0.375 = 0.5 exactly
    strict = build_neuron("lif", strict_threshold=True, **kwargs)
    loose = build_neuron("lif", **kwargs)
    out_strict, out_loose = strict(x), loose(x.detach())
    assert out_strict[:, 0].tolist() == [0.0, 0.0, 1.0] and out_loose[:, 0].tolist() == [0.0, 1.0, 0.0]
    out_strict.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_stbp_neurons_fire_strictly_as_the_papers_code():
    from zoo.models.stbp import STBPCNN

    model = STBPCNN(T=2)
    assert all(getattr(n.surrogate_function, "strict", False) for n in (model.sn1, model.sn2, model.sn3, model.sn4))
    assert zoo_card_neuron(model)["spikes_when"] == "H > V_th"


def zoo_card_neuron(model):
    from zoo.hub.publish import describe_neuron

    return describe_neuron(model)[0]


def _stbp_paper_loop(x: torch.Tensor, decay: float = 0.2, thresh: float = 0.5) -> torch.Tensor:
    """The STBP paper's code: mem = mem * decay * (1 - spike) + x; spike = act_fun(mem) = mem > thresh."""
    mem = spike = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        mem = mem * decay * (1.0 - spike) + x[t]
        spike = mem.gt(thresh).float()
        out.append(spike)
    return torch.stack(out)


@pytest.mark.parametrize("fused", [True, False])
def test_stbp_lif_equals_the_papers_loop_including_a_tie(fused):
    from zoo.models.stbp import stbp_lif

    torch.manual_seed(0)
    x = torch.rand(12, 64) * 0.6
    x[0, :8] = 0.5  # membranes exactly at the threshold at the first step
    neuron = stbp_lif(0.2, 0.5, "rectangle", 1.0, fused=fused)
    assert torch.equal(neuron(x), _stbp_paper_loop(x))


def test_plif_decay_gradient_keeps_float32_precision_under_bfloat16():
    """Under bfloat16 autocast the membranes are bfloat16 but ``w`` is float32: its gradient is summed
    in float32 from float32 differences, near the float64 one and not rounded to bfloat16's 8 bits."""
    torch.manual_seed(3)
    reference, fused = _pair("plif", "atan", init_tau=2.0, detach_reset=True)
    fused = fused.float()
    x = (torch.randn(8, 16, 32, 14, 14) * 1.5 + 0.6).bfloat16()
    upstream = torch.randn(8, 16, 32, 14, 14).bfloat16()
    grads = []
    for neuron, dtype in ((reference, torch.float64), (fused, torch.bfloat16)):
        sj.functional.reset_net(neuron)
        (neuron(x.to(dtype).requires_grad_(True)) * upstream.to(dtype)).sum().backward()
        grads.append(neuron.w.grad)
    exact, mixed = grads
    assert mixed.dtype == torch.float32 and exact.abs() > 0
    assert torch.allclose(mixed.double(), exact, rtol=1e-2), (mixed, exact)
    assert mixed != mixed.bfloat16().float()  # more than bfloat16's mantissa
