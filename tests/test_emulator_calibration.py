"""The emulator against the sensor: the emulator's sensor parameters (each changes the events the way its
docstring says), the population comparison and the fit on recordings with known answers, the real
recordings' pairing with their MNIST images and their split, the datasets built on them; and, where
../shared/data holds real N-MNIST, the fitted preset against the first emulator on the held-out recordings."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from event_files import write_nmnist_bin
from zoo.data import load_dataset
from zoo.data.emulator import EVENT_DTYPE, PRESETS, SaccadeEmulator
from zoo.data.emulator_fit import (TwinJudge, calibration_loss, find_hot_pixels, fit_emulator, flat_parameters,
                                   with_parameters)
from zoo.data.event_stats import compare_populations, interval_histogram, pixel_counts
from zoo.data.nmnist_pairs import Pair, digit_masks, recording_number, recordings, source_images, split_indices

SENSOR = (34, 34, 2)
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
REAL = SHARED / "nmnist-subset" / "NMNIST" / "Train"


def square(lo=10, hi=18, size=28):
    image = np.zeros((size, size))
    image[lo:hi, lo:hi] = 1.0
    return image


def emulate(emulator, image=None, seed=0):
    return emulator(square() if image is None else image, np.random.default_rng(seed))


# --- the emulator's sensor parameters -------------------------------------------------------------
def test_smooth_saccades_start_and_stop_at_rest_and_pause_between():
    emulator = SaccadeEmulator(profile="smooth", saccades_us=((0, 80_000), (100_000, 80_000), (200_000, 80_000)))
    path = emulator.positions()
    assert len(path) == 281 and path[0].tolist() == [0, 0] and path[80].tolist() == [3.5, 7.0]
    assert path[180].tolist() == [7.0, 0.0] and path[-1].tolist() == [0.0, 0.0]
    assert np.array_equal(path[80:101], np.repeat(path[80:81], 21, axis=0))  # at rest between saccades
    speed = np.linalg.norm(np.diff(path[:81], axis=0), axis=1)
    assert speed[0] < speed[40] / 50 and speed[-1] < speed[40] / 50 and speed.argmax() in (39, 40)
    linear = np.linalg.norm(np.diff(SaccadeEmulator(saccades_us=emulator.saccades_us).positions()[:81], axis=0), axis=1)
    assert np.allclose(linear, linear[0])


def test_offset_amplitude_and_duration_move_the_path():
    moved = SaccadeEmulator(offset=(1.5, -2.0), amplitude=(2.0, 0.5), duration_us=400_000).positions()
    assert len(moved) == 401 and moved[0].tolist() == [1.5, -2.0] and moved[105].tolist() == [1.5 + 7.0, -2.0 + 3.5]
    assert np.array_equal(moved[315:], np.repeat(moved[315:316], 86, axis=0))


def test_an_integer_offset_shifts_every_event_by_it():
    still, moved = emulate(SaccadeEmulator()), emulate(SaccadeEmulator(offset=(2.0, 3.0)))
    assert len(still) > 100
    assert np.array_equal(moved["x"], still["x"] + 2) and np.array_equal(moved["y"], still["y"] + 3)
    assert np.array_equal(moved["t"], still["t"]) and np.array_equal(moved["p"], still["p"])


def test_each_polarity_has_its_own_threshold():
    base = emulate(SaccadeEmulator())
    deaf_off = emulate(SaccadeEmulator(threshold_off=50.0))
    higher_on = emulate(SaccadeEmulator(threshold_on=0.4))
    assert (deaf_off["p"] == 0).sum() == 0 and (deaf_off["p"] == 1).sum() > 0
    assert (higher_on["p"] == 1).sum() < (base["p"] == 1).sum() / 1.5
    with pytest.raises(ValueError, match="contrast thresholds must be positive"):
        SaccadeEmulator(threshold_on=0.0)


def test_blur_spreads_the_events_over_more_pixels():
    sharp, blurred = (pixel_counts(emulate(SaccadeEmulator(blur_sigma=s, jitter_us=0.0)), SENSOR) for s in (0.0, 1.0))
    assert np.count_nonzero(blurred) > np.count_nonzero(sharp) * 1.1


def test_a_slow_photoreceptor_makes_the_events_trail_the_motion():
    def mean_time(emulator):
        events = emulate(emulator)
        return events["t"][events["t"] < 105_000].mean()
    assert mean_time(SaccadeEmulator(bandwidth_us=10_000)) > mean_time(SaccadeEmulator()) + 2_000


def test_background_and_hot_pixels_fire_at_their_rates():
    emulator = SaccadeEmulator(noise_hz=20.0, hot_pixels=((0, 33, 2_000.0),))
    events = emulator(np.zeros((28, 28)), np.random.default_rng(0))  # a blank image: only the sensor's noise
    hot = (events["x"] == 0) & (events["y"] == 33)
    expected_noise = 20.0 * 34 * 34 * 0.315
    assert abs((~hot).sum() - expected_noise) < 4 * np.sqrt(expected_noise)
    assert abs(hot.sum() - 2_000 * 0.315 - 20 * 0.315) < 4 * np.sqrt(630)
    assert set(np.unique(events["p"])) == {0, 1} and events["t"].max() < 315_000
    assert np.all(np.diff(events["t"]) >= 0)


def test_noise_free_parameters_draw_nothing_more():
    quiet = SaccadeEmulator(noise_hz=0.0, threshold_sigma=0.0)
    assert np.array_equal(emulate(quiet), emulate(SaccadeEmulator()))
    assert not np.array_equal(emulate(SaccadeEmulator(threshold_sigma=0.2))["x"][:200], emulate(quiet)["x"][:200])


def test_magnifying_the_image_widens_its_events():
    normal, double = emulate(SaccadeEmulator(jitter_us=0.0)), emulate(SaccadeEmulator(scale=1.5, jitter_us=0.0))
    assert np.std(double["x"]) > 1.3 * np.std(normal["x"])
    assert abs(np.mean(double["x"]) - np.mean(normal["x"])) < 1.0  # magnified about the image's centre


def test_bad_timing_is_one_line():
    with pytest.raises(ValueError, match="one \\(start, duration\\) per saccade, 3"):
        SaccadeEmulator(saccades_us=((0, 1000),))
    with pytest.raises(ValueError, match="positive multiples of step_us \\(1000\\)"):
        SaccadeEmulator(saccades_us=((0, 1500), (2000, 1000), (3000, 1000)))
    with pytest.raises(ValueError, match="profile must be one of linear, smooth"):
        SaccadeEmulator(profile="jerky")


def test_the_uniform_preset_is_the_first_emulator_and_makes_fashion_mnist_dvs():
    assert PRESETS["uniform"] == SaccadeEmulator()
    assert set(PRESETS) == {"uniform", "atis"} and PRESETS["atis"].profile == "smooth"


# --- the comparison --------------------------------------------------------------------------------
def _events(rows):
    events = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for field, column in zip(("x", "y", "t", "p"), np.array(rows).T):
        events[field] = column
    return events


def test_identical_populations_have_no_gap_and_a_doubled_twin_has_a_gap_of_one():
    recs = [emulate(SaccadeEmulator(), seed=s) for s in range(3)]
    rows = compare_populations(recs, recs, SENSOR)
    assert all(row["gap"] == pytest.approx(0.0, abs=1e-12) for row in rows.values())
    assert rows["pixel_correlation"]["mean"] == pytest.approx(1.0)
    doubled = [np.sort(np.concatenate([r, r]), order="t") for r in recs]
    rows = compare_populations(recs, doubled, SENSOR)
    assert rows["events"]["gap"] == pytest.approx(1.0) and rows["events_per_active_pixel"]["gap"] == pytest.approx(1.0)
    assert rows["pixel_correlation"]["mean"] == pytest.approx(1.0) and rows["on_fraction"]["gap"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="one twin per real recording, at least one pair: 3 real, 2 twins"):
        compare_populations(recs, recs[:2], SENSOR)


def test_bad_recordings_are_one_line_in_the_comparison():
    good = _events([(1, 1, 0, 1), (2, 2, 10, 0)])
    with pytest.raises(ValueError, match="real recording 0: an empty recording"):
        compare_populations([good[:0]], [good], SENSOR)
    with pytest.raises(ValueError, match="emulated twin 0"):
        compare_populations([good], [_events([(40, 1, 0, 1)])], SENSOR)


def test_interval_histogram_counts_the_gaps_between_events():
    recording = _events([(0, 0, 0, 1), (0, 0, 10, 1), (0, 0, 110, 0), (0, 0, 111, 0)])
    shares = interval_histogram([recording], np.array([0, 5, 50, 500]))
    assert shares.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3])


# --- the fit ---------------------------------------------------------------------------------------
def test_flat_parameters_round_trip():
    emulator = SaccadeEmulator(threshold_on=0.3, threshold_off=0.25, log_eps=0.5, offset=(1.0, -1.0),
                               amplitude=(0.9, 1.1), saccades_us=((0, 90_000), (95_000, 90_000), (200_000, 80_000)))
    back = with_parameters(SaccadeEmulator(), flat_parameters(emulator))
    assert back.threshold_on == pytest.approx(0.3) and back.threshold_off == pytest.approx(0.25)
    assert dataclasses.replace(back, threshold_on=0.3, threshold_off=0.25, duration_us=None) == emulator


def test_the_fit_recovers_a_known_threshold_and_placement():
    rng = np.random.default_rng(3)
    images = np.stack([square(8 + k, 16 + k) * rng.uniform(0.5, 1.0) for k in range(4)])
    truth = SaccadeEmulator(threshold_on=0.35, threshold_off=0.35, offset=(1.0, 0.0))
    indices = list(range(4))
    reals = truth.emulate(images, [np.random.default_rng([9, i]) for i in indices])
    judge = TwinJudge(images, reals, indices, digit_masks(images, SENSOR), SENSOR)
    start = SaccadeEmulator(threshold_on=0.2, threshold_off=0.2)
    fitted, history = fit_emulator(judge, start, rounds=3, names=["contrast_on", "contrast_off", "offset_x"],
                                   progress=False)
    assert history[-1]["loss"] < history[0]["loss"] / 3
    assert fitted.threshold_on == pytest.approx(0.35, abs=0.05) and fitted.offset[0] == pytest.approx(1.0, abs=0.3)
    assert calibration_loss(judge.rows(fitted)) == pytest.approx(history[-1]["loss"])


def test_fitted_times_stay_on_the_emulators_clock():
    from zoo.data.emulator_fit import _moved

    values = flat_parameters(SaccadeEmulator())
    for clock_us in (1_000, 500, 250):
        moved = _moved(values, "saccade1_us", 1, {"saccade1_us": 1_337}, clock_us)
        assert moved["saccade1_us"] % clock_us == 0
        assert abs(moved["saccade1_us"] - values["saccade1_us"] - 1_337) <= clock_us / 2
    at_bound = _moved({**values, "saccade1_us": 149_700}, "saccade1_us", 1, {"saccade1_us": 4_000}, 900)
    assert at_bound["saccade1_us"] == 149_400  # the bound 150,000 is not on a 900 us clock: the last tick below


def test_hot_pixels_are_the_ones_that_fire_beyond_their_twins():
    twins = [emulate(SaccadeEmulator(), seed=s) for s in range(4)]
    extra = _events([(3, 30, 1000 * k, 1) for k in range(12)])
    reals = [np.sort(np.concatenate([t, extra]), order="t") for t in twins]
    assert find_hot_pixels(reals, twins, SENSOR, 300_000) == ((3, 30, 40.0),)


# --- the real recordings' pairs and split -----------------------------------------------------------
def test_recording_numbers_name_their_mnist_images():
    assert recording_number("Train/3/00042.bin") == 42
    with pytest.raises(ValueError, match="not an N-MNIST recording name"):
        recording_number("Train/3/00000.bin")


class FakeMNIST:
    def __init__(self, labels):
        self.targets = torch.tensor(labels)
        self.data = torch.zeros(len(labels), 28, 28, dtype=torch.uint8)

    def __len__(self):
        return len(self.targets)


def test_a_recording_filed_under_another_digit_is_refused():
    mnist = FakeMNIST([5, 0, 4])
    assert source_images([Pair(Path("0/00002.bin"), 1, 0)], mnist).shape == (1, 28, 28)
    with pytest.raises(ValueError, match="filed as digit 3, but MNIST training image 2 is a 4"):
        source_images([Pair(Path("3/00003.bin"), 2, 3)], mnist)
    with pytest.raises(ValueError, match="recording 10 has no MNIST training image"):
        source_images([Pair(Path("3/00010.bin"), 9, 3)], mnist)


def test_the_split_holds_out_the_same_recordings_a_class_and_nests_the_training_sizes():
    labels = [n % 3 for n in range(60)]
    test = split_indices(labels, "test", test_per_class=5)
    train = split_indices(labels, "train", test_per_class=5)
    assert len(test) == 15 and not set(test) & set(train) and len(test) + len(train) == 60
    assert [np.sum(np.array(labels)[test] == k) for k in range(3)] == [5, 5, 5]
    small, large = (set(split_indices(labels, "train", test_per_class=5, train_per_class=n)) for n in (3, 10))
    assert len(small) == 9 and small < large < set(train)
    with pytest.raises(ValueError, match="digit 0 has 15 training recordings, fewer than train_per_class=16"):
        split_indices(labels, "train", test_per_class=5, train_per_class=16)
    with pytest.raises(ValueError, match="digit 0 has 20 recordings, not more than the 20 held out"):
        split_indices(labels, "test", test_per_class=20)


@pytest.fixture(scope="module")
def real_like_root(tmp_path_factory):
    """An N-MNIST Train folder of 3 digits x 8 recordings, numbered like the real ones (from 1)."""
    root = tmp_path_factory.mktemp("nmnist_subset")
    rng = np.random.default_rng(5)
    for number in range(1, 25):
        events = SaccadeEmulator()(rng.random((28, 28)) ** 8, rng)
        write_nmnist_bin(root / "NMNIST" / "Train" / str(number % 3) / f"{number:05d}.bin", events)
    return root


def test_nmnist_subset_is_the_split_of_the_pairs(real_like_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    pairs = recordings(real_like_root / "NMNIST" / "Train")
    assert [p.image_index for p in pairs] == list(range(24))
    test = load_dataset("nmnist-subset", root=real_like_root, split="test", T=3, test_per_class=2)
    train = load_dataset("nmnist-subset", root=real_like_root, split="train", T=3, test_per_class=2, train_per_class=4)
    expected = {pairs[i].path.name for i in split_indices([p.label for p in pairs], "test", test_per_class=2)}
    assert {Path(test.reader.where(i)).name for i in test.indices} == expected
    assert len(test) == 6 and len(train) == 12 and test[0][0].shape == (3, 2, 34, 34)
    assert test.classes == [str(d) for d in range(10)]


def test_nmnist_emulated_leaves_out_the_images_with_real_recordings(mnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    train = load_dataset("nmnist-emulated", root=mnist_root, split="train", T=4, skip_first=150)
    test = load_dataset("nmnist-emulated", root=mnist_root, split="test", T=4)
    images = load_dataset("mnist", root=mnist_root, split="train")
    assert len(train) == len(images) - 150 and train.indices[0] == 150 and len(test) == 100
    assert train.reader.emulator == PRESETS["atis"] and train.targets[0] == int(images.targets[150])
    frames, _ = train[0]
    assert frames.shape == (4, 2, 34, 34) and frames.sum() == len(train.events(0)) > 0


# --- the real recordings --------------------------------------------------------------------------
@pytest.mark.skipif(not REAL.is_dir() or not (SHARED / "mnist").is_dir(),
                    reason="real N-MNIST recordings and MNIST are in ../shared/data (CI has them), not here")
def test_the_atis_preset_is_closer_to_the_sensor_than_the_first_emulator_on_held_out_recordings():
    import torchvision
    pairs = recordings(REAL)
    held_out = [pairs[i] for i in split_indices([p.label for p in pairs], "test")]
    images = source_images(held_out, torchvision.datasets.MNIST(SHARED / "mnist", train=True))
    judge = TwinJudge(images, [__import__("zoo.data.events", fromlist=["x"]).read_event_file(p.path) for p in held_out],
                      [p.image_index for p in held_out], digit_masks(images, SENSOR), SENSOR)
    before, after = judge.rows(PRESETS["uniform"]), judge.rows(PRESETS["atis"])
    assert after["events"]["gap"] < 0.15 and after["pixel_correlation"]["mean"] > 0.93
    for name in before:
        assert after[name]["gap"] <= before[name]["gap"], name


def test_the_atis_preset_is_what_the_calibration_fitted():
    fitted = json.loads((REPO / "docs" / "emulator" / "results.json").read_text())["fitted"]
    preset = dataclasses.asdict(PRESETS["atis"])
    assert set(preset) == set(fitted)
    for name, value in fitted.items():
        if isinstance(value, str) or value is None:
            assert preset[name] == value, name
        else:
            assert np.allclose(np.array(preset[name], dtype=float), np.array(value, dtype=float), rtol=1e-9), name


def test_a_card_measured_on_another_dataset_keeps_the_options_that_dataset_takes(real_like_root, tmp_path, monkeypatch):
    from zoo.hub.publish import card_dataset
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    card = {"dataset": "nmnist-emulated", "dataset_kwargs": {"T": 3, "split_by": "time", "skip_first": 1000,
                                                           "test_per_class": 2}}
    data = card_dataset(card, "nmnist-subset", str(real_like_root), "test")  # skip_first: not an nmnist-subset option
    assert data.T == 3 and data.split_by == "time" and len(data) == 6


def test_an_empty_training_split_is_one_line_not_zero_steps(mnist_root, tmp_path, monkeypatch):
    from zoo.errors import ZooError
    from zoo.train import load_recipe, train
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    config = load_recipe(str(REPO / "recipes" / "sew_4b_net_nmnist_emulated.yaml"),
                         [f"data.root={mnist_root}", "data.kwargs.skip_first=5000"])
    with pytest.raises(ZooError, match="the nmnist-emulated training split holds no samples"):
        train(config, tmp_path / "run", max_steps=1, progress=False)
