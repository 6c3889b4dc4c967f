"""``load``: the zoo on a shared machine, with one CPU-bound process beside it (another user's job, a
test run). OpenMP's default lets waiting threads spin; with a core taken, torch's threads then spin
against each other at every parallel region. The zoo chooses the passive wait policy on import
(:mod:`zoo.runtime`), and its sparse kernels run on torch's thread count.

Rows: the converted SNN's evaluation (the work of ``zoo eval converted_resnet20 --T 16``) timed in a fresh
process idle and loaded, under the passive policy the zoo sets and under OpenMP's default (what a process
gets that imports torch before the zoo, or sets nothing); and the sparse backward against the dense
formulas at 2% activity while loaded."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager

import torch

from .timing import median, median_ratio

IMAGES, T = 100, 16
# torch first: its OpenMP runtime reads the policy the parent put in the environment, not the zoo's default
CHILD = f"""
import json, time, torch, zoo
from zoo.bench.conversion import _model
from zoo.bench.inputs import fashion_mnist_or_noise
images, _ = fashion_mnist_or_noise({IMAGES})
model, _ = _model({T})
with torch.inference_mode():
    model(images[:10])
    start = time.perf_counter()
    model(images)
print(json.dumps({{"seconds": time.perf_counter() - start, "threads": torch.get_num_threads()}}))
"""


@contextmanager
def cpu_bound_neighbour():
    """A process that keeps one core busy for as long as the block runs."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        burner.kill()
        burner.wait()


def _child_seconds(policy: str | None, loaded: bool) -> float:
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    if loaded:
        with cpu_bound_neighbour():
            out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    else:
        out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def _evaluation_rows(repeats: int) -> list[dict]:
    rows = []
    for policy in ("PASSIVE", None):
        idle, loaded = [], []
        for _ in range(repeats):  # idle and loaded in turn, so a slow spell hits both
            idle.append(_child_seconds(policy, loaded=False))
            loaded.append(_child_seconds(policy, loaded=True))
        what = "the zoo's passive wait policy" if policy else "OpenMP's default wait policy"
        rows.append({"suite": "load", "case": f"converted_resnet20 at T={T} on {IMAGES} images, {torch.get_num_threads()} "
                     f"threads, {what}: loaded / idle time (a CPU-bound process beside it)",
                     "idle_s": median(idle), "loaded_s": median(loaded), "ratio": median_ratio(loaded, idle)})
    return rows


def _sparse_row(repeats: int) -> dict:
    from .sparse import sweep

    with cpu_bound_neighbour():
        row = next(r for r in sweep(repeats, fractions=(0.02,)) if r["case"].endswith("dense / sparse backward"))
    return {**row, "suite": "load", "case": row["case"] + " (a CPU-bound process beside it)"}


def run(repeats: int = 3) -> list[dict]:
    repeats = min(repeats, 3)  # each repeat starts fresh processes
    return [*_evaluation_rows(repeats), _sparse_row(repeats)]
