"""The catalogue of bad inputs: every case must end in a clean, specific error (API: the documented
exception type and message; CLI: one line on stderr, the documented exit code, no traceback), never
in a crash or a silent acceptance. The table in docs/reliability.md is generated from these cases
and the messages they really produce (``ZOO_WRITE_DOCS=1 pytest tests/reliability`` rewrites it),
so it cannot drift from the code."""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from conftest import REPO
from event_files import random_events, write_nmnist_bin
from zoo.cli import main
from zoo.conversion import convert
from zoo.conversion.pipeline import start_from_ann
from zoo.data import load_dataset
from zoo.data.augment import BatchAugment
from zoo.data.emulator import EVENT_DTYPE, SaccadeEmulator
from zoo.data.event_stats import compare_populations
from zoo.data.frames import events_to_frames
from zoo.data.nmnist_pairs import Pair, source_images, split_indices
from zoo.encoding import build_encoder
from zoo.errors import DatasetNotFoundError, RecipeError, UnknownModelError, WeightsError, ZooError
from zoo.neurons import build_neuron
from zoo.neurons.surrogates import build_surrogate
from zoo.train import load_recipe, train
from zoo.train.checkpoint import load_checkpoint

DOC = REPO / "docs" / "reliability.md"
OBSERVED: dict[str, str] = {}


@dataclass
class Ctx:
    tmp: Path
    weights: Path  # a private copy of the tiny published weight (cards + file), on ZOO_WEIGHTS


@dataclass
class Case:
    area: str
    what: str
    run: Callable[[Ctx], object]
    error: type[BaseException]
    message: str  # a regex the message must match


@dataclass
class CliCase:
    what: str
    argv: Callable[[Ctx], list[str]]
    code: int
    message: str
    prepare: Callable[[Ctx], None] | None = None


def _card(ctx: Ctx) -> tuple[Path, dict]:
    path = next(ctx.weights.glob("*.json"))
    return path, json.loads(path.read_text())


def _damage_weight(ctx: Ctx, how: str):
    path, card = _card(ctx)
    file = ctx.weights / card["file"]
    data = bytearray(file.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data[: len(data) // 2] if how == "truncate" else data))
    return zoo.create_model("stbp_cnn.tiny")


def _edit_card(ctx: Ctx, text: str):
    path, _ = _card(ctx)
    path.write_text(text)
    return zoo.create_model("stbp_cnn.tiny")


def _event_file(ctx: Ctx, name: str, content) -> Path:
    folder = ctx.tmp / "rec" / "a"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif name.endswith(".npz"):
        np.savez(path, **content)
    else:
        np.save(path, content)
    return path


def _read_events(ctx: Ctx, name: str, content):
    _event_file(ctx, name, content)
    return load_dataset("events", root=ctx.tmp / "rec", T=2)


def _truncated_bin(ctx: Ctx):
    events = random_events(np.random.default_rng(0), 30, 34, 34, 1000)
    path = ctx.tmp / "NMNIST" / "Test" / "1" / "00001.bin"
    write_nmnist_bin(path, events)
    path.write_bytes(path.read_bytes()[:-3])
    return load_dataset("nmnist", root=ctx.tmp, split="test", T=2)[0]


def _corrupt_aedat4(ctx: Ctx):
    path = ctx.tmp / "rec" / "a" / "x.aedat4"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"#!AER-DAT4.0\r\n" + bytes(range(256)) * 4)
    return load_dataset("events", root=ctx.tmp / "rec", T=2, sensor_size=(128, 128, 2))[0]


def _events_outside(ctx: Ctx):
    events = random_events(np.random.default_rng(0), 30, 40, 40, 1000)
    _event_file(ctx, "big.npy", events)
    return load_dataset("events", root=ctx.tmp / "rec", T=2, sensor_size=(34, 34, 2))[0]


def _torch_save(ctx: Ctx, obj, name: str = "user.pt") -> Path:
    path = ctx.tmp / name
    torch.save(obj, path)
    return path


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _truncated_pt(ctx: Ctx):
    path = _torch_save(ctx, zoo.create_model("stbp_cnn").state_dict())
    path.write_bytes(path.read_bytes()[:200])
    return zoo.load_weights(zoo.create_model("stbp_cnn"), path)


def _nan_safetensors(ctx: Ctx):
    from safetensors.torch import save_file

    state = zoo.create_model("stbp_cnn").state_dict()
    state["conv1.weight"][0, 0, 0, 0] = float("nan")  # an intact header over a damaged number
    save_file(state, str(ctx.tmp / "nan.safetensors"))
    return zoo.load_weights(zoo.create_model("stbp_cnn"), ctx.tmp / "nan.safetensors")


def _datasets_here(ctx: Ctx) -> None:
    os.environ["ZOO_DATASETS"] = str(ctx.tmp)  # the ctx fixture's monkeypatch restores it


def _mnist_root(ctx: Ctx, drop: str | None = None, cut: str | None = None, labels_of: int | None = None):
    from conftest import make_mnist_layout, write_idx

    raw = make_mnist_layout(ctx.tmp / "m", "MNIST", n_train=20, n_test=10) / "MNIST" / "raw"
    if labels_of:
        write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(labels_of))
    if drop:
        (raw / drop).unlink()
    if cut:
        (raw / cut).write_bytes((raw / cut).read_bytes()[:-100])
    return load_dataset("mnist", root=ctx.tmp / "m", split="test")


