"""LT-SNN's learnable-threshold LIF: the threshold's separate gradient path on a hand-computable
example, the penalty window, DSR spikes, per-channel thresholds and LIF dynamics."""
import math

import pytest
import torch

from zoo.neurons.compat import import_spikingjelly
from zoo.neurons.learnable_threshold import LearnableThresholdLIF, LearnableThresholdSpike

sj = import_spikingjelly()


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_threshold_gradient_on_a_hand_computed_example():
    # one time step, membrane = input; threshold 1.0
    h = torch.tensor([[0.5, 1.2, 1.9, 2.5]], dtype=torch.float64, requires_grad=True)
    v_th = torch.tensor([[1.0]], dtype=torch.float64, requires_grad=True)
    s = LearnableThresholdSpike.apply(h, v_th, 1.0, False)
    assert s.tolist() == [[0.0, 1.0, 1.0, 1.0]]
    upstream = torch.tensor([[1.0, 2.0, -1.0, 3.0]], dtype=torch.float64)
    (s * upstream).sum().backward()
    # membrane: triangle max(0, 1 - |h - 1|) -> 0.5, 0.8, 0.1, 0
    assert h.grad.tolist()[0] == pytest.approx([0.5, 1.6, -0.1, 0.0])
    # threshold: -sum over fired neurons of upstream * triangle * sigmoid(h - v_th)
    expected = -(2.0 * 0.8 * sigmoid(0.2) + (-1.0) * 0.1 * sigmoid(0.9) + 3.0 * 0.0)
    assert v_th.grad.item() == pytest.approx(expected)


def test_silent_neurons_send_no_gradient_to_the_threshold():
    h = torch.tensor([[0.5, 0.99]], requires_grad=True)
    v_th = torch.ones(1, 1, requires_grad=True)
    LearnableThresholdSpike.apply(h, v_th, 1.0, False).sum().backward()
    assert v_th.grad.item() == 0.0 and h.grad.abs().sum() > 0  # the membrane still learns


def test_the_penalty_window_shrinks_far_from_threshold():
    distances = torch.linspace(0.0, 1.2, 13, dtype=torch.float64)
    grads = []
    for d in distances:
        h = (1.0 + d).reshape(1, 1).requires_grad_(True)
        v_th = torch.ones(1, 1, dtype=torch.float64, requires_grad=True)
        LearnableThresholdSpike.apply(h, v_th, 1.0, False).sum().backward()
        grads.append(abs(v_th.grad.item()))
    assert grads[0] == pytest.approx(0.5)  # triangle 1 times sigmoid(0) = 1/2
    assert all(a >= b for a, b in zip(grads[2:], grads[3:]))  # shrinking as the potential moves away
    assert grads[-1] == 0.0 and grads[-3] == 0.0  # outside the window: nothing


def test_dsr_spikes_carry_the_threshold_and_fire_at_alpha_times_it():
    neuron = LearnableThresholdLIF(v_threshold=0.8, dsr=True, alpha=0.5, decay=0.0)
    out = neuron(torch.tensor([[[0.3]], [[0.5]], [[1.0]]]))
    assert out.flatten().tolist() == pytest.approx([0.0, 0.8, 0.8])


def test_lif_dynamics_with_hard_reset():
    neuron = LearnableThresholdLIF(v_threshold=1.0, decay=0.5)
    x = torch.tensor([0.6, 0.6, 0.6, 0.6]).view(4, 1, 1)
    # H: 0.6, 0.9, 1.05 (fire, reset), 0.6
    assert neuron(x).flatten().tolist() == [0.0, 0.0, 1.0, 0.0]
    sj.functional.reset_net(neuron)
    assert neuron.v == 0.0


def test_per_channel_thresholds_get_per_channel_gradients():
    torch.manual_seed(0)
    neuron = LearnableThresholdLIF(channels=3, v_threshold=0.5, threshold_gradient="separate")
    x = torch.rand(4, 2, 3, 5, 5) * torch.tensor([0.0, 1.0, 2.0]).view(1, 1, 3, 1, 1)
    neuron(x).sum().backward()
    grad = neuron.v_threshold.grad
    assert grad.shape == (3,) and grad[0] == 0.0 and grad[1] != 0.0 and grad[2] != 0.0
    with pytest.raises(ValueError, match="per-channel threshold for 3 channels"):
        neuron(torch.rand(4, 2, 5, 5, 5))


