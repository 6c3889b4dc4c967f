"""SLTT and SLTT-K (zoo.train.gradients) against BPTT and against the paper's gradient written out."""
import json
import math

import pytest
import torch
from torch import nn

from conftest import tiny_recipe
from zoo.errors import RecipeError, ZooError
from zoo.hub.factory import create_model
from zoo.models.base import SpikingClassifier
from zoo.neurons import build_neuron
from zoo.neurons.compat import import_spikingjelly
from zoo.train import load_recipe, train
from zoo.train.checkpoint import load_checkpoint
from zoo.train.gradients import OnlineStep, draw_steps
from zoo.train.losses import build_loss

sj = import_spikingjelly()
TAU, ALPHA, V_TH = 2.0, 2.0, 1.0


class TwoLayerLIF(SpikingClassifier):
    """Linear-LIF-Linear-LIF: small enough to write SLTT's gradient out by hand."""

    head = "fc2"

    def __init__(self, T: int, hidden: int = 12, num_classes: int = 4):
        super().__init__(T=T, encoding="direct", in_channels=1, num_classes=num_classes, input_size=(3, 3))
        self.fc1 = sj.layer.Linear(9, hidden, step_mode="m")
        self.sn1 = build_neuron("lif", tau=TAU, surrogate="atan", surrogate_alpha=ALPHA, detach_reset=True)
        self.fc2 = sj.layer.Linear(hidden, num_classes, step_mode="m")
        self.sn2 = build_neuron("lif", tau=TAU, surrogate="atan", surrogate_alpha=ALPHA, detach_reset=True)

    def forward_sequence(self, x_seq):
        return self.sn2(self.fc2(self.sn1(self.fc1(x_seq.flatten(2)))))


def atan_derivative(x):
    """The atan surrogate's derivative as the PLIF paper writes it: (alpha/2) / (1 + (pi alpha x / 2)^2)."""
    return ALPHA / 2 / (1 + (math.pi / 2 * ALPHA * x) ** 2)


def sltt_reference(model: TwoLayerLIF, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """SLTT's gradient from the paper's equations: at every step only the spatial path,
    dL/dW^l = sum_t delta^l[t] s^{l-1}[t]^T with delta^l[t] = dL/ds^l[t] * sg'(u^l[t] - V_th) / tau,
    the loss (1/T) sum_t MSE(s^L[t], onehot(y))."""
    T, B = model.T, x.shape[0]
    inputs = x.flatten(1)
    w1, b1, w2, b2 = (p.detach() for p in (model.fc1.weight, model.fc1.bias, model.fc2.weight, model.fc2.bias))
    target = nn.functional.one_hot(y, w2.shape[0]).float()
    v1, v2 = torch.zeros(B, w1.shape[0]), torch.zeros(B, w2.shape[0])
    grads = {k: torch.zeros_like(p) for k, p in (("fc1.weight", w1), ("fc1.bias", b1), ("fc2.weight", w2),
                                                 ("fc2.bias", b2))}
    for _ in range(T):
        u1 = v1 + (inputs @ w1.T + b1 - v1) / TAU
        s1 = (u1 >= V_TH).float()
        u2 = v2 + (s1 @ w2.T + b2 - v2) / TAU
        s2 = (u2 >= V_TH).float()
        v1, v2 = u1 * (1 - s1), u2 * (1 - s2)
        d_s2 = 2 * (s2 - target) / target.numel() / T
        delta2 = d_s2 * atan_derivative(u2 - V_TH) / TAU
        delta1 = (delta2 @ w2) * atan_derivative(u1 - V_TH) / TAU
        grads["fc2.weight"] += delta2.T @ s1
        grads["fc2.bias"] += delta2.sum(0)
        grads["fc1.weight"] += delta1.T @ inputs
        grads["fc1.bias"] += delta1.sum(0)
    return grads


def gradients(model, run) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    run()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


def bptt(model, x, y, loss_fn):
    loss_fn(model.forward_steps(x), y).backward()


def net_and_batch(T, seed=0, threshold_scale=4.0):
    torch.manual_seed(seed)
    model = TwoLayerLIF(T)
    with torch.no_grad():  # weights large enough that both layers fire often
        model.fc1.weight.mul_(threshold_scale)
        model.fc2.weight.mul_(threshold_scale)
    return model, torch.rand(6, 1, 3, 3), torch.randint(0, 4, (6,))


@pytest.mark.parametrize("loss", ["mse", "ce", "tet"])
def test_with_one_time_step_sltt_is_bptt(loss):
    model, x, y = net_and_batch(T=1)
    loss_fn = build_loss(loss)
    expected = gradients(model, lambda: bptt(model, x, y, loss_fn))
    got = gradients(model, lambda: OnlineStep(model, loss_fn)(x, y))
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-6, atol=1e-7)


def test_sltt_equals_the_papers_spatial_only_gradient():
    model, x, y = net_and_batch(T=6)
    reference = sltt_reference(model, x, y)
    got = gradients(model, lambda: OnlineStep(model, build_loss("mse"))(x, y))
    assert any(float(g.abs().sum()) > 0 for g in reference.values())
    for name in reference:
        torch.testing.assert_close(got[name], reference[name], rtol=1e-5, atol=1e-7)
    bptt_grads = gradients(model, lambda: bptt(model, x, y, build_loss("tet", tet_lambda=0.0)))
    tet_sltt = gradients(model, lambda: OnlineStep(model, build_loss("tet", tet_lambda=0.0))(x, y))
    # the temporal terms matter here: SLTT is an approximation, not BPTT in another order
    assert not torch.allclose(bptt_grads["fc1.weight"], tet_sltt["fc1.weight"], atol=1e-6)