def _cifar_root(ctx: Ctx, drop: str | None = None, garble: str | None = None, content: bytes = b"", split="train"):
    """A CIFAR-10 root of two-image batches, less the batch ``drop`` or with ``garble``'s bytes replaced."""
    folder = ctx.tmp / "c" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        if name != drop:
            batch = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}
            (folder / name).write_bytes(content if name == garble else pickle.dumps(batch))
    meta = content if garble == "batches.meta" else pickle.dumps({"label_names": [str(i) for i in range(10)]})
    (folder / "batches.meta").write_bytes(meta)
    return load_dataset("cifar10", root=ctx.tmp / "c", split=split)


def _one_event(x: int) -> np.ndarray:
    events = np.zeros(1, dtype=EVENT_DTYPE)
    events["x"], events["y"], events["p"] = x, 1, 1
    return events


class _FakeMNIST:
    """torchvision's MNIST as the pairing reads it: ``data`` and ``targets``."""

    def __init__(self, labels):
        self.targets, self.data = torch.tensor(labels), torch.zeros(len(labels), 28, 28, dtype=torch.uint8)

    def __len__(self):
        return len(self.targets)


def _recipe_file(ctx: Ctx, text: str) -> Path:
    path = ctx.tmp / "recipe.yaml"
    path.write_text(text)
    return path


def _damaged_checkpoints(ctx: Ctx):
    folder = ctx.tmp / "ckpt"
    folder.mkdir()
    (folder / "last.pt").write_bytes(b"PK\x03\x04 torn")
    (folder / "last.prev.pt").write_bytes(b"")
    return load_checkpoint(folder / "last.pt")


