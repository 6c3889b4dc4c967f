from pathlib import Path

import pytest
import torch

import zoo
from zoo.data import holdout
from zoo.data import static as static_data
from zoo.errors import DatasetNotFoundError


def test_fashion_mnist_from_a_torchvision_layout_root(fmnist_root):
    train = zoo.load_dataset("fashion-mnist", root=fmnist_root, split="train")
    test = zoo.load_dataset("fashion-mnist", root=fmnist_root, split="test")
    assert (len(train), len(test)) == (200, 100)
    image, label = train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and 0 <= label < 10
    assert len(train.classes) == 10 and train.classes[0] == "T-shirt/top"
    # the bright band of class k starts at row 2k + 4 (see conftest)
    assert image[0, 2 * label + 4].mean() > 0.6


def test_fashion_mnist_is_unpacked_from_the_debian_package_layout(tmp_path, monkeypatch, fmnist_root):
    import gzip

    debian = tmp_path / "debian"
    debian.mkdir()
    for raw in (fmnist_root / "FashionMNIST" / "raw").iterdir():
        (debian / f"{raw.name}.gz").write_bytes(gzip.compress(raw.read_bytes()))
    monkeypatch.setattr(static_data, "DEBIAN_FASHION_MNIST", debian)
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    test = zoo.load_dataset("fashion-mnist", split="test")
    reference = zoo.load_dataset("fashion-mnist", root=fmnist_root, split="test")
    assert torch.equal(test.images, reference.images) and torch.equal(test.targets, reference.targets)
    assert (tmp_path / "cache" / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()


def test_cifar10_from_the_pickle_batches(cifar_root):
    train = zoo.load_dataset("cifar10", root=cifar_root, split="train")
    test = zoo.load_dataset("cifar10", root=cifar_root, split="test")
    assert (len(train), len(test)) == (20, 4)
    image, label = test[1]
    assert image.shape == (3, 32, 32) and train.classes[0] == "airplane"
    import pickle

    raw = pickle.loads((cifar_root / "cifar-10-batches-py" / "test_batch").read_bytes())
    # CIFAR rows are channel-major: R plane, G plane, B plane
    assert torch.equal((image * 255).round().to(torch.uint8).flatten(), torch.from_numpy(raw["data"][1]))
    assert label == raw["labels"][1]


def test_a_known_copy_of_cifar10_is_recognised_by_its_pixels_and_named(cifar_root, monkeypatch):
    from zoo.data import copies
    from zoo.data.roots import describe_source
    from zoo.hub.report import card_dataset_label

    official = zoo.load_dataset("cifar10", root=cifar_root, split="test")
    assert official.copy is None and official.name == "CIFAR-10"
    images = official.images.permute(0, 2, 3, 1).numpy()  # back to the [N, H, W, C] the loader read
    import hashlib
    import pickle

    rows = pickle.loads((cifar_root / "cifar-10-batches-py" / "test_batch").read_bytes())["data"]
    assert copies.pixel_digest(images) == hashlib.sha256(rows.tobytes()).hexdigest()  # the batch's own rows
    monkeypatch.setitem(copies.KNOWN_COPIES, ("cifar10", copies.pixel_digest(images)), copies.CIFAR10_JPEG)
    test = zoo.load_dataset("cifar10", root=cifar_root, split="test")
    assert test.copy is copies.CIFAR10_JPEG and test.name == "CIFAR-10 (JPEG copy)"
    assert zoo.load_dataset("cifar10", root=cifar_root, split="train").copy is None  # other pixels, other digest
    source = describe_source(test.source_root, test.source_files, test.copy)
    assert set(source["sha256"]) == {"test_batch"}
    assert source["copy"]["archive_sha256"] == copies.CIFAR10_JPEG.archive_sha256
    card = {"dataset": "cifar10", "data_source": source}
    assert card_dataset_label(card) == "cifar10 (JPEG copy)"
    assert card_dataset_label({"dataset": "cifar10", "data_source": describe_source(cifar_root, [])}) == "cifar10"


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # beside the checkout on CI


@pytest.mark.skipif(not (SHARED_DATA / "cifar10-jpeg.tar.gz").is_file(),
                    reason="the CIFAR-10 JPEG copy is in ../shared/data (CI has it), not here")
def test_the_known_cifar10_jpeg_copy_is_the_archive_and_pixels_in_shared_data():
    import hashlib
    import importlib.util

    from zoo.data import copies

    digest = hashlib.sha256((SHARED_DATA / "cifar10-jpeg.tar.gz").read_bytes()).hexdigest()
    assert digest == copies.CIFAR10_JPEG.archive_sha256
    spec = importlib.util.spec_from_file_location("build_cifar10_jpeg", SHARED_DATA / "build_cifar10_jpeg.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)  # the digests its decoded pixels are checked against
    known = {d for (name, d), copy in copies.KNOWN_COPIES.items() if copy is copies.CIFAR10_JPEG}
    assert known == set(builder.SHA256.values())


@pytest.mark.parametrize("name, hint", [("cifar10", "cifar-10-batches-py"), ("mnist", "MNIST/raw")])
def test_missing_data_says_where_to_put_it(tmp_path, name, hint):
    with pytest.raises(DatasetNotFoundError, match=hint):
        zoo.load_dataset(name, root=tmp_path)


def test_missing_fashion_mnist_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr(static_data, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        zoo.load_dataset("fashion-mnist")


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="did you mean fashion-mnist"):
        zoo.load_dataset("fashion_mnst")
    with pytest.raises(ValueError, match="split"):
        zoo.load_dataset("mnist", split="validation")


def test_holdout_is_seeded_disjoint_and_complete(fmnist_root):
    data = zoo.load_dataset("fashion-mnist", root=fmnist_root)
    train, val = holdout(data, 0.1, seed=3)
    again, _ = holdout(data, 0.1, seed=3)
    assert len(val) == 20 and len(train) == 180 and train.indices == again.indices
    assert not set(train.indices) & set(val.indices)
    with pytest.raises(ValueError):
        holdout(data, 1.0)


def test_datasets_without_a_system_package_are_found_under_zoo_datasets(tmp_path, monkeypatch):
    """One rule: root= (--root), else $ZOO_DATASETS/<name>; the card records the folder and test files."""
    from conftest import make_mnist_layout
    from zoo.data.roots import describe_source

    make_mnist_layout(tmp_path / "mnist", "MNIST", n_train=30, n_test=20)
    monkeypatch.setenv("ZOO_DATASETS", str(tmp_path))
    test = zoo.load_dataset("mnist", split="test")
    assert len(test) == 20 and len(zoo.load_dataset("mnist")) == 30
    source = describe_source(tmp_path / "mnist", test.source_files)
    assert source["root"] == str((tmp_path / "mnist").resolve())
    assert sorted(source["sha256"]) == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    monkeypatch.delenv("ZOO_DATASETS")
    with pytest.raises(DatasetNotFoundError, match=r"\$ZOO_DATASETS is not set\): put MNIST/raw/"):
        zoo.load_dataset("mnist")
