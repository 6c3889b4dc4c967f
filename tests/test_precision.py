"""``train.amp``: true, false or auto (mixed precision only where the hardware runs it natively), and the
precision a run trained in, from its log to its card."""
import json
import logging

import pytest
import torch

from conftest import tiny_recipe
from zoo.errors import RecipeError
from zoo.train import Trainer, precision, train

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize("native", [True, False])
def test_each_setting_autocasts_to_what_the_device_runs(monkeypatch, native):
    monkeypatch.setattr(precision, "native_cpu_bfloat16", lambda: native)
    assert precision.autocast_dtype(False, CPU) is None and precision.autocast_dtype(False, CUDA) is None
    assert precision.autocast_dtype(True, CUDA) == precision.autocast_dtype("auto", CUDA) == torch.float16
    assert precision.autocast_dtype(True, CPU) == torch.bfloat16  # asked for, emulated or not
    assert precision.autocast_dtype("auto", CPU) == (torch.bfloat16 if native else None)


def test_bfloat16_asked_for_on_a_cpu_without_it_warns_and_auto_says_what_it_chose(monkeypatch, caplog):
    monkeypatch.setattr(precision, "native_cpu_bfloat16", lambda: False)
    with caplog.at_level(logging.INFO, logger=precision.__name__):
        precision.autocast_dtype(True, CPU)
        precision.autocast_dtype("auto", CPU)
    forced, automatic = caplog.records
    assert forced.levelno == logging.WARNING and "train.amp: auto chooses float32 here" in forced.getMessage()
    assert automatic.levelno == logging.INFO and automatic.getMessage().endswith("training in float32")


def test_the_native_check_is_onednns():
    assert precision.native_cpu_bfloat16() == torch.ops.mkldnn._is_mkldnn_bf16_supported()


def test_precision_names():
    assert [precision.precision_name(d) for d in (None, torch.bfloat16, torch.float16)] == [
        "float32", "bfloat16 autocast", "float16 autocast"]


@pytest.mark.parametrize("setting", ["bf16", 1, None])
def test_a_setting_other_than_true_false_or_auto_is_refused(fmnist_root, setting):
    with pytest.raises(RecipeError, match=f"train.amp must be true, false or auto, got {setting!r}"):
        tiny_recipe(fmnist_root, amp=setting)


@pytest.mark.parametrize("native", [True, False])
def test_auto_trains_in_the_resolved_precision_and_the_card_says_which(tmp_path, fmnist_root, monkeypatch, native):
    from zoo.hub.publish import publish

    monkeypatch.setattr(precision, "native_cpu_bfloat16", lambda: native)
    config = tiny_recipe(fmnist_root, epochs=1, amp="auto")
    trainer = Trainer(config, tmp_path / "unused", progress=False)
    assert trainer.amp is native and trainer.amp_dtype == (torch.bfloat16 if native else None)
    assert trainer.channels_last  # a convolutional network: channels-last in float32 and native bfloat16 alike
    if not native:  # one run is enough for the log and the card
        run = tmp_path / "run"
        train(config, run, max_steps=2, progress=False)
        start = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
        assert start["event"] == "start" and start["precision"] == "float32"
        card = publish(run / "checkpoints" / "last.pt", tag="p", out_dir=tmp_path / "weights", batch_size=50)
        assert card["train"]["precision"] == "float32"
