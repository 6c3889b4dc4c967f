"""Recurrent spiking networks: the recurrent layer against the feed-forward neuron and a hand-written
loop, BPTT against finite differences, the sequence tasks' data, and the model's input contract."""
import pytest
import torch

import zoo
from conftest import REPO
from zoo.cli import main
from zoo.data import load_dataset
from zoo.data.sequences import DelayedRecall
from zoo.encoding import image_to_sequence
from zoo.models.rsnn import RecurrentSNN
from zoo.neurons import build_neuron
from zoo.neurons.compat import import_spikingjelly
from zoo.neurons.recurrent import RecurrentSpikingLayer
from zoo.train import Trainer, load_recipe

sj = import_spikingjelly()
NEURONS = ["if", "lif", "plif", "cuba_lif", "gif"]


def _run(module, x):
    sj.functional.reset_net(module)
    return module(x)


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("training", [True, False])
def test_without_recurrent_weights_the_layer_is_the_feedforward_neuron(neuron, training):
    torch.manual_seed(0)
    x = torch.rand(12, 4, 6) * 2
    layer = RecurrentSpikingLayer(6, 9, neuron=neuron, recurrent=False).train(training)
    reference = build_neuron(neuron).train(training)
    with torch.no_grad():
        expected = _run(reference, layer.input(x))
    spikes = _run(layer, x)
    assert spikes.shape == (12, 4, 9) and 0 < spikes.mean() < 1
    assert torch.equal(spikes, expected)


@pytest.mark.parametrize("neuron", NEURONS)
def test_zero_recurrent_weights_step_by_step_equal_the_feedforward_layer(neuron):
    torch.manual_seed(1)
    x = torch.rand(10, 3, 5) * 2
    stepped = RecurrentSpikingLayer(5, 8, neuron=neuron)
    torch.nn.init.zeros_(stepped.recurrent.weight)
    feedforward = RecurrentSpikingLayer(5, 8, neuron=neuron, recurrent=False)
    feedforward.input.load_state_dict(stepped.input.state_dict())
    assert torch.equal(_run(stepped, x), _run(feedforward, x))


def test_recurrent_lif_layer_equals_a_reference_loop():
    """``H = V + (W_in x + b + W_rec S_prev - V) / tau``, fire on ``H >= 1``, hard reset to 0."""
    torch.manual_seed(2)
    layer = RecurrentSpikingLayer(5, 8, neuron="lif", tau=4.0)
    with torch.no_grad():
        layer.input.weight.normal_(0.0, 1.0)
        layer.recurrent.weight.normal_(0.0, 0.8)
    x = torch.rand(15, 3, 5) * 3
    w_in, b, w_rec = layer.input.weight, layer.input.bias, layer.recurrent.weight
    v, s, expected = torch.zeros(3, 8), torch.zeros(3, 8), []
    with torch.no_grad():
        for x_t in x:
            h = v + (x_t @ w_in.t() + b + s @ w_rec.t() - v) / 4.0
            s = (h >= 1.0).float()
            v = h * (1.0 - s)
            expected.append(s)
    spikes = _run(layer, x)
    assert torch.equal(spikes, torch.stack(expected)) and 0 < spikes.mean() < 1
    with torch.no_grad():
        layer.recurrent.weight.zero_()
        assert not torch.equal(_run(layer, x), spikes)  # the recurrent weights matter in this case


def test_recurrent_gif_layer_equals_a_reference_loop():
    """The adaptive threshold: ``theta = 1 + a``, ``a <- a (1 - 1/tau_adapt) + beta S`` after each step."""
    torch.manual_seed(3)
    layer = RecurrentSpikingLayer(4, 6, neuron="gif", tau=3.0, tau_adapt=10.0, beta=0.5)
    with torch.no_grad():
        layer.input.weight.normal_(0.0, 1.0)
        layer.recurrent.weight.normal_(0.0, 0.8)
    x = torch.rand(20, 2, 4) * 3
    w_in, b, w_rec = layer.input.weight, layer.input.bias, layer.recurrent.weight
    v, a, s, expected = torch.zeros(2, 6), torch.zeros(2, 6), torch.zeros(2, 6), []
    with torch.no_grad():
        for x_t in x:
            h = v + (x_t @ w_in.t() + b + s @ w_rec.t() - v) / 3.0
            s = (h - (1.0 + a) >= 0).float()
            v = h * (1.0 - s)
            a = a * (1.0 - 1.0 / 10.0) + 0.5 * s
            expected.append(s)
    spikes = _run(layer, x)
    assert torch.equal(spikes, torch.stack(expected)) and 0 < spikes.mean() < 1


