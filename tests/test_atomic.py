import pytest

from zoo.atomic import atomic_open


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "card.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_keep_previous_and_readable_mode(tmp_path):
    target, previous = tmp_path / "last.pt", tmp_path / "last.prev.pt"
    for content in (b"one", b"two", b"three"):
        with atomic_open(target, keep_previous=previous) as handle:
            handle.write(content)
    assert target.read_bytes() == b"three" and previous.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o644
