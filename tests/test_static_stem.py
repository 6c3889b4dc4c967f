"""Under direct encoding the layers before the first neuron see the same image at every step, so the
models run them once: the same logits, the same gradients, and the first neuron sees the current at
every step."""
import pytest
import torch

from zoo.hub.factory import create_model

MODELS = [  # (arch, kwargs, weight gain that makes the untrained net fire to its read-out)
    ("sew_resnet18", {"T": 4, "stem": "cifar", "width": 8, "in_channels": 1, "input_size": (28, 28),
                      "num_classes": 10, "zero_init_residual": False}, 1.0),
    ("stbp_cnn", {"T": 5, "encoding": "direct"}, 4.0),
    ("plif_net_mnist", {"T": 3, "channels": 8, "hidden": 32}, 4.0),
]


def _logits_and_grads(model, images, static: bool):
    model.static_stem = static
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # dropout masks
    logits = model(images)
    logits.square().sum().backward()
    return logits.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("arch, kwargs, gain", MODELS)
def test_the_stem_run_once_is_the_same_network(arch, kwargs, gain, training):
    torch.manual_seed(0)
    model = create_model(arch, **kwargs).double().train(training)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() > 1:
                p.mul_(gain)
    assert type(model).static_stem
    images = torch.rand(6, 1, 28, 28, dtype=torch.float64)
    once, grads_once = _logits_and_grads(model, images, static=True)
    repeated, grads_repeated = _logits_and_grads(model, images, static=False)
    assert torch.allclose(once, repeated, atol=1e-12) and once.abs().sum() > 0
    assert grads_once.keys() == grads_repeated.keys() and grads_once
    for name, grad in grads_once.items():
        assert torch.allclose(grad, grads_repeated[name], atol=1e-10), name


def test_the_stem_runs_on_one_copy_of_the_batch_and_the_neuron_on_every_step():
    torch.manual_seed(0)
    model = create_model(MODELS[0][0], **MODELS[0][1]).eval()
    seen = {}
    for name in ("conv1", "sn1"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: seen.update({name: o.shape}))
    model(torch.rand(3, 1, 28, 28))
    assert seen["conv1"][:2] == (1, 3) and seen["sn1"][:2] == (4, 3)


def test_event_frames_and_rate_coding_still_run_the_stem_every_step():
    torch.manual_seed(0)
    model = create_model("stbp_cnn", T=4)  # rate (Bernoulli) coding: a different image every step
    seen = []
    model.conv1.register_forward_hook(lambda m, i, o: seen.append(o.shape[0]) and None)
    model(torch.rand(2, 1, 28, 28))
    model(torch.rand(4, 2, 1, 28, 28))  # frames
    assert seen == [4, 4]


def test_activity_analysis_counts_the_same_ann_macs_with_the_stem_run_once():
    """The stem ran once stands for every step of the ANN it is compared with; the SNN's own analog MACs
    are what it really computes (the stem once)."""
    from zoo.train.activity import ActivityMonitor

    torch.manual_seed(0)
    model = create_model(MODELS[0][0], **MODELS[0][1]).eval()
    images = torch.rand(2, 1, 28, 28)
    reports = {}
    for static in (True, False):
        model.static_stem = static
        with ActivityMonitor(model) as monitor, torch.no_grad():
            model(images)
        reports[static] = monitor.report()
    assert reports[True].ann_macs == pytest.approx(reports[False].ann_macs)
    assert reports[True].snn_macs == pytest.approx(reports[False].snn_macs / model.T)
    assert reports[True].synops == pytest.approx(reports[False].synops)
