"""A recipe that starts from another with ``base:``: merged as ``--set`` overrides are, relative paths,
chains, and clear errors for cycles and broken bases."""
import pytest
import yaml

from conftest import REPO
from zoo.errors import RecipeError
from zoo.train import load_recipe

BASE = {"model": {"name": "stbp_cnn", "kwargs": {"T": 8, "decay": 0.2}},
        "data": {"name": "fashion-mnist", "augment": {"hflip": False}},
        "train": {"epochs": 10, "lr": 1e-3, "loss": "mse"}}


def _write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content) if isinstance(content, dict) else content)
    return path


def test_a_recipe_changes_only_what_it_names(tmp_path):
    _write(tmp_path / "base.yaml", BASE)
    child = _write(tmp_path / "long" / "child.yaml",
                   {"base": "../base.yaml", "model": {"kwargs": {"T": 16}}, "train": {"epochs": 30}})
    config = load_recipe(child, ["train.lr=0.0005"])
    assert config["model"]["kwargs"] == {"T": 16, "decay": 0.2}
    assert config["train"]["epochs"] == 30 and config["train"]["lr"] == 0.0005 and config["train"]["loss"] == "mse"
    assert config["recipe"] == child.as_posix() and "base" not in config


def test_nested_model_arguments_merge_key_by_key(tmp_path):
    nested = {**BASE, "model": {"name": "rsnn", "kwargs": {"hidden": [8], "neuron_kwargs": {"tau": 20.0, "v_reset": None}}}}
    _write(tmp_path / "base.yaml", nested)
    child = _write(tmp_path / "child.yaml", {"base": "base.yaml", "model": {"kwargs": {"neuron_kwargs": {"beta": 0.2}}}})
    config = load_recipe(child, ["model.kwargs.neuron_kwargs.tau=10.0", "model.kwargs.hidden=[4]"])
    assert config["model"]["kwargs"] == {"hidden": [4], "neuron_kwargs": {"tau": 10.0, "v_reset": None, "beta": 0.2}}


def test_bases_chain_and_the_nearest_wins(tmp_path):
    _write(tmp_path / "a.yaml", BASE)
    _write(tmp_path / "b.yaml", {"base": "a.yaml", "train": {"epochs": 20, "lr": 2e-3}})
    c = _write(tmp_path / "c.yaml", {"base": "b.yaml", "train": {"epochs": 40}})
    train = load_recipe(c)["train"]
    assert (train["epochs"], train["lr"]) == (40, 2e-3)


@pytest.mark.parametrize("files, message", [
    ({"a.yaml": {"base": "b.yaml"}, "b.yaml": {"base": "a.yaml"}}, "cycle: a.yaml -> b.yaml -> a.yaml"),
    ({"a.yaml": {"base": "missing.yaml"}}, "missing.yaml does not exist"),
    ({"a.yaml": {"base": 3}}, "base must be a path"),
    ({"a.yaml": {"base": "b.yaml"}, "b.yaml": "just a string\n"}, "must be a mapping"),
    ({"a.yaml": {"base": "b.yaml", "train": {"epoch": 3}}, "b.yaml": BASE}, "unknown recipe key 'train.epoch'"),
])
def test_broken_bases_are_one_clear_error(tmp_path, files, message):
    for name, content in files.items():
        _write(tmp_path / name, content)
    with pytest.raises(RecipeError, match=message.replace(".", r"\.")):
        load_recipe(tmp_path / "a.yaml")


def test_the_repo_continuation_recipes_build_on_their_bases():
    first = load_recipe(REPO / "recipes" / "sew_resnet18_w32_fashion_mnist.yaml")
    second = load_recipe(REPO / "recipes" / "sew_resnet18_w32_fashion_mnist_long.yaml")
    third = load_recipe(REPO / "recipes" / "sew_resnet18_w32_fashion_mnist_26ep.yaml")
    assert second["model"]["kwargs"] == first["model"]["kwargs"] == third["model"]["kwargs"]
    assert second["data"] == first["data"] and second["train"]["ema_decay"] == first["train"]["ema_decay"]
    assert (second["model"]["name"], second["train"]["epochs"], second["train"]["lr"]) == \
        ("sew_resnet18.fmnist_add_t4_w32", 8, 5e-4)
    assert (third["model"]["name"], third["train"]["epochs"], third["train"]["lr"], third["train"]["seed"]) == \
        ("sew_resnet18.fmnist_add_t4_w32_long", 8, 3e-4, 1)