CASES = [
    # models and the registry
    Case("models", "unknown model name", lambda c: zoo.create_model("sew_resnet81"),
         UnknownModelError, r"unknown model 'sew_resnet81'; did you mean sew_resnet18"),
    Case("models", "pretrained weights for an architecture that has none", lambda c: zoo.create_model("sew_resnet152", pretrained=True),
         UnknownModelError, r"has no pretrained weights yet"),
    Case("models", "unknown weight tag", lambda c: zoo.create_model("stbp_cnn", pretrained="tinyy"),
         UnknownModelError, r"no weights named 'stbp_cnn.tinyy'; did you mean stbp_cnn.tiny"),
    Case("models", "images with the wrong number of channels", lambda c: zoo.create_model("stbp_cnn")(torch.rand(2, 3, 28, 28)),
         ValueError, r"expects input of shape \[B, 1, 28, 28\] or \[T, B, 1, 28, 28\], got \[2, 3, 28, 28\]"),
    Case("models", "images of the wrong size", lambda c: zoo.create_model("stbp_cnn")(torch.rand(2, 1, 32, 32)),
         ValueError, r"expects input of shape \[B, 1, 28, 28\]"),
    Case("models", "a 3-D tensor", lambda c: zoo.create_model("stbp_cnn")(torch.rand(1, 28, 28)),
         ValueError, r"expects input of shape"),
    Case("models", "integer pixels", lambda c: zoo.create_model("stbp_cnn")(torch.zeros(1, 1, 28, 28, dtype=torch.uint8)),
         ValueError, r"expects float input in \[0, 1\], got torch.uint8"),
    Case("models", "a list instead of a tensor", lambda c: zoo.create_model("stbp_cnn")([[0.0]]),
         TypeError, r"expects a torch.Tensor, got list"),
    Case("models", "zero time steps", lambda c: zoo.create_model("sew_resnet18", T=0),
         ValueError, r"T must be a positive number of time steps, got 0"),
    Case("models", "unknown SEW connection function", lambda c: zoo.create_model("sew_resnet18", cnf="OR"),
         ValueError, r"unknown connection function 'OR'; choose from ADD, AND, IAND"),
    Case("models", "unknown ResNet stem", lambda c: zoo.create_model("sew_resnet18", stem="tiny"),
         ValueError, r"stem must be one of imagenet, cifar, got 'tiny'"),
    Case("models", "unknown neuron", lambda c: build_neuron("lifx"),
         ValueError, r"unknown neuron 'lifx'; choose from if, lif, plif"),
    Case("models", "unknown surrogate", lambda c: build_surrogate("atn"),
         ValueError, r"unknown surrogate 'atn'; choose from sigmoid, atan"),
    Case("models", "an encoder with zero time steps", lambda c: build_encoder("rate", 0),
         ValueError, r"T must be a positive number of time steps, got 0"),
    Case("models", "pretrained tag that contradicts the name", lambda c: zoo.create_model("stbp_cnn.tiny", pretrained="other"),
         ValueError, r"names the weight 'tiny' but pretrained='other'"),
    # weight files
    Case("weights", "a weight file with one flipped bit", lambda c: _damage_weight(c, "flip"),
         WeightsError, r"is corrupt: sha256 .* does not match the card's"),
    Case("weights", "a truncated weight file", lambda c: _damage_weight(c, "truncate"),
         WeightsError, r"is truncated or padded: \d+ bytes, card says \d+"),
    Case("weights", "a card that is not JSON", lambda c: _edit_card(c, "{not json"),
         WeightsError, r"weight card .* is unreadable"),
    Case("weights", "a card without its sha256", lambda c: _edit_card(c, json.dumps({"arch": "stbp_cnn", "tag": "tiny", "file": "x", "kwargs": {}})),
         WeightsError, r"lacks sha256"),
    Case("weights", "a user .pt whose pickle would run code", lambda c: zoo.load_weights(zoo.create_model("stbp_cnn"), _torch_save(c, {"x": _RunsCode()})),
         WeightsError, r"holds more than tensors and was not loaded \(it could run code\)"),
    Case("weights", "a truncated user .pt", _truncated_pt,
         WeightsError, r"is not a readable torch checkpoint"),
    Case("weights", "a user checkpoint of another architecture", lambda c: zoo.load_weights(zoo.create_model("stbp_cnn"), _torch_save(c, zoo.create_model("sew_resnet18", width=4).state_dict())),
         WeightsError, r"does not fit STBPCNN: missing .*; unexpected"),
    Case("weights", "a user .safetensors with NaN weights", _nan_safetensors,
         WeightsError, r"nan.safetensors holds non-finite numbers \(NaN or inf\) in 1 tensor\(s\): conv1.weight"),
    Case("weights", "a missing user weight file", lambda c: zoo.load_weights(zoo.create_model("stbp_cnn"), c.tmp / "none.pt"),
         FileNotFoundError, r"weight file .*none.pt does not exist"),
    # data and event files
    Case("data", "unknown dataset name", lambda c: load_dataset("fashionmnist"),
         ValueError, r"unknown dataset 'fashionmnist'; did you mean fashion-mnist"),
    Case("data", "unknown split", lambda c: load_dataset("fashion-mnist", split="val"),
         ValueError, r"split must be one of train, test, got 'val'"),
    Case("data", "CIFAR-10 without a root", lambda c: load_dataset("cifar10"),
         DatasetNotFoundError, r"CIFAR-10 not found \(\$ZOO_DATASETS is not set\): put cifar-10-batches-py/.* pass --root DIR"),
    Case("data", "a CIFAR-10 root missing a batch", lambda c: _cifar_root(c, drop="data_batch_3"),
         DatasetNotFoundError, r"CIFAR-10 under .* is incomplete: .*cifar-10-batches-py lacks data_batch_3$"),
    Case("data", "a CIFAR-10 batch that is not a pickle", lambda c: _cifar_root(c, garble="data_batch_2", content=b"not a pickle"),
         DatasetNotFoundError, r"CIFAR-10 under .* is unreadable: .*cifar-10-batches-py/data_batch_2 is not CIFAR's pickled layout \(.+\)$"),
    Case("data", "a CIFAR-10 batch pickled without its images", lambda c: _cifar_root(c, garble="data_batch_4", content=pickle.dumps({"labels": [0]})),
         DatasetNotFoundError, r"CIFAR-10 under .* is unreadable: .*cifar-10-batches-py/data_batch_4 is not CIFAR's pickled layout \(no 'data' entry\)$"),
    Case("data", "a CIFAR-10 test batch of 100-pixel rows", lambda c: _cifar_root(c, garble="test_batch", split="test", content=pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]})),
         DatasetNotFoundError, r"CIFAR-10 under .* is unreadable: .*test_batch is not CIFAR's pickled layout \('data' has shape \(2, 100\), not \[N, 3072\] .*\)$"),
    Case("data", "a CIFAR-10 batches.meta that is not a pickle", lambda c: _cifar_root(c, garble="batches.meta", content=b"junk"),
         DatasetNotFoundError, r"CIFAR-10 under .* is unreadable: .*batches.meta is not CIFAR's pickled layout \(.+\)$"),
    Case("data", "MNIST under $ZOO_DATASETS missing", lambda c: _datasets_here(c) or load_dataset("mnist"),
         DatasetNotFoundError, r"MNIST not found \(.*mnist does not exist\): put MNIST/raw/"),
    Case("data", "a MNIST root missing an idx file", lambda c: _mnist_root(c, drop="t10k-labels-idx1-ubyte"),
         DatasetNotFoundError, r"MNIST: .*t10k-labels-idx1-ubyte is missing"),
    Case("data", "a MNIST root with a truncated idx file", lambda c: _mnist_root(c, cut="train-images-idx3-ubyte"),
         DatasetNotFoundError, r"MNIST: .*train-images-idx3-ubyte is truncated or padded \(\d.* bytes, its header says"),
    Case("data", "MNIST test images and labels of other lengths", lambda c: _mnist_root(c, labels_of=5),
         DatasetNotFoundError, r"MNIST: .*t10k-images-idx3-ubyte holds 10 images but t10k-labels-idx1-ubyte 5 labels"),
    Case("data", "N-MNIST not where it was said to be", lambda c: load_dataset("nmnist", root=c.tmp),
         DatasetNotFoundError, r"N-MNIST not found under .*: expected NMNIST/Train/<digit>/\*.bin"),
    Case("data", "an event folder without class folders", lambda c: load_dataset("events", root=c.tmp),
         DatasetNotFoundError, r"has no class sub-folders"),
    Case("data", "a class folder without event files", lambda c: (c.tmp / "rec" / "a").mkdir(parents=True) or load_dataset("events", root=c.tmp / "rec"),
         ValueError, r"class folder .*a has no event files"),
    Case("events", "random bytes named .npy", lambda c: _read_events(c, "x.npy", b"\x93NUMPY garbage"),
         ValueError, r"x.npy: unreadable event file"),
    Case("events", "an (N, 3) array", lambda c: _read_events(c, "x.npy", np.zeros((4, 3))),
         ValueError, r"x.npy: expected a structured array with fields x, y, t, p or an \(N, 4\) array"),
    Case("events", "a structured array without polarity", lambda c: _read_events(c, "x.npy", np.zeros(3, dtype=[("x", int), ("y", int), ("t", int)])),
         ValueError, r"x.npy: structured events need fields x, y, t, p; missing p"),
    Case("events", "an .npz with two unnamed arrays", lambda c: _read_events(c, "x.npz", {"a": np.zeros((2, 4)), "b": np.zeros((2, 4))}),
         ValueError, r"x.npz: unreadable event file \(holds \['a', 'b'\]; name the array 'events'\)"),
    Case("events", "NaN timestamps", lambda c: _read_events(c, "x.npy", np.array([[1.0, 1.0, np.nan, 1.0]])),
         ValueError, r"x.npy: field t holds NaN or infinite values"),
    Case("events", "a field of bytes, not numbers", lambda c: _read_events(c, "x.npy", np.zeros(2, dtype=[("x", int), ("y", int), ("t", "S1"), ("p", int)])),
         ValueError, r"x.npy: field t must hold numbers, got dtype \|S1"),
    Case("events", "complex timestamps", lambda c: _read_events(c, "x.npy", np.zeros((2, 4), dtype=complex)),
         ValueError, r"x.npy: field x must hold numbers, got dtype complex128"),
    Case("events", "events outside the given sensor", _events_outside,
         ValueError, r"big.npy: x must be in \[0, 34\) for sensor \(34, 34, 2\)"),
    Case("events", "a truncated N-MNIST .bin", _truncated_bin,
         ValueError, r"00001.bin: unreadable N-MNIST event file"),
    Case("events", "a corrupt AEDAT4 file", _corrupt_aedat4,
         ValueError, r"x.aedat4: unreadable event file"),
    Case("events", "zero frames", lambda c: events_to_frames(random_events(np.random.default_rng(0), 5, 4, 4, 10), (4, 4, 2), T=0),
         ValueError, r"T must be a positive number of frames, got 0"),
    Case("events", "an RGB image for the emulator", lambda c: SaccadeEmulator()(np.zeros((28, 28, 3)), np.random.default_rng(0)),
         ValueError, r"expects one grey image \[H, W\] with values in \[0, 1\], got shape \(28, 28, 3\)"),
    Case("events", "an empty recording for the emulator comparison", lambda c: compare_populations([np.zeros(0, dtype=EVENT_DTYPE)], [_one_event(1)], (34, 34, 2)),
         ValueError, r"real recording 0: an empty recording \(no events\) has no statistics"),
    Case("events", "a twin with events off the sensor", lambda c: compare_populations([_one_event(1)], [_one_event(40)], (34, 34, 2)),
         ValueError, r"emulated twin 0: x must be in \[0, 34\) for sensor \(34, 34, 2\)"),
    Case("events", "an N-MNIST recording filed under the wrong digit", lambda c: source_images([Pair(Path("Train/3/00001.bin"), 0, 3)], _FakeMNIST([5])),
         ValueError, r"00001.bin: filed as digit 3, but MNIST training image 0 is a 5"),
    Case("events", "too few real recordings of a digit for the held-out split", lambda c: split_indices([0] * 20 + [1] * 30, "test"),
         ValueError, r"digit 0 has 20 recordings, not more than the 20 held out for testing"),
    # recipes, training and checkpoints
    Case("conversion", "an ANN with max-pooling", lambda c: convert(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)), [torch.rand(2, 1, 8, 8)]),
         ValueError, r"cannot convert: 2 is a max-pooling layer"),
    Case("conversion", "a BatchNorm with no convolution before it", lambda c: convert(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(1)), [torch.rand(2, 1, 8, 8)]),
         ValueError, r"cannot convert: the BatchNorm 1 does not follow a convolution"),
    Case("conversion", "zero time steps", lambda c: convert(zoo.create_model("ann_resnet20", width=4), [torch.rand(2, 3, 32, 32)], T=0),
         ValueError, r"T must be positive numbers of time steps, got \[0\]"),
    Case("conversion", "fine-tuning the conversion of an ANN of another width",
         lambda c: start_from_ann(zoo.create_model("converted_resnet20", width=8, T=2), zoo.create_model("ann_resnet20", width=4),
                                  torch.rand(2, 3, 32, 32)),
         ValueError, r"the ANN does not fit the converted network to train: conv1.weight is \[4, 3, 3, 3\] in the ANN, \[8, 3, 3, 3\] here \(and 99 more\)"),
    Case("training", "model.from_ann that names an architecture, not a weight",
         lambda c: load_recipe(str(REPO / "recipes/converted_resnet20_qcfs_cifar10_t4.yaml"), ["model.from_ann=ann_resnet20"]),
         RecipeError, r"model.from_ann must name an ANN weight \(arch.tag\), got 'ann_resnet20'"),
    Case("training", "a misspelt recipe key", lambda c: load_recipe(str(REPO / "recipes/stbp_fashion_mnist.yaml"), ["train.epoch=3"]),
         RecipeError, r"unknown recipe key 'train.epoch'; did you mean epochs"),
    Case("training", "zero epochs", lambda c: load_recipe(str(REPO / "recipes/stbp_fashion_mnist.yaml"), ["train.epochs=0"]),
         RecipeError, r"train.epochs must be a positive integer, got 0"),
    Case("training", "a recipe that is not YAML", lambda c: load_recipe(_recipe_file(c, "model: [unclosed")),
         RecipeError, r"is not valid YAML"),
    Case("training", "an unknown schedule", lambda c: load_recipe(str(REPO / "recipes/stbp_fashion_mnist.yaml"), ["train.schedule=linear"]),
         RecipeError, r"train.schedule must be one of cosine, constant, step, got 'linear'"),
    Case("training", "resuming a folder that is not a run", lambda c: train(None, c.tmp, resume=True),
         ZooError, r"cannot resume: .* has no config.yaml"),
    Case("training", "both checkpoints of a run damaged", _damaged_checkpoints,
         ZooError, r"no usable checkpoint at .*last.pt \(last.pt: .*; last.prev.pt: .*\)"),
    Case("training", "negative crop padding", lambda c: BatchAugment(crop_padding=-2),
         ValueError, r"crop_padding, time_subsample and time_jitter must be >= 0"),
]

