"""zoo finetune: a pretrained SEW-ResNet fine-tuned on a custom event folder with another class
count, input channels and sensor size, published as a local weight with a card."""
import json
import re

import numpy as np
import pytest
import torch

import zoo
from event_files import random_events
from zoo.cli import main
from zoo.data.toy_events import TASKS, write_toy_folder
from zoo.hub.publish import publish
from zoo.train import load_recipe, train
from zoo.errors import RecipeError
from zoo.train.finetune import check_event_folder, read_out_plan


@pytest.fixture(scope="module")
def pretrained_sew(tmp_path_factory, fmnist_root):
    """A tiny SEW-ResNet-18 trained one epoch on the Fashion-MNIST fixture and published."""
    out = tmp_path_factory.mktemp("sew_run")
    config = load_recipe({
        "model": {"name": "sew_resnet18", "kwargs": {"T": 2, "stem": "cifar", "width": 4, "in_channels": 1}},
        "data": {"name": "fashion-mnist", "root": str(fmnist_root), "val_fraction": 0.2},
        "train": {"epochs": 1, "batch_size": 40, "eval_batch_size": 50, "lr": 5e-3},
    })
    train(config, out, progress=False)
    weights = tmp_path_factory.mktemp("sew_weights")
    publish(out / "checkpoints" / "best.pt", tag="tiny", out_dir=weights, batch_size=50)
    return weights


