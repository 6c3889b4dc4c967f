"""The SEW authors' released checkpoints load into the zoo's models: state dicts built here from their
module layout (Spike-Element-Wise-ResNet: SeqToANNContainer-wrapped conv+BN, a flat ``conv`` list for the
event-data nets, PLIF ``w`` of shape [1]) land on the right tensors."""
import pytest
import torch
from torch import nn

import zoo


class SeqToANN(nn.Module):
    """The authors' ``layer.SeqToANNContainer``: its modules under ``.module``."""

    def __init__(self, *modules):
        super().__init__()
        self.module = nn.Sequential(*modules)


class PLIF(nn.Module):
    """The authors' ``MultiStepParametricLIFNode`` as a state dict sees it: ``w`` of shape [1]."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(1))


def _randomise(module: nn.Module) -> nn.Module:
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn_like(tensor))
    return module


def _authors_imagenet_basic(width: int, layers=(2, 2, 2, 2), classes: int = 10) -> nn.Module:
    """The authors' imagenet/sew_resnet.py module tree for BasicBlock nets (neurons hold no tensors)."""
    net = nn.Module()
    net.conv1, net.bn1 = nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width)
    inplanes = width
    for index, (blocks, factor) in enumerate(zip(layers, (1, 2, 4, 8))):
        planes, stride, stage = width * factor, 1 if index == 0 else 2, []
        for b in range(blocks):
            block = nn.Module()
            block.conv1 = SeqToANN(nn.Conv2d(inplanes, planes, 3, stride if b == 0 else 1, 1, bias=False),
                                   nn.BatchNorm2d(planes))
            block.conv2 = SeqToANN(nn.Conv2d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes))
            if b == 0 and (stride != 1 or inplanes != planes):
                block.downsample = nn.Sequential(SeqToANN(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                                          nn.BatchNorm2d(planes)), nn.Identity())
            stage.append(block)
            inplanes = planes
        setattr(net, f"layer{index + 1}", nn.Sequential(*stage))
    net.fc = nn.Linear(8 * width, classes)
    return _randomise(net)


def _authors_event_net(channels, classes: int, in_channels: int = 2, size: int = 128) -> nn.Module:
    """The authors' dvsgesture/smodels.py ResNetN with SEW blocks: one flat ``conv`` list and ``out``."""
    conv, width = [], in_channels
    for out_channels in channels:
        if out_channels != width:
            conv.append(nn.Sequential(SeqToANN(nn.Conv2d(width, out_channels, 1, bias=False),
                                               nn.BatchNorm2d(out_channels)), PLIF()))
        block = nn.Module()
        block.conv = nn.Sequential(
            nn.Sequential(SeqToANN(nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(out_channels)), PLIF()),
            nn.Sequential(SeqToANN(nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(out_channels)), PLIF()))
        conv += [block, SeqToANN(nn.MaxPool2d(2, 2))]
        width, size = out_channels, size // 2
    net = nn.Module()
    net.conv = nn.Sequential(*conv, nn.Flatten(2))
    net.out = nn.Linear(width * size * size, classes)
    return _randomise(net)


def test_an_imagenet_sew_checkpoint_in_the_authors_layout_loads(tmp_path):
    torch.manual_seed(0)
    authors = _authors_imagenet_basic(width=8)
    path = tmp_path / "sew18_checkpoint.pth"
    torch.save({"model": authors.state_dict()}, path)  # as their train.py saves it
    model = zoo.load_weights(zoo.create_model("sew_resnet18", width=8, num_classes=10), path)
    state = model.state_dict()
    assert torch.equal(state["layer2.0.conv1.weight"], authors.layer2[0].conv1.module[0].weight)
    assert torch.equal(state["layer2.0.bn2.running_var"], authors.layer2[0].conv2.module[1].running_var)
    assert torch.equal(state["layer3.0.downsample.0.weight"], authors.layer3[0].downsample[0].module[0].weight)
    assert torch.equal(state["layer3.0.downsample.1.bias"], authors.layer3[0].downsample[0].module[1].bias)
    assert torch.equal(state["fc.weight"], authors.fc.weight) and torch.equal(state["bn1.bias"], authors.bn1.bias)


@pytest.mark.parametrize("arch, channels, classes", [("sew_7b_net", [32] * 7, 11),
                                                     ("sew_wide_7b_net", [64] * 4 + [128] * 3, 10)])
def test_an_event_net_checkpoint_in_the_authors_layout_loads(tmp_path, arch, channels, classes):
    torch.manual_seed(0)
    authors = _authors_event_net(channels, classes)
    path = tmp_path / "checkpoint.pth"
    torch.save(authors.state_dict(), path)
    model = zoo.load_weights(zoo.create_model(arch), path)
    state = model.state_dict()
    assert torch.equal(state["stages.0.up_conv.weight"], authors.conv[0][0].module[0].weight)
    assert state["stages.0.up_sn.w"].shape == () and state["stages.0.up_sn.w"] == authors.conv[0][1].w[0]
    assert torch.equal(state["stages.0.block.conv2.weight"], authors.conv[1].conv[1][0].module[0].weight)
    last = len(channels) - 1
    index = len(authors.conv) - 3  # the last block (then its pool and the flatten)
    assert torch.equal(state[f"stages.{last}.block.bn1.running_mean"],
                       authors.conv[index].conv[0][0].module[1].running_mean)
    assert state[f"stages.{last}.block.sn2.w"] == authors.conv[index].conv[1][1].w[0]
    assert torch.equal(state["fc.weight"], authors.out.weight)


def test_a_checkpoint_of_another_net_in_the_authors_layout_is_one_clear_error(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save(_authors_event_net([16] * 2, 10, size=32).state_dict(), path)
    with pytest.raises(zoo.errors.WeightsError, match="does not fit SEWDVSNet"):
        zoo.load_weights(zoo.create_model("sew_7b_net"), path)
