"""``zoo next-leg`` writes the recipe that continues a schedule from the weight its last leg published."""
import json

import pytest

from conftest import REPO
from zoo.cli import main
from zoo.errors import ZooError
from zoo.train.config import load_recipe
from zoo.train.next_leg import following, next_leg, next_start


def test_the_next_leg_of_a_shipped_leg_is_the_recipe_written_for_it_by_hand(tmp_path, monkeypatch):
    """Leg 6 stopped after 3 of 7 epochs, its weight chosen at its first (schedule epoch 24): leg 7 goes on at
    epoch 25 for 7 epochs, exactly as recipes/spikformer_4_256_cifar10_t1_leg7.yaml."""
    monkeypatch.chdir(REPO)
    path, recipe = next_leg("spikformer_4_256.cifar10_t1_leg6", out=tmp_path / "leg7.yaml")
    assert recipe["train"] == {"epochs": 7, "schedule_from_epoch": 25}
    written, by_hand = load_recipe(str(path)), load_recipe(str(REPO / "recipes/spikformer_4_256_cifar10_t1_leg7.yaml"))
    written.pop("recipe"), by_hand.pop("recipe")
    assert written == by_hand
    assert "--tag cifar10_t1_leg7" in path.read_text() and "checkpoints/latest.pt" in path.read_text()


def test_a_leg_shipped_with_its_final_weights_goes_on_after_its_last_epoch():
    assert next_start({"epochs": 24, "best_epoch": None, "schedule_from_epoch": 10}) == 34
    assert next_start({"epochs": 7, "best_epoch": 2, "schedule_from_epoch": 25}) == 28
    assert next_start({"epochs": 4, "best_epoch": 3, "chosen": "latest", "schedule_from_epoch": 17}) == 21
    assert following("x_leg9") == "x_leg10" and following("fmnist_t4") == "fmnist_t4_leg2"


def test_the_cli_writes_beside_the_last_recipe_and_refuses_to_overwrite(tmp_path, monkeypatch, capsys):
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "ann_leg2.yaml").write_text((REPO / "recipes/ann_resnet20_w32_qcfs_cifar10_leg2.yaml").read_text())
    card = json.loads((REPO / "weights/ann_resnet20.cifar10_w32_qcfs_leg2.json").read_text())
    card.update(tag="mine_leg2", recipe="recipes/ann_leg2.yaml", default=False)
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "ann_resnet20.mine_leg2.json").write_text(json.dumps(card))
    monkeypatch.setenv("ZOO_WEIGHTS", str(weights))
    monkeypatch.chdir(tmp_path)
    assert main(["next-leg", "ann_resnet20.mine_leg2", "--epochs", "40"]) == 0
    assert "wrote recipes/ann_leg3.yaml: epochs 34-59" in capsys.readouterr().out  # at most what is left
    text = (tmp_path / "recipes" / "ann_leg3.yaml").read_text()
    assert "base: ann_leg2.yaml" in text and "# The last leg of" in text
    assert "checkpoints/best.pt --tag mine_leg3" in text  # the schedule's end: its best weights, not its last
    assert main(["next-leg", "ann_resnet20.mine_leg2"]) == 1
    assert "recipes/ann_leg3.yaml exists; pass --out" in capsys.readouterr().err
    assert main(["next-leg", "ann_resnet20.mine_leg2", "--epochs", "10", "--out", "recipes/ann_mid.yaml"]) == 0
    text = (tmp_path / "recipes" / "ann_mid.yaml").read_text()  # a leg before the last ships as leg 2 did
    assert "# The next leg of" in text and "checkpoints/latest.pt --tag mine_leg3" in text


@pytest.mark.parametrize("weight, message", [
    ("stbp_cnn.fmnist_t20", "was not trained as a leg of a longer schedule"),
    ("stbp_cnn.mnist_t20_long_leg3_typo", "no weights named"),
])
def test_weights_that_have_no_next_leg_are_refused(weight, message, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(Exception, match=message):
        next_leg(weight)


def test_a_schedule_that_has_ended_has_no_next_leg(tmp_path, monkeypatch):
    card = json.loads((REPO / "weights/ann_resnet20.cifar10_w32_qcfs.json").read_text())
    card["train"].update(best_epoch=None)  # its final weights: epochs 34-59 of 60
    (tmp_path / "ann_resnet20.cifar10_w32_qcfs.json").write_text(json.dumps(card))
    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path))
    monkeypatch.chdir(REPO)
    with pytest.raises(ZooError, match="ends its 60-epoch schedule: there is no next leg"):
        next_leg("ann_resnet20.cifar10_w32_qcfs")
