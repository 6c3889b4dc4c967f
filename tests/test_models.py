import warnings

import pytest
import torch

import zoo
import zoo.train.losses
from zoo.models.stbp import STBPCNN


def test_stbp_cnn_has_the_papers_layers_and_parameter_count():
    model = zoo.create_model("stbp_cnn")
    # conv 1->32 (3x3) 320, conv 32->32 9248, fc 1568->128 200832, fc 128->10 1290
    assert sum(p.numel() for p in model.parameters()) == 320 + 9248 + 200832 + 1290
    assert model.fc1.in_features == 1568 and model.fc2.out_features == 10
    assert model.sn1.v_threshold == 0.5 and type(model.sn1.surrogate_function).__name__ == "Rectangle"
    assert 1.0 - 1.0 / model.sn1.tau == pytest.approx(0.2)


def test_images_and_frame_sequences_give_class_scores():
    model = zoo.create_model("stbp_cnn", T=3, width=4, hidden=8)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert model(torch.rand(5, 2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.filterwarnings("ignore:STBPCNN expects images in")  # values above 1 make its neurons fire
def test_forward_resets_neuron_state():
    model = zoo.create_model("stbp_cnn", T=4, encoding="direct", width=4, hidden=8)
    with torch.no_grad():
        x = torch.rand(3, 1, 28, 28) * 3
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("shape", [(1, 28, 28), (2, 3, 28, 28), (2, 1, 32, 32), (4, 2, 2, 1, 28, 28)])
def test_wrong_shapes_name_the_expected_one(shape):
    model = zoo.create_model("stbp_cnn", T=2, width=4, hidden=8)
    with pytest.raises(ValueError, match=r"expects input of shape \[B, 1, 28, 28\] or \[T, B, 1, 28, 28\]"):
        model(torch.rand(shape))


def test_integer_images_are_rejected():
    model = zoo.create_model("stbp_cnn", T=2, width=4, hidden=8)
    with pytest.raises(ValueError, match="float input"):
        model(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))


def test_gradient_reaches_the_first_layer_through_every_neuron():
    torch.manual_seed(0)
    model = zoo.create_model("stbp_cnn", T=4)
    steps = model.forward_steps(torch.rand(8, 1, 28, 28))
    zoo.train.losses.rate_mse(steps, torch.arange(8) % 10).backward()
    for name in ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.bias"):
        grad = model.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_constructor_checks():
    with pytest.raises(ValueError, match="divisible by 4"):
        STBPCNN(input_size=(30, 30))
    with pytest.raises(ValueError, match="decay"):
        STBPCNN(decay=1.5)
    with pytest.raises(ValueError, match="T must be"):
        STBPCNN(T=0)


def test_another_surrogate_keeps_its_own_default_width():
    model = zoo.create_model("stbp_cnn", surrogate="atan")
    assert model.sn1.surrogate_function.alpha == 2.0
    assert zoo.create_model("stbp_cnn").sn1.surrogate_function.alpha == 1.0  # STBP's window


def test_stbp_mlp_is_the_papers_nmnist_net():
    model = zoo.create_model("stbp_mlp")
    assert (model.fc1.in_features, model.fc1.out_features, model.fc2.out_features) == (2 * 34 * 34, 800, 10)
    frames = (torch.rand(10, 3, 2, 34, 34) < 0.1).float()
    out = model(frames)
    assert out.shape == (3, 10) and ((out >= 0) & (out <= 1)).all()
    with pytest.raises(ValueError, match=r"\[B, 2, 34, 34\]"):
        model(torch.rand(3, 1, 28, 28))


def test_normalised_images_are_run_but_warned_about():
    """mean/std-normalised input runs and predicts near chance: say so once, naming the range."""
    model = zoo.create_model("stbp_cnn", T=2).eval()
    images = torch.rand(2, 1, 28, 28)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(images)  # [0, 1]: silent
    with pytest.warns(UserWarning, match=r"expects images in \[0, 1\].*got values in \[-2\.\d+, 0\.\d+\]"):
        model((images - 0.8) / 0.35)
    sew = zoo.create_model("sew_resnet18", T=1, width=4, input_size=(32, 32),
                           mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sew(torch.rand(1, 3, 32, 32))  # normalised inside the model: no warning



class PagesResNet9(torch.nn.Module):
    """Page's ``net()`` (davidcpage/cifar10-fast) as his graph runs it: every node in dict order, a layer's
    ``conv_bn`` then its pool then its ``residual`` (``in + res2/relu``), ``MaxPool2d(4)``, a bias-free linear
    layer and ``Mul(0.125)``."""

    def __init__(self, channels=(64, 128, 256, 512)):
        super().__init__()
        nn = torch.nn

        def conv_bn(c_in, c_out):
            return nn.ModuleDict({"conv": nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), "bn": nn.BatchNorm2d(c_out),
                                  "relu": nn.ReLU(True)})

        prep, *widths = channels
        self.prep = conv_bn(3, prep)
        self.layers = nn.ModuleList()
        for index, (c_in, c_out) in enumerate(zip(channels, widths)):
            layer = nn.ModuleDict({"conv_bn": conv_bn(c_in, c_out), "pool": nn.MaxPool2d(2)})
            if index in (0, 2):  # res_layers=('layer1', 'layer3')
                layer["res1"], layer["res2"] = conv_bn(c_out, c_out), conv_bn(c_out, c_out)
            self.layers.append(layer)
        self.pool, self.linear = nn.MaxPool2d(4), nn.Linear(widths[-1], 10, bias=False)

    @staticmethod
    def run(block, x):
        return block["relu"](block["bn"](block["conv"](x)))

    def forward(self, x):
        x = self.run(self.prep, x)
        for layer in self.layers:
            x = layer["pool"](self.run(layer["conv_bn"], x))
            if "res1" in layer:
                x = x + self.run(layer["res2"], self.run(layer["res1"], x))
        return self.linear(self.pool(x).flatten(1)) * 0.125


def test_resnet9_with_max_pooling_computes_pages_net():
    """``pool="max"`` is Page's ResNet-9 (6.57M parameters): his graph, given the same tensors in the same
    order, gives the same logits; the default average pooling keeps the parameters and changes the output."""
    torch.manual_seed(0)
    pages = PagesResNet9().eval()
    ours, average = (zoo.create_model("ann_resnet9", pool=pool).eval() for pool in ("max", "avg"))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in pages.parameters()) == 6_573_120
    ours.load_state_dict(dict(zip(ours.state_dict(), pages.state_dict().values())))
    average.load_state_dict(ours.state_dict())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), pages(x))
        assert not torch.allclose(average(x), pages(x))
    with pytest.raises(ValueError, match="pool must be one of avg, max, got 'min'"):
        zoo.create_model("ann_resnet9", pool="min")
