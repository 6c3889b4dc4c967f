"""Fine-tuning a converted SNN through time (``model.from_ann``): the differentiable IF path gives the exact
loop's spikes, its gradient equals a plain autograd loop written from the equations, a recipe starts from
the conversion of an ANN weight and publishes a weight that loads back, and misuses are one line."""
import pytest
import torch

import zoo
from zoo.conversion import IFNeuron, convert
from zoo.conversion.pipeline import start_from_ann
from zoo.errors import RecipeError
from zoo.hub.publish import publish
from zoo.neurons.surrogates import build_surrogate
from zoo.train.config import load_recipe
from zoo.train.trainer import Trainer

ANN = "ann_resnet20.cifar10_qcfs_leg1"  # a shipped QCFS ResNet-20 (width 16, 4 levels)
SNN_KWARGS = {"width": 16, "activation": "qcfs", "qcfs_levels": 4, "T": 2}


def _neuron(T: int, bias_shift: bool) -> IFNeuron:
    torch.manual_seed(0)
    neuron = IFNeuron((3, 4, 4), T=T, bias_shift=bias_shift)
    neuron.threshold.copy_(torch.tensor([0.5, 1.0, 2.0]))  # powers of two: dividing by them is exact
    neuron.v_init.copy_(torch.rand(3, 4, 4))
    return neuron


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("bias_shift", [False, True])
def test_the_differentiable_path_gives_the_exact_loops_spikes(static, bias_shift):
    neuron = _neuron(T=6, bias_shift=bias_shift)
    neuron.static_input = static
    current = torch.randn(5 if static else 6 * 5, 3, 4, 4)
    with torch.no_grad():
        exact = neuron(current)
    trained = neuron(current.clone().requires_grad_())
    assert trained.requires_grad
    assert torch.equal(trained.detach(), exact)
    assert trained.unique().numel() > 2  # spikes of several per-channel sizes, and silence


def test_the_gradient_equals_a_plain_loop_with_the_surrogate_and_a_detached_reset():
    neuron = _neuron(T=5, bias_shift=False)
    current = torch.randn(5 * 7, 3, 4, 4, dtype=torch.float64)
    neuron.double()
    weights = torch.randn_like(current)
    x = current.clone().requires_grad_()
    (neuron(x) * weights).sum().backward()

    spike = build_surrogate("triangle")  # the default: max(0, 1 - |v / threshold - 1|)
    threshold = neuron.threshold.view(-1, 1, 1)
    x_ref = current.clone().requires_grad_()
    v = neuron.v_init / threshold
    outputs = []
    for step in x_ref.view(5, 7, 3, 4, 4):
        v = v + step / threshold
        s = spike(v - 1.0)
        outputs.append(s * threshold)
        v = v - s.detach()
    (torch.cat(outputs) * weights).sum().backward()
    assert torch.allclose(x.grad, x_ref.grad, rtol=1e-10, atol=1e-12)
    assert x.grad.abs().sum() > 0


def test_a_recipe_starts_from_the_ann_weights_conversion_and_publishes_a_weight(cifar_root, tmp_path):
    config = load_recipe({"model": {"name": "converted_resnet20", "kwargs": SNN_KWARGS, "from_ann": ANN},
                          "data": {"name": "cifar10", "root": str(cifar_root), "val_fraction": 0.25},
                          "train": {"epochs": 1, "batch_size": 5, "eval_batch_size": 10, "lr": 1e-3, "amp": True}})
    trainer = Trainer(config, tmp_path / "run", progress=False)
    images = torch.rand(3, 3, 32, 32)
    reference = convert(zoo.create_model(ANN), [images], T=2, threshold="qcfs", calibrate="none")
    with torch.no_grad():
        assert torch.equal(trainer.model.eval()(images), reference(images))
    assert trainer.model.calibrated_T == ()

    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.endswith("conv1.weight") for k in changed)

    card = publish(tmp_path / "run" / "checkpoints" / "last.pt", tag="hybrid", out_dir=tmp_path / "w", batch_size=10)
    assert card["converted_from"] == ANN and card["T"] == 2 and card["neuron"]["type"] == "IF"
    assert card["surrogate"]["type"] == "Triangle"
    loaded = zoo.load_weights(zoo.create_model("converted_resnet20", num_classes=10, **SNN_KWARGS),
                              tmp_path / "w" / card["file"]).eval()
    with torch.no_grad():
        assert torch.equal(loaded(images), trainer.model.eval()(images))


def test_misuses_of_from_ann_are_one_line(cifar_root, fmnist_root, tmp_path):
    def trainer(model: dict, root=cifar_root, name="cifar10"):
        config = load_recipe({"model": model, "data": {"name": name, "root": str(root)}, "train": {"epochs": 1}})
        return Trainer(config, tmp_path, progress=False)

    with pytest.raises(RecipeError, match=r"model.from_ann must name an ANN weight \(arch.tag\), got 'ann_resnet20'"):
        trainer({"name": "converted_resnet20", "kwargs": SNN_KWARGS, "from_ann": "ann_resnet20"})
    with pytest.raises(RecipeError, match="converts an ANN weight into a converted network .* ann_resnet20 is not one"):
        trainer({"name": "ann_resnet20", "kwargs": {"width": 16}, "from_ann": ANN})
    with pytest.raises(RecipeError, match=f"model.from_ann {ANN}: the ANN does not fit the converted network to "
                                          f"train: conv1.weight is \\[16, 3, 3, 3\\] in the ANN, \\[8, 3, 3, 3\\] here"):
        trainer({"name": "converted_resnet20", "kwargs": {**SNN_KWARGS, "width": 8}, "from_ann": ANN})
    with pytest.raises(RecipeError, match=r"converted_resnet20.fmnist_erase holds states calibrated per T \(.*\), "
                                          r"which loading would put back over the trained weights"):
        trainer({"name": "converted_resnet20.fmnist_erase", "kwargs": {}}, root=fmnist_root, name="fashion-mnist")


def test_start_from_ann_searches_thresholds_for_a_relu_network():
    torch.manual_seed(0)
    ann = zoo.create_model("ann_resnet20", width=8, in_channels=1, input_size=(12, 12)).eval()
    snn = zoo.create_model("converted_resnet20", width=8, in_channels=1, input_size=(12, 12), T=4)
    images = torch.rand(16, 1, 12, 12)
    start_from_ann(snn, ann, images)
    reference = convert(ann, [images], T=4, calibrate="none")
    assert torch.equal(snn.neurons()[3].threshold, reference.neurons()[3].threshold)
    assert snn.calibrated_T == ()
