"""What a new user meets first: listing and info, progress that moves, event conventions, timm's model
methods, quiet imports."""
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

import zoo
from conftest import REPO
from zoo.cli import main
from zoo.errors import UnknownModelError


def test_list_matches_a_word_as_a_substring_and_a_pattern_as_a_glob(capsys):
    assert main(["list", "sew"]) == 0
    words = capsys.readouterr().out.split()
    assert "sew_resnet18" in words and "sew_4b_net" in words and "spiking_resnet18" not in words
    assert main(["list", "sew_resnet1*"]) == 0
    assert capsys.readouterr().out.split() == ["sew_resnet101", "sew_resnet152", "sew_resnet18"]


def test_list_pretrained_shows_the_default_dataset_and_accuracy_in_columns(capsys):
    assert main(["list", "--pretrained", "stbp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["weight", "dataset", "acc1", "T", "size"]
    default = zoo.get_weights("stbp_cnn")
    row = next(line for line in lines if default.name in line)
    assert row.startswith("*") and f"{default.meta['metrics']['acc1']:.2f}%" in row and "fashion-mnist" in row


def test_info_is_a_readable_summary_and_json_on_request(capsys):
    import json

    assert main(["info", "sew_resnet18"]) == 0
    out = capsys.readouterr().out
    assert "``" not in out and len(out.splitlines()) < 40
    for name in zoo.list_models("sew_resnet18.", pretrained=True):
        assert name in out  # every weight of the architecture
    assert "accuracy" in out and "python -m zoo info" in out
    assert main(["info", "sew_resnet18", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["arch"] == "sew_resnet18"


class _Bar:
    """A tqdm stand-in that records where the bar stood."""

    def __init__(self, total):
        self.n, self.total, self.seen = 0, total, []

    def update(self, k):
        self.n += k
        self.seen.append(self.n)

    def refresh(self):
        self.seen.append(self.n)

    def close(self):
        pass


@pytest.mark.parametrize("name", ["stbp_cnn", "converted_resnet20"])
def test_progress_counts_images_and_moves_within_a_batch(name):
    from zoo.train.evaluate import LayerProgress

    model = zoo.create_model(name, **({"in_channels": 1, "input_size": (28, 28), "T": 8} if name.startswith("conv")
                                      else {"T": 4})).eval()
    images = 100
    bar = _Bar(images)
    progress = LayerProgress(model, bar)
    progress.start(images)
    with torch.no_grad():
        model(torch.rand(images, 1, 28, 28))
    inside = list(bar.seen)
    progress.finish(images)
    progress.close()
    assert len(inside) > 2 and 0 < inside[0] < images and inside[-1] == pytest.approx(images)
    assert bar.n == images and not any(m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("polarity", [np.array([-1, 1, 1, -1]), np.array([False, True, True, False])])
def test_event_files_with_polarity_minus_one_and_one_or_booleans(tmp_path, polarity):
    from zoo.data.events import read_event_file

    events = np.zeros(4, dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", polarity.dtype)])
    events["x"], events["y"], events["t"], events["p"] = [1, 2, 3, 4], [0, 1, 0, 1], [0, 10, 20, 30], polarity
    np.save(tmp_path / "e.npy", events)
    assert read_event_file(tmp_path / "e.npy")["p"].tolist() == [0, 1, 1, 0]


def test_an_inferred_sensor_one_pixel_short_of_a_common_one_is_warned_about(tmp_path, caplog):
    from zoo.data.events import FolderReader

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        events = np.zeros(3, dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
        events["x"], events["y"], events["t"] = [0, 32, 5], [0, 33, 7], [0, 1, 2]  # column 33 never fired
        np.save(tmp_path / name / "0.npy", events)
    with caplog.at_level(logging.WARNING, logger="zoo"):
        assert FolderReader(tmp_path).infer_sensor_size() == (33, 34, 2)
    assert "one pixel short of the common 34x34" in caplog.text and "--sensor-size 34 34 2" in caplog.text


def test_timm_methods_and_pretrained_cfg(caplog):
    model = zoo.create_model("stbp_cnn", pretrained=True).eval()
    assert model.get_classifier() is model.fc2
    features = model.forward_features(torch.rand(2, 1, 28, 28))
    assert features.shape == (model.T, 2, model.fc2.in_features)
    cfg = model.pretrained_cfg
    card = zoo.get_weights("stbp_cnn").meta
    assert cfg["tag"] == card["tag"] and cfg["num_classes"] == 10 and cfg["input_size"] == (1, 28, 28)
    assert cfg["acc1"] == card["metrics"]["acc1"] and zoo.create_model("stbp_cnn").pretrained_cfg["tag"] is None
    with caplog.at_level(logging.INFO, logger="zoo"):
        model.reset_classifier(4)
    assert "head fc2 reset: 10 -> 4 classes" in caplog.text and model.get_classifier().out_features == 4


def test_importing_the_zoo_with_info_logging_prints_no_spikingjelly_noise():
    code = "import logging; logging.basicConfig(level=logging.INFO); import zoo; zoo.create_model('stbp_cnn')"
    err = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stderr
    assert "cupy" not in err


def test_a_misspelt_hub_entry_names_the_close_ones():
    import importlib

    hubconf = importlib.import_module("hubconf")
    with pytest.raises(UnknownModelError, match="did you mean sew_resnet18"):
        hubconf.sew_resnt18


def test_bench_prints_a_header_that_says_what_a_ratio_is_before_the_rows(capsys):
    assert main(["bench", "--suite", "backend"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["suite", "ratio", "case", "(raw", "medians)"]
    assert "median over repeats of each repeat's ratio" in out[1] and out[-1].startswith("backend")


def test_sparse_rows_stream_one_by_one(monkeypatch):
    from zoo.bench import iter_suite, sparse

    measured = []
    monkeypatch.setattr(sparse, "iter_rows", lambda repeats: (measured.append(i) or {"suite": "sparse", "i": i}
                                                               for i in range(3)))
    rows = iter_suite("sparse", 1, "cpu")
    assert next(rows)["i"] == 0 and measured == [0]  # the first row is out before the second is measured
