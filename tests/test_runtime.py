"""Process settings of the ``zoo`` command (freed memory kept by glibc, large tensors on huge pages) and the
CPU model that cards and benchmarks name."""
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.runtime import cpu_model, keep_freed_memory

THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")
# A child process: the switch only takes effect before PyTorch's first large allocation.
TOUCH_200MB = """
import re, sys
from zoo.runtime import use_huge_pages
print(use_huge_pages())
import torch
x = torch.ones(50 * 1024 * 1024)  # 200 MiB, written once
rollup = open("/proc/self/smaps_rollup").read()
print(int(re.search(r"AnonHugePages:\\s+(\\d+) kB", rollup).group(1)) // 1024)
"""


# A child process: malloc's settings belong to the process. Prints the page faults of filling a 200 MiB
# tensor for the second time, after the first one was freed, then where the block lay (the mapping of
# /proc/self/maps that holds it) and the bytes glibc holds in mappings of their own (mallinfo2's hblkhd),
# to tell, should the kept heap ever fault again, whether the block came from the heap or a fresh mapping.
REFILL_200MB = """
import ctypes, resource, sys
from zoo.runtime import keep_freed_memory
if sys.argv[1] == "keep":
    keep_freed_memory()
import torch
torch.ones(51 * 1024 * 1024)  # filled, then freed at once: 4 MiB more than the refill, whose 64-byte-aligned
# request does not fit a freed chunk of its own size once a small allocation took the chunk's alignment slack
# (then the refill extends the heap past the freed block: every page faults, in 3 of 8 children here)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x = torch.ones(50 * 1024 * 1024)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
address = x.data_ptr()
region = next((line.split()[-1] if len(line.split()) > 5 else "anonymous" for line in open("/proc/self/maps")
               if int(line.split("-")[0], 16) <= address < int(line.split()[0].split("-")[1], 16)), "?")
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
print(faults, region, libc.mallinfo2().hblkhd >> 20)
"""
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def test_keep_freed_memory_takes_effect_on_glibc():
    assert keep_freed_memory() is GLIBC


def _refill(mode: str) -> tuple[int, str]:
    """The refill's page faults, and where the block lay with glibc's mapped MiB (for the failure message)."""
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "0"}  # count 4 KiB pages
    faults, region, mapped_mib = subprocess.run([sys.executable, "-c", REFILL_200MB, mode], env=env,
                                                capture_output=True, text=True, check=True).stdout.split()
    return int(faults), f"{faults} faults, block in {region}, {mapped_mib} MiB in glibc's own mappings"


@pytest.mark.skipif(not GLIBC, reason="keep_freed_memory sets glibc's malloc")
def test_kept_memory_serves_a_block_above_32_mib_again_without_a_page_fault():
    # the fewest of three children; the message says where each child's block lay
    kept = [_refill("keep") for _ in range(3)]
    assert min(faults for faults, _ in kept) < 100, "; ".join(text for _, text in kept)  # reused as it is
    if "[always]" not in THP_MODE.read_text():  # otherwise glibc's fresh mapping faults in 2 MiB pages
        faults, text = _refill("glibc")
        assert faults > 40_000, text  # a fresh mapping: one fault per 4 KiB page (51,200)


def _touch_200mb(env: dict) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", TOUCH_200MB], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not THP_MODE.exists() or "[never]" in THP_MODE.read_text(),
                    reason="the kernel offers no transparent huge pages")
def test_use_huge_pages_puts_large_tensors_on_huge_pages():
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    switched_on, huge_mib = _touch_200mb(env)
    assert switched_on == "True" and huge_mib >= 150
    kept, huge_mib_off = _touch_200mb({**env, "THP_MEM_ALLOC_ENABLE": "0"})  # the user's choice wins
    assert kept == "False"
    if "[madvise]" in THP_MODE.read_text():  # under "always" every large mapping gets huge pages anyway
        assert huge_mib_off < 150


def test_the_cpu_model_is_read_from_cpuinfo_and_falls_back_to_the_architecture(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\nflags\t: fpu\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC 9B14\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 9B14"
    cpuinfo.write_text("processor\t: 0\nCPU implementer\t: 0x41\n")  # an ARM kernel names no model
    assert cpu_model(cpuinfo) == cpu_model(tmp_path / "absent") == (platform.processor() or platform.machine())
