import json
import shutil

import pytest
import torch

import zoo
from conftest import REPO
from zoo.errors import UnknownModelError, WeightsError
from zoo.hub.weights import load_state_dict


def test_list_models_and_patterns():
    assert "stbp_cnn" in zoo.list_models()
    assert zoo.list_models("stbp_*") == ["stbp_cnn", "stbp_mlp"]
    assert zoo.list_models("sew_*x") == []


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match="unknown model 'stbp_cn'; did you mean stbp_cnn"):
        zoo.create_model("stbp_cn")
    with pytest.raises(KeyError):  # also a KeyError, like a dict lookup
        zoo.create_model("resnet50_snn")


def test_published_weight_round_trips(use_weights, tiny_run):
    assert "stbp_cnn.tiny" in zoo.list_models(pretrained=True)
    weights = zoo.get_weights("stbp_cnn.tiny")
    card = weights.meta
    assert card["file"].startswith("stbp_cnn.tiny-") and card["file"].endswith(".safetensors")
    assert card["sha256"][:8] in card["file"]
    assert card["metrics"]["num_samples"] == 100 and card["metrics"]["split"] == "test"
    assert card["neuron"]["type"] == "LIFNode" and card["surrogate"] == {"type": "Rectangle", "alpha": 1.0}
    assert card["kwargs"]["T"] == 4 and card["train"]["device"].startswith("cpu")
    model = zoo.create_model("stbp_cnn.tiny")
    best = torch.load(tiny_run / "checkpoints" / "best.pt", weights_only=True)["model"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, best[key]), key


def test_a_new_default_weight_demotes_the_previous_one(tiny_run, tmp_path, monkeypatch):
    from zoo.hub.publish import publish

    for tag in ("first", "second"):
        publish(tiny_run / "checkpoints" / "best.pt", tag=tag, out_dir=tmp_path, default=True, batch_size=50)
    cards = {c["tag"]: c for c in (json.loads(p.read_text()) for p in tmp_path.glob("*.json"))}
    assert cards["first"]["default"] is False and cards["second"]["default"] is True
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path))
    assert zoo.get_weights("stbp_cnn").name == "stbp_cnn.second"


def test_demoting_a_default_trained_on_another_dataset_says_so(tiny_run, tmp_path, caplog):
    from zoo.hub.publish import publish

    publish(tiny_run / "checkpoints" / "best.pt", tag="first", out_dir=tmp_path, default=True, batch_size=50)
    first = tmp_path / "stbp_cnn.first.json"
    first.write_text(json.dumps({**json.loads(first.read_text()), "dataset": "mnist"}))
    with caplog.at_level("WARNING", logger="zoo"):
        card = publish(tiny_run / "checkpoints" / "best.pt", tag="second", out_dir=tmp_path, default=True, batch_size=50)
    assert (f"stbp_cnn.first (mnist) is no longer stbp_cnn's default weight: pretrained=True now loads "
            f"stbp_cnn.second ({card['dataset']})") in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="zoo"):  # the same dataset: the usual better weight, nothing to say
        publish(tiny_run / "checkpoints" / "best.pt", tag="third", out_dir=tmp_path, default=True, batch_size=50)
    assert "no longer" not in caplog.text


def test_publish_also_measures_other_datasets_as_zoo_eval_does(tiny_run, mnist_root, tmp_path, monkeypatch, capsys):
    from zoo.cli import main
    from zoo.hub.publish import evaluate_weights

    code = main(["publish", str(tiny_run / "checkpoints" / "best.pt"), "--tag", "also", "--out", str(tmp_path),
                 "--batch-size", "50", "--also", f"mnist={mnist_root}"])
    assert code == 0 and "also " in capsys.readouterr().out
    card = json.loads((tmp_path / "stbp_cnn.also.json").read_text())
    record, = card["also_measured"]
    assert record["dataset"] == "mnist" and record["split"] == "test" and record["num_samples"] == 100
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path))
    again = evaluate_weights("stbp_cnn.also", dataset="mnist", root=str(mnist_root), progress=False)
    assert again["acc1"] == record["acc1"]


def test_card_metrics_are_what_eval_gives(use_weights, fmnist_root):
    from zoo.hub.publish import evaluate_weights

    result = evaluate_weights("stbp_cnn.tiny", root=fmnist_root, progress=False)
    assert result["acc1"] == result["card_metrics"]["acc1"]


