"""Statistics of event recordings and the real-against-emulated comparison, on recordings whose answers are
known by construction; the check on real N-MNIST recordings where ../shared/data has them."""
from pathlib import Path

import numpy as np
import pytest

from zoo.data.emulator import EVENT_DTYPE, SaccadeEmulator
from zoo.data.event_stats import compare_pair, correlation, far_from, recording_stats

SENSOR = (34, 34, 2)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _events(rows) -> np.ndarray:
    events = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for field, column in zip(("x", "y", "t", "p"), np.array(rows).T):
        events[field] = column
    return events


def test_statistics_of_a_recording_built_by_hand():
    # six events: three saccades of 100 ms hold 3, 1 and 2 of them; 4 ON; x spread 0 around 5
    events = _events([(5, 1, 0, 1), (5, 2, 10_000, 1), (5, 3, 90_000, 0), (5, 4, 150_000, 1),
                      (5, 5, 250_000, 1), (5, 6, 300_000, 0)])
    stats = recording_stats(events, SENSOR)
    assert stats["events"] == 6 and stats["on_fraction"] == pytest.approx(4 / 6)
    assert stats["duration_ms"] == 300.0 and stats["per_saccade"] == pytest.approx([3 / 6, 1 / 6, 2 / 6])
    assert stats["spread_x"] == 0.0 and stats["spread_y"] == pytest.approx(np.std([1, 2, 3, 4, 5, 6]))
    assert stats["median_interval_us"] == 60_000.0 and stats["rate"].sum() == pytest.approx(1.0)
    assert stats["pixels"].sum() == 6 and stats["pixels"][3, 5] == 1


def test_far_events_are_those_beyond_the_radius_of_the_digit():
    digit = np.zeros((34, 34), dtype=bool)
    digit[10, 10] = True
    assert not far_from(digit, 2)[12, 12] and far_from(digit, 2)[13, 10]
    events = _events([(10, 10, 0, 1), (11, 9, 5, 1), (30, 30, 9, 0), (0, 33, 12, 0)])
    assert recording_stats(events, SENSOR, digit=digit, radius=2)["far_fraction"] == 0.5


def test_a_recording_compared_with_itself_and_with_a_shifted_copy():
    rng = np.random.default_rng(0)
    image = np.zeros((28, 28))
    image[8:20, 12:16] = 1.0
    events = SaccadeEmulator()(image, rng)
    same = compare_pair(events, events, SENSOR)
    assert same["pixel_correlation"] == pytest.approx(1.0) and same["real"] == same["twin"]
    moved = events.copy()
    moved["x"] = (moved["x"] + 12) % 34  # the same digit somewhere else
    assert compare_pair(events, moved, SENSOR)["pixel_correlation"] < 0.5
    assert correlation(np.ones(4), np.arange(4)) == 0.0  # a constant has no correlation


@pytest.mark.parametrize("events, message", [
    (np.zeros(0, dtype=EVENT_DTYPE), "real recording: an empty recording \\(no events\\) has no statistics"),
    (_events([(34, 0, 0, 1)]), r"real recording: x must be in \[0, 34\) for sensor \(34, 34, 2\)"),
])
def test_bad_recordings_are_one_line(events, message):
    with pytest.raises(ValueError, match=message) as caught:
        compare_pair(events, events, SENSOR)
    assert "\n" not in str(caught.value)


@pytest.mark.skipif(not (SHARED / "nmnist-subset").is_dir() or not (SHARED / "mnist").is_dir(),
                    reason="real N-MNIST recordings and exact MNIST are in ../shared/data (CI has them)")
def test_a_real_recording_is_closer_to_its_own_twin_than_to_another_digits():
    import zoo
    from zoo.data.events import read_event_file

    mnist = zoo.load_dataset("mnist", root=SHARED / "mnist", split="train")
    files = sorted((SHARED / "nmnist-subset" / "NMNIST" / "Train").glob("*/*.bin"), key=lambda p: int(p.stem))[:12]
    emulator = SaccadeEmulator()
    own, other = [], []
    twins = [emulator(mnist[int(f.stem) - 1][0][0].numpy(), np.random.default_rng(0)) for f in files]
    for index, path in enumerate(files):  # recording n is MNIST training image n - 1
        real = read_event_file(path)
        assert int(path.parent.name) == mnist[int(path.stem) - 1][1]
        own.append(compare_pair(real, twins[index], SENSOR)["pixel_correlation"])
        other.append(compare_pair(real, twins[index - 1], SENSOR)["pixel_correlation"])
    assert np.mean(own) > np.mean(other) + 0.1 and np.mean(own) > 0.8