CLI_CASES = [
    CliCase("an unknown command", lambda c: ["evaluate"], 2, r"invalid choice: 'evaluate'"),
    CliCase("an unknown model", lambda c: ["eval", "stbp_cn"], 2, r"unknown model 'stbp_cn'; did you mean stbp_cnn"),
    CliCase("a zero --limit", lambda c: ["eval", "stbp_cnn", "--limit", "0"], 2, r"expected a positive number, got 0"),
    CliCase("a recipe file that does not exist", lambda c: ["train", str(c.tmp / "none.yaml")], 2, r"recipe .*none.yaml does not exist"),
    CliCase("a malformed --set", lambda c: ["train", str(REPO / "recipes/stbp_fashion_mnist.yaml"), "--set", "train.lr"], 2,
            r"--set expects key=value, got 'train.lr'"),
    CliCase("converting at zero time steps", lambda c: ["convert", str(c.tmp / "best.pt"), "--tag", "x", "--T", "8,0"], 2,
            r"argument --T: expected a positive number, got 0"),
    CliCase("train with neither recipe nor --resume", lambda c: ["train"], 2, r"train needs a RECIPE or --resume DIR"),
    CliCase("evaluating on a dataset that is not there", lambda c: ["eval", "stbp_cnn", "--data", "cifar10"], 1, r"CIFAR-10 not found"),
    CliCase("publishing a checkpoint that does not exist", lambda c: ["publish", str(c.tmp / "best.pt"), "--tag", "x"], 1,
            r"no usable checkpoint at .*best.pt \(no checkpoint file\)"),
    CliCase("fine-tuning on a folder that does not exist", lambda c: ["finetune", "stbp_cnn", "--data", str(c.tmp / "none")], 1,
            r"event folder .*none does not exist"),
    CliCase("exporting an event dataset without its root", lambda c: ["events-to-frames", "nmnist", "--out", str(c.tmp / "o")], 1,
            r"N-MNIST not found \(\$ZOO_DATASETS is not set\): .* pass --root DIR"),
    CliCase("evaluating on a GPU the machine does not have", lambda c: ["eval", "stbp_cnn.tiny", "--device", "cuda:99"], 2,
            r"device cuda:99 is not available: torch sees"),
    CliCase("an unknown device", lambda c: ["eval", "stbp_cnn.tiny", "--device", "gpu"], 2,
            r"unknown device 'gpu': use cpu, cuda or cuda:N"),
    CliCase("a corrupt shipped weight", lambda c: ["eval", "stbp_cnn.tiny", "--limit", "5"], 1, r"is corrupt: sha256",
            prepare=lambda c: _damage_weight_file(c)),
]