def _copy_weights(src, dst):
    shutil.copytree(src, dst)
    card = json.loads(next(dst.glob("*.json")).read_text())
    return dst / card["file"]


def test_one_changed_byte_is_caught(tiny_weights, tmp_path, monkeypatch):
    path = _copy_weights(tiny_weights, tmp_path / "w")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path / "w"))
    with pytest.raises(WeightsError, match=rf"{path.name} is corrupt: sha256"):
        zoo.create_model("stbp_cnn.tiny")


def test_truncated_file_is_caught(tiny_weights, tmp_path, monkeypatch):
    path = _copy_weights(tiny_weights, tmp_path / "w")
    path.write_bytes(path.read_bytes()[:-100])
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path / "w"))
    with pytest.raises(WeightsError, match="truncated"):
        load_state_dict(zoo.get_weights("stbp_cnn.tiny"))


def test_missing_file_without_url_is_clear(tiny_weights, tmp_path, monkeypatch):
    path = _copy_weights(tiny_weights, tmp_path / "w")
    path.unlink()
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path / "w"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    with pytest.raises(WeightsError, match="not found in .* and its card has no url"):
        zoo.create_model("stbp_cnn.tiny")


def test_unknown_tag_suggests(use_weights):
    with pytest.raises(UnknownModelError, match="did you mean stbp_cnn.tiny"):
        zoo.get_weights("stbp_cnn.tinny")


def test_new_num_classes_reinitialises_the_head(use_weights, caplog):
    reference = zoo.create_model("stbp_cnn.tiny")
    with caplog.at_level("INFO", logger="zoo"):
        model = zoo.create_model("stbp_cnn.tiny", num_classes=4)
    assert model.fc2.weight.shape == (4, 128) and "head fc2.weight reinitialised" in caplog.text
    assert torch.equal(model.fc1.weight, reference.fc1.weight)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 4)


def test_new_in_channels_adapts_the_stem(use_weights, caplog):
    reference = zoo.create_model("stbp_cnn.tiny")
    with caplog.at_level("INFO", logger="zoo"):
        model = zoo.create_model("stbp_cnn.tiny", in_channels=2)
    assert "stem conv1.weight adapted from 1 to 2 input channels" in caplog.text
    # a two-channel copy of an image drives the stem exactly as the single channel did
    x = torch.rand(1, 1, 28, 28)
    assert torch.allclose(model.conv1(x.repeat(1, 2, 1, 1).unsqueeze(0)), reference.conv1(x.unsqueeze(0)), atol=1e-6)


def test_other_mismatches_are_weight_errors(use_weights):
    with pytest.raises(WeightsError, match="do not fit"):
        zoo.create_model("stbp_cnn.tiny", hidden=32)


