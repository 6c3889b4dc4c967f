"""QCFS (Bu et al., ICLR 2022) against the authors' module, its exact identity with the IF neuron at
T = L, and conversion of a QCFS network."""
import pytest
import torch
from torch import nn

from zoo.conversion import convert, fold_bn
from zoo.conversion.ifnet import IFNeuron
from zoo.hub.factory import create_model
from zoo.models.qcfs import QCFS


class AuthorsGradFloor(torch.autograd.Function):
    """putshua/ANN_SNN_QCFS, Models/layer.py, as written."""

    @staticmethod
    def forward(ctx, input):
        return input.floor()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


class AuthorsIF(nn.Module):
    """The authors' ``IF`` module (ANN mode at T=0, IF neurons at T>0), its surrogate left out (the
    forward only is compared in SNN mode)."""

    def __init__(self, T=0, L=8, thresh=8.0):
        super().__init__()
        self.thresh = nn.Parameter(torch.tensor([thresh]), requires_grad=True)
        self.L, self.T = L, T

    def forward(self, x):
        if self.T > 0:
            thre = self.thresh.data
            x = x.view(self.T, -1, *x.shape[1:])
            mem = 0.5 * thre
            spike_pot = []
            for t in range(self.T):
                mem = mem + x[t, ...]
                spike = (mem - thre >= 0).float() * thre
                mem = mem - spike
                spike_pot.append(spike)
            return torch.stack(spike_pot, dim=0).flatten(0, 1)
        x = x / self.thresh
        x = torch.clamp(x, 0, 1)
        x = AuthorsGradFloor.apply(x * self.L + 0.5) / self.L
        return x * self.thresh


@pytest.mark.parametrize("levels", [2, 4, 8])
def test_qcfs_and_its_gradients_equal_the_authors_module(levels):
    torch.manual_seed(levels)
    ours, theirs = QCFS(levels, threshold=2.5), AuthorsIF(L=levels, thresh=2.5)
    x = (torch.randn(64, 3, 5, 5) * 2).requires_grad_()
    y_ours, y_theirs = ours(x), theirs(x)
    assert torch.equal(y_ours, y_theirs)
    weights = torch.randn_like(y_ours)
    g_ours = torch.autograd.grad((y_ours * weights).sum(), [x, ours.threshold])
    g_theirs = torch.autograd.grad((y_theirs * weights).sum(), [x, theirs.thresh])
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b)
    assert set(y_ours.detach().div(2.5).mul(levels).round().unique().tolist()) <= set(range(levels + 1))


def test_a_bfloat16_input_gets_the_float32_result_rounded_and_the_same_gradients():
    """Under autocast BatchNorm hands QCFS bfloat16 and its threshold stays float32: the zoo's QCFS keeps
    the input's dtype (as ReLU does) with the authors' float32 values rounded to it, and the gradients
    match theirs."""
    torch.manual_seed(0)
    ours, theirs = QCFS(4, threshold=1.37), AuthorsIF(L=4, thresh=1.37)
    x = (torch.randn(32, 3, 5, 5) * 2).to(torch.bfloat16).requires_grad_()
    y_ours, y_theirs = ours(x), theirs(x)
    assert y_ours.dtype == torch.bfloat16 and y_theirs.dtype == torch.float32
    assert torch.equal(y_ours, y_theirs.to(torch.bfloat16))
    weights = torch.randn(y_ours.shape)
    g_ours = torch.autograd.grad((y_ours.float() * weights).sum(), [x, ours.threshold])
    g_theirs = torch.autograd.grad((y_theirs * weights).sum(), [x, theirs.thresh])
    assert g_ours[0].dtype == torch.bfloat16
    torch.testing.assert_close(g_ours[0], g_theirs[0])
    torch.testing.assert_close(g_ours[1], g_theirs[1], rtol=4e-3, atol=0)  # the bfloat16 output's gradient is
    # rounded to bfloat16 (about 4e-3) before it reaches the threshold


def test_channels_last_gives_the_same_gradients_in_its_own_layout_whatever_layout_the_gradient_arrives_in():
    """A gradient reaching a channels-last QCFS through a residual sum may be NCHW; the input's gradient
    comes back channels-last (the batch norm before it then stays on its fast path), the values equal."""
    torch.manual_seed(0)
    x = 3 * torch.randn(2, 5, 4, 3)
    upstream = torch.randn_like(x)
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        act = QCFS(levels=4, threshold=2.0)
        inputs = x.clone(memory_format=layout).requires_grad_()
        act(inputs).backward(upstream)  # NCHW in both
        assert inputs.grad.is_contiguous(memory_format=layout)
        results.append((inputs.grad, act.threshold.grad))
    assert torch.equal(results[0][0], results[1][0])
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-6, atol=1e-6)  # a sum in another order


def test_a_frozen_threshold_passes_only_the_clip_gradient_and_second_order_is_refused():
    module = QCFS(4, threshold=2.0).requires_grad_(False)
    x = torch.tensor([-1.0, 0.5, 1.5, 3.0], requires_grad=True)
    (grad,) = torch.autograd.grad(module(x).sum(), [x])
    assert torch.equal(grad, torch.tensor([0.0, 1.0, 1.0, 0.0]))  # straight through inside (0, lambda)
    (grad,) = torch.autograd.grad((module(x) * x).sum(), [x], create_graph=True)  # a gradient with a graph
    with pytest.raises(RuntimeError, match="marked with @once_differentiable"):
        grad.sum().backward()


