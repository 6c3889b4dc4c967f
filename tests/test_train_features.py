"""Trainer options: TET loss, label smoothing, gradient clipping, weight EMA, mixed precision on a
CPU (bfloat16) and the GPU-only torch.compile."""
import logging
import math

import pytest
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import update_bn

from conftest import tiny_recipe
from zoo.errors import RecipeError
from zoo.hub.publish import publish
from zoo.train import Trainer, train
from zoo.train.checkpoint import load_checkpoint
from zoo.train.losses import build_loss, tet


def test_tet_is_the_papers_formula():
    torch.manual_seed(0)
    steps, target = torch.randn(4, 3, 5), torch.tensor([0, 3, 1])
    per_step = sum(F.cross_entropy(steps[t], target) for t in range(4)) / 4
    mse = ((steps - 1.0) ** 2).mean()
    assert torch.allclose(tet(steps, target, lamb=0.05, phi=1.0), 0.95 * per_step + 0.05 * mse)
    assert torch.allclose(tet(steps, target, lamb=0.0), per_step)
    assert not torch.allclose(tet(steps, target, lamb=0.0), F.cross_entropy(steps.mean(0), target))


def test_losses_by_name_and_label_smoothing():
    steps, target = torch.randn(2, 3, 4), torch.tensor([0, 1, 2])
    smooth = build_loss("ce", label_smoothing=0.1)(steps, target)
    assert torch.allclose(smooth, F.cross_entropy(steps.mean(0), target, label_smoothing=0.1))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        build_loss("hinge")
    with pytest.raises(ValueError, match="label smoothing applies to 'ce' and 'tet'"):
        build_loss("mse", label_smoothing=0.1)


@pytest.mark.parametrize("override, message", [
    ({"loss": "ce", "label_smoothing": 1.0}, r"train.label_smoothing must be in \[0.0, 1.0\)"),
    ({"grad_clip": -1}, "train.grad_clip must be >= 0"),
    ({"optimizer": "adamW"}, r"train.optimizer must be one of adam, adamw, sgd, got 'adamW'; did you mean adam, adamw\?"),
    ({"loss": "mse", "label_smoothing": 0.1}, "applies to the 'ce' and 'tet' losses"),
])
def test_bad_options_fail_before_training(fmnist_root, override, message):
    with pytest.raises(RecipeError, match=message):
        tiny_recipe(fmnist_root, **override)


def test_gradient_clipping_bounds_the_update(fmnist_root, tmp_path):
    config = tiny_recipe(fmnist_root, optimizer="sgd", momentum=0.0, lr=1.0, grad_clip=1e-6, loss="ce")
    trainer = Trainer(config, tmp_path, progress=False)
    before = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
    images, labels = next(iter(torch.utils.data.DataLoader(trainer.train_set, batch_size=20)))
    trainer._train_step(images, labels)
    after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    assert 0 < (after - before).norm() <= 1e-6 * 1.001


def test_adamw_decays_matrices_and_kernels_but_not_biases_or_norm_scales(fmnist_root, tmp_path):
    """With no gradient AdamW's step is its decay alone: ``p <- (1 - lr * wd) p`` on the decayed tensors,
    nothing on the 1-D ones (timm's grouping, as the transformers' authors train)."""
    lr, weight_decay = 0.01, 0.5
    trainer = Trainer(tiny_recipe(fmnist_root, optimizer="adamw", lr=lr, weight_decay=weight_decay, warmup_steps=0),
                      tmp_path, progress=False)
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    assert any(p.ndim == 1 for p in before.values()) and any(p.ndim > 1 for p in before.values())
    for p in trainer.model.parameters():
        p.grad = torch.zeros_like(p)
    trainer.optimizer.step()
    for name, p in trainer.model.named_parameters():
        expected = before[name] * (1 - lr * weight_decay) if p.ndim > 1 else before[name]
        torch.testing.assert_close(p.detach(), expected, rtol=1e-6, atol=0, msg=name)