@pytest.mark.parametrize("neuron", ["lif", "cuba_lif", "gif"])
def test_bptt_through_the_recurrence_matches_finite_differences(neuron):
    """With the surrogate's own smooth function in the forward pass (``spiking=False``), the network is
    differentiable, and the backward pass through time must be its exact gradient."""
    torch.manual_seed(4)
    layer = RecurrentSpikingLayer(3, 4, neuron=neuron, tau=2.0).double()
    layer.neuron.surrogate_function = sj.surrogate.Sigmoid(alpha=3.0, spiking=False)
    x = torch.rand(6, 2, 3, dtype=torch.float64, requires_grad=True)
    params = (layer.input.weight, layer.input.bias, layer.recurrent.weight)

    def run(x, w_in, b, w_rec):
        for module, name, value in ((layer.input, "weight", w_in), (layer.input, "bias", b),
                                    (layer.recurrent, "weight", w_rec)):
            module._parameters[name] = value
        return _run(layer, x)

    assert torch.autograd.gradcheck(run, (x, *(p.detach().clone().requires_grad_() for p in params)))


def test_gradient_reaches_the_first_row_and_the_recurrent_weights():
    torch.manual_seed(5)
    model = zoo.create_model("rsnn", hidden=(32,))
    images = torch.rand(4, 1, 28, 28, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(model(images), torch.arange(4))
    loss.backward()
    assert images.grad[:, :, 0].abs().sum() > 0  # the first row's effect travels through 27 more steps
    assert model.layers[0].recurrent.weight.grad.abs().sum() > 0


def test_images_read_by_rows_give_the_same_scores_as_their_sequences():
    torch.manual_seed(6)
    model = zoo.create_model("rsnn", hidden=(16, 16)).eval()
    images = torch.rand(3, 1, 28, 28)
    rows = images[:, 0].transpose(0, 1)  # [28 rows, B, 28 pixels]
    with torch.no_grad():
        assert torch.equal(model(images), model(rows))
    assert model(images).shape == (3, 10) and model.T == 28
    pixels = zoo.create_model("rsnn", hidden=(8,), input_features=1, image_order="pixels")
    assert pixels.T == 784 and pixels.forward_steps(images[:1]).shape == (784, 1, 10)


def test_readout_window_is_the_last_steps():
    model = zoo.create_model("rsnn", hidden=(8,), input_features=30, image_order=None, readout_steps=10,
                             num_classes=2)
    x = torch.rand(50, 4, 30)
    with torch.no_grad():
        trace = model.forward_sequence(x)
        sj.functional.reset_net(model)
        window = model.forward_steps(x)
    assert torch.equal(window, trace[-10:]) and torch.allclose(model(x), trace[-10:].mean(0))


@pytest.mark.parametrize("shape", [(3, 1, 28, 27), (28, 3, 29), (3, 28), (2, 28, 3, 28, 1)])
def test_wrong_shapes_name_the_expected_ones(shape):
    model = zoo.create_model("rsnn", hidden=(8,))
    with pytest.raises(ValueError, match=r"expects input of shape \[T, B, 28\] or images \[B, 1, 28, 28\]"):
        model(torch.rand(shape))


def test_sequence_only_models_reject_images_and_bad_arguments():
    model = zoo.create_model("rsnn", hidden=(8,), input_features=30, image_order=None)
    with pytest.raises(ValueError, match=r"expects input of shape \[T, B, 30\], got \[2, 1, 28, 28\]"):
        model(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="give 28 features a step, but input_features is 30"):
        RecurrentSNN(input_features=30)
    with pytest.raises(ValueError, match="readout_steps must be positive"):
        RecurrentSNN(readout_steps=0)
    with pytest.raises(ValueError, match="unknown neuron 'lfi'"):
        RecurrentSNN(neuron="lfi")


def test_image_to_sequence_orders():
    image = torch.arange(2 * 3 * 4.0).view(2, 3, 4)
    rows = image_to_sequence(image, "rows")
    assert rows.shape == (3, 8) and torch.equal(rows[1], torch.cat([image[0, 1], image[1, 1]]))
    pixels = image_to_sequence(image, "pixels")
    assert pixels.shape == (12, 2) and torch.equal(pixels[5], image[:, 1, 1])
    with pytest.raises(ValueError, match="'rows' or 'pixels'"):
        image_to_sequence(image, "columns")


def test_sequential_fashion_mnist_is_the_images_row_by_row(fmnist_root):
    images = load_dataset("fashion-mnist", root=fmnist_root, split="test")
    rows = load_dataset("sequential-fashion-mnist", root=fmnist_root, split="test")
    pixels = load_dataset("sequential_fashion_mnist", root=fmnist_root, split="test", order="pixels")
    (image, label), (seq, seq_label) = images[7], rows[7]
    assert seq.shape == (28, 28) and seq_label == label and torch.equal(seq, image[0])
    assert pixels[7][0].shape == (784, 1) and torch.equal(pixels[7][0][:, 0], image.flatten())
    batch = rows.__getitems__([3, 7])
    assert torch.equal(batch[1][0], seq) and batch[1][1] == label and rows.classes == images.classes


class TestDelayedRecall:
    def test_labels_are_the_group_that_fired_during_the_cue(self):
        data = DelayedRecall(split="train", delay=30, size=200, values=3)
        assert data.steps == 50 and data.features == 40 and len(data) == 200
        labels = []
        for index in range(len(data)):
            spikes, value = data[index]
            cue = spikes[:data.cue_steps].view(data.cue_steps, 4, 10).sum(dim=(0, 2))
            recall = spikes[-data.recall_steps:].view(data.recall_steps, 4, 10).sum(dim=(0, 2))
            delay = spikes[data.cue_steps:-data.recall_steps]
            assert int(cue[:3].argmax()) == value and int(recall.argmax()) == 3
            assert delay.mean() < 0.05  # background only: nothing tells the value during the delay
            labels.append(value)
        assert set(labels) == {0, 1, 2}

    def test_samples_are_fixed_by_seed_split_and_index(self):
        a, b = DelayedRecall(delay=5, size=8), DelayedRecall(delay=5, size=8)
        assert all(torch.equal(a[i][0], b[i][0]) for i in range(8))
        assert not torch.equal(a[0][0], DelayedRecall(delay=5, size=8, seed=1)[0][0])
        test = load_dataset("delayed-recall", split="test", delay=5, size=8)
        assert not any(torch.equal(a[i][0], test[i][0]) for i in range(8))
        assert len(load_dataset("delayed-recall", delay=5)) == 4096 and len(test) == 8

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="delay >= 0"):
            DelayedRecall(delay=-1)
        with pytest.raises(ValueError, match="at least 2 values"):
            DelayedRecall(values=1)
        with pytest.raises(ValueError, match="rate_noise < rate_on"):
            DelayedRecall(rate_on=0.01, rate_noise=0.1)
        with pytest.raises(IndexError, match="has 4 samples"):
            DelayedRecall(size=4)[4]


