import pytest
import torch
import torchvision

import zoo
from zoo.models.sew_resnet import BasicBlock, Bottleneck, connect, zero_init_block
from zoo.neurons import build_neuron
from zoo.neurons.compat import import_spikingjelly

sj = import_spikingjelly()


def if_neuron():
    return build_neuron("if", surrogate="atan", detach_reset=True)


def zero_init(block):
    zero_init_block(block)
    return block.eval()


@pytest.mark.parametrize("block_cls, planes", [(BasicBlock, 8), (Bottleneck, 2)])
@pytest.mark.parametrize("cnf", ["ADD", "IAND", "AND"])
def test_zero_init_blocks_are_identities(block_cls, planes, cnf):
    torch.manual_seed(0)
    block = zero_init(block_cls(8, planes, cnf=cnf, new_neuron=if_neuron))
    spikes = (torch.rand(4, 2, 8, 6, 6) > 0.5).float()
    sj.functional.reset_net(block)
    with torch.no_grad():
        assert torch.equal(block(spikes), spikes)


@pytest.mark.parametrize("block_cls, planes", [(BasicBlock, 8), (Bottleneck, 2)])
def test_an_and_block_with_a_zero_bn_bias_outputs_nothing(block_cls, planes):
    """Why AND takes the BN bias 1 (the authors' zero_init_blocks): with 0, A = 0 and A * S = 0."""
    block = block_cls(8, planes, cnf="AND", new_neuron=if_neuron).eval()
    torch.nn.init.zeros_(block.last_bn().weight)
    spikes = (torch.rand(4, 2, 8, 6, 6) > 0.5).float()
    with torch.no_grad():
        assert block(spikes).sum() == 0


@pytest.mark.parametrize("cnf, values", [("ADD", {0.0, 1.0, 2.0}), ("AND", {0.0, 1.0}), ("IAND", {0.0, 1.0})])
def test_sew_outputs_are_spikes_or_counts(cnf, values):
    torch.manual_seed(1)
    block = BasicBlock(8, 8, cnf=cnf, new_neuron=if_neuron).eval()
    for bn in (block.bn1, block.bn2):  # a live branch: positive BN shift so neurons fire
        torch.nn.init.constant_(bn.bias, 0.6)
    with torch.no_grad():
        out = block((torch.rand(6, 4, 8, 5, 5) > 0.3).float())
    seen = set(out.unique().tolist())
    assert seen <= values and (cnf != "ADD" or 2.0 in seen)


def test_connection_functions():
    a = torch.tensor([0.0, 0.0, 1.0, 1.0])
    s = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert connect(a, s, "ADD").tolist() == [0, 1, 1, 2]
    assert connect(a, s, "AND").tolist() == [0, 0, 0, 1]
    assert connect(a, s, "IAND").tolist() == [0, 1, 0, 0]
    with pytest.raises(ValueError, match="unknown connection function 'OR'"):
        connect(a, s, "OR")


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_parameter_counts_equal_torchvision(depth):
    ours = zoo.create_model(f"sew_resnet{depth}")
    plain = zoo.create_model(f"spiking_resnet{depth}")
    reference = getattr(torchvision.models, f"resnet{depth}")()
    count = sum(p.numel() for p in reference.parameters())
    assert sum(p.numel() for p in ours.parameters()) == count
    assert sum(p.numel() for p in plain.parameters()) == count


def test_plain_spiking_resnet_differs_only_in_the_residual_form():
    kwargs = dict(stem="cifar", num_classes=10, in_channels=1, width=8, zero_init_residual=False)
    sew = zoo.create_model("sew_resnet18", **kwargs)
    plain = zoo.create_model("spiking_resnet18", **kwargs)
    assert set(sew.state_dict()) == set(plain.state_dict())
    for bn in sew.modules():  # live neurons everywhere, so the two residual forms can show
        if isinstance(bn, torch.nn.BatchNorm2d):
            torch.nn.init.constant_(bn.bias, 0.5)
    plain.load_state_dict(sew.state_dict())
    block_sew, block_plain = sew.layer2[0], plain.layer2[0]
    assert hasattr(block_sew, "downsample_sn") and not hasattr(block_plain, "downsample_sn")
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert not torch.equal(sew.eval()(x), plain.eval()(x))
    with pytest.raises(ValueError, match="no connection function"):
        zoo.create_model("spiking_resnet18", cnf="ADD")


