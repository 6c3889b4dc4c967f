"""Process settings that make CPU work fast and well-behaved: the OpenMP wait policy that ``import zoo``
chooses, and the memory settings the ``zoo`` command applies (available to library users as
:func:`keep_freed_memory` and :func:`use_huge_pages`).

OpenMP's default lets a thread that waits for the others spin for a while before it sleeps. On a machine
where another process holds a core, torch's threads then spin against each other at every parallel
region: on a 2-core CPU with one CPU-bound process beside it, an evaluation ran 20x slower and the test
suite 5x slower than with one thread. The passive policy puts waiting threads to sleep at once;
:func:`prefer_passive_openmp` sets it unless the user chose a policy, and must run before torch is
imported (the OpenMP runtime reads it when it loads), which is why ``zoo/__init__`` calls it first.

A training step allocates and frees the same large activations (tens of MB) every step. glibc's malloc
hands blocks above its mmap threshold back to the system on ``free`` and maps them afresh on the next
``malloc``, so every step pays a page fault per 4 KiB page on first touch: on a 2-core machine that was a
third of an STBP CNN step. Raising the mmap and trim thresholds keeps freed memory in the process for the
next step; the cost is that the process keeps its peak memory until it exits, as CUDA's caching allocator
does on a GPU.

glibc cannot keep blocks above 32 MiB, and a T=20 STBP batch has activations of 200 MB each. For those,
:func:`use_huge_pages` asks PyTorch to back large CPU tensors with 2 MiB transparent huge pages, so a
first touch faults once per 2 MiB instead of once per 4 KiB page (7x faster to allocate and fill a
200 MB tensor on the 2-core machine; the T=20 STBP step went from 1.1 s to 0.5 s).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported after the OpenMP policy is set
    import torch

_OMP_WAIT_POLICY = "OMP_WAIT_POLICY"
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit systems
_THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")
_TORCH_THP_SWITCH = "THP_MEM_ALLOC_ENABLE"  # read by c10's CPU allocator at its first large allocation


def prefer_passive_openmp() -> str:
    """Waiting OpenMP threads sleep instead of spinning, unless ``OMP_WAIT_POLICY`` is already set; returns
    the policy in force. Effective only before torch (and its OpenMP runtime) is first imported."""
    os.environ.setdefault(_OMP_WAIT_POLICY, "PASSIVE")
    return os.environ[_OMP_WAIT_POLICY]


def set_threads(count: int) -> None:
    """Use ``count`` threads for torch's operators and the zoo's Numba kernels alike."""
    import torch

    if count < 1:
        raise ValueError(f"threads must be a positive number, got {count}")
    torch.set_num_threads(count)


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed blocks up to 32 MiB instead of unmapping them; True when it took effect
    (glibc on Linux), False elsewhere, where nothing is changed."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def use_huge_pages() -> bool:
    """Ask PyTorch to place CPU tensors of 2 MiB and more on transparent huge pages; True when the kernel
    offers them and the switch is set. PyTorch reads the switch once, at its first large allocation, so
    call this before building a model (the ``zoo`` command does it first thing). A value the user already
    set is kept."""
    try:
        mode = _THP_MODE.read_text()
    except OSError:
        return False
    if "[never]" in mode:
        return False
    os.environ.setdefault(_TORCH_THP_SWITCH, "1")
    return os.environ[_TORCH_THP_SWITCH] == "1"


def resolve_device(device: str | None = None) -> torch.device:
    """``device`` as a ``torch.device`` (None: cuda when a GPU is visible, else cpu), refused in one line
    when this machine does not have it."""
    import torch  # not at the top: this module must be importable before torch (prefer_passive_openmp)

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {device} is not available: torch sees no CUDA GPU on this machine")
        if chosen.index is not None and chosen.index >= count:
            raise ValueError(f"device {device} is not available: torch sees {count} CUDA GPU(s), "
                             f"cuda:0 to cuda:{count - 1}")
    return chosen
