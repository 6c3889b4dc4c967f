"""``train.channels_last``: the same function and gradients in either layout, a resume across layouts that
keeps the optimiser's state right, and published files that do not depend on the layout."""
import copy
import logging

import pytest
import torch
import yaml

import zoo
from conftest import tiny_recipe
from zoo.errors import RecipeError
from zoo.train import Trainer, load_recipe, train
from zoo.train.checkpoint import load_checkpoint
from zoo.train.memory_format import (match_optimizer_state, narrow_strided_pointwise_convolution, to_channels_last,
                                     wants_channels_last)

FAMILIES = [
    ("ann_resnet20", {"width": 8}, (3, 32, 32)),
    ("converted_resnet20", {"T": 2, "width": 8}, (3, 32, 32)),
    ("sew_resnet18", {"T": 2, "width": 8, "stem": "cifar", "in_channels": 1, "input_size": (28, 28)}, (1, 28, 28)),
    ("spiking_resnet18", {"T": 2, "width": 8, "stem": "cifar", "in_channels": 1, "input_size": (28, 28)}, (1, 28, 28)),
    ("spikformer_4_256", {"T": 2}, (3, 32, 32)),
    ("sdt_2_256", {"T": 2}, (3, 32, 32)),
    ("plif_net_mnist", {"T": 2}, (1, 28, 28)),
    ("stbp_cnn", {"T": 2}, (1, 28, 28)),
    ("ltsnn_vgg9", {"T": 2}, (2, 48, 48)),
]


@pytest.mark.parametrize("name, kwargs, shape", FAMILIES, ids=[case[0] for case in FAMILIES])
def test_every_convolutional_family_computes_the_same_in_either_layout(name, kwargs, shape):
    """In float64, where the convolutions' rounding cannot move a membrane across its threshold: the same
    outputs and weight gradients (a view that assumed NCHW strides would scramble them), every 4-D weight
    channels-last."""
    torch.manual_seed(0)
    default = zoo.create_model(name, **kwargs).train().double()
    with torch.no_grad():  # louder weights, so that the networks without batch norm spike at initialisation
        for weight in (p for p in default.parameters() if p.dim() >= 2):
            weight *= 4
    channels_last = to_channels_last(copy.deepcopy(default))
    images = torch.rand(6, *shape, dtype=torch.float64)
    outputs = []
    for model in (default, channels_last):
        torch.manual_seed(1)  # the same dropout masks
        out = model(images)
        out.square().sum().backward()
        outputs.append(out.detach())
    assert outputs[0].abs().max() > 0  # the comparison is not of two silent networks
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-9, atol=1e-12)
    for (key, p), q in zip(default.named_parameters(), channels_last.parameters()):
        if p.dim() == 4:
            assert q.is_contiguous(memory_format=torch.channels_last), key
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-8, atol=1e-12, msg=key)


def test_auto_chooses_channels_last_only_where_it_was_measured_faster():
    convolutional, dense = zoo.create_model("stbp_cnn", T=2), zoo.create_model("stbp_mlp", T=2)
    cpu = torch.device("cpu")
    native_bfloat16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert wants_channels_last("auto", convolutional, cpu, amp=True) == native_bfloat16
    assert wants_channels_last("auto", convolutional, cpu, amp=False)  # float32: measured faster too
    assert not wants_channels_last("auto", dense, cpu, amp=True)  # nothing to lay out
    assert not wants_channels_last("auto", convolutional, torch.device("cuda"), amp=True)
    assert wants_channels_last(True, dense, cpu, amp=False) and not wants_channels_last(False, convolutional, cpu, True)


