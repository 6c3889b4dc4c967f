"""Process settings that make CPU work fast and well-behaved: the OpenMP wait policy that ``import zoo``
chooses, and the memory settings the ``zoo`` command applies (available to library users as
:func:`keep_freed_memory` and :func:`use_huge_pages`).

OpenMP's default lets a thread that waits for the others spin for a while before it sleeps. On a machine
where another process holds a core, torch's threads then spin against each other at every parallel
region: on a 2-core CPU with one CPU-bound process beside it, an evaluation ran 20x slower and the test
suite 5x slower than with one thread. The passive policy puts waiting threads to sleep at once;
:func:`prefer_passive_openmp` sets it unless the user chose a policy, and must run before torch is
imported (the OpenMP runtime reads it when it loads), which is why ``zoo/__init__`` calls it first.

A training step allocates and frees the same large activations (tens to hundreds of MB) every step.
glibc's malloc hands blocks above its mmap threshold back to the system on ``free`` and maps them afresh on
the next ``malloc``, so every step pays the kernel to fault in and zero each page on first touch. A T=20
STBP CNN step (batch 100, 200 MB activations) spent 70% of its time in the kernel that way, most of it
zeroing pages (``perf``: ``clear_page_erms``). :func:`keep_freed_memory` serves every block from malloc's
heap instead of its own mapping (``M_MMAP_MAX`` 0) and never trims the heap, so the next step reuses the
freed memory as it is: that step ran 2.4x faster (``python -m zoo bench --suite allocator``). The cost is
that the process keeps its peak memory until it exits, as CUDA's caching allocator does on a GPU, and that
peak grows through fragmentation (1.6x for that step). Threads other than the main one allocate from arenas
of their own, which still map a block too large for an arena (glibc falls back to a mapping there).

The heap still grows by first touch while it reaches its peak; :func:`use_huge_pages` asks PyTorch to back
large CPU tensors with 2 MiB transparent huge pages, so such a touch faults once per 2 MiB instead of once
per 4 KiB page.
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
_M_MMAP_MAX = -4
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
    """Ask glibc to serve every block from its heap and keep what is freed there for the next step; True
    when it took effect (glibc on Linux), False elsewhere, where nothing is changed."""
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def _glibc_mallopt():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


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


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (``"AMD EPYC"``, ``"Intel(R) Xeon(R) Platinum 8480+"``), where the system says
    it, else its architecture: step times and what bfloat16 costs differ between CPUs of one architecture,
    so cards and benchmarks name the model."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
