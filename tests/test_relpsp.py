"""ReL-PSP: closed-form spike times equal an event-driven simulation, gradients equal finite
differences, silent neurons are handled, and the networks train."""
import math

import pytest
import torch

import zoo
from zoo.models.relpsp import NEVER, LatencyTimes, MinPool2d, ReLPSPConv2d, simulate, spike_times


def random_problem(seed, batch=4, n_in=7, n_out=5, silent_inputs=True):
    g = torch.Generator().manual_seed(seed)
    t_in = torch.rand(batch, n_in, generator=g, dtype=torch.float64)
    if silent_inputs:
        t_in[torch.rand(batch, n_in, generator=g) < 0.2] = NEVER
    weight = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) * 0.8 + 0.3
    return t_in, weight


@pytest.mark.parametrize("seed", range(8))
def test_closed_form_equals_event_driven_simulation(seed):
    t_in, weight = random_problem(seed)
    closed = spike_times(t_in, weight, theta=0.5)
    reference = simulate(t_in, weight, theta=0.5)
    assert torch.equal(torch.isinf(closed), torch.isinf(reference))
    finite = torch.isfinite(reference)
    assert finite.any() and torch.allclose(closed[finite], reference[finite], atol=1e-12)


def test_a_hand_computed_neuron():
    # inputs at 0.1 (w=1) and 0.3 (w=2), theta 0.5: V(0.3) = 0.2 < 0.5, then slope 3:
    # t = (0.5 + 1*0.1 + 2*0.3) / 3 = 0.4
    t = spike_times(torch.tensor([[0.1, 0.3]], dtype=torch.float64), torch.tensor([[1.0, 2.0]], dtype=torch.float64), 0.5)
    assert t.item() == pytest.approx(0.4)
    # a large first weight fires before the second input arrives: t = (0.5 + 10*0.1) / 10 = 0.15
    t = spike_times(torch.tensor([[0.1, 0.3]], dtype=torch.float64), torch.tensor([[10.0, 2.0]], dtype=torch.float64), 0.5)
    assert t.item() == pytest.approx(0.15)


@pytest.mark.parametrize("seed", range(4))
def test_gradients_equal_finite_differences_where_the_spike_exists(seed):
    t_in, weight = random_problem(seed, silent_inputs=False)
    t_in.requires_grad_(True)
    weight.requires_grad_(True)
    out = spike_times(t_in, weight, 0.5)
    fired = torch.isfinite(out)
    probe = torch.randn(out.shape, dtype=torch.float64) * fired
    (torch.where(fired, out, torch.zeros_like(out)) * probe).sum().backward()
    eps = 1e-7
    for tensor in (weight, t_in):
        numeric = torch.zeros_like(tensor)
        flat = tensor.detach().view(-1)
        for k in range(flat.numel()):
            for sign in (1, -1):
                shifted = flat.clone()
                shifted[k] += sign * eps
                args = (shifted.view_as(tensor), t_in.detach()) if tensor is weight else (weight.detach(), shifted.view_as(tensor))
                value = spike_times(args[1], args[0], 0.5)
                numeric.view(-1)[k] += sign * (torch.where(fired, value, torch.zeros_like(value)) * probe).sum() / (2 * eps)
        assert torch.allclose(tensor.grad, numeric, atol=1e-5), (tensor.grad - numeric).abs().max()


def test_the_gradient_formula():
    t_in = torch.tensor([[0.1, 0.3, 0.9]], dtype=torch.float64, requires_grad=True)
    weight = torch.tensor([[1.0, 2.0, 5.0]], dtype=torch.float64, requires_grad=True)
    out = spike_times(t_in, weight, 0.5)  # 0.4: inputs 0 and 1 are causal, input 2 comes later
    out.backward()
    assert weight.grad.tolist()[0] == pytest.approx([(0.1 - 0.4) / 3, (0.3 - 0.4) / 3, 0.0])
    assert t_in.grad.tolist()[0] == pytest.approx([1 / 3, 2 / 3, 0.0])


def test_silent_neurons_have_no_nan_and_no_gradient():
    t_in = torch.tensor([[0.2, NEVER]], requires_grad=True)
    weight = torch.tensor([[-1.0, 3.0], [1.0, 1.0]], requires_grad=True)  # neuron 0 only ever falls
    out = spike_times(t_in, weight, 0.5)
    assert math.isinf(out[0, 0].item()) and out[0, 1].item() == pytest.approx(0.7)
    out[0, 1].backward()
    assert not torch.isnan(weight.grad).any() and not torch.isnan(t_in.grad).any()
    assert weight.grad[0].abs().sum() == 0 and t_in.grad[0, 1] == 0