def test_shipped_recurrent_weights_load_through_the_hub_and_evaluate(capsys):
    model = torch.hub.load(str(REPO), "rsnn", source="local", pretrained="recall_gif_d100", trust_repo=True)
    data = load_dataset("delayed-recall", split="test", size=64, delay=100)
    x = torch.stack([data[i][0] for i in range(64)], dim=1)  # [T, B, F]
    labels = torch.tensor([data[i][1] for i in range(64)])
    with torch.no_grad():
        assert (model(x).argmax(1) == labels).float().mean() > 0.9  # the card: 99.8% on 1,024
    assert main(["eval", "rsnn", "--T", "5"]) == 2
    assert "takes as many steps as its input is long" in capsys.readouterr().err


def test_a_recipe_continues_from_a_shipped_recurrent_weight(tmp_path):
    config = load_recipe(str(REPO / "recipes" / "rsnn_delayed_recall_gif.yaml"),
                         ["model.name=rsnn.recall_gif_d100", "data.kwargs.delay=150", "data.kwargs.size=32"])
    trainer = Trainer(config, tmp_path / "run", progress=False)
    shipped = zoo.create_model("rsnn.recall_gif_d100")
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.state_dict().values(), shipped.state_dict().values()))
    assert trainer.fit(max_steps=2)["step"] == 2
