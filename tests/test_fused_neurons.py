"""The fused multi-step IF/LIF give SpikingJelly's spikes, final membrane and gradients exactly."""
import pytest
import torch

from zoo.neurons import build_neuron
from zoo.neurons.compat import import_spikingjelly
from zoo.neurons.fused import FusedIFNode, FusedLIFNode
from zoo.neurons.surrogates import build_surrogate

sj = import_spikingjelly()


def _pair(kind, surrogate, **kwargs):
    reference = build_neuron(kind, surrogate=surrogate, **kwargs).double()
    cls = FusedIFNode if kind == "if" else FusedLIFNode
    fused = cls(surrogate_function=build_surrogate(surrogate, None), step_mode="m", **kwargs).double()
    return reference, fused


CASES = [
    ("if", {"detach_reset": True}),
    ("if", {"detach_reset": False}),
    ("if", {"detach_reset": True, "v_reset": None}),
    ("if", {"detach_reset": False, "v_reset": None, "v_threshold": 0.7}),
    ("lif", {"tau": 2.0, "detach_reset": True}),
    ("lif", {"tau": 1.5, "detach_reset": False, "decay_input": False, "v_reset": 0.1}),
    ("lif", {"tau": 3.0, "detach_reset": False, "v_reset": None}),
]


@pytest.mark.parametrize("surrogate", ["atan", "sigmoid", "rectangle", "triangle"])
@pytest.mark.parametrize("kind, kwargs", CASES)
def test_fused_equals_spikingjelly(kind, kwargs, surrogate):
    torch.manual_seed(0)
    reference, fused = _pair(kind, surrogate, **kwargs)
    x = torch.randn(6, 3, 5, dtype=torch.float64) * 1.5 + 0.6
    upstream = torch.randn(6, 3, 5, dtype=torch.float64)
    outputs, grads = [], []
    for neuron in (reference, fused):
        sj.functional.reset_net(neuron)
        inp = x.clone().requires_grad_(True)
        out = neuron(inp)
        (out * upstream).sum().backward()
        outputs.append((out.detach(), neuron.v.detach()))
        grads.append(inp.grad)
    assert torch.equal(outputs[0][0], outputs[1][0]) and outputs[0][0].sum() > 0
    assert torch.allclose(outputs[0][1], outputs[1][1], atol=1e-12)
    assert torch.allclose(grads[0], grads[1], atol=1e-10), (grads[0] - grads[1]).abs().max()


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