def test_hubconf_has_one_documented_entrypoint_per_arch(use_weights):
    import importlib.util

    spec = importlib.util.spec_from_file_location("hubconf", REPO / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    for arch in zoo.list_models():
        fn = getattr(hubconf, arch)
        assert fn.__name__ == arch and "Paper:" in fn.__doc__
    assert "stbp_cnn.tiny" in hubconf.stbp_cnn.__doc__


def test_torch_hub_load_from_the_repo(use_weights):
    model = torch.hub.load(str(REPO), "stbp_cnn", source="local", pretrained=False, T=3, width=4, hidden=8)
    assert model.T == 3 and model(torch.rand(1, 1, 28, 28)).shape == (1, 10)
    pretrained = torch.hub.load(str(REPO), "stbp_cnn", source="local", pretrained=True)
    reference = zoo.create_model(zoo.get_weights("stbp_cnn").name)
    for key, value in reference.state_dict().items():
        assert torch.equal(pretrained.state_dict()[key], value), key


def test_pretrained_can_name_a_tag(use_weights):
    by_tag = zoo.create_model("stbp_cnn", pretrained="tiny")
    by_name = zoo.create_model("stbp_cnn.tiny")
    for key, value in by_name.state_dict().items():
        assert torch.equal(by_tag.state_dict()[key], value), key
    hub = torch.hub.load(str(REPO), "stbp_cnn", source="local", pretrained="tiny")
    assert torch.equal(hub.state_dict()["fc2.weight"], by_name.state_dict()["fc2.weight"])
    with pytest.raises(ValueError, match="names the weight 'tiny' but pretrained='other'"):
        zoo.create_model("stbp_cnn.tiny", pretrained="other")
    with pytest.raises(UnknownModelError, match="stbp_cnn.nosuch"):
        zoo.create_model("stbp_cnn", pretrained="nosuch")


def test_cards_name_their_classes_and_give_the_input_transform():
    weights = zoo.get_weights("stbp_cnn")
    assert weights.classes[:2] == ["T-shirt/top", "Trouser"] and len(weights.classes) == 10
    transform = weights.transforms()
    rgb = torch.randint(0, 256, (3, 56, 40), dtype=torch.uint8)  # another size, colour, uint8
    x = transform(rgb)
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    model = zoo.create_model("stbp_cnn", pretrained=True).eval()
    assert model(x[None]).shape == (1, 10)
    with pytest.raises(ValueError, match="takes event frames"):
        zoo.get_weights("sew_4b_net.fmnist_dvs").transforms()


@pytest.mark.parametrize("arch, kwargs", [("stbp_cnn", {}), ("plif_net_mnist", {"channels": 8, "hidden": 32}),
                                          ("sew_resnet18", {"width": 4, "stem": "cifar", "in_channels": 1,
                                                            "input_size": (28, 28)}),
                                          ("spikformer_4_256", {"embed_dim": 32, "num_heads": 4, "depth": 1,
                                                                "in_channels": 1, "input_size": (28, 28)}),
                                          ("sdt_2_256", {"embed_dim": 32, "num_heads": 4, "depth": 1,
                                                         "in_channels": 1, "input_size": (28, 28)})])
def test_reset_classifier_gives_an_untrained_head_and_keeps_the_body(arch, kwargs):
    model = zoo.create_model(arch, T=2, **kwargs).eval()
    body = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(model.head + ".")}
    model.reset_classifier(4)
    assert model.num_classes == 4 and model(torch.rand(3, 1, 28, 28)).shape == (3, 4)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in body.items())
    with pytest.raises(ValueError, match="positive"):
        model.reset_classifier(0)


def test_a_cards_quick_check_covers_fewer_samples_beyond_T_32():
    from zoo.hub.publish import check_samples

    assert [check_samples(T) for T in (None, 8, 32, 64, 128, 4096)] == [250, 250, 250, 125, 62, 50]
    assert [check_samples(T, cost=4) for T in (4, 128)] == [62, 50]


def test_recheck_re_measures_only_the_cards_whose_slice_size_the_rule_changed(tiny_weights, fmnist_root, tmp_path,
                                                                             monkeypatch, capsys):
    from zoo.cli import main
    from zoo.hub import recheck
    from zoo.hub.publish import evaluate_weights

    folder = tmp_path / "w"
    shutil.copytree(tiny_weights, folder)
    monkeypatch.setenv("ZOO_WEIGHTS", str(folder))
    card_path = folder / "stbp_cnn.tiny.json"
    before = json.loads(card_path.read_text())
    assert before["check"]["num_samples"] == 100  # the whole fixture test set
    monkeypatch.setattr(recheck, "check_samples", lambda T, cost=1: 37)
    assert main(["recheck", "stbp_cnn.tiny", "--root", str(fmnist_root)]) == 0
    assert "stbp_cnn.tiny: check" in capsys.readouterr().out
    after = json.loads(card_path.read_text())
    expected = evaluate_weights("stbp_cnn.tiny", root=fmnist_root, limit=37, progress=False)
    assert after["check"] == {"acc1": expected["acc1"], "num_samples": 37}
    assert {k: v for k, v in after.items() if k != "check"} == {k: v for k, v in before.items() if k != "check"}
    assert list(recheck.recheck(["stbp_cnn.tiny"], root=str(fmnist_root))) == []  # at the rule's size: untouched


def test_a_weight_files_bytes_are_the_same_at_every_publish(tmp_path):
    """The sha256 in a file's name must not depend on the order safetensors happens to write its metadata."""
    from safetensors import safe_open

    from zoo.hub.publish import weight_file_bytes

    model = zoo.create_model("stbp_cnn", T=2)
    files = {weight_file_bytes(model, "stbp_cnn", "x") for _ in range(16)}
    assert len(files) == 1
    (tmp_path / "x.safetensors").write_bytes(files.pop())
    with safe_open(str(tmp_path / "x.safetensors"), "pt") as f:
        assert f.metadata() == {"weight": "stbp_cnn.x"}
