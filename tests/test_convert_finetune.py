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
def test_training_gives_the_exact_loops_spikes_where_dividing_by_the_threshold_is_exact(static, bias_shift):
    neuron = _neuron(T=6, bias_shift=bias_shift)
    neuron.static_input = static
    current = torch.randn(5 if static else 6 * 5, 3, 4, 4)
    with torch.no_grad():
        exact = neuron(current)
    trained = neuron(current.clone().requires_grad_())
    assert trained.requires_grad
    assert torch.equal(trained.detach(), exact)
    assert trained.unique().numel() > 2  # spikes of several per-channel sizes, and silence


def test_in_eval_mode_the_exact_loop_runs_even_with_gradients_on():
    neuron = _neuron(T=4, bias_shift=True).eval()
    neuron.threshold.copy_(torch.tensor([0.3, 1.7, 2.9]))  # dividing by these rounds
    current = torch.randn(4 * 5, 3, 4, 4)
    with torch.no_grad():
        exact = neuron(current)
    out = neuron(current.clone().requires_grad_())
    assert not out.requires_grad and torch.equal(out, exact)


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("bias_shift", [False, True])
def test_the_gradient_equals_the_equations_with_the_surrogate_and_a_detached_reset(static, bias_shift):
    """Reference in the neuron's own units: v += I + shift (+ threshold / 2T), spike where v >= threshold
    with d spike / d v = triangle(v / threshold - 1) / threshold, output threshold * spike, v -= output
    outside the graph."""
    T, batch = 5, 7
    neuron = _neuron(T=T, bias_shift=bias_shift).double()
    neuron.threshold.copy_(torch.tensor([0.3, 1.7, 2.9]))
    neuron.shift.copy_(torch.tensor([0.05, -0.1, 0.2]))
    neuron.static_input = static
    current = torch.randn(batch if static else T * batch, 3, 4, 4, dtype=torch.float64)
    weights = torch.randn(T * batch, 3, 4, 4, dtype=torch.float64)
    x = current.clone().requires_grad_()
    (neuron(x) * weights).sum().backward()

    triangle = build_surrogate("triangle")
    threshold = neuron.threshold.view(-1, 1, 1)
    drive = neuron.shift.view(-1, 1, 1) + (threshold / (2 * T) if bias_shift else 0.0)
    x_ref = current.clone().requires_grad_()
    steps = x_ref.expand(T, *x_ref.shape) if static else x_ref.view(T, batch, 3, 4, 4)
    v = neuron.v_init
    outputs = []
    for step in steps:
        v = v + step + drive
        spike = triangle((v - threshold) / threshold)
        outputs.append(spike * threshold)
        v = v - (spike * threshold).detach()
    (torch.cat(outputs) * weights).sum().backward()
    assert torch.allclose(x.grad, x_ref.grad, rtol=1e-10, atol=1e-12)
    assert x.grad.abs().sum() > 0


def test_training_a_network_with_calibrated_states_warns_until_they_are_dropped():
    snn = zoo.create_model("converted_resnet20.cifar10_qcfs_leg1").train()
    images = torch.rand(2, 3, 32, 32)
    with pytest.warns(UserWarning, match=r"holds states calibrated for T=4, 8: loading it or setting T puts one back"):
        snn(images)
    snn.drop_calibration()
    assert snn.calibrated_T == () and snn.state_dict().keys() == zoo.create_model(
        "converted_resnet20", width=16, activation="qcfs", qcfs_levels=4, T=8).state_dict().keys()


def test_a_recipe_starts_from_the_ann_weights_conversion_and_publishes_a_weight(cifar_root, tmp_path):
    config = load_recipe({"model": {"name": "converted_resnet20", "kwargs": SNN_KWARGS, "from_ann": ANN},
                          "data": {"name": "cifar10", "root": str(cifar_root), "val_fraction": 0.25},
                          "train": {"epochs": 1, "batch_size": 5, "eval_batch_size": 10, "lr": 1e-3, "amp": True}})
    trainer = Trainer(config, tmp_path / "run", progress=False)
    images = torch.rand(3, 3, 32, 32)
    reference = convert(zoo.create_model(ANN), [images], T=2, threshold="qcfs", calibrate="none")
    with torch.no_grad():  # channels-last (train.amp on a CPU with native bfloat16): the same up to rounding
        torch.testing.assert_close(trainer.model.eval()(images), reference(images), rtol=1e-5, atol=1e-5)
    assert trainer.model.calibrated_T == ()

    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.endswith("conv1.weight") for k in changed)

    card = publish(tmp_path / "run" / "checkpoints" / "last.pt", tag="hybrid", out_dir=tmp_path / "w", batch_size=10)
    assert card["converted_from"] == ANN and card["T"] == 2 and card["neuron"]["type"] == "IF"
    assert card["surrogate"]["type"] == "Triangle"
    loaded = zoo.load_weights(zoo.create_model("converted_resnet20", **card["kwargs"]), tmp_path / "w" / card["file"]).eval()
    trained = trainer.model.state_dict()
    assert all(torch.equal(value, trained[key]) for key, value in loaded.state_dict().items())
    with torch.no_grad():  # the trainer's copy may run channels-last: the same up to rounding
        torch.testing.assert_close(loaded(images), trainer.model.eval()(images), rtol=1e-5, atol=1e-5)


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
    with pytest.raises(RecipeError, match=r"ANN has QCFS activations and the converted network to train was built "
                                          r"for ReLU ones \(set its activation argument, model.kwargs.activation"):
        trainer({"name": "converted_resnet20", "kwargs": {"width": 16, "T": 2}, "from_ann": ANN})
    with pytest.raises(RecipeError, match="model.from_ann converted_resnet20.cifar10_qcfs_leg1: it is a converted SNN "
                                          "already; name the ANN weight it was converted from"):
        trainer({"name": "converted_resnet20", "kwargs": SNN_KWARGS, "from_ann": "converted_resnet20.cifar10_qcfs_leg1"})
    with pytest.raises(RecipeError, match=r"model.name names the architecture \(converted_resnet20\), not a weight"):
        trainer({"name": "converted_resnet20.cifar10_qcfs_t4", "kwargs": {}, "from_ann": ANN})
    with pytest.raises(RecipeError, match="model.head 'reset' replaces or reorders the read-out, which ConvertedSNN cannot"):
        trainer({"name": "converted_resnet20", "kwargs": SNN_KWARGS, "from_ann": ANN, "head": "reset"})
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
    with torch.no_grad():
        assert torch.equal(snn.eval()(images), reference(images))
    assert snn.calibrated_T == ()


def test_sweeping_a_fine_tuned_conversion_points_to_zoo_eval():
    from zoo.conversion.publish import sweep_weights
    from zoo.hub import get_weights

    with pytest.raises(ValueError, match=r"converted_resnet20.cifar10_qcfs_t4 was trained through time at T=4 from "
                                         r"the conversion of ann_resnet20.cifar10_qcfs_leg1: it has no calibrated "
                                         r"states to sweep; measure another T with zoo eval "):
        sweep_weights(get_weights("converted_resnet20.cifar10_qcfs_t4"), (8,))
