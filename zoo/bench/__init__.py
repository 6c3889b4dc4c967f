"""``python -m zoo bench``: speed and memory figures, each a ratio of two things measured side by side
in one run (the machines are noisy; absolute seconds are printed but only the ratios are claims)."""
from __future__ import annotations

import importlib
import inspect
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Iterator

import torch

from ..runtime import cpu_model

SUITES = ("snn_vs_ann", "amp", "memory_format", "optimizer", "memory", "allocator", "sparse", "backend", "conversion", "load", "training",
          "qcfs", "cifar10")
OPT_IN_SUITES = ("cifar10",)  # cifar10 trains eight full-size networks: run when named (--suite cifar10)
DEFAULT_SUITES = tuple(name for name in SUITES if name not in OPT_IN_SUITES)


def check_suite(name: str) -> None:
    if name not in SUITES:
        raise ValueError(f"unknown bench suite {name!r}; choose from {', '.join(SUITES)}")


def _suite_module(name: str) -> ModuleType:
    """The module measuring suite ``name`` (``snn_vs_ann`` is :mod:`zoo.bench.speed`; the others share their
    module's name), imported only when its suite runs."""
    check_suite(name)
    return importlib.import_module(f".{'speed' if name == 'snn_vs_ann' else name}", __package__)


def _with_options(function, repeats: int, device: str):
    """``function`` called with the options it takes (suites that run on the CPU whatever ``device`` says
    take no device)."""
    options = {"repeats": repeats, "device": device}
    return function(**{key: value for key, value in options.items() if key in inspect.signature(function).parameters})


def run_suite(name: str, repeats: int, device: str) -> list[dict]:
    """Suite ``name``'s rows."""
    return _with_options(_suite_module(name).run, repeats, device)


def iter_suite(name: str, repeats: int, device: str) -> Iterator[dict]:
    """The suite's rows as they are measured (row by row for suites with ``iter_rows``, such as the long
    sparse sweep; the others suite by suite)."""
    module = _suite_module(name)
    yield from _with_options(getattr(module, "iter_rows", module.run), repeats, device)


def cores(machine: dict) -> str:
    """``"2 cores"`` (``"2 threads"`` in results written before the machine recorded its cores)."""
    return f"{machine['cores']} cores" if "cores" in machine else f"{machine['threads']} threads"


def machine() -> dict:
    # the cores, not this run's threads: the file keeps rows of several runs; a row's command names --threads
    return {"torch": torch.__version__, "cores": os.cpu_count(), "cpu": cpu_model(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def _medians(row: dict) -> str:
    """The raw measurements behind a row's ratio (seconds, MiB, differences)."""
    return ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                     if k not in ("suite", "case", "ratio", "T") and isinstance(v, float))


def format_rows(rows: list[dict]) -> str:
    """One line per figure: the case, its ratio and the raw medians beside it."""
    lines = []
    for row in rows:
        extras = _medians(row)
        ratio = f"{row['ratio']:.2f}x" if "ratio" in row else "-"
        lines.append(f"{row['suite']:<11} {ratio:>7}  {row['case']}" + (f"  ({extras})" if extras else ""))
    return "\n".join(lines)


def merge_previous(result: dict, previous: Path) -> dict:
    """``result`` with the rows of the suites it did not run kept from the ``previous`` results.json, so
    re-measuring one suite does not drop the others; every row names the command and the machine that
    measured it. A suite skipped here (the GPU suite on a CPU) keeps the rows another machine measured."""
    rows = [{**row, "command": result["command"], "machine": result["machine"]} for row in result["rows"]]
    if previous.is_file():
        earlier = json.loads(previous.read_text())
        earlier_rows = [{**row, "command": row.get("command") or earlier["command"],
                         "machine": row.get("machine") or earlier["machine"]}
                        for row in earlier["rows"] if row["suite"] in SUITES]
        measured_before = {row["suite"] for row in earlier_rows if not row["case"].startswith("skipped")}
        rows = [row for row in rows if not row["case"].startswith("skipped") or row["suite"] not in measured_before]
        measured = {_measured_unit(row) for row in rows}
        rows += [row for row in earlier_rows if _measured_unit(row) not in measured]
    rows.sort(key=lambda row: SUITES.index(row["suite"]))
    return {**result, "rows": rows}


def _measured_unit(row: dict) -> tuple[str, str | None]:
    """What a new row replaces: its suite's earlier rows in the same arithmetic (a suite timed in float32 on
    one CPU keeps the bfloat16 rows a CPU with native bfloat16 measured)."""
    return row["suite"], row.get("precision")


def describe_machine(machine: dict) -> str:
    """``"x86_64 (2 cores, torch 2.14)"``, with the GPU where there was one."""
    return (f"{machine['cpu']} ({cores(machine)}, torch {machine['torch']}"
            + (f", {machine['gpu']}" if machine.get("gpu") else "") + ")")


def measured_by(result: dict, suffix: str = "") -> str:
    """The commands behind a result's rows, in row order, grouped by the machine that ran them:
    "`a`, `b` on <machine>; `c` on <gpu machine>" (``suffix`` follows each command)."""
    by_machine: dict[str, list[str]] = {}
    for row in result["rows"]:
        commands_here = by_machine.setdefault(describe_machine(row.get("machine") or result["machine"]), [])
        command = f"`{row.get('command') or result['command']}{suffix}`"
        if command not in commands_here:
            commands_here.append(command)
    return "; ".join(f"{', '.join(commands_here)} on {machine}" for machine, commands_here in by_machine.items())


def write_report(result: dict, out: Path) -> None:
    """``results.json``, ``bench.md`` (the table) and the memory plot in ``out``, keeping the rows of the
    suites this run did not measure."""
    out.mkdir(parents=True, exist_ok=True)
    result = merge_previous(result, out / "results.json")
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = result["rows"]
    md = [f"# Benchmarks\n\nWritten by {measured_by(result)}. Every ratio is the median of per-repeat ratios of two "
          "candidates timed in turn in the same run.\n",
          "| suite | case | ratio | medians |", "|---|---|---|---|"]
    for row in rows:
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "-"
        md.append(f"| {row['suite']} | {row['case']} | {ratio} | {_medians(row)} |")
    memory_rows = [row for row in rows if row["suite"] == "memory"]
    if memory_rows:
        from .memory import plot

        plot(memory_rows, out / "memory.png")
        md.append("\n![BPTT memory against T](memory.png)")
    training_rows = [row for row in rows if row["suite"] == "training"]
    if training_rows:
        from .training import plot as plot_training

        plot_training(training_rows, out / "training.png")
        md.append("\n![BPTT, SLTT and SLTT-K: memory and step time against T](training.png)")
    (out / "bench.md").write_text("\n".join(md) + "\n")
