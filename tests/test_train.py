import json

import pytest
import torch
import yaml

import zoo

from conftest import REPO, tiny_recipe
from zoo.errors import RecipeError
from zoo.train import Trainer, load_recipe, train
from zoo.train.optimizers import fused_if_supported
from zoo.train.checkpoint import load_checkpoint, save_atomic


def test_recipes_in_the_repo_load():
    config = load_recipe(str(REPO / "recipes/stbp_fashion_mnist.yaml"), ["train.lr=0.01", "model.kwargs.T=4"])
    assert config["train"]["lr"] == 0.01 and config["model"]["kwargs"]["T"] == 4
    assert config["model"]["kwargs"]["surrogate"] == "rectangle" and config["recipe"].endswith(".yaml")
    assert load_recipe(str(REPO / "recipes/stbp_mnist.yaml"))["model"]["kwargs"]["T"] == 20


@pytest.mark.parametrize("override, message", [
    ("train.lrr=0.1", "unknown recipe key 'train.lrr'; did you mean lr"),
    ("train.loss=hinge", "train.loss"),
    ("train.epochs=0", "train.epochs"),
    ("train", "--set expects key=value"),
    ("train.lr=abc", "train.lr must be a number, got 'abc'"),
    ("train.momentum=true", "train.momentum must be a number, got True"),
    ("train.ema_warmup=1", "train.ema_warmup must be true or false, got 1"),
])
def test_bad_recipe_overrides_fail_before_training(override, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(str(REPO / "recipes/stbp_fashion_mnist.yaml"), [override])


def test_a_tiny_run_learns_and_keeps_the_best_checkpoint(tiny_run):
    events = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    vals = [e for e in events if e["event"] == "val"]
    assert [v["epoch"] for v in vals] == [0, 1]
    assert max(v["acc1"] for v in vals) > 50.0  # 10 classes: chance is 10%
    best = load_checkpoint(tiny_run / "checkpoints" / "best.pt")
    assert best["val_acc1"] == max(v["acc1"] for v in vals)
    assert events[0]["event"] == "start" and "torch" in events[0]["versions"]


def test_resume_continues_bit_for_bit(tmp_path, fmnist_root):
    config = tiny_recipe(fmnist_root, epochs=1)
    straight = tmp_path / "straight"
    train(config, straight, max_steps=8, progress=False)
    split = tmp_path / "split"
    train(config, split, max_steps=5, progress=False)   # stops mid-epoch, between checkpoints
    summary = train(None, split, resume=True, max_steps=8, progress=False)
    assert summary["step"] == 8
    a = load_checkpoint(straight / "checkpoints" / "last.pt")
    b = load_checkpoint(split / "checkpoints" / "last.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert torch.equal(a["rng_torch"], b["rng_torch"])


def test_the_optimizer_is_fused_also_when_resuming_a_run_saved_without(tmp_path, fmnist_root):
    """An older run's checkpoint holds the foreach optimizer's flags; its continuation steps fused."""
    train(tiny_recipe(fmnist_root, epochs=1), tmp_path, max_steps=2, progress=False)
    path = tmp_path / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    assert all(group["fused"] for group in state["optimizer"]["param_groups"])
    for group in state["optimizer"]["param_groups"]:
        group["fused"] = None
    save_atomic(state, path)
    trainer = Trainer(load_recipe(yaml.safe_load((tmp_path / "config.yaml").read_text())), tmp_path, progress=False)
    trainer.resume()
    assert trainer.step == 2 and all(group["fused"] for group in trainer.optimizer.param_groups)


def test_an_optimizer_without_fused_kernels_falls_back_to_its_default():
    class NoFusedKernels(torch.optim.SGD):
        def __init__(self, params, fused=None, **kwargs):
            if fused:
                raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of "
                                   "supported devices")
            super().__init__(params, **kwargs)

    params = [torch.nn.Parameter(torch.zeros(3))]
    assert fused_if_supported(torch.optim.SGD, params, lr=0.1).param_groups[0]["fused"]
    assert not fused_if_supported(NoFusedKernels, params, lr=0.1).param_groups[0]["fused"]


def test_damaged_last_checkpoint_falls_back_to_the_previous(tmp_path):
    path = tmp_path / "last.pt"
    save_atomic({"step": 1}, path)
    save_atomic({"step": 2}, path)
    path.write_bytes(path.read_bytes()[:10])
    assert load_checkpoint(path)["step"] == 1


def test_lr_schedule_is_cosine_per_step(fmnist_root, tmp_path):
    trainer = Trainer(tiny_recipe(fmnist_root), tmp_path, progress=False)
    total = trainer.total_steps
    assert trainer._lr_factor(0) == 1.0
    assert trainer._lr_factor(total // 2) == pytest.approx(0.5, abs=0.02)
    assert trainer._lr_factor(total) == pytest.approx(0.0)


def test_legs_of_a_longer_schedule_follow_it_instead_of_restarting(fmnist_root, tmp_path):
    """Two legs of 2 epochs placed in a 4-epoch cosine read the same factors as the 4-epoch run."""
    whole = Trainer(tiny_recipe(fmnist_root, epochs=4), tmp_path / "whole", progress=False)
    legs = [Trainer(tiny_recipe(fmnist_root, epochs=2, schedule_epochs=4, schedule_from_epoch=start),
                    tmp_path / f"leg{start}", progress=False) for start in (0, 2)]
    per_leg = legs[0].total_steps
    assert whole.total_steps == 2 * per_leg
    assert [legs[0]._lr_factor(s) for s in range(per_leg)] + [legs[1]._lr_factor(s) for s in range(per_leg)] == \
        [whole._lr_factor(s) for s in range(2 * per_leg)]
    assert legs[1]._lr_factor(0) == pytest.approx(0.5)
    assert legs[1]._batches(0) == whole._batches(2) and legs[1]._batches(0) != legs[0]._batches(0)


def test_a_step_budget_past_the_schedule_is_refused(fmnist_root, tmp_path):
    recipe = tiny_recipe(fmnist_root, epochs=2, schedule_epochs=4, schedule_from_epoch=3, steps=1000)
    with pytest.raises(RecipeError, match=r"train.steps \(1000\) from epoch 3 runs past train.schedule_epochs \(4 "):
        Trainer(recipe, tmp_path, progress=False)


@pytest.mark.parametrize("train, message", [
    ({"schedule_from_epoch": 2}, "train.schedule_from_epoch places a leg in a longer schedule: set "
                                 "train.schedule_epochs too"),
    ({"schedule_epochs": 4, "schedule_from_epoch": 3}, r"train.schedule_from_epoch \+ train.epochs \(3 \+ 2\) runs "
                                                       r"past train.schedule_epochs \(4\)"),
    ({"schedule_epochs": 4, "schedule_from_epoch": 9, "steps": 5}, r"train.schedule_from_epoch \(9\) must be inside "
                                                                   r"train.schedule_epochs \(4\)"),
])
def test_a_leg_outside_its_schedule_is_refused(fmnist_root, train, message):
    with pytest.raises(RecipeError, match=message):
        tiny_recipe(fmnist_root, **train)


def test_the_end_of_run_activity_covers_the_first_validation_samples(fmnist_root, tmp_path, monkeypatch):
    from zoo.train import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "ACTIVITY_SAMPLES", 7)
    train(tiny_recipe(fmnist_root, epochs=1), tmp_path, progress=False)
    assert json.loads((tmp_path / "activity.json").read_text())["num_samples"] == 7


def test_a_run_folder_gets_its_training_curves(tiny_run):
    from PIL import Image

    with Image.open(tiny_run / "curves.png") as image:
        assert image.size[0] > 600 and image.size[1] > 200


def test_train_log_records_the_firing_rate_and_names_the_data(tiny_run):
    events = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    rates = [e["firing_rate"] for e in events if e["event"] == "train"]
    assert rates and all(0.0 < r < 1.0 for r in rates)
    assert events[0]["event"] == "start" and events[0]["data"] == "fashion-mnist"  # as cards and the curves name it


def test_firing_rate_meter_counts_spikes_of_every_neuron():
    from zoo.train.activity import FiringRateMeter

    model = zoo.create_model("stbp_cnn", T=4)
    meter = FiringRateMeter(model)
    spikes, count = [], []

    def record(module, inputs, output):
        spikes.append(float(output.detach().sum()))
        count.append(output.numel())

    hooks = [m.register_forward_hook(record) for m in model.modules() if type(m).__name__.endswith("Node")]
    model(torch.rand(2, 1, 28, 28))
    assert len(hooks) == 4
    assert meter.pop() == pytest.approx(sum(spikes) / sum(count))
    assert meter.pop() is None  # nothing since the last read
    model.eval()
    model(torch.rand(2, 1, 28, 28))
    assert meter.pop() is None  # validation passes are not counted
    model.train()
    meter.close()
    model(torch.rand(2, 1, 28, 28))
    assert meter.pop() is None


def test_the_test_set_each_epoch_is_logged_and_published_but_never_chooses(tmp_path, fmnist_root):
    """``train.test_every_epoch``: what a paper's best-test-epoch protocol would read goes into the card
    as ``best_test_epoch``; the checkpoint is still the one validation chose."""
    from zoo.hub.publish import publish

    out = tmp_path / "run"
    train(tiny_recipe(fmnist_root, test_every_epoch=True), out, progress=False)
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    tests = [e for e in events if e["event"] == "test"]
    vals = [e for e in events if e["event"] == "val"]
    assert [t["epoch"] for t in tests] == [0, 1]
    assert load_checkpoint(out / "checkpoints" / "best.pt")["val_acc1"] == max(v["acc1"] for v in vals)
    card = publish(out / "checkpoints" / "best.pt", tag="tested", out_dir=tmp_path / "weights", batch_size=50)
    best = max(tests, key=lambda t: (t["acc1"], -t["epoch"]))
    assert card["best_test_epoch"]["acc1"] == best["acc1"] and card["best_test_epoch"]["epoch"] == best["epoch"]
    assert card["best_test_epoch"]["epochs_measured"] == 2


def test_a_run_stopped_early_is_published_with_the_epochs_it_trained(tmp_path, fmnist_root):
    """A leg stopped after its first epoch (of three) says so in its card, and its page and ``zoo info`` read
    "1 of 3 planned epochs"; run on to its end, the card says 3."""
    from zoo.hub.publish import publish
    from zoo.hub.report import training_summary

    out = tmp_path / "run"
    config = tiny_recipe(fmnist_root, epochs=3)
    first = train(config, out, max_steps=1, progress=False)
    per_epoch = first["total_steps"] // 3
    train(None, out, resume=True, max_steps=per_epoch + 1, progress=False)  # into the second epoch
    card = publish(out / "checkpoints" / "best.pt", tag="stopped", out_dir=tmp_path / "weights", batch_size=50)
    assert (card["train"]["epochs"], card["train"]["epochs_planned"]) == (1, 3)
    assert training_summary(card).startswith("1 of 3 planned epochs, ")
    train(None, out, resume=True, progress=False)
    card = publish(out / "checkpoints" / "best.pt", tag="whole", out_dir=tmp_path / "weights", batch_size=50)
    assert card["train"]["epochs"] == 3 and "epochs_planned" not in card["train"]


def test_a_cards_training_length_counts_what_the_run_did():
    """Whole epochs of a run stopped short (from the last step it logged, also without an end event), the
    steps of a budgeted run stopped early, and the recipe's numbers for a finished run."""
    from zoo.hub.publish import training_length

    epochs, budget = {"epochs": 4}, {"epochs": 1, "steps": 300}
    assert training_length({"last_step": 400, "total_steps": 400}, epochs) == {"epochs": 4}
    assert training_length({"last_step": 299, "total_steps": 400}, epochs) == {"epochs": 2, "epochs_planned": 4}
    assert training_length({"last_step": 300, "total_steps": 400}, epochs) == {"epochs": 3, "epochs_planned": 4}
    assert training_length({}, epochs) == {"epochs": 4}  # no log: what the recipe says
    assert training_length({"last_step": 120, "total_steps": 300}, budget) == {"steps": 120, "steps_planned": 300}
    assert training_length({"last_step": 300, "total_steps": 300}, budget) == {"steps": 300}


def test_a_cards_wall_time_counts_sessions_killed_before_their_end_event(tmp_path):
    """A resumed run's wall time is the sum of its sessions: an end event's wall time where the session
    ended, the last logged elapsed time where it was killed (the last session too)."""
    from zoo.hub.publish import _run_record

    events = [{"event": "start", "step": 0, "total_steps": 30, "device": "cpu", "versions": {}},
              {"event": "train", "step": 10, "elapsed_s": 50.0}, {"event": "train", "step": 20, "elapsed_s": 97.5},
              {"event": "start", "step": 20, "total_steps": 30, "device": "cpu", "versions": {}},  # resumed
              {"event": "train", "step": 25, "elapsed_s": 20.0},
              {"event": "end", "step": 30, "total_steps": 30, "wall_s": 41.25},
              {"event": "start", "step": 30, "total_steps": 40, "device": "cpu", "versions": {}},  # extended, killed
              {"event": "train", "step": 35, "elapsed_s": 12.0}, {"event": "val", "step": 35, "acc1": 50.0}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    record = _run_record(tmp_path)
    assert record["wall_s"] == round(97.5 + 41.25 + 12.0, 1)
    assert record["last_step"] == 35 and record["total_steps"] == 40


def test_the_best_test_epoch_is_the_first_of_equals():
    """What a best-test-epoch protocol reads: the highest accuracy, and of equal ones the earliest epoch."""
    from zoo.hub.publish import best_test_epoch

    record = best_test_epoch({0: 90.0, 1: 91.5, 2: 91.5, 3: 91.0})
    assert (record["acc1"], record["epoch"], record["epochs_measured"]) == (91.5, 1, 4)
    assert best_test_epoch({}) is None


def test_the_curves_running_mean_averages_each_log_with_the_ones_before_it():
    from zoo.train.plots import running_mean

    assert running_mean([1, 2, 3, 4, 5], 2) == [1.0, 1.5, 2.5, 3.5, 4.5]
    assert running_mean([3, 6, 9], 10) == [3.0, 4.5, 6.0]  # fewer logs than the window: the mean so far
    assert running_mean([], 3) == []
    with pytest.raises(ValueError, match="window must be at least 1, got 0"):
        running_mean([1.0], 0)


def test_a_second_ctrl_c_skips_only_the_activity_plots(caplog):
    """Ctrl-C while a stopped run writes its activity plots ends the run normally, saying how to get them."""
    trainer = Trainer.__new__(Trainer)  # the checkpoint is saved before the plots: nothing else is needed

    def interrupted():
        raise KeyboardInterrupt

    trainer.write_activity = interrupted
    with caplog.at_level("INFO", logger="zoo"):
        trainer._write_activity_unless_interrupted(announce=True)
    assert "Ctrl-C again skips them" in caplog.text and "activity plots skipped" in caplog.text


def test_the_device_a_card_names_counts_its_threads_in_words():
    from zoo.train.trainer import describe_device

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert describe_device(torch.device("cpu")).startswith("cpu (1 thread, ")
        torch.set_num_threads(2)
        assert describe_device(torch.device("cpu")).startswith("cpu (2 threads, ")
    finally:
        torch.set_num_threads(threads)


def test_every_validation_writes_the_weights_it_measured_to_latest_pt(tmp_path, fmnist_root):
    """latest.pt holds what the latest validation measured (the averaged weights of a run with an EMA),
    whether or not they were the best; published, its card says so and the next leg starts after its epoch."""
    from zoo.hub.publish import publish
    from zoo.hub.report import accuracy_protocol
    from zoo.train.next_leg import next_start

    out = tmp_path / "run"
    train(tiny_recipe(fmnist_root, epochs=2, ema_decay=0.9, schedule_epochs=6), out, progress=False)
    vals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
            if json.loads(line)["event"] == "val"]
    latest = load_checkpoint(out / "checkpoints" / "latest.pt")
    assert (latest["chosen"], latest["epoch"], latest["val_acc1"]) == ("latest", 1, vals[-1]["acc1"])
    assert "chosen" not in load_checkpoint(out / "checkpoints" / "best.pt")
    averaged = load_checkpoint(out / "checkpoints" / "last.pt")["ema"]
    parameters = [key for key in latest["model"] if "running" not in key and "num_batches" not in key]
    assert parameters and all(torch.equal(latest["model"][key], averaged[f"module.{key}"]) for key in parameters)
    card = publish(out / "checkpoints" / "latest.pt", tag="latest", out_dir=tmp_path / "weights", batch_size=50)
    assert (card["train"]["chosen"], card["train"]["best_epoch"]) == ("latest", 1)
    assert next_start(card["train"]) == 2
    assert accuracy_protocol(card).startswith(f"the weights of the leg's latest validation ({vals[-1]['acc1']:.2f}%")
    # the end-of-run plots are of what this leg ships, not of its best epoch
    assert json.loads((out / "activity.json").read_text())["checkpoint"] == "latest.pt"


def test_a_run_that_ends_its_schedule_plots_its_best_checkpoint(tiny_run):
    activity = json.loads((tiny_run / "activity.json").read_text())
    best = load_checkpoint(tiny_run / "checkpoints" / "best.pt")
    assert (activity["checkpoint"], activity["epoch"]) == ("best.pt", best["epoch"])