def test_a_network_whose_float32_channels_last_backward_crashes_onednn_trains_in_the_default_layout(
        tmp_path, fmnist_root, caplog):
    """A width-4 ResNet-20's first downsampling shortcut (1x1, stride 2, 4 input channels): channels-last, its
    float32 weight gradient corrupts the heap on an AVX2 CPU (PyTorch 2.14's oneDNN 3.12)."""
    narrow, wide = (zoo.create_model("ann_resnet20", width=width) for width in (4, 8))
    cpu = torch.device("cpu")
    assert narrow_strided_pointwise_convolution(narrow) == "layers.3.shortcut.0"
    assert narrow_strided_pointwise_convolution(wide) is None
    assert wants_channels_last(True, wide, cpu, amp=False) and wants_channels_last(True, narrow, cpu, amp=True)
    recipe = tiny_recipe(fmnist_root, epochs=1, channels_last=True)
    recipe["model"].update(name="ann_resnet20", kwargs={"width": 4, "in_channels": 1, "input_size": [28, 28]})
    with caplog.at_level(logging.WARNING, logger="zoo"):
        summary = train(recipe, tmp_path, max_steps=2, progress=False)
    assert summary["step"] == 2
    assert ["layers.3.shortcut.0 is a strided 1x1 convolution with fewer than 8 input channels" in r.getMessage()
            for r in caplog.records] == [True]
    trained = load_checkpoint(tmp_path / "checkpoints" / "last.pt")["model"]
    assert trained["layers.3.shortcut.0.weight"].is_contiguous()


def test_a_setting_other_than_true_false_or_auto_is_refused(fmnist_root):
    with pytest.raises(RecipeError, match="train.channels_last must be true, false or auto, got 'yes please'"):
        tiny_recipe(fmnist_root, channels_last="yes please")


@pytest.mark.parametrize("optimizer, kwargs", [(torch.optim.SGD, {"momentum": 0.9}), (torch.optim.Adam, {})])
def test_optimizer_state_from_the_other_layout_steps_as_the_saved_run_would(optimizer, kwargs):
    """PyTorch's fused kernels read a state tensor with its parameter's strides: without matching them, a
    momentum buffer saved NCHW steps a channels-last weight with scrambled values."""
    torch.manual_seed(0)
    saved = torch.nn.Conv2d(3, 8, 3)
    images = torch.rand(2, 3, 8, 8)

    def step(layer, opt):
        layer(images).square().sum().backward()
        opt.step()
        opt.zero_grad()

    saved_opt = optimizer(saved.parameters(), lr=0.01, fused=True, **kwargs)
    step(saved, saved_opt)
    resumed = to_channels_last(copy.deepcopy(saved))
    resumed_opt = optimizer(resumed.parameters(), lr=0.01, fused=True, **kwargs)
    resumed_opt.load_state_dict(copy.deepcopy(saved_opt.state_dict()))
    match_optimizer_state(resumed_opt)
    for state in resumed_opt.state[resumed.weight].values():
        if torch.is_tensor(state) and state.dim() == 4:
            assert state.stride() == resumed.weight.stride()
    for _ in range(2):
        step(saved, saved_opt), step(resumed, resumed_opt)
    torch.testing.assert_close(resumed.weight, saved.weight, rtol=1e-5, atol=1e-6)


def test_a_run_resumed_in_the_other_layout_keeps_its_state_in_the_new_one(tmp_path, fmnist_root):
    train(tiny_recipe(fmnist_root, epochs=1, channels_last=False), tmp_path, max_steps=2, progress=False)
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config["train"]["channels_last"] = True
    trainer = Trainer(load_recipe(config), tmp_path, progress=False)
    trainer.resume()
    assert trainer.step == 2 and trainer.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    states = [(param, value) for param, state in trainer.optimizer.state.items() for value in state.values()
              if torch.is_tensor(value) and value.dim() == 4]
    assert states and all(value.stride() == param.stride() for param, value in states)