@pytest.fixture()
def event_folder(tmp_path):
    """Three gesture-like classes on a 20x16 sensor: each class lights a different third of it."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(["swipe", "tap", "wave"]):
        for n in range(8):
            events = random_events(rng, 150, 20, 16, 100_000)
            events["x"] = events["x"] % 6 + 6 * label + 1
            (tmp_path / "rec" / name).mkdir(parents=True, exist_ok=True)
            np.save(tmp_path / "rec" / name / f"{n}.npy", events)
    return tmp_path / "rec"


@pytest.mark.parametrize("freeze", [False, True])
def test_finetune_adapts_publishes_and_loads(pretrained_sew, event_folder, tmp_path, monkeypatch, capsys, freeze):
    monkeypatch.setenv("ZOO_WEIGHTS", str(pretrained_sew))
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    out = tmp_path / "ft"
    argv = ["finetune", "sew_resnet18.tiny", "--data", str(event_folder), "--epochs", "2", "--batch-size", "4",
            "--T", "3", "--out", str(out)] + (["--freeze-backbone"] if freeze else [])
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "fine-tuned sew_resnet18.tiny" in printed and "test acc1" in printed
    card = json.loads((out / "weights" / "sew_resnet18.finetuned.json").read_text())
    assert card["finetuned_from"] == "sew_resnet18.tiny" and card["dataset"] == "events"
    assert card["kwargs"]["num_classes"] == 3 and card["kwargs"]["in_channels"] == 2
    assert card["kwargs"]["input_size"] == [16, 19] and card["T"] == 3  # inferred: the largest x is 18
    assert card["metrics"]["num_samples"] == 6  # 20% of 8 per class, rounded, held out as the test split

    monkeypatch.setenv("ZOO_WEIGHTS", str(out / "weights"))
    tuned = zoo.create_model("sew_resnet18.finetuned")
    assert tuned(torch.rand(3, 2, 2, 16, 19)).shape == (2, 3)
    assert card["finetune"]["folder"] == str(event_folder.resolve())
    assert main(["eval", "sew_resnet18.finetuned"]) == 0  # no --root: the folder the card records
    assert f"acc1 {card['metrics']['acc1']:.2f}% (" in capsys.readouterr().out
    monkeypatch.setenv("ZOO_WEIGHTS", str(pretrained_sew))
    base = zoo.create_model("sew_resnet18.tiny", in_channels=2, num_classes=3, input_size=(16, 19))
    same = torch.equal(tuned.layer1[0].conv1.weight, base.layer1[0].conv1.weight)
    assert same == freeze  # a frozen backbone keeps the pretrained kernels exactly


def test_finetune_reports_a_missing_weight_and_folder(tmp_path, capsys):
    assert main(["finetune", "sew_resnet18.nosuch", "--data", str(tmp_path)]) == 2
    assert "no weights named 'sew_resnet18.nosuch'" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["position"])  # the other toy tasks: docs/finetune (each run is a minute)
def test_default_finetune_separates_small_folders_on_another_sensor(task, tmp_path, monkeypatch, capsys):
    """20 recordings a class on a 40x32 sensor (the shipped event model saw 34x34x2 and ten classes), with the
    default choices but a third of the default 300 steps (the default budget: test_finetune_budget_validates_by_steps...)."""
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    folder = write_toy_folder(tmp_path / task, task, per_class=20, sensor=(40, 32))
    out = tmp_path / "ft"
    assert main(["finetune", "sew_4b_net.fmnist_dvs", "--data", str(folder), "--out", str(out), "--steps", "100"]) == 0
    printed = capsys.readouterr()
    assert "class-balanced batches" in printed.err and "40x32x2 kept as it is" in printed.err
    card = json.loads((out / "weights" / "sew_4b_net.finetuned.json").read_text())
    assert card["metrics"]["acc1"] >= 95.0, card["metrics"]
    assert card["kwargs"]["input_size"] == [32, 40] and card["finetune"]["counts"] == {c: 20 for c in TASKS[task]}
    assert card["train"]["augment"]["event_drop"] == 0.1 and (out / "confusion_test.png").is_file()
    assert card["train"]["steps"] == 100 and "epochs" not in card["train"]  # a budget of steps, not epochs
    for name in TASKS[task]:
        assert f"  {name}" in printed.out  # per-class accuracy


def _folder(root, counts, sensor=(20, 16)):
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(count):
            np.save(root / name / f"{n}.npy", random_events(rng, 100, *sensor, 50_000))
    return root


@pytest.mark.parametrize("counts, message", [
    ({"only": 10}, r"holds one class \(only\); fine-tuning a classifier needs at least two class folders"),
    ({"a": 10, "b": 2}, r"class folder\(s\) b \(2\) .* have too few recordings: each class needs at least 3"),
    ({"a": 10, "b": 0}, "class folder .*b has no event files"),
])
def test_unusable_folders_are_one_line_and_write_nothing(counts, message, tmp_path, capsys):
    folder = _folder(tmp_path / "rec", counts)
    out = tmp_path / "ft"
    assert main(["finetune", "sew_4b_net.fmnist_dvs", "--data", str(folder), "--out", str(out)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert not out.exists()


def test_recordings_of_a_smaller_sensor_are_warned_about(tmp_path, caplog):
    folder = _folder(tmp_path / "rec", {"a": 6, "b": 6}, sensor=(128, 128))
    _folder(tmp_path / "rec", {"c": 6}, sensor=(40, 30))
    with caplog.at_level("WARNING", logger="zoo"):
        assert check_event_folder(folder) == {"a": 6, "b": 6, "c": 6}
    assert "6 of 18 recordings" in caplog.text and "mixed sensor sizes?" in caplog.text


def test_read_out_plan_keeps_reorders_or_resets_by_class_name():
    pretrained = ["T-shirt/top", "Trouser", "Bag"]
    assert read_out_plan(pretrained, ["T-shirt_top", "Trouser", "Bag"])[0] == "keep"
    assert read_out_plan(pretrained, ["Bag", "T-shirt_top", "Trouser"])[0] == [2, 0, 1]  # folders sort by name
    assert read_out_plan(pretrained, ["Bag", "Trouser"])[0] == "reset"
    assert read_out_plan(None, ["a", "b"])[0] == "reset"


@pytest.mark.parametrize("arch, kwargs", [("sew_4b_net", {"T": 2}), ("plif_net_mnist", {"T": 2, "channels": 4})])
def test_reordered_read_out_gives_the_same_scores_in_the_new_order(arch, kwargs):
    """For a plain linear read-out and for a voting one (several outputs a class)."""
    torch.manual_seed(0)
    model = zoo.create_model(arch, **kwargs).eval()
    x = torch.rand(3, *([2, 34, 34] if arch == "sew_4b_net" else [1, 28, 28]))
    order = [3, 0, 9, 1, 2, 4, 5, 6, 7, 8]
    with torch.no_grad():
        before = model(x)
        model.reorder_classes(order)
        assert torch.allclose(model(x), before[:, order], atol=1e-6)
    with pytest.raises(ValueError, match="each of the 10 classes once"):
        model.reorder_classes([0] * 10)


def test_recipes_name_what_happens_to_the_read_out():
    with pytest.raises(RecipeError, match="model.head must be 'keep', 'reset' or a list of class indices"):
        load_recipe({"model": {"name": "stbp_cnn", "head": "drop"}, "data": {"name": "fashion-mnist"}})


@pytest.mark.parametrize("per_class, trusted", [(24, False), (140, True)])
def test_finetune_budget_validates_by_steps_and_stops_early_only_on_a_split_it_can_trust(per_class, trusted, tmp_path):
    """Ten validations over the budget whatever the epoch length; no early stop on a validation split of a
    handful of recordings (ties then go to the later checkpoint), a patience of a third of the budget above."""
    from zoo.train.finetune import TRUSTED_VALIDATION, finetune_config

    folder = _folder(tmp_path / "rec", {"a": per_class, "b": per_class, "c": per_class})
    config = finetune_config("sew_4b_net.fmnist_dvs", folder)
    train_cfg, choices = config["train"], config["finetune"]["choices"]
    train_split = 3 * round(per_class * 0.8)  # the folder's seeded 80% of each class
    validation = train_split - round(train_split * 0.8)
    assert (validation >= TRUSTED_VALIDATION) == trusted
    assert train_cfg["steps"] == 300 and train_cfg["val_every"] == train_cfg["checkpoint_every"] == 30
    if trusted:
        assert train_cfg["early_stop"] == 3 and not train_cfg["ties_to_later"]  # 3 x 30 steps: a third of 300
        assert choices["early stop"] == "after 3 validations (90 steps) without a better one"
    else:
        assert train_cfg["early_stop"] == 0 and train_cfg["ties_to_later"]
        assert choices["early stop"].startswith(f"none: {validation} validation recordings are too few to stop on")
