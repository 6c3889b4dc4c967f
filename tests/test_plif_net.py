"""The PLIF paper's networks: shapes for every dataset variant, the paper's layer structure, learnable
time constants, voting read-out and the same dropout mask over time."""
import pytest
import torch

import zoo
from zoo.models.plif_net import VOTERS
from zoo.neurons import ParametricLIFNode
from zoo.neurons.compat import import_spikingjelly

sj = import_spikingjelly()


@pytest.mark.parametrize("arch, shape, classes", [
    ("plif_net_mnist", (1, 28, 28), 10),
    ("plif_net_nmnist", (2, 34, 34), 10),
    ("plif_net_cifar10", (3, 32, 32), 10),
    ("plif_net_cifar10dvs", (2, 128, 128), 10),
    ("plif_net_dvsgesture", (2, 128, 128), 11),
])
def test_every_variant_gives_class_rates(arch, shape, classes):
    model = zoo.create_model(arch, T=2, channels=8, hidden=32)
    out = model(torch.rand(2, *shape))
    assert out.shape == (2, classes)
    assert ((out >= 0) & (out <= 1)).all()  # rates of voting neurons
    seq = model(torch.rand(3, 2, *shape))  # event frames [T, B, C, H, W]
    assert seq.shape == (2, classes)


def test_cifar10_net_has_the_papers_structure_and_plif_neurons():
    model = zoo.create_model("plif_net_cifar10")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6 and all(c.out_channels == 256 and c.kernel_size == (3, 3) for c in convs)
    assert model.fc1.in_features == 256 * 8 * 8 and model.fc1.out_features == 2048
    assert model.fc2.out_features == 10 * VOTERS
    neurons = [m for m in model.modules() if isinstance(m, ParametricLIFNode)]
    assert len(neurons) == 8
    assert all(n.detach_reset and n.v_threshold == 1.0 for n in neurons)
    assert all(torch.isclose(n.w.sigmoid(), torch.tensor(0.5)) for n in neurons)  # 1 / tau with tau = 2


def test_time_constants_learn_and_dropout_mask_is_shared_over_time():
    torch.manual_seed(0)
    model = zoo.create_model("plif_net_mnist", T=4)  # at full width: a bias-free narrow net's output is silent
    x = torch.rand(4, 1, 28, 28)
    torch.nn.functional.mse_loss(model(x), torch.eye(10)[:4]).backward()
    assert all(n.w.grad is not None and n.w.grad.abs() > 0
               for n in model.modules() if isinstance(n, ParametricLIFNode))
    sj.functional.reset_net(model)
    dropped = model.dropout1(torch.ones(4, 3, 100)) == 0
    assert 0.3 < dropped.float().mean() < 0.7
    assert all(torch.equal(dropped[0], dropped[t]) for t in range(4))
    model.eval()
    assert torch.equal(model.dropout1(torch.ones(4, 3, 100)), torch.ones(4, 3, 100))


@pytest.mark.parametrize("arch, in_channels, channels, stages, size, hidden, classes", [
    ("plif_net_mnist", 1, 128, (1, 1), 28, 128 * 4 * 4, 10),          # Linear(128*7*7, 128*4*4)
    ("plif_net_nmnist", 2, 128, (1, 1), 34, 128 * 8 * 8 // 4, 10),     # create_2fc: c*h*w // 4
    ("plif_net_cifar10", 3, 256, (3, 3), 32, 128 * 4 * 4, 10),         # Linear(256*8*8, 128*4*4)
    ("plif_net_cifar10dvs", 2, 128, (1, 1, 1, 1), 128, 128 * 8 * 8 // 4, 10),
    ("plif_net_dvsgesture", 2, 128, (1,) * 5, 128, 128 * 4 * 4 // 4, 11),
])
def test_parameter_counts_equal_the_authors_layout(arch, in_channels, channels, stages, size, hidden, classes):
    reference, width, side, plif_layers = [], in_channels, size, 0
    for n_convs in stages:
        for _ in range(n_convs):
            reference += [torch.nn.Conv2d(width, channels, 3, padding=1, bias=False), torch.nn.BatchNorm2d(channels)]
            width, plif_layers = channels, plif_layers + 1
        side //= 2
    reference += [torch.nn.Linear(channels * side * side, hidden, bias=False),
                  torch.nn.Linear(hidden, classes * 10, bias=False)]
    expected = sum(p.numel() for m in reference for p in m.parameters()) + plif_layers + 2  # one w per PLIF layer
    model = zoo.create_model(arch)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.fc1.bias is None and model.fc2.bias is None and model.fc1.out_features == hidden


def test_only_the_cifar10_net_drops_out_before_its_last_layer():
    assert isinstance(zoo.create_model("plif_net_cifar10", T=1).dropout2, torch.nn.Identity)
    assert not isinstance(zoo.create_model("plif_net_mnist", T=1).dropout2, torch.nn.Identity)