def test_multi_step_equals_the_single_step_loop():
    torch.manual_seed(2)
    model = zoo.create_model("sew_resnet18", stem="cifar", num_classes=10, in_channels=2, width=8, cnf="IAND").eval()
    for bn in model.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            torch.nn.init.constant_(bn.bias, 0.3)
    frames = (torch.rand(5, 2, 2, 16, 16) > 0.7).float()
    with torch.no_grad():
        multi = model(frames)
        sj.functional.reset_net(model)  # then one step at a time, the neurons carrying their state
        single = torch.cat([model.forward_sequence(frames[t:t + 1]) for t in range(len(frames))]).mean(0)
    assert torch.allclose(multi, single, atol=1e-6)


@pytest.mark.parametrize("cnf", ["ADD", "IAND"])
def test_loads_a_spikingjelly_sew_resnet_state_dict(cnf):
    from spikingjelly.activation_based import neuron, surrogate
    from spikingjelly.activation_based.model import sew_resnet

    torch.manual_seed(3)
    theirs = sew_resnet.sew_resnet18(cnf=cnf, spiking_neuron=neuron.IFNode, surrogate_function=surrogate.ATan(),
                                     detach_reset=True, num_classes=10)
    sj.functional.set_step_mode(theirs, "m")
    for bn in theirs.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(bn.bias, 0.0, 0.5)
    ours = zoo.create_model("sew_resnet18", cnf=cnf, num_classes=10)
    ours.load_state_dict(theirs.state_dict())
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = theirs.eval()(x.unsqueeze(0).repeat(ours.T, 1, 1, 1, 1)).mean(0)
        sj.functional.reset_net(theirs)
        assert torch.allclose(ours.eval()(x), expected, atol=1e-5)


def test_7b_net_has_the_papers_layers_and_parameter_count():
    model = zoo.create_model("sew_7b_net")
    conv_bn = lambda cin, cout, k: cin * cout * k * k + 2 * cout  # noqa: E731
    expected = (conv_bn(2, 32, 1) + 7 * 2 * conv_bn(32, 32, 3)  # up-conv, 7 blocks of two 3x3 convs
                + (1 + 7 * 2)                                    # one learnable tau per PLIF layer
                + 32 * 11 + 11)                                  # read-out on 32 x 1 x 1 features
    assert sum(p.numel() for p in model.parameters()) == expected
    frames = (torch.rand(3, 2, 2, 128, 128) > 0.9).float()
    assert model(frames).shape == (2, 11)


def test_wide_7b_net_widens_once_and_reads_out_128_features():
    model = zoo.create_model("sew_wide_7b_net", T=2)
    ups = [i for i, stage in enumerate(model.stages) if hasattr(stage, "up_conv")]
    assert ups == [0, 4] and model.fc.in_features == 128 and model.fc.out_features == 10


@pytest.mark.parametrize("cnf", ["ADD", "IAND"])
def test_dvs_block_with_zero_last_bn_is_an_identity(cnf):
    from zoo.models.sew_dvs import DVSBlock

    block = DVSBlock(8, 8, "sew", cnf, lambda: build_neuron("plif", detach_reset=True)).eval()
    torch.nn.init.zeros_(block.bn2.weight)
    spikes = (torch.rand(4, 2, 8, 6, 6) > 0.5).float()
    with torch.no_grad():
        assert torch.equal(block(spikes), spikes)