def test_latency_coding_and_pooling():
    times = LatencyTimes(t_max=2.0)(torch.tensor([[[[1.0, 0.5, 0.0]]]]))
    assert times.flatten().tolist() == [0.0, 1.0, NEVER]
    pooled = MinPool2d(2)(torch.tensor([[[[0.5, NEVER], [0.2, 0.9]]]]))
    assert pooled.item() == pytest.approx(0.2)


def test_conv_layer_is_a_neuron_per_position():
    torch.manual_seed(0)
    conv = ReLPSPConv2d(2, 3, 3, theta=0.5).double()
    t_in = torch.rand(2, 2, 5, 5, dtype=torch.float64)
    t_in[0, 0, 0, 0] = NEVER
    out = conv(t_in)
    assert out.shape == (2, 3, 3, 3)
    patch = t_in[1, :, 1:4, 2:5].reshape(1, -1)
    assert torch.allclose(out[1, :, 1, 2], spike_times(patch, conv.weight, 0.5)[0], equal_nan=True)


@pytest.mark.parametrize("arch", ["relpsp_fc", "relpsp_cnn"])
def test_networks_give_logits_and_learn(arch):
    torch.manual_seed(0)
    model = zoo.create_model(arch, hidden=32) if arch == "relpsp_fc" else zoo.create_model(arch, channels=(4, 8), hidden=16)
    x = torch.zeros(8, 1, 28, 28)
    for i in range(8):
        x[i, 0, 3 * i: 3 * i + 3, 4:24] = 1.0  # class i: a bright band at row 3i
    labels = torch.arange(8) % 2
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert model(x).shape == (8, 10) and losses[-1] < losses[0]
    with pytest.raises(ValueError, match=r"expects input of shape \[B, 1, 28, 28\]"):
        model(torch.rand(2, 3, 28, 28))


def test_a_neuron_that_has_not_fired_by_the_window_is_silent():
    t_in, weight = random_problem(3)
    free = spike_times(t_in, weight, 0.5)
    window = float(free[torch.isfinite(free)].median())
    windowed = spike_times(t_in, weight, 0.5, window)
    assert torch.equal(windowed, torch.where(free <= window, free, torch.full_like(free, NEVER)))
    assert torch.allclose(windowed, simulate(t_in, weight, 0.5, window).to(windowed.dtype), equal_nan=True)


def test_silent_outputs_read_a_virtual_time_from_their_potential():
    model = zoo.create_model("relpsp_fc", num_classes=2, in_channels=1, input_size=(1, 2), hidden=2, window=3.0)
    with torch.no_grad():
        model.layers[1].weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 2.0]]))   # hidden i fires at t_i + 0.5
        model.layers[2].weight.copy_(torch.tensor([[1.0, 0.0], [0.1, 0.1]]))
    x = torch.tensor([[[[1.0, 0.5]]]], requires_grad=True)                     # inputs at 0.0 and 0.5
    times = model.output_times(x)
    assert times[0, 0].item() == pytest.approx(1.5) and math.isinf(times[0, 1].item())
    logits = model(x)
    potential = 0.1 * (3.0 - 0.5) + 0.1 * (3.0 - 1.0)                             # V(W) of output 1: 0.45
    assert logits[0].tolist() == pytest.approx([-1.5, -(3.0 + (1.0 - potential))])
    logits[0, 1].backward()
    assert model.layers[2].weight.grad[1].tolist() == pytest.approx([2.5, 2.0])  # more weight: fires sooner
    assert x.grad.abs().sum() > 0


def test_a_net_without_a_finite_window_is_refused():
    with pytest.raises(ValueError, match="finite, positive window"):
        zoo.create_model("relpsp_fc", hidden=4, window=math.inf)


def test_the_card_describes_the_relpsp_neuron():
    from zoo.hub.publish import describe_neuron

    neuron, surrogate = describe_neuron(zoo.create_model("relpsp_fc", hidden=8, theta=0.5, window=3.0))
    assert neuron["type"] == "ReL-PSP" and neuron["v_threshold"] == 0.5 and neuron["window"] == 3.0
    assert surrogate["type"].startswith("none")
