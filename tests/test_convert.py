"""ANN-to-SNN conversion: BN folding is exact, thresholds are the chosen percentile, the SNN's neuron
outputs approach the ANN's activations layer by layer as T grows, and calibration helps at small T."""
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
