"""The weight average a run validates: torch's fixed-decay EMA without warm-up, timm ModelEmaV3's warm-up
with it, counted in the schedule's steps; the card records it."""
import json

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from conftest import tiny_recipe
from zoo.train.ema import build_ema, describe, ema_decay_at, recipe_keys
from zoo.train.trainer import Trainer


def test_the_warmup_is_timms_and_never_exceeds_the_decay():
    assert ema_decay_at(0, 0.999, warmup=True) == 0.0  # the first update copies
    assert ema_decay_at(352, 0.999, warmup=True) == pytest.approx(1 - 353 ** -0.75)
    assert ema_decay_at(10 ** 6, 0.999, warmup=True) == 0.999
    assert [ema_decay_at(s, 0.5, warmup=False) for s in (0, 5, 10 ** 6)] == [0.5, 0.5, 0.5]
    decays = [ema_decay_at(s, 0.999, warmup=True) for s in range(20_000)]
    assert decays == sorted(decays)


def _updates(average: AveragedModel, models: list[nn.Module]) -> dict:
    for model in models:
        average.update_parameters(model)
    return average.module.state_dict()


def _trajectory(steps: int) -> list[nn.Module]:
    torch.manual_seed(0)
    return [nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)) for _ in range(steps)]


def test_without_warmup_it_is_torchs_ema():
    models = _trajectory(6)
    ours = _updates(build_ema(models[0], 0.9), models)
    torchs = _updates(AveragedModel(models[0], multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True), models)
    assert ours.keys() == torchs.keys() and all(torch.equal(ours[k], torchs[k]) for k in ours)


@pytest.mark.parametrize("first_step", [0, 40])
def test_with_warmup_each_update_blends_in_one_minus_the_decay_of_its_schedule_step(first_step):
    models = _trajectory(5)
    averaged = _updates(build_ema(models[0], 0.99, warmup=True, first_step=first_step), models)
    expected = models[0][0].weight.detach().clone()  # the first update copies
    for n, model in enumerate(models[1:], start=1):
        decay = min(0.99, 1 - (1 + first_step + n) ** -0.75)
        expected = decay * expected + (1 - decay) * model[0].weight.detach()
    torch.testing.assert_close(averaged["0.weight"], expected)


def test_warmup_forgets_the_starting_weights_that_a_fixed_decay_keeps():
    """0.999 keeps 0.999**352 = 70% of the start after an epoch of 352 steps; warmed up, about a millionth."""
    start, moved = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    nn.init.ones_(start.weight)
    nn.init.zeros_(moved.weight)
    def share(**warmup):
        return float(_updates(build_ema(start, 0.999, **warmup), [start] + [moved] * 352)["weight"])
    assert share() == pytest.approx(0.999 ** 352, rel=1e-4)
    assert share(warmup=True) < 1e-5
    assert 0.01 < share(warmup=True, first_step=352) < 0.1  # a later leg's start: nearer the full decay


def test_a_legs_trainer_counts_the_warmup_from_where_the_leg_starts_in_its_schedule(tmp_path, fmnist_root):
    config = tiny_recipe(fmnist_root, ema_decay=0.999, ema_warmup=True, schedule_epochs=4, schedule_from_epoch=2)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.ema.update_parameters(trainer.model)  # the copy
    with torch.no_grad():
        for parameter in trainer.model.parameters():
            parameter.add_(1.0)
    trainer.ema.update_parameters(trainer.model)
    step = 2 * trainer.steps_per_epoch + 1
    weight = next(k for k in before if k.endswith("weight"))
    blended = 1 - ema_decay_at(step, 0.999, warmup=True)
    torch.testing.assert_close(trainer.ema.module.state_dict()[weight], before[weight] + blended)


def test_the_card_records_the_average_and_the_regularisation_it_was_trained_with(tmp_path, fmnist_root):
    from zoo.hub.publish import publish
    from zoo.train import train

    config = tiny_recipe(fmnist_root, ema_decay=0.9, ema_warmup=True, optimizer="sgd", momentum=0.8,
                         weight_decay=5e-4, label_smoothing=0.1, loss="ce", steps=2, val_every=2)
    train(config, tmp_path / "run", progress=False)
    publish(tmp_path / "run" / "checkpoints" / "best.pt", tag="ema", out_dir=tmp_path / "weights", batch_size=50)
    record = json.loads((tmp_path / "weights" / "stbp_cnn.ema.json").read_text())["train"]
    assert record["ema"] == {"decay": 0.9, "warmup": True}
    assert (record["weight_decay"], record["momentum"], record["label_smoothing"]) == (5e-4, 0.8, 0.1)
    assert describe(tiny_recipe(fmnist_root)["train"]) == {}  # no average kept: none claimed
    # a conversion of the published weight reads its card's `train` back as the run's: the record carries over
    assert recipe_keys(record) == {"ema_decay": 0.9, "ema_warmup": True} and describe(recipe_keys(record)) == {"ema": record["ema"]}
    assert recipe_keys({}) == {}