def _damage_weight_file(ctx: Ctx) -> None:
    _, card = _card(ctx)
    file = ctx.weights / card["file"]
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))


@pytest.fixture()
def ctx(tmp_path, tiny_weights, monkeypatch) -> Ctx:
    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    monkeypatch.setenv("ZOO_WEIGHTS", str(weights))
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_DATASETS", "")  # recorded, so a case that sets it is undone afterwards
    monkeypatch.delenv("ZOO_DATASETS")
    work = tmp_path / "work"
    work.mkdir()
    return Ctx(work, weights)


def _normalise(text: str, ctx: Ctx) -> str:
    text = text.replace(str(ctx.tmp.parent), "<tmp>").replace(str(REPO), "<repo>")
    text = re.sub(r"-[0-9a-f]{8}\.safetensors", "-<sha8>.safetensors", text)  # trained bits differ by CPU
    return re.sub(r"[0-9a-f]{16}\.\.\.", "…", text)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.area}: {c.what}" for c in CASES])
def test_api_bad_input(case, ctx):
    with pytest.raises(case.error, match=case.message) as caught:
        case.run(ctx)
    message = str(caught.value)
    assert "\n" not in message.strip() and "Traceback" not in message
    OBSERVED[f"{case.area}|{case.what}"] = f"`{type(caught.value).__name__}`: {_normalise(message, ctx)}"


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.what for c in CLI_CASES])
def test_cli_bad_input(case, ctx, capsys):
    if case.prepare:
        case.prepare(ctx)
    argv = case.argv(ctx)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip() and "it/s]" not in line and "batch/s" not in line]
    assert code == case.code, captured.err
    assert len(lines) == 1 and re.search(case.message, lines[0]) and "Traceback" not in captured.err
    OBSERVED[f"cli|{case.what}"] = f"exit {code}: {_normalise(lines[0], ctx)}"


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "zoo", "eval", "sew_resnet81"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1
    assert lines[0].startswith("zoo: error: unknown model 'sew_resnet81'; did you mean sew_resnet18")


