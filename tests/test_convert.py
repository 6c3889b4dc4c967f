"""ANN-to-SNN conversion: BN folding is exact, thresholds are the chosen percentile, the SNN's neuron
outputs approach the ANN's activations layer by layer as T grows, and calibration helps at small T."""
import json

import pytest
import torch

import zoo
from zoo.convert import ConvertedSNN, convert, fold_bn, layer_errors, relu_activations


@pytest.fixture(scope="module")
def trained_ann():
    """A ResNet-20 (width 8) fitted briefly to random images, with non-trivial BN statistics."""
    torch.manual_seed(0)
    ann = zoo.create_model("ann_resnet20", width=8, in_channels=1, input_size=(12, 12))
    data = torch.rand(64, 1, 12, 12)
    labels = torch.randint(0, 10, (64,))
    optimizer = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(ann(data), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return ann.eval(), [data[:32], data[32:]]


def test_bn_folding_is_exact(trained_ann):
    ann, batches = trained_ann
    folded = fold_bn(ann)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        assert torch.allclose(folded(batches[0]), ann(batches[0]), atol=1e-5)


def test_thresholds_are_the_activation_percentile(trained_ann):
    ann, batches = trained_ann
    activations = relu_activations(fold_bn(ann), batches)
    snn = convert(ann, batches, T=8, percentile=99.0, calibrate="none")
    neurons = dict(snn.net.named_modules())
    for name, values in activations.items():
        assert float(neurons[name].threshold) == pytest.approx(float(torch.quantile(values.flatten(), 0.99)), rel=1e-5)
    top = convert(ann, batches, T=8, percentile=100.0, calibrate="none")
    assert float(dict(top.net.named_modules())["relu"].threshold) == pytest.approx(float(activations["relu"].max()))


def test_neuron_outputs_approach_the_ann_as_t_grows(trained_ann):
    ann, batches = trained_ann
    activations = relu_activations(fold_bn(ann), batches)
    snn = convert(ann, batches, T=4, percentile=100.0, calibrate="none")
    errors = {}
    for T in (4, 16, 64, 256):
        snn.T = T
        errors[T] = layer_errors(snn, activations, batches)
    for name in activations:
        assert errors[256][name] < errors[16][name] < errors[4][name], (name, [errors[T][name] for T in errors])
    assert max(errors[256].values()) < 0.1
    with torch.no_grad():
        logits = ann(batches[0])
        assert (snn(batches[0]).argmax(1) == logits.argmax(1)).float().mean() > 0.8


@pytest.mark.parametrize("mode", ["bias", "potential"])
def test_calibration_reduces_the_error_at_small_t(trained_ann, mode):
    ann, batches = trained_ann
    activations = relu_activations(fold_bn(ann), batches)
    plain = convert(ann, batches, T=8, percentile=99.9, calibrate="none")
    calibrated = convert(ann, batches, T=8, percentile=99.9, calibrate=mode)
    before, after = layer_errors(plain, activations, batches), layer_errors(calibrated, activations, batches)
    assert sum(after.values()) < sum(before.values())


def test_the_bias_shift_centres_the_quantisation():
    ann = torch.nn.Sequential(torch.nn.ReLU())
    ann.in_channels, ann.input_size = 1, (1, 1)
    snn = ConvertedSNN(ann, T=4)
    relu = snn.net[0]
    relu.threshold.fill_(1.0)
    x = torch.full((1, 1, 1, 1), 0.4)
    # 0.4 per step: with the 1/8 shift, 0.525 per step -> spikes at steps 2 and 4 -> 0.5 (nearest of 0, .25, .5);
    # without it, 0.4 per step gives one spike (step 3) -> 0.25
    assert snn(x).item() == pytest.approx(0.5)
    relu.bias_shift = False
    assert snn(x).item() == pytest.approx(0.25)


def test_converted_arch_loads_a_conversion_and_runs_at_any_t(trained_ann):
    ann, batches = trained_ann
    snn = convert(ann, batches, T=8)
    model = zoo.create_model("converted_resnet20", width=8, in_channels=1, input_size=(12, 12), T=8)
    model.load_state_dict(snn.state_dict())
    with torch.no_grad():
        assert torch.equal(model(batches[0]), snn(batches[0]))
        model.T = 16
        assert model(batches[0]).shape == (32, 10) and all(n.T == 16 for n in model.neurons())


def test_shared_relus_and_bad_arguments_are_refused(trained_ann):
    ann, batches = trained_ann
    with pytest.raises(ValueError, match="calibrate must be one of none, bias, potential"):
        convert(ann, batches, calibrate="weights")
    with pytest.raises(ValueError, match="at least one calibration batch"):
        convert(ann, [])
    shared = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    shared.forward = lambda x: shared[1](shared[1](shared[0](x.flatten(1))))
    shared.in_channels, shared.input_size = 1, (2, 2)
    with pytest.raises(ValueError, match="used more than once per forward pass"):
        ConvertedSNN(shared)


@pytest.fixture(scope="module")
def ann_run(tmp_path_factory, fmnist_root):
    """A short ReLU ResNet-20 training run on the fixture data, as `zoo convert` receives it."""
    from zoo.train import load_recipe, train

    out = tmp_path_factory.mktemp("ann_run")
    config = load_recipe({"model": {"name": "ann_resnet20", "kwargs": {"in_channels": 1, "input_size": [28, 28],
                                                                       "width": 4}},
                          "data": {"name": "fashion-mnist", "root": str(fmnist_root), "val_fraction": 0.2},
                          "train": {"epochs": 8, "batch_size": 20, "eval_batch_size": 50, "lr": 1e-2}})
    train(config, out, progress=False)
    return out


def test_zoo_convert_publishes_a_conversion_with_its_accuracy_against_T(ann_run, fmnist_root, tmp_path,
                                                                       monkeypatch, capsys):
    from zoo.cli import main
    from zoo.hub.publish import evaluate_weights

    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path))
    assert main(["convert", str(ann_run / "checkpoints" / "best.pt"), "--tag", "tiny", "--T", "16",
                 "--sweep", "4,16", "--calibration-images", "60", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    card = json.loads((tmp_path / "converted_resnet20.tiny.json").read_text())
    conversion = card["conversion"]
    assert card["T"] == 16 and card["kwargs"]["width"] == 4 and conversion["from"] == "ann_resnet20"
    assert set(conversion["acc1_by_T"]) == {"4", "16"}
    assert conversion["acc1_by_T"]["16"] == card["metrics"]["acc1"]  # the same file at its own T
    assert conversion["ann_acc1"] > 50.0 and card["metrics"]["acc1"] > 30.0  # chance is 10%
    assert f"{card['metrics']['acc1']:.2f}%" in out and "T=   4" in out
    # a published conversion's sweep can be extended; the card keeps the steps in order
    assert main(["convert", "converted_resnet20.tiny", "--sweep", "8"]) == 0
    extended = json.loads((tmp_path / "converted_resnet20.tiny.json").read_text())["conversion"]["acc1_by_T"]
    assert list(extended) == ["4", "8", "16"] and extended["4"] == conversion["acc1_by_T"]["4"]
    # `zoo eval --T` reproduces the sweep's numbers from the file
    again = evaluate_weights("converted_resnet20.tiny", root=fmnist_root, T=4, progress=False)
    assert again["acc1"] == conversion["acc1_by_T"]["4"]


def test_zoo_convert_refuses_a_spiking_checkpoint(tiny_run, capsys):
    from zoo.cli import main

    assert main(["convert", str(tiny_run / "checkpoints" / "best.pt"), "--tag", "x"]) == 2
    assert capsys.readouterr().err.strip() == ("zoo: error: zoo convert takes a checkpoint of a ReLU network "
                                               "(an ann_* architecture), got stbp_cnn")
