"""Event datasets: frames that count every event once, tonic readers on files in the real formats,
the seeded CIFAR10-DVS split, the frame cache and clear errors."""
import numpy as np
import pytest
import torch

from conftest import CIFAR10DVS_CLASSES
from event_files import EVENT_DTYPE, histogram, random_events, write_nmnist_bin
from zoo.data import load_dataset
from zoo.data.events import per_class_split
from zoo.data.frames import events_to_frames
from zoo.errors import DatasetNotFoundError



def _spikingjelly_frames(events, T, split_by, width, height):
    import spikingjelly.datasets as sjd

    j_l, j_r = sjd.cal_fixed_frames_number_segment_index(events["t"], split_by, T)
    return np.stack([sjd.integrate_events_segment_to_frame(events["x"], events["y"], events["p"], height, width,
                                                           j_l[i], j_r[i]) for i in range(T)])


@pytest.mark.parametrize("split_by, count", [("number", 7), ("number", 1001), ("time", 100), ("time", 1001)])
def test_frames_equal_spikingjelly_integration(split_by, count):
    events = random_events(np.random.default_rng(count), count, 16, 12, 10_000)
    frames = events_to_frames(events, (16, 12, 2), T=6, split_by=split_by)
    assert frames.shape == (6, 2, 12, 16) and frames.dtype == np.float32
    np.testing.assert_array_equal(frames, _spikingjelly_frames(events, 6, split_by, 16, 12))
    assert frames.sum() == count


def test_no_event_is_dropped_where_tonic_to_frame_drops_the_remainder():
    import tonic

    events = np.zeros(5, dtype=EVENT_DTYPE)
    events["t"] = [0, 10, 20, 30, 40]
    events["x"] = [1, 2, 3, 4, 5]
    tonic_frames = tonic.transforms.ToFrame(sensor_size=(8, 8, 2), n_event_bins=3)(events)
    assert tonic_frames.sum() < 5  # the convention the zoo does not follow
    frames = events_to_frames(events, (8, 8, 2), T=3)
    assert frames.sum() == 5 and frames[:, 0].sum(axis=(1, 2)).tolist() == [1, 1, 3]
    assert events_to_frames(events[:2], (8, 8, 2), T=3)[2].sum() == 2  # fewer events than frames
    sparse = events_to_frames(events[[0, 4]], (8, 8, 2), T=4, split_by="time")  # empty windows stay empty
    assert sparse.sum(axis=(1, 2, 3)).tolist() == [1, 0, 0, 1]


def test_events_outside_the_sensor_are_rejected_with_the_source_named():
    events = random_events(np.random.default_rng(0), 10, 8, 8, 100)
    events["x"][3] = 8
    with pytest.raises(ValueError, match=r"sample\.npy: x must be in \[0, 8\)"):
        events_to_frames(events, (8, 8, 2), T=2, source="sample.npy")


