"""Property-based: random, truncated or bit-flipped bytes in every supported event format give a
correct parse or a clean ValueError naming the file; never a crash, a hang or a huge allocation."""
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from event_files import random_events, write_aedat4, write_nmnist_bin
from zoo.data.events import EVENT_FIELDS, read_event_file

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_bytes(kind: str, tmp_path) -> bytes:
    events = random_events(np.random.default_rng(0), 40, 34, 34, 5000)
    path = tmp_path / f"valid.{kind}"
    if kind == "bin":
        write_nmnist_bin(path, events)
    elif kind == "npy":
        np.save(path, events)
    elif kind == "npz":
        np.savez(path, events=events)
    else:
        write_aedat4(path, events, (34, 34))
    return path.read_bytes()


def _check(path):
    """Either a well-formed event array or a ValueError that names the file."""
    try:
        events = read_event_file(path)
    except ValueError as error:
        assert str(path) in str(error)
        return
    assert events.dtype.names == EVENT_FIELDS and events.ndim == 1


@pytest.mark.parametrize("kind", ["bin", "npy", "npz", "aedat4"])
@FUZZ
@given(data=st.data())
def test_damaged_event_files_parse_or_fail_cleanly(kind, tmp_path, data):
    valid = _valid_bytes(kind, tmp_path)
    how = data.draw(st.sampled_from(["truncate", "flip", "random", "splice"]))
    if how == "truncate":
        damaged = valid[: data.draw(st.integers(0, len(valid)))]
    elif how == "flip":
        damaged = bytearray(valid)
        for position in data.draw(st.lists(st.integers(0, len(valid) - 1), min_size=1, max_size=8)):
            damaged[position] ^= 1 << data.draw(st.integers(0, 7))
        damaged = bytes(damaged)
    elif how == "random":
        damaged = data.draw(st.binary(max_size=2048))
    else:  # a valid header followed by garbage
        damaged = valid[:128] + data.draw(st.binary(max_size=512))
    path = tmp_path / f"fuzz.{kind}"
    path.write_bytes(damaged)
    _check(path)


def test_an_npy_header_claiming_a_huge_array_is_rejected_without_allocating(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<i8", "fortran_order": False, "shape": (10**12, 4)})
    path = tmp_path / "huge.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\x00" * 64)
    with pytest.raises(ValueError, match="huge.npy: unreadable event file"):
        read_event_file(path)


def test_a_native_decoder_that_aborts_ends_only_its_child_process():
    """AEDAT4 files are decoded in a child process: an abort there (a Rust panic across the FFI once
    ended this whole test session) is a DecoderCrash naming the signal, and this process goes on."""
    import os

    from zoo.data.isolated import DecoderCrash, run_isolated

    with pytest.raises(DecoderCrash, match=r"the decoder crashed \(signal SIGABRT\)"):
        run_isolated(os.abort)
    with pytest.raises(ValueError, match="ZeroDivisionError: integer division or modulo by zero"):
        run_isolated(divmod, 1, 0)
    assert run_isolated(np.arange, 5).tolist() == [0, 1, 2, 3, 4]


def test_an_aborting_aedat4_decoder_is_a_clean_error_naming_the_file(tmp_path, monkeypatch):
    import os

    import tonic.io

    path = tmp_path / "sample.aedat4"
    write_aedat4(path, random_events(np.random.default_rng(0), 40, 34, 34, 5000), (34, 34))
    assert read_event_file(path).size == 40
    monkeypatch.setattr(tonic.io, "read_aedat4", lambda name: os.abort())
    with pytest.raises(ValueError, match=r"sample.aedat4: unreadable event file \(DecoderCrash: the decoder crashed"):
        read_event_file(path)
