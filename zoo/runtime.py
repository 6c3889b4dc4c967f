"""Process settings that make CPU training faster, applied by the ``zoo`` command and available to
library users as :func:`keep_freed_memory`.

A training step allocates and frees the same large activations (tens of MB) every step. glibc's malloc
hands blocks above its mmap threshold back to the system on ``free`` and maps them afresh on the next
``malloc``, so every step pays a page fault per 4 KiB page on first touch: on a 2-core machine that was a
third of an STBP CNN step. Raising the mmap and trim thresholds keeps freed memory in the process for the
next step; the cost is that the process keeps its peak memory until it exits, as CUDA's caching allocator
does on a GPU.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit systems


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
