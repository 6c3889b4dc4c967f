"""``allocator``: a training step whose activations exceed glibc's 32 MiB mmap ceiling (the T=20 STBP CNN
of the MNIST recipe, batch 100), under glibc's own malloc and under :func:`zoo.runtime.keep_freed_memory`,
which the ``zoo`` command applies. Both run on huge pages, as the command does.

malloc's settings belong to the process, so each setting runs in a child process of its own; the two
children alternate within each repeat, so a slow spell of the machine hits both. A child times its steps
after a warm-up in which the kept heap reaches its peak, and reports the median step and its peak
resident memory (the cost of keeping freed memory)."""
from __future__ import annotations

import json
import subprocess
import sys

import torch

from .timing import median, median_ratio

CASE = "stbp_cnn T=20 (MNIST recipe)"
CHILD = """
import json, resource, statistics, sys, time
from zoo.runtime import keep_freed_memory, use_huge_pages
mode, (batch, warmup, steps, threads) = sys.argv[1], map(int, sys.argv[2:])
use_huge_pages()
kept = mode == "kept" and keep_freed_memory()
import torch
import zoo
torch.set_num_threads(threads)
torch.manual_seed(0)
model = zoo.create_model("stbp_cnn", T=20, encoding="rate", decay=0.2, v_threshold=0.5, surrogate="rectangle")
optimizer = torch.optim.Adam(model.parameters(), 1e-3)
images, targets = torch.rand(batch, 1, 28, 28), torch.eye(10)[torch.randint(0, 10, (batch,))]
seconds = []
for step in range(warmup + steps):
    start = time.perf_counter()
    loss = torch.nn.functional.mse_loss(model(images), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    seconds.append(time.perf_counter() - start)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"kept": kept, "step_s": statistics.median(seconds[warmup:]), "peak_mb": peak_mb}))
"""


def child(mode: str, batch: int, warmup: int, steps: int) -> dict:
    """One child's median step and peak memory under ``mode``: "glibc" (malloc as it comes) or "kept"."""
    command = [sys.executable, "-c", CHILD, mode, str(batch), str(warmup), str(steps), str(torch.get_num_threads())]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"allocator bench child ({mode}) failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(repeats: int, batch: int = 100, warmup: int = 4, steps: int = 6) -> list[dict]:
    measured: dict[str, list[dict]] = {"glibc": [], "kept": []}
    for _ in range(repeats):
        for mode in measured:
            measured[mode].append(child(mode, batch, warmup, steps))
    glibc_s = [m["step_s"] for m in measured["glibc"]]
    kept_s = [m["step_s"] for m in measured["kept"]]
    glibc_mb = median([m["peak_mb"] for m in measured["glibc"]])
    kept_mb = median([m["peak_mb"] for m in measured["kept"]])
    return [
        {"suite": "allocator", "case": f"{CASE} B={batch}: train step, glibc's malloc / freed memory kept",
         "glibc_s": median(glibc_s), "kept_s": median(kept_s), "ratio": median_ratio(glibc_s, kept_s)},
        {"suite": "allocator", "case": f"{CASE} B={batch}: peak resident memory, freed memory kept / glibc's malloc",
         "glibc_mb": glibc_mb, "kept_mb": kept_mb, "ratio": kept_mb / glibc_mb},
    ]