def test_a_weight_trained_channels_last_publishes_contiguous_tensors_of_the_same_values(tmp_path, fmnist_root,
                                                                                        monkeypatch):
    from safetensors.torch import load_file

    from zoo.hub.publish import publish

    run = tmp_path / "run"
    train(tiny_recipe(fmnist_root, epochs=1, channels_last=True), run, max_steps=3, progress=False)
    trained = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    assert trained["conv1.weight"].is_contiguous(memory_format=torch.channels_last)
    publish(run / "checkpoints" / "last.pt", tag="cl", out_dir=tmp_path / "weights", batch_size=50)
    [file] = (tmp_path / "weights").glob("stbp_cnn.cl-*.safetensors")
    published = load_file(file)
    for key, value in trained.items():
        assert published[key].is_contiguous() and torch.equal(published[key], value), key
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path / "weights"))
    assert torch.equal(zoo.create_model("stbp_cnn.cl", pretrained=True).conv1.weight, trained["conv1.weight"])


def test_memory_order_reads_a_channels_last_tensor_in_place_and_dots_pair_the_same_elements():
    from zoo.neurons.strides import flat_dot, in_memory_order

    a = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    b = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    flat = in_memory_order(a)
    assert flat.data_ptr() == a.data_ptr() and flat.shape == (a.numel(),)  # a view, not a copy
    torch.testing.assert_close(flat_dot(a, b), (a * b).sum())
    torch.testing.assert_close(flat_dot(a, b.contiguous()), (a * b).sum())  # layouts differ: still pairwise


def test_like_copies_only_where_the_layout_or_dtype_differs():
    from zoo.neurons.strides import like

    reference = torch.empty(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 4, 5)
    moved = like(x, reference)
    assert moved.stride() == reference.stride() and torch.equal(moved, x)
    assert like(moved, reference) is moved
    assert like(x, reference, dtype=torch.float64).dtype == torch.float64


def test_steps_expanded_from_a_channels_last_stem_keep_its_layout_forward_and_backward():
    from zoo.neurons.strides import empty_steps, expand_steps

    stem = torch.randn(1, 2, 3, 4, 5).requires_grad_()
    current = stem[0].contiguous(memory_format=torch.channels_last).unsqueeze(0)
    steps = expand_steps(current, 4)
    assert torch.equal(steps, current.expand(4, 2, 3, 4, 5))
    assert all(empty_steps(steps)[t].is_contiguous(memory_format=torch.channels_last) for t in range(4))
    grad = torch.randn(4, 2, 3, 4, 5)
    [summed] = torch.autograd.grad(steps, current, grad)
    torch.testing.assert_close(summed, grad.sum(0, keepdim=True))
    assert summed[0].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("shape, make", [((1, 1, 3, 4, 4), lambda base: base.expand(1, 5, 3, 4, 4)),  # stride 0
                                         ((1, 1, 3, 8, 8), lambda base: base[..., ::2, ::2])],  # gaps
                         ids=["overlapping", "sliced"])
def test_steps_expanded_from_a_tensor_that_is_not_dense_get_autograds_gradient(shape, make):
    from zoo.neurons.strides import expand_steps

    base = torch.randn(shape, requires_grad=True)
    expand_steps(make(base), 2).square().sum().backward()
    ours = base.grad.clone()
    base.grad = None
    make(base).expand(2, *make(base).shape[1:]).square().sum().backward()
    torch.testing.assert_close(ours, base.grad)


def test_expanded_steps_have_a_second_derivative_and_one_step_passes_its_gradient_through():
    from zoo.neurons.strides import expand_steps

    x = torch.randn(1, 2, 3, 4, 5).requires_grad_()
    [grad] = torch.autograd.grad(expand_steps(x, 3).pow(3).sum(), x, create_graph=True)
    [second] = torch.autograd.grad(grad.sum(), x)
    torch.testing.assert_close(second, 3 * 6 * x.detach())  # d/dx of sum over 3 steps of 3 x^2
    incoming = torch.randn(1, 2, 3, 4, 5)
    [passed] = torch.autograd.grad(expand_steps(x, 1), x, incoming)
    assert passed.data_ptr() == incoming.data_ptr()  # T=1 in x's layout: no copy