@pytest.mark.parametrize("T", [1, 5])
def test_nmnist_round_trip(nmnist_root, T, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    root, written = nmnist_root
    train = load_dataset("nmnist", root=root, split="train", T=T)
    assert len(train) == 6 and train.classes[7] == "7"
    files = [p for p in written if "Train" in p.parts]
    for index in range(len(train)):
        frames, label = train[index]
        path = next(p for p in files if str(p) == train.reader.where(train.indices[index]))
        assert label == int(path.parent.name)
        assert frames.shape == (T, 2, 34, 34) and frames.dtype == torch.float32
        np.testing.assert_array_equal(frames.sum(0).numpy(), histogram(written[path], 34, 34))
    assert len(load_dataset("nmnist", root=root, split="test", T=T)) == 3


def test_dvsgesture_round_trip_and_labels_from_file_names(dvsgesture_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    root, written = dvsgesture_root
    test = load_dataset("dvsgesture", root=root, split="test", T=4)
    assert len(test) == 11 and len(test.classes) == 11
    for index in range(len(test)):
        frames, label = test[index]
        path = next(p for p in written if str(p) == test.reader.where(test.indices[index]))
        assert label == int(path.stem)
        np.testing.assert_array_equal(frames.sum(0).numpy(), histogram(written[path], 128, 128))
        assert frames.sum() == len(written[path])


def test_cifar10dvs_round_trip_and_seeded_split(cifar10dvs_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    root, written = cifar10dvs_root
    train = load_dataset("cifar10dvs", root=root, split="train", T=3)
    test = load_dataset("cifar10dvs", root=root, split="test", T=3)
    assert (len(train), len(test)) == (90, 10) and train.classes == CIFAR10DVS_CLASSES
    assert sorted(test.targets) == list(range(10))  # one test sample per class
    assert not set(train.indices) & set(test.indices)
    again = load_dataset("cifar10dvs", root=root, split="test", T=3)
    assert again.indices == test.indices  # the split is fixed
    for index in range(0, len(test), 3):
        frames, label = test[index]
        path = next(p for p in written if str(p) == test.reader.where(test.indices[index]))
        assert CIFAR10DVS_CLASSES[label] == path.parent.name
        np.testing.assert_array_equal(frames.sum(0).numpy(), histogram(written[path], 128, 128))


def test_per_class_split_is_stratified_and_depends_on_the_seed():
    targets = [0] * 20 + [1] * 10
    train = per_class_split(targets, 0.9, seed=0, split="train")
    test = per_class_split(targets, 0.9, seed=0, split="test")
    assert sorted(train + test) == list(range(30)) and len(test) == 3
    assert [targets[i] for i in test].count(1) == 1
    assert per_class_split(targets, 0.9, seed=1, split="test") != test


def test_frames_are_cached_under_a_key_of_every_parameter(nmnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    root, _ = nmnist_root
    first = load_dataset("nmnist", root=root, split="test", T=4)
    frames, _ = first[0]
    cached = list(first.cache_dir.glob("*.npz"))
    assert len(cached) == 1 and np.array_equal(np.load(cached[0])["frames"], frames.numpy())
    np.savez(cached[0], frames=np.full_like(frames.numpy(), 7.0))  # a later read comes from the cache
    assert load_dataset("nmnist", root=root, split="test", T=4)[0][0].eq(7.0).all()
    other = load_dataset("nmnist", root=root, split="test", T=4, split_by="time")
    assert other.cache_dir != first.cache_dir
    assert load_dataset("nmnist", root=root, split="test", T=4, denoise_us=5000).cache_dir != first.cache_dir


def test_fill_cache_integrates_every_missing_sample_once(nmnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    root, _ = nmnist_root
    dataset = load_dataset("nmnist", root=root, split="train", T=4)
    dataset[0]
    integrated = []
    monkeypatch.setattr(dataset.reader, "events", lambda i, read=dataset.reader.events: integrated.append(i) or read(i))
    dataset.fill_cache(progress=False)
    assert integrated == list(range(1, len(dataset)))
    assert all(dataset.cached_path(i).is_file() for i in range(len(dataset)))


@pytest.mark.parametrize("name, layout", [("nmnist", "NMNIST/Train/<digit>/\\*.bin"),
                                          ("dvsgesture", "DVSGesture/ibmGestureTrain"),
                                          ("cifar10dvs", "CIFAR10DVS/<class>/\\*.aedat4")])
def test_missing_event_datasets_say_where_the_files_go_and_never_download(name, layout, tmp_path, monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.delenv("ZOO_DATASETS", raising=False)
    with pytest.raises(DatasetNotFoundError, match=layout):
        load_dataset(name, root=tmp_path, split="train")
    with pytest.raises(DatasetNotFoundError, match=r"pass --root DIR \(root= in Python\), or set ZOO_DATASETS"):
        load_dataset(name, split="train")


def test_a_truncated_event_file_is_named_in_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    events = random_events(np.random.default_rng(0), 20, 34, 34, 1000)
    path = tmp_path / "NMNIST" / "Test" / "1" / "00000.bin"
    write_nmnist_bin(path, events)
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(ValueError, match="00000.bin"):
        load_dataset("nmnist", root=tmp_path, split="test", T=2)[0]


# --- custom event folders -------------------------------------------------------------------------
def _write_folder(root, rng, formats=("npy-structured", "npy-plain", "npz", "bin")):
    written = {}
    for label, name in enumerate(["left", "right", "up"]):
        for n, kind in enumerate(formats):
            events = random_events(rng, int(rng.integers(20, 200)), 20, 16, 50_000)
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            if kind == "npy-structured":
                path = folder / f"s{n}.npy"
                np.save(path, events)  # structured: fields x, y, t, p
            elif kind == "npy-plain":
                path = folder / f"s{n}.npy"
                np.save(path, np.stack([events[f] for f in ("x", "y", "t", "p")], axis=1))
            elif kind == "npz":
                path = folder / f"s{n}.npz"
                np.savez(path, events=events)
            else:
                path = folder / f"s{n}.bin"
                write_nmnist_bin(path, events)
            written[path] = (events, label)
    return written


def test_custom_event_folder_reads_every_format_and_infers_the_sensor(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    written = _write_folder(tmp_path / "rec", np.random.default_rng(7))
    train = load_dataset("events", root=tmp_path / "rec", split="train", T=3, train_fraction=0.5)
    test = load_dataset("events", root=tmp_path / "rec", split="test", T=3, train_fraction=0.5)
    assert train.classes == ["left", "right", "up"] and (len(train), len(test)) == (6, 6)
    max_x = max(int(e["x"].max()) for e, _ in written.values())
    max_y = max(int(e["y"].max()) for e, _ in written.values())
    assert train.sensor_size == (max_x + 1, max_y + 1, 2)
    for dataset in (train, test):
        for index in range(len(dataset)):
            frames, label = dataset[index]
            events, expected = written[next(p for p in written if str(p) == dataset.reader.where(dataset.indices[index]))]
            assert label == expected and frames.shape == (3, 2, max_y + 1, max_x + 1)
            np.testing.assert_array_equal(frames.sum(0).numpy(), histogram(events, max_x + 1, max_y + 1))


def test_custom_event_folder_with_a_given_sensor_and_its_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    _write_folder(tmp_path / "rec", np.random.default_rng(8), formats=("npy-plain", "npy-plain"))
    dataset = load_dataset("events", root=tmp_path / "rec", T=2, sensor_size=(34, 34, 2))
    assert dataset[0][0].shape == (2, 2, 34, 34)
    small = load_dataset("events", root=tmp_path / "rec", T=2, sensor_size=(8, 8, 2))
    with pytest.raises(ValueError, match=r"s\d\.npy: x must be in \[0, 8\)"):
        small[0]
    (tmp_path / "rec" / "empty").mkdir()
    with pytest.raises(ValueError, match="class folder .*empty has no event files"):
        load_dataset("events", root=tmp_path / "rec", T=2)
    (tmp_path / "rec" / "empty" / "bad.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match=r"bad\.npy: unreadable event file"):
        load_dataset("events", root=tmp_path / "rec", T=2)  # inferring the sensor reads every file
    np.save(tmp_path / "rec" / "empty" / "bad.npy", np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"bad\.npy: expected a structured array .* got shape \(5, 3\)"):
        load_dataset("events", root=tmp_path / "rec", T=2)
    with pytest.raises(DatasetNotFoundError, match="has no class sub-folders"):
        load_dataset("events", root=tmp_path / "rec" / "left", T=2)


def test_resized_frames_keep_the_event_density(cifar10dvs_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    root, _ = cifar10dvs_root
    full = load_dataset("cifar10dvs", root=root, split="test", T=2)
    small = load_dataset("cifar10dvs", root=root, split="test", T=2, resize=(48, 48))
    assert small[0][0].shape == (2, 2, 48, 48) and small.cache_dir != full.cache_dir
    # area averaging over windows that overlap where 128 is not a multiple of 48: close, not exact
    assert small[0][0].mean().item() == pytest.approx(full[0][0].mean().item(), rel=0.1)
    with pytest.raises(ValueError, match=r"resize must be \(H, W\)"):
        load_dataset("cifar10dvs", root=root, split="test", T=2, resize=(48,))