def test_sltt_k_is_the_sum_of_sltts_per_step_gradients_over_the_drawn_steps():
    model, x, y = net_and_batch(T=8)
    step = OnlineStep(model, build_loss("mse"))
    per_step = [gradients(model, lambda t=t: step(x, y, trained=[t])) for t in range(8)]
    drawn = draw_steps(8, 3, torch.Generator().manual_seed(0))
    assert len(set(drawn)) == 3 and drawn == draw_steps(8, 3, torch.Generator().manual_seed(0))
    got = gradients(model, lambda: step(x, y, trained=drawn))
    for name in got:
        torch.testing.assert_close(got[name], sum(per_step[t][name] for t in drawn), rtol=1e-5, atol=1e-7)
    full = gradients(model, lambda: step(x, y))
    for name in full:  # and SLTT itself is the sum over all steps
        torch.testing.assert_close(full[name], sum(g[name] for g in per_step), rtol=1e-5, atol=1e-7)


def test_the_forward_spikes_are_the_same_under_every_method():
    """STBP's CNN (no batch-norm), rate-coded: the online run draws the same Bernoulli inputs and fires
    the same spikes, step for step, in training mode."""
    model = create_model("stbp_cnn", T=5)
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    torch.manual_seed(3)
    sequence = model.forward_steps(x).detach()
    for trained in (None, [1, 3]):
        torch.manual_seed(3)
        online = OnlineStep(model, build_loss("mse"))(x, y, trained=trained)
        assert torch.equal(online, sequence)


def test_batch_norm_nets_give_the_same_spikes_in_eval_mode_and_the_static_stem_the_same_gradient():
    model = create_model("sew_resnet18", T=3, in_channels=1, num_classes=10, width=8, stem="cifar",
                         input_size=(16, 16))
    x, y = torch.rand(4, 1, 16, 16), torch.randint(0, 10, (4,))
    model.eval()
    assert torch.equal(OnlineStep(model, build_loss("ce"))(x, y), model.forward_steps(x).detach())
    model.train()
    step = OnlineStep(model, build_loss("ce"))
    static = gradients(model, lambda: step(x, y))
    model.static_stem = False  # the stem run at every step instead of once
    per_step_stem = gradients(model, lambda: step(x, y))
    assert static["conv1.weight"].abs().sum() > 0
    for name in static:
        torch.testing.assert_close(static[name], per_step_stem[name], rtol=1e-4, atol=1e-6)


def test_plif_time_constants_learn_under_sltt():
    model = create_model("plif_net_mnist", T=3, channels=4, hidden=16, input_size=(8, 8), dropout=0.0)
    x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    grads = gradients(model, lambda: OnlineStep(model, build_loss("mse"))(x, y))
    assert any(name.endswith(".w") and float(g.abs()) > 0 for name, g in grads.items())


def test_recipes_name_the_method_and_bad_values_fail_before_training(fmnist_root):
    assert load_recipe(tiny_recipe(fmnist_root))["train"]["gradient"] == "bptt"
    with pytest.raises(RecipeError, match="did you mean sltt"):
        load_recipe({**tiny_recipe(fmnist_root), "train": {"gradient": "slt"}})
    with pytest.raises(RecipeError, match="train.sltt_k must be a positive"):
        load_recipe({**tiny_recipe(fmnist_root), "train": {"gradient": "sltt-k", "sltt_k": 0}})


def test_sltt_k_with_more_steps_than_t_and_models_with_their_own_loop_are_refused(tmp_path, fmnist_root):
    config = tiny_recipe(fmnist_root)
    too_many = load_recipe(config, ["train.gradient=sltt-k", f"train.sltt_k={config['model']['kwargs']['T'] + 1}"])
    with pytest.raises(ZooError, match="more than the model's T"):
        train(too_many, tmp_path / "a", max_steps=1, progress=False)
    own_loop = load_recipe({**config, "model": {"name": "rsnn", "kwargs": {"hidden": [8]}}},
                           ["train.gradient=sltt"])
    with pytest.raises(ZooError, match="has its own time loop"):
        train(own_loop, tmp_path / "b", max_steps=1, progress=False)


def test_an_sltt_k_run_resumes_bit_for_bit_and_its_card_names_the_method(tmp_path, fmnist_root):
    config = load_recipe(tiny_recipe(fmnist_root, epochs=1), ["train.gradient=sltt-k", "train.sltt_k=1"])
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(config, straight, max_steps=6, progress=False)
    train(config, split, max_steps=3, progress=False)
    train(None, split, resume=True, max_steps=6, progress=False)
    a, b = (load_checkpoint(run / "checkpoints" / "last.pt") for run in (straight, split))
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert torch.equal(a["rng_gradient"], b["rng_gradient"])
    restarted = load_recipe(tiny_recipe(fmnist_root, epochs=1), ["train.gradient=sltt-k", "train.sltt_k=1",
                                                                   "train.seed=1"])
    train(restarted, tmp_path / "other", max_steps=6, progress=False)
    c = load_checkpoint(tmp_path / "other" / "checkpoints" / "last.pt")
    assert not torch.equal(a["rng_gradient"], c["rng_gradient"])  # the draw follows the seed
    from zoo.hub.publish import publish

    short = load_recipe(tiny_recipe(fmnist_root), ["train.gradient=sltt-k", "train.sltt_k=2", "train.steps=3",
                                                   "train.val_every=3"])
    train(short, tmp_path / "short", progress=False)
    publish(tmp_path / "short" / "checkpoints" / "best.pt", tag="sltt", out_dir=tmp_path / "weights", batch_size=50)
    card = json.loads((tmp_path / "weights" / "stbp_cnn.sltt.json").read_text())
    assert card["train"]["gradient"] == "sltt-k" and card["train"]["sltt_k"] == 2
