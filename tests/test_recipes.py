"""Every recipe in recipes/ loads, and every recipe trains two steps on fixture data in the real file
formats with the recipe's own architecture, optimizer, schedule and augmentation (but a schedule's middle
legs, which the next leg's two steps stand for: they are checked to start from a shipped weight)."""
import json

import pytest
import torch
import yaml

from conftest import REPO
from zoo.data import load_dataset
from zoo.data.augment import BatchAugment
from zoo.hub.weights import get_weights
from zoo.train import Trainer, load_recipe, train

RECIPES = sorted(REPO.glob("recipes/*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_loads_and_cites_its_paper(path):
    config = load_recipe(str(path))
    assert config["paper"]["title"] and "acc1" in config["paper"]["reported"]


# recipe -> (fixture, overrides that shrink the work, not the code path)
SMOKE = {
    "sew_resnet18_fashion_mnist": ("fmnist_root", []),
    "sew_resnet18_fashion_mnist_long": ("fmnist_root", []),
    "sew_resnet18_w32_fashion_mnist": ("fmnist_root", []),
    "sew_resnet18_w32_fashion_mnist_long": ("fmnist_root", []),
    "sew_resnet18_w32_fashion_mnist_26ep": ("fmnist_root", []),
    "stbp_fashion_mnist": ("fmnist_root", []),
    "stbp_fashion_mnist_t20": ("fmnist_root", []),
    "rsnn_sequential_fashion_mnist": ("fmnist_root", []),
    "rsnn_delayed_recall_lif": ("fmnist_root", ["data.kwargs.size=16", "data.kwargs.delay=5"]),  # generated: root unused
    "rsnn_delayed_recall_gif": ("fmnist_root", ["data.kwargs.size=16", "data.kwargs.delay=5"]),
    "stbp_mnist": ("mnist_root", []),
    "stbp_mnist_long_leg1": ("mnist_root", []),
    "stbp_mnist_long_leg3": ("mnist_root", []),
    "ssgd_fc3_fashion_mnist": ("fmnist_root", ["model.kwargs.T=20"]),
    "stbp_nmnist": ("nmnist_root", ["data.kwargs.T=2", "model.kwargs.T=2"]),
    "relpsp_mnist": ("mnist_root", []),
    "relpsp_fashion_mnist": ("fmnist_root", []),
    "ltsnn_cnn_fashion_mnist": ("fmnist_root", []),
    "ann_resnet20_fashion_mnist": ("fmnist_root", []),
    "ann_resnet20_fashion_mnist_long": ("fmnist_root", []),
    "ann_resnet20_w32_fashion_mnist": ("fmnist_root", []),
    "ann_resnet20_erase_fashion_mnist": ("fmnist_root", []),
    "ann_resnet20_erase_fashion_mnist_leg1": ("fmnist_root", []),
    "ann_resnet20_erase_fashion_mnist_leg2": ("fmnist_root", []),
    "ann_resnet20_cifar10": ("cifar_root", ["data.num_workers=0", "data.val_fraction=0.2"]),
    "ann_resnet20_qcfs_cifar10": ("cifar_root", ["data.num_workers=0", "data.val_fraction=0.2"]),
    "ann_resnet20_qcfs_cifar10_leg1": ("cifar_root", ["data.num_workers=0", "data.val_fraction=0.2"]),
    "ann_resnet20_w32_qcfs_cifar10_leg1": ("cifar_root", ["data.val_fraction=0.2"]),
    "ann_resnet20_w32_qcfs_cifar10_long_leg1": ("cifar_root", ["data.val_fraction=0.2"]),
    "ann_resnet20_w32_qcfs_cifar10_long_leg4": ("cifar_root", ["data.val_fraction=0.2"]),
    "ann_resnet9_qcfs_cifar10_leg1": ("cifar_root", ["data.val_fraction=0.2"]),
    "ann_resnet9_qcfs_cifar10_leg2": ("cifar_root", ["data.val_fraction=0.2"]),
    "ann_resnet9_qcfs_cifar10_leg7": ("cifar_root", ["data.val_fraction=0.2"]),
    "converted_resnet20_qcfs_cifar10_t4": ("cifar_root", ["data.val_fraction=0.2"]),
    "converted_resnet20_w32_qcfs_cifar10_t4": ("cifar_root", ["data.val_fraction=0.2"]),
    "converted_resnet20_w32_qcfs_long_cifar10_t4": ("cifar_root", ["data.val_fraction=0.2"]),
    "spikformer_4_256_cifar10_t1_leg1": ("cifar_root", ["data.val_fraction=0.2"]),
    "spikformer_4_256_cifar10_t1_leg9": ("cifar_root", ["data.val_fraction=0.2"]),
    "spikformer_4_256_cifar10_t1_leg12": ("cifar_root", ["data.val_fraction=0.2"]),
    "spiking_resnet_imagenet": ("imagenet_root", ["data.num_workers=0", "model.name=spiking_resnet18"]),
    "plif_net_fashion_mnist": ("fmnist_root", ["model.kwargs.T=2", "model.kwargs.channels=8"]),
    "plif_net_fashion_mnist_10ep": ("fmnist_root", ["model.kwargs.T=2", "model.kwargs.channels=8"]),
    "plif_net_mnist": ("mnist_root", ["model.kwargs.T=2", "model.kwargs.channels=8"]),
    "spikformer_4_256_fashion_mnist": ("fmnist_root", ["model.kwargs.T=1", "train.warmup_steps=1"]),
    "sdt_2_256_fashion_mnist_t1_leg1": ("fmnist_root", ["train.warmup_steps=1"]),
    "sdt_2_256_fashion_mnist_t1_leg8": ("fmnist_root", []),
    "spikformer_4_256_fashion_mnist_leg2": ("fmnist_root", ["model.kwargs.T=1"]),
    "spikformer_4_256_fashion_mnist_leg3": ("fmnist_root", ["model.kwargs.T=1"]),
    "spikformer_4_256_fashion_mnist_long_leg1": ("fmnist_root", ["model.kwargs.T=1"]),
    "spikformer_4_256_fashion_mnist_long_leg5": ("fmnist_root", ["model.kwargs.T=1"]),
    "sew_4b_net_nmnist_emulated": ("mnist_root", ["data.kwargs.T=2", "model.kwargs.T=2", "data.val_fraction=0.2",
                                                  "data.kwargs.skip_first=20"]),
    "plif_net_cifar10": ("cifar_root", ["data.num_workers=0", "model.kwargs.T=2", "model.kwargs.channels=8",
                                        "data.val_fraction=0.2"]),
    "plif_net_nmnist": ("nmnist_root", ["data.kwargs.T=2", "model.kwargs.T=2", "model.kwargs.channels=8",
                                        "data.num_workers=0"]),
    "plif_net_cifar10dvs": ("cifar10dvs_root", ["data.kwargs.T=2", "model.kwargs.T=2", "model.kwargs.channels=8",
                                                "data.num_workers=0"]),
    "sew_resnet_imagenet": ("imagenet_root", ["data.num_workers=0", "model.name=sew_resnet18"]),
    "sew_7b_net_dvsgesture": ("dvsgesture_root", ["data.kwargs.T=4", "data.augment.time_subsample=3",
                                                  "data.num_workers=0"]),
    "sew_4b_net_fashion_mnist_dvs": ("fmnist_root", ["data.kwargs.T=2", "model.kwargs.T=2"]),
    "sew_4b_net_nmnist": ("nmnist_root", ["data.kwargs.T=2", "model.kwargs.T=2", "data.num_workers=0"]),
    "sew_wide_7b_net_cifar10dvs": ("cifar10dvs_root", ["data.kwargs.T=2", "data.num_workers=0"]),
    "ltsnn_resnet19_cifar10": ("cifar_root", ["data.num_workers=0", "model.kwargs.T=2", "data.val_fraction=0.2"]),
    "ltsnn_vgg9_cifar10dvs": ("cifar10dvs_root", ["data.kwargs.T=2", "model.kwargs.T=2", "data.num_workers=0"]),
}




def _base_and_own_keys(path) -> tuple[str | None, set[str]]:
    """The recipe's base (a stem) and the keys it sets itself, as ``section.key``."""
    raw = yaml.safe_load(path.read_text())
    base = raw.pop("base", None)
    return (base.removesuffix(".yaml") if base else None), {f"{section}.{key}" for section, values in raw.items()
                                                            for key in values}


CONTINUATION_KEYS = {"model.name", "train.epochs", "train.schedule_from_epoch"}
OWN = {path.stem: _base_and_own_keys(path) for path in RECIPES}
# a leg that only moves its base's schedule on from a weight, and that a later leg continues in turn: the later
# leg's two steps run every setting it has but the weight it starts from, which the test below loads
BASES = {base for base, _ in OWN.values()}
CONTINUED_LEGS = {stem for stem, (base, keys) in OWN.items()
                  if base and "model.name" in keys and keys <= CONTINUATION_KEYS and stem in BASES}


def test_every_recipe_but_a_continued_leg_has_a_smoke_run():
    expected = set(OWN) - CONTINUED_LEGS
    assert expected == set(SMOKE), ("SMOKE lists each recipe no later leg continues: "
                                    f"add {sorted(expected - set(SMOKE))}, remove {sorted(set(SMOKE) - expected)}")


@pytest.mark.parametrize("stem", sorted(CONTINUED_LEGS))
def test_a_continued_leg_starts_from_a_shipped_weight_of_its_bases_architecture_and_data(stem):
    config = load_recipe(str(REPO / f"recipes/{stem}.yaml"))
    base = load_recipe(str(REPO / f"recipes/{OWN[stem][0]}.yaml"))
    weights = get_weights(config["model"]["name"])
    assert weights.meta["arch"] == base["model"]["name"].split(".")[0]
    assert weights.meta["dataset"] == config["data"]["name"]
    assert config["train"]["schedule_from_epoch"] > base["train"]["schedule_from_epoch"]


@pytest.mark.parametrize("stem", sorted(SMOKE))
def test_recipes_train_two_steps_on_fixture_data(stem, request, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    fixture, overrides = SMOKE[stem]
    root = request.getfixturevalue(fixture)
    root = root[0] if isinstance(root, tuple) else root
    config = load_recipe(str(REPO / f"recipes/{stem}.yaml"),
                         [f"data.root={root}", "train.batch_size=2", *overrides])
    summary = train(config, tmp_path / "run", max_steps=2, progress=False)
    assert summary["step"] == 2
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "end"


def test_step_schedule_divides_the_rate_every_lr_step_epochs(fmnist_root):
    config = load_recipe(str(REPO / "recipes/sew_resnet18_fashion_mnist.yaml"),
                         [f"data.root={fmnist_root}", "train.schedule=step", "train.lr_step_epochs=2",
                          "train.batch_size=40"])
    trainer = Trainer(config, "unused", progress=False)
    per_epoch = trainer.steps_per_epoch
    factors = [trainer._lr_factor(step) for step in (0, 2 * per_epoch - 1, 2 * per_epoch, 4 * per_epoch)]
    assert factors == pytest.approx([1.0, 1.0, 0.1, 0.01])


def test_imagenet_validation_uses_test_time_crops(imagenet_root):
    train_set = load_dataset("imagenet", root=imagenet_root, split="train")
    image, label = train_set[0]
    assert image.shape == (3, 224, 224) and label == 0 and train_set.classes == ["n01440764", "n01443537"]
    view = train_set.without_augmentation()
    assert torch.equal(view[0][0], view[0][0])  # resize + centre crop: deterministic
    assert len(load_dataset("imagenet", root=imagenet_root, split="test")) == 4


class TestBatchAugment:
    def test_flip_is_per_sample_and_crop_keeps_shape_and_values(self):
        torch.manual_seed(0)
        images = torch.rand(64, 1, 6, 6)
        flipped = BatchAugment(hflip=True)(images)
        same = [torch.equal(a, b) for a, b in zip(flipped, images)]
        mirrored = [torch.equal(a, b.flip(-1)) for a, b in zip(flipped, images)]
        assert all(s or m for s, m in zip(same, mirrored)) and 10 < sum(mirrored) < 54
        cropped = BatchAugment(crop_padding=2)(images)
        assert cropped.shape == images.shape
        # every crop is a window of the zero-padded image: its centre pixel comes from the original
        assert set(cropped[:, :, 2:4, 2:4].flatten().tolist()) <= set(images.flatten().tolist())

    def test_crop_with_zero_offset_is_the_identity(self, monkeypatch):
        images = torch.rand(3, 2, 5, 5)
        monkeypatch.setattr(torch, "randint", lambda low, high, size: torch.full(size, 1))
        assert torch.equal(BatchAugment(crop_padding=1)(images), images)

    def test_time_subsample_keeps_frame_order_and_crops_sequences_alike(self):
        torch.manual_seed(0)
        frames = torch.arange(8.0).view(8, 1, 1, 1, 1).expand(8, 3, 2, 4, 4).contiguous()
        kept = BatchAugment(time_subsample=5)(frames)
        order = kept[:, 0, 0, 0, 0].tolist()
        assert kept.shape == (5, 3, 2, 4, 4) and order == sorted(order) and len(set(order)) == 5
        seq = torch.rand(4, 3, 2, 6, 6)
        cropped = BatchAugment(crop_padding=2)(seq)
        assert cropped.shape == seq.shape

    def test_the_same_seed_gives_the_same_batches(self):
        images = torch.rand(16, 1, 8, 8)
        augment = BatchAugment(hflip=True, crop_padding=2)
        torch.manual_seed(3)
        a = augment(images)
        torch.manual_seed(3)
        assert torch.equal(a, augment(images))

    def test_event_drop_thins_counts_binomially(self):
        torch.manual_seed(0)
        frames = torch.full((4, 8, 2, 10, 10), 5.0)
        dropped = BatchAugment(event_drop=0.3)(frames)
        assert torch.equal(dropped, dropped.round()) and (dropped <= frames).all()
        assert dropped.mean().item() == pytest.approx(5.0 * 0.7, abs=0.1)

    def test_time_jitter_shifts_each_sample_whole_frames(self):
        torch.manual_seed(1)
        frames = torch.arange(1.0, 7.0).view(6, 1, 1, 1, 1).expand(6, 32, 1, 2, 2).contiguous()
        moved = BatchAugment(time_jitter=2)(frames)[:, :, 0, 0, 0]  # [T, B] frame numbers (0: emptied)
        offsets = set()
        for sample in moved.t():
            kept = sample[sample > 0]
            assert torch.equal(kept, torch.arange(kept[0].item(), kept[0].item() + len(kept)))  # order kept
            offsets.add(int((sample > 0).int().argmax()) - int(kept[0].item()) + 1)
        assert offsets == {-2, -1, 0, 1, 2}

    def test_erase_puts_one_noise_rectangle_in_chosen_samples(self):
        torch.manual_seed(0)
        images = torch.full((2000, 1, 28, 28), -1.0)  # outside the noise range [0, 1]
        erased = BatchAugment(erase=0.5)(images)
        noise = erased >= 0
        chosen = noise.flatten(1).any(1)
        assert chosen.float().mean().item() == pytest.approx(0.5, abs=0.05)
        for mask in noise[chosen][:200, 0]:  # one axis-aligned rectangle: rows x columns of the box
            rows, cols = mask.any(1), mask.any(0)
            assert torch.equal(mask, rows.view(-1, 1) & cols.view(1, -1))
            assert torch.equal(rows.nonzero().flatten(), torch.arange(rows.nonzero()[0, 0], rows.nonzero()[-1, 0] + 1))
        area = noise[chosen].flatten(1).float().mean(1)  # 2-40% of the image, up to rounding the sides
        assert 0.01 < area.min() and area.max() < 0.45 and area.mean().item() == pytest.approx(0.21, abs=0.03)
        seq = torch.full((3, 8, 2, 10, 10), -1.0)
        boxes = BatchAugment(erase=1.0)(seq) >= 0
        assert torch.equal(boxes[0, :, 0], boxes[2, :, 1])  # the same rectangle in every frame and channel

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match=r"erase is a probability in \[0, 1\]"):
            BatchAugment(erase=1.5)
        with pytest.raises(ValueError, match="crop_padding, time_subsample and time_jitter must be >= 0"):
            BatchAugment(crop_padding=-1)
        with pytest.raises(ValueError, match=r"event_drop must be in \[0, 1\)"):
            BatchAugment(event_drop=1.0)
        with pytest.raises(ValueError, match="apply to event frames"):
            BatchAugment(event_drop=0.1)(torch.rand(2, 1, 4, 4))
        with pytest.raises(ValueError, match=r"\[B, C, H, W\] or \[T, B, C, H, W\]"):
            BatchAugment(hflip=True)(torch.rand(3, 4))