def converted_neuron(shape, T, threshold, shift=0.5) -> IFNeuron:
    neuron = IFNeuron(shape, T, bias_shift=False)
    neuron.threshold.fill_(threshold)
    neuron.v_init.fill_(shift * threshold)
    return neuron


def test_the_converted_neuron_fires_as_the_authors_snn_mode():
    torch.manual_seed(0)
    T, threshold = 6, 1.3
    current = torch.randn(T * 4, 3, 2, 2)
    assert torch.equal(converted_neuron((3, 2, 2), T, threshold)(current),
                       AuthorsIF(T=T, thresh=threshold)(current))


@pytest.mark.parametrize("levels", [1, 3, 4, 8])
def test_with_t_equal_to_l_the_if_neurons_mean_output_is_qcfs_exactly(levels):
    """The paper's identity: a constant input x for T = L steps, threshold lambda, membrane from lambda/2,
    gives lambda * clip(floor(x L / lambda + 1/2) / L, 0, 1): the spike count is QCFS's level."""
    threshold = 1.75
    x = torch.linspace(-1.0, 2.5, 1001, dtype=torch.float64).view(1001, 1)

    def spike_counts(T):
        neuron = converted_neuron((1,), T, threshold).double()
        neuron.static_input = True
        return (neuron(x) / threshold).view(T, 1001, 1).sum(0)

    qcfs = QCFS(levels, threshold).double()(x).detach()
    level = (qcfs / threshold * levels).round()
    assert torch.equal(spike_counts(levels), level)
    torch.testing.assert_close(spike_counts(levels) / levels * threshold, qcfs)
    assert len(level.unique()) == levels + 1  # every level is reached on this range
    if levels > 1:  # with fewer steps than levels the identity holds only in expectation
        assert not torch.equal(spike_counts(levels - 1) / (levels - 1), level / levels)


def qcfs_resnet(levels=4, arch="ann_resnet20"):
    torch.manual_seed(0)
    ann = create_model(arch, in_channels=1, input_size=(12, 12), width=4, activation="qcfs", qcfs_levels=levels)
    with torch.no_grad():
        for index, module in enumerate(m for m in ann.modules() if isinstance(m, QCFS)):
            module.threshold.fill_(0.5 + 0.1 * index)  # as if trained: a threshold of its own per layer
    return ann.eval()


@pytest.mark.parametrize("arch", ["resnet20", "resnet9"])
def test_a_qcfs_network_converts_to_its_thresholds_and_the_state_round_trips(arch):
    ann = qcfs_resnet(arch=f"ann_{arch}")
    lambdas = [float(m.threshold.detach()) for m in ann.modules() if isinstance(m, QCFS)]
    batches = [torch.rand(8, 1, 12, 12)]
    snn = convert(ann, batches, T=(4, 8), threshold="qcfs", calibrate="none")
    neurons = snn.neurons()
    assert [float(n.threshold[0]) for n in neurons] == pytest.approx(lambdas)
    assert all(not n.bias_shift and torch.allclose(n.v_init, n.threshold[0] / 2) for n in neurons)
    loaded = create_model(f"converted_{arch}", in_channels=1, input_size=(12, 12), width=4, activation="qcfs",
                          qcfs_levels=4, T=8, calibrated_T=(4, 8)).eval()
    loaded.load_state_dict(snn.state_dict())
    x = torch.rand(5, 1, 12, 12)
    for T in (4, 8):
        snn.T, loaded.T = T, T
        assert torch.equal(loaded(x), snn(x))


def test_qcfs_thresholds_need_a_qcfs_network():
    ann = create_model("ann_resnet20", in_channels=1, input_size=(12, 12), width=4)
    with pytest.raises(ValueError, match="this network has ReLU activations"):
        convert(ann, [torch.rand(2, 1, 12, 12)], T=4, threshold="qcfs")
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        create_model("ann_resnet20", activation="gelu")


def test_folding_is_checked_past_the_floor_that_float_rounding_can_tip():
    """Folding BatchNorm moves a pre-activation by float rounding (about 1e-7); where it sits on one of
    QCFS's floor boundaries the QCFS output moves by a whole level. The fold check must not refuse the
    network for that (it refused every trained QCFS ResNet-20)."""
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), QCFS(levels=1024, threshold=1.0),
                        nn.Flatten())
    ann.in_channels, ann.input_size = 1, (8, 8)  # what the zoo's networks say of their input
    with torch.no_grad():
        norm = ann[1]
        norm.running_mean.uniform_(-0.5, 0.5), norm.running_var.uniform_(0.2, 2.0)
        norm.weight.uniform_(0.5, 1.5), norm.bias.uniform_(-0.2, 0.2)
    ann.eval()
    images = torch.rand(1024, 1, 8, 8)
    with torch.no_grad():
        tipped = (ann(images) - fold_bn(ann)(images)).abs()
    assert tipped.max() > 1e-4, "no pre-activation sat on a floor boundary: the case is not exercised"
    snn = convert(ann, [images], T=4, threshold="qcfs", calibrate="none")
    assert [float(n.threshold[0]) for n in snn.neurons()] == [1.0]