def test_tet_and_ema_train_and_the_best_checkpoint_holds_the_average(fmnist_root, tmp_path, caplog):
    config = tiny_recipe(fmnist_root, epochs=1, loss="tet", ema_decay=0.5, label_smoothing=0.1, ema_bn_batches=0)
    summary = train(config, tmp_path, progress=False)
    assert summary["finished"] and summary["best_val_acc1"] > 0
    last, best = load_checkpoint(tmp_path / "checkpoints" / "last.pt"), load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    averaged = {k[len("module."):]: v for k, v in last["ema"].items() if k.startswith("module.")}
    assert all(torch.equal(best["model"][k], averaged[k]) for k in best["model"])
    assert not torch.equal(best["model"]["conv1.weight"], last["model"]["conv1.weight"])

    with caplog.at_level(logging.WARNING, logger="zoo"):  # publishing last.pt says it holds the raw weights
        publish(tmp_path / "checkpoints" / "last.pt", tag="raw", out_dir=tmp_path / "w", batch_size=50)
    assert "last.pt holds the raw weights of a run that averaged them (train.ema_decay)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zoo"):
        publish(tmp_path / "checkpoints" / "best.pt", tag="averaged", out_dir=tmp_path / "w", batch_size=50)
    assert "raw weights" not in caplog.text


def test_the_ema_is_validated_with_batchnorm_statistics_measured_for_its_weights(fmnist_root, tmp_path):
    config = tiny_recipe(fmnist_root, epochs=1, loss="ce", ema_decay=0.9, ema_bn_batches=2)
    config["model"] = {"name": "sew_resnet18", "kwargs": {"T": 2, "width": 4, "stem": "cifar", "in_channels": 1,
                                                           "input_size": [28, 28], "zero_init_residual": False}}
    train(config, tmp_path / "run", progress=False)
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")["model"]
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    averaged = {k[len("module."):]: v for k, v in last["ema"].items() if k.startswith("module.")}
    trainer = Trainer(config, tmp_path / "again", progress=False)  # the same split and model
    params = {name for name, _ in trainer.model.named_parameters()}
    assert all(torch.equal(best[k], averaged[k]) for k in params)  # the weights are the average
    trainer.model.load_state_dict(averaged)
    batch = config["train"]["batch_size"]
    first = torch.stack([trainer.train_set[i][0] for i in range(2 * batch)])
    update_bn([first[:batch], first[batch:]], trainer.model)  # the first two training batches, as asked
    stats = [k for k in best if k.endswith("running_mean") or k.endswith("running_var")]
    assert stats and all(torch.allclose(best[k], trainer.model.state_dict()[k], atol=1e-6) for k in stats)
    assert not all(torch.allclose(best[k], averaged[k]) for k in stats)


def test_amp_on_a_cpu_trains_in_bfloat16_and_validates_in_float32(fmnist_root, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="zoo"):
        trainer = Trainer(tiny_recipe(fmnist_root, amp=True, compile=True), tmp_path, device="cpu", progress=False)
    assert trainer.forward_steps == trainer.model.forward_steps  # compile is a CUDA option
    assert "train.compile applies on CUDA only" in caplog.text
    conv_dtypes = []
    for module in trainer.model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(lambda m, i, out: conv_dtypes.append(out.dtype))
    images, labels = next(iter(torch.utils.data.DataLoader(trainer.train_set, batch_size=20)))
    loss, _ = trainer._train_step(images, labels)
    assert conv_dtypes and set(conv_dtypes) == {torch.bfloat16} and math.isfinite(loss)
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32
               for p in trainer.model.parameters() if p.grad is not None)
    conv_dtypes.clear()
    records = []
    trainer.logger = records.append  # fit() opens the run's logger; validate alone only needs a sink
    trainer.validate(epoch=0)
    assert conv_dtypes and set(conv_dtypes) == {torch.float32} and records[0]["event"] == "val"


def test_metrics_also_go_to_csv_and_to_wandb_when_asked(fmnist_root, tmp_path, monkeypatch):
    import csv
    import sys
    import types

    logged = []
    fake = types.ModuleType("wandb")
    fake.init = lambda **kwargs: types.SimpleNamespace(log=lambda data, step: logged.append((step, data)),
                                                       finish=lambda: logged.append("finished"))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())
    train(tiny_recipe(fmnist_root, epochs=1, wandb=True), tmp_path / "with", progress=False)
    rows = list(csv.DictReader(open(tmp_path / "with" / "metrics.csv")))
    assert {r["event"] for r in rows} <= {"train", "val"}
    assert rows[-1]["event"] == "val" and float(rows[-1]["acc1"]) >= 0
    assert any(isinstance(entry, tuple) and "val/acc1" in entry[1] for entry in logged) and logged[-1] == "finished"


def test_without_wandb_installed_the_run_logs_locally(fmnist_root, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with caplog.at_level(logging.INFO, logger="zoo"):
        summary = train(tiny_recipe(fmnist_root, epochs=1, wandb=True), tmp_path, progress=False)
    assert summary["finished"] and "wandb is not installed" in caplog.text
    assert (tmp_path / "metrics.jsonl").is_file() and (tmp_path / "metrics.csv").is_file()