def test_dvs_net_input_checks():
    with pytest.raises(ValueError, match="too small"):
        zoo.create_model("sew_7b_net", input_size=(64, 64))
    with pytest.raises(ValueError, match="block must be one of"):
        zoo.create_model("sew_7b_net", block="dense")
    model = zoo.create_model("sew_7b_net", T=2, block="basic")
    with pytest.raises(ValueError, match=r"\[T, B, 2, 128, 128\]"):
        model(torch.rand(2, 2, 3, 128, 128))


def test_dvs_net_rejects_an_unknown_connection_function_when_built():
    with pytest.raises(ValueError, match="unknown connection function 'OR'"):
        zoo.create_model("sew_7b_net", cnf="OR")


@pytest.mark.parametrize("cnf", ["AND", "ADD", "IAND"])
def test_zero_init_residual_networks_start_as_identities_and_train(cnf):
    """Every connection function starts as the identity and passes gradients to every layer (AND through
    its always-firing branch neurons)."""
    torch.manual_seed(0)
    model = zoo.create_model("sew_resnet18", num_classes=10, in_channels=1, T=2, stem="cifar", width=4,
                             cnf=cnf, zero_init_residual=True)
    loss = torch.nn.functional.cross_entropy(model(torch.rand(8, 1, 12, 12)), torch.arange(8) % 10)
    loss.backward()
    stem_grad = model.conv1.weight.grad.abs().sum().item()
    assert stem_grad > 0


@pytest.mark.parametrize("cnf, iand, same", [("IAND", "spikingjelly", True), ("IAND", "paper", False),
                                             ("ADD", "paper", True)])
def test_bottleneck_iand_order_against_spikingjellys_own_sew_resnet50(cnf, iand, same):
    """SpikingJelly's Bottleneck computes IAND as A * (1 - S) (its BasicBlock and the paper: (1 - A) * S);
    its own sew_resnet50 with the same weights is the reference."""
    from spikingjelly.activation_based.model import sew_resnet as sj_sew

    torch.manual_seed(0)
    reference = sj_sew.sew_resnet50(spiking_neuron=sj.neuron.IFNode, surrogate_function=sj.surrogate.ATan(),
                                    detach_reset=True, cnf=cnf, num_classes=10)
    sj.functional.set_step_mode(reference, "m")
    for module in reference.modules():  # live branches, so that A is not all zeros
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, 0.0, 0.5)
    reference.eval()
    model = zoo.create_model("sew_resnet50", cnf=cnf, iand=iand, num_classes=10, neuron_kwargs={"fused": False}).eval()
    model.load_state_dict(reference.state_dict())
    x_seq = torch.rand(2, 1, 3, 64, 64)
    with torch.no_grad():
        sj.functional.reset_net(reference)
        expected = reference(x_seq)
        got = model.forward_steps(x_seq)
    assert torch.equal(expected, got) == same


def test_loading_a_checkpoint_into_a_paper_order_iand_bottleneck_net_warns(tmp_path):
    model = zoo.create_model("sew_resnet50", cnf="IAND", num_classes=10, width=8)
    path = tmp_path / "sj.pt"
    torch.save(model.state_dict(), path)
    with pytest.warns(UserWarning, match="iand='spikingjelly'"):
        zoo.load_weights(model, path)
    with pytest.raises(ValueError, match="iand must be one of paper, spikingjelly"):
        zoo.create_model("sew_resnet50", cnf="IAND", iand="swapped")


@pytest.mark.parametrize("cnf, bias", [("AND", 1.0), ("ADD", 0.0), ("IAND", 0.0)])
def test_zero_init_sets_the_last_bn_as_the_authors_zero_init_blocks(cnf, bias):
    """The authors' zero_init_blocks: last BN weight 0 in every block, its bias 1 for AND."""
    model = zoo.create_model("sew_resnet50", cnf=cnf, width=8, zero_init_residual=True)
    last_bns = [block.bn3 for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for block in stage]
    assert all(torch.all(bn.weight == 0) and torch.all(bn.bias == bias) for bn in last_bns)