def test_thresholds_change_in_training():
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 16)
    neuron = LearnableThresholdLIF(v_threshold=1.0)
    optimizer = torch.optim.SGD(list(layer.parameters()) + list(neuron.parameters()), lr=0.1)
    x, target = torch.rand(6, 4, 8), torch.rand(4, 16)
    for _ in range(5):
        sj.functional.reset_net(neuron)
        loss = ((neuron(layer(x)).mean(0) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert neuron.v_threshold.item() != 1.0


@pytest.mark.parametrize("arch, shape", [
    ("ltsnn_cnn", (2, 1, 28, 28)),
    ("ltsnn_vgg9", (2, 2, 48, 48)),
    ("ltsnn_resnet19", (1, 3, 32, 32)),
])
def test_ltsnn_networks_run_and_every_threshold_learns(arch, shape):
    import zoo

    torch.manual_seed(0)
    model = zoo.create_model(arch, T=2, v_threshold=0.5)
    out = model(torch.rand(*shape))
    assert out.shape == (shape[0], 10)
    out.sum().backward()
    thresholds = [m.v_threshold for m in model.modules() if isinstance(m, LearnableThresholdLIF)]
    assert not thresholds[0].requires_grad and thresholds[0].grad is None  # the first layer's stays fixed
    assert all(t.grad is not None and t.shape == (1,) for t in thresholds[1:])  # one per layer
    assert set(model.thresholds()) and model.stem == "features.0" and model.head == "classifier.2"


def test_vgg9_is_the_authors_vggsnn9():
    import zoo

    model = zoo.create_model("ltsnn_vgg9", in_channels=3)  # their frames are RGB drawings of the events
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 64, 128, 128, 256, 256, 512, 512]
    # the authors' README: 7.07M parameters (convolutions, BN and linear layers; thresholds aside)
    weights = sum(p.numel() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
                  for p in m.parameters()) + sum(p.numel() for m in model.modules()
                                                 if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters())
    assert weights == 7_071_818


def test_resnet19_has_the_tdbn_layout():
    import zoo

    model = zoo.create_model("ltsnn_resnet19")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 1 + 2 * (3 + 3 + 2)  # 17 convolutions + 2 linear layers = 19
    assert [c.out_channels for c in convs][:1] == [128] and convs[-1].out_channels == 512


class _AuthorsSpike(torch.autograd.Function):
    """The authors' ``sigmoid`` function (LT-SNN code, ZIFArchTan's activation, gama = 1)."""

    @staticmethod
    def forward(ctx, x, thresh):
        ctx.save_for_backward(x)
        return x.ge(0.0).float()

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        grad_input = grad_output.clone() * (1.0 - x.abs()).clamp(min=0)
        grad_thre = torch.sum(grad_input.mul(torch.sigmoid(x)).mul(x.ge(0).float())).view(-1).mul(-1)
        return grad_input, grad_thre


def _authors_zif(x, thresh, tau=0.5):
    """ZIFArchTan.forward: mem = mem * tau + x[t]; spike = act(mem - vth); mem = (1 - spike) * mem."""
    mem, out = 0, []
    for t in range(x.shape[0]):
        mem = mem * tau + x[t]
        spike = _AuthorsSpike.apply(mem - thresh, thresh)
        mem = (1 - spike) * mem
        out.append(spike)
    return torch.stack(out)


def test_default_threshold_gradient_equals_the_authors_code():
    torch.manual_seed(0)
    x = torch.rand(6, 4, 10, dtype=torch.float64) * 1.6
    upstream = torch.randn(6, 4, 10, dtype=torch.float64)
    thresh = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    x_ref = x.clone().requires_grad_()
    reference = _authors_zif(x_ref, thresh)
    (reference * upstream).sum().backward()
    neuron = LearnableThresholdLIF(v_threshold=1.0, decay=0.5).double()
    x_zoo = x.clone().requires_grad_()
    spikes = neuron(x_zoo)
    (spikes * upstream).sum().backward()
    assert torch.equal(spikes, reference) and 0 < spikes.mean() < 1
    torch.testing.assert_close(x_zoo.grad, x_ref.grad)
    torch.testing.assert_close(neuron.v_threshold.grad, thresh.grad)
    separate = LearnableThresholdLIF(v_threshold=1.0, decay=0.5, threshold_gradient="separate").double()
    (separate(x.clone().requires_grad_()) * upstream).sum().backward()
    assert not torch.allclose(separate.v_threshold.grad, thresh.grad)  # the issue-text variant differs
    with pytest.raises(ValueError, match="threshold_gradient must be one of authors, separate"):
        LearnableThresholdLIF(threshold_gradient="both")