def render_doc() -> str:
    rows = ["| # | area | bad input | the zoo answers |", "|---|---|---|---|"]
    for number, case in enumerate(CASES, 1):
        answer = OBSERVED[f"{case.area}|{case.what}"].replace("|", "\\|")
        rows.append(f"| {number} | {case.area} | {case.what} | {answer} |")
    for number, case in enumerate(CLI_CASES, len(CASES) + 1):
        answer = OBSERVED[f"cli|{case.what}"].replace("|", "\\|")
        rows.append(f"| {number} | cli | `zoo {' '.join(_shown_argv(case))}`: {case.what} | {answer} |")
    return ("# What the zoo answers to bad input\n\n"
            "Generated by `tests/reliability/test_bad_inputs.py` from the messages the code really produces\n"
            "(`ZOO_WRITE_DOCS=1 python -m pytest tests/reliability` rewrites it; the test fails when it is stale).\n"
            "Every case ends in a clean error: an exception of the listed type from the API, or one line on\n"
            "stderr and the exit code from the CLI (2: usage, 1: data and files); none is silently accepted.\n\n"
            + "\n".join(rows) + "\n")


def _shown_argv(case: CliCase) -> list[str]:
    return [arg.replace(str(REPO), "<repo>") for arg in case.argv(Ctx(Path("<tmp>"), Path("<tmp>/weights")))]


def test_the_reliability_table_is_generated_from_these_cases():
    if len(OBSERVED) < len(CASES) + len(CLI_CASES):
        pytest.skip("run the whole file: the table needs every case's observed message")
    assert len(CASES) + len(CLI_CASES) >= 30
    text = render_doc()
    if os.environ.get("ZOO_WRITE_DOCS"):
        DOC.write_text(text)
    assert DOC.is_file() and DOC.read_text() == text, "docs/reliability.md is stale: rerun with ZOO_WRITE_DOCS=1"
