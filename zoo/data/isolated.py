"""Native decoders run in a child process. A decoder that aborts on a damaged file (a Rust panic that
cannot unwind across the FFI, a segfault) then ends the child, not the training run or test session that
asked, and the file gets the same one-line error as any other unreadable file."""
from __future__ import annotations

import faulthandler
import multiprocessing
import signal
from typing import Any, Callable

__all__ = ["DecoderCrash", "run_isolated"]


class DecoderCrash(RuntimeError):
    """The child process died (or hung) instead of returning."""


def _child(connection, function: Callable, args: tuple) -> None:
    faulthandler.disable()  # the parent reports a crash here in one line; no second dump of every thread
    try:
        connection.send((True, function(*args)))
    except BaseException as error:  # a panic surfaces as a BaseException; send its words, not the object
        connection.send((False, f"{type(error).__name__}: {error}"))
    finally:
        connection.close()


def _context():
    # fork is cheap and needs nothing importable; elsewhere spawn (the function must then be importable)
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_isolated(function: Callable, *args: Any, timeout: float = 120.0) -> Any:
    """``function(*args)`` in a child process: its result, a ``ValueError`` with the error it raised, or
    :class:`DecoderCrash` when it died (a signal, an exit) or ran past ``timeout`` seconds."""
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, function, args), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise DecoderCrash(f"the decoder ran for more than {timeout:g} s")
        ok, value = receiver.recv()
    except EOFError:  # the child ended without a word
        process.join(timeout=5)
        code = process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        raise DecoderCrash(f"the decoder crashed ({how})") from None
    finally:
        receiver.close()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
    if not ok:
        raise ValueError(value)
    return value
