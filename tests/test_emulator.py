"""The saccade emulator behind 'fashion-mnist-dvs', and exporting event datasets."""
import numpy as np
import pytest
import torch

from zoo.cli import main
from zoo.data import load_dataset
from zoo.data.emulator import EmulatedReader, SaccadeEmulator
from zoo.data.export import folder_name


def square(size=28, lo=10, hi=18):
    image = np.zeros((size, size))
    image[lo:hi, lo:hi] = 1.0
    return image


class FakeImages:
    """A torchvision-like image dataset: ``(tensor [1, H, W], label)`` and ``targets``."""

    def __init__(self, images):
        self.data, self.targets = images, [n % 2 for n in range(len(images))]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return torch.as_tensor(self.data[index])[None], self.targets[index]


def test_a_uniform_scene_emits_nothing_and_events_stay_on_the_sensor():
    emulator = SaccadeEmulator()
    assert len(emulator(np.zeros((28, 28)), np.random.default_rng(0))) == 0
    events = emulator(square(), np.random.default_rng(0))
    assert len(events) > 100
    assert events["x"].min() >= 0 and events["x"].max() < 34 and events["y"].max() < 34
    assert np.all(np.diff(events["t"]) >= 0) and events["t"].max() <= 3 * emulator.saccade_us + 1000


def test_the_path_is_n_mnist_s_three_saccades():
    positions = SaccadeEmulator().positions()
    assert len(positions) == 3 * 105 + 1
    assert positions[0].tolist() == [0, 0] and positions[105].tolist() == [3.5, 7.0]
    assert positions[210].tolist() == [7.0, 0.0] and positions[-1].tolist() == [0.0, 0.0]


def test_leading_edges_brighten_and_trailing_edges_darken():
    emulator = SaccadeEmulator(jitter_us=0.0)
    events = emulator(square(), np.random.default_rng(0))
    first = events[events["t"] < emulator.saccade_us]   # the square moves right and down
    leading = first[(first["x"] >= 14) & (first["y"] >= 18)]  # bottom right: only ever covered
    trailing = first[(first["x"] < 14) & (first["y"] < 13)]   # top left: only ever uncovered
    assert len(leading) > 20 and len(trailing) > 20
    assert leading["p"].mean() == 1.0 and trailing["p"].mean() == 0.0


def test_refractory_time_is_respected():
    emulator = SaccadeEmulator(jitter_us=0.0, refractory_us=3_000)
    events = emulator(square(), np.random.default_rng(0))
    steps = events["t"] // emulator.step_us
    for pixel in {(x, y) for x, y in zip(events["x"][:200], events["y"][:200])}:
        mine = np.sort(steps[(events["x"] == pixel[0]) & (events["y"] == pixel[1])])
        assert np.all(np.diff(mine) >= 3)


def test_emulation_is_seeded_per_sample():
    emulator = SaccadeEmulator()
    a = emulator(square(), np.random.default_rng([0, 5]))
    b = emulator(square(), np.random.default_rng([0, 5]))
    c = emulator(square(), np.random.default_rng([0, 6]))
    assert np.array_equal(a, b) and not np.array_equal(a["t"], c["t"])
    with pytest.raises(ValueError, match=r"one grey image \[H, W\] with values in \[0, 1\], got shape \(28, 28\)"):
        emulator(np.full((28, 28), 2.0), np.random.default_rng(0))


def test_images_emulated_together_get_the_events_each_gets_alone():
    emulator = SaccadeEmulator()
    images = np.stack([square(), np.zeros((28, 28)), square()[::-1].copy()])
    together = emulator.emulate(images, [np.random.default_rng([0, n]) for n in range(3)])
    alone = [emulator(image, np.random.default_rng([0, n])) for n, image in enumerate(images)]
    assert len(together[1]) == 0 and len(together[0]) > 0
    assert all(np.array_equal(a, b) for a, b in zip(together, alone))
    with pytest.raises(ValueError, match="one generator per image: 3 images, 1 generators"):
        emulator.emulate(images, [np.random.default_rng(0)])


def test_reader_events_do_not_depend_on_reading_order():
    images = FakeImages(np.random.default_rng(1).random((7, 28, 28)) ** 4)
    forward, backward = (EmulatedReader(images, "fake", SaccadeEmulator(), block=3) for _ in range(2))
    in_order = [forward.events(i) for i in range(7)]
    reversed_order = [backward.events(i) for i in reversed(range(7))][::-1]
    assert all(np.array_equal(a, b) for a, b in zip(in_order, reversed_order))


def test_fashion_mnist_dvs_dataset(fmnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    images = load_dataset("fashion-mnist", root=fmnist_root, split="test")
    events = load_dataset("fashion-mnist-dvs", root=fmnist_root, split="test", T=5)
    assert len(events) == len(images) and events.targets == images.targets.tolist()
    frames, label = events[3]
    assert frames.shape == (5, 2, 34, 34) and label == int(images.targets[3])
    assert frames.sum() == len(events.events(3)) > 0
    assert torch.equal(load_dataset("fashion-mnist-dvs", root=fmnist_root, split="test", T=5, cache=False)[3][0], frames)


def test_export_events_reads_back_as_a_custom_folder(fmnist_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    out = tmp_path / "export"
    code = main(["events-to-frames", "fashion-mnist-dvs", "--root", str(fmnist_root), "--split", "test",
                 "--format", "events", "--limit", "12", "--out", str(out)])
    assert code == 0 and "wrote 12 fashion-mnist-dvs samples as events" in capsys.readouterr().out
    source = load_dataset("fashion-mnist-dvs", root=fmnist_root, split="test", T=4)
    back = load_dataset("events", root=out, split="train", T=4, sensor_size=(34, 34, 2), train_fraction=0.5)
    for index in range(len(back)):
        original = int(back.reader.where(back.indices[index]).rsplit("/", 1)[1][:6])
        assert torch.equal(back[index][0], source[original][0])
        assert back.classes[back[index][1]] == folder_name(source.classes[source.targets[original]])


def test_export_frames(fmnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    code = main(["events-to-frames", "fashion-mnist-dvs", "--root", str(fmnist_root), "--split", "test",
                 "--T", "3", "--limit", "2", "--out", str(tmp_path / "frames"), "--preview", str(tmp_path / "p.png")])
    files = sorted((tmp_path / "frames").glob("*/*.npy"))
    assert code == 0 and len(files) == 2 and np.load(files[0]).shape == (3, 2, 34, 34)
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
