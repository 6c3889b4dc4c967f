"""The README's status table, written from the recipes and the weight cards so it cannot drift:
one row per recipe (paper x dataset), and one per shipped weight trained with it.

``python -m zoo report`` rewrites the table between the README's ``<!-- status:start -->`` and
``<!-- status:end -->`` markers, the benchmark ratios of ``docs/bench/results.json`` between
``<!-- bench:start -->`` and ``<!-- bench:end -->``, and what the cards say about NIR export (written by
``zoo export NAME --check N --update-card``) between ``<!-- nir:start -->`` and ``<!-- nir:end -->``; ``--check`` only
says whether they are current (the tests run it).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..data import EMULATED_DATASETS
from ..train.config import load_recipe

REPO = Path(__file__).resolve().parents[2]
START, END = "<!-- status:start -->", "<!-- status:end -->"
BENCH_START, BENCH_END = "<!-- bench:start -->", "<!-- bench:end -->"
NIR_START, NIR_END = "<!-- nir:start -->", "<!-- nir:end -->"
BENCH_RESULTS = Path("docs/bench/results.json")  # written by `python -m zoo bench --write docs/bench`
# datasets that the machines this zoo is trained on cannot download (see README, Data)
NOT_AVAILABLE_HERE = {"cifar10", "cifar10dvs", "dvsgesture", "imagenet", "mnist", "nmnist"}
HEADER = ("| paper | recipe | architecture | dataset | T | paper's number | ours (acc1, full test set) | weight |\n"
          "|---|---|---|---|---|---|---|---|")


def _short_paper(paper: dict) -> str:
    authors = [name.strip() for name in paper.get("authors", "").split(",") if name.strip()]
    venue = paper.get("venue", "")
    if not authors:
        return venue or "-"
    who = {1: authors[0], 2: " & ".join(authors)}.get(len(authors), f"{authors[0]} et al.")
    return f"{who}, {venue}"


def _model_label(model: dict, start: str | None = None) -> str:
    """The architecture and its distinguishing arguments; ``start``: the weight training began from."""
    arch, _, tag = model["name"].partition(".")
    start = start or (model["name"] if tag else None)
    kwargs = model.get("kwargs", {})
    extras = [f"{key}={kwargs[key]}" for key in ("cnf", "block", "width", "stem", "sparse_grad", "neuron", "hidden")
              if key in kwargs]
    extras += [f"from `{start}`"] if start else []
    return f"`{arch}`" + (f" ({', '.join(extras)})" if extras else "")


DATASET_ARGUMENTS = ("order", "delay")  # the dataset arguments that define the task a row is about


def _dataset_label(name: str, kwargs: dict | None = None) -> str:
    task = [f"{key}={kwargs[key]}" for key in DATASET_ARGUMENTS if key in (kwargs or {})]
    return name + (f" ({', '.join(task)})" if task else "") + (" (emulated)" if name in EMULATED_DATASETS else "")


def _reported(paper: dict, cnf: str | None = None) -> str:
    """The paper's number; for a connection function of the paper's ablation, the ablation's."""
    ablation = paper.get("ablation", {})
    if cnf and cnf in ablation:
        where = ", ".join(str(ablation[k]) for k in ("dataset", "arch") if k in ablation)
        return f"{ablation[cnf]:.2f}% ({where}, {cnf})"
    reported = paper.get("reported", {})
    if reported.get("acc1") is None:  # the note says why: not in the paper, or not confirmed
        return "none" if reported.get("note", "").startswith("the paper has no") else "not confirmed"
    where = ", ".join(str(reported[key]) for key in ("dataset", "protocol") if reported.get(key))
    text = f"{reported['acc1']:.2f}%" + (f" ({where})" if where else "")
    if reported.get("held_out_acc1") is not None:  # the paper's number under the zoo's protocol, too
        text += f"; {reported['held_out_acc1']:.2f}% (epoch chosen on held-out data)"
    return text


def _best_test_epoch(card: dict) -> str:
    """A paper's protocol beside the zoo's, where the run measured the test set after every epoch."""
    best = card.get("best_test_epoch")
    if not best:
        return ""
    return (f"; best test epoch {best['acc1']:.2f}% (epoch {best['epoch']}, "
            f"{best['epochs_measured']} measured)")


def _sweep(card: dict) -> str:
    """For a converted SNN: the source ANN's accuracy and the SNN's at every T of the card (an uncalibrated
    T marked with the state it used)."""
    conversion = card.get("conversion")
    if not conversion:
        return ""
    by_T = ", ".join(f"T={steps}: {record['acc1']:.2f}%" + ("" if record["calibrated"] else " (uncalibrated)")
                     for steps, record in conversion.get("per_T", {}).items() if "acc1" in record)
    return f"; ANN {conversion['ann_acc1']:.2f}%" + (f"; {by_T}" if by_T else "")


def _cards(repo: Path) -> list[dict]:
    """Every shipped weight's card, in file-name order."""
    return [json.loads(path.read_text()) for path in sorted((repo / "weights").glob("*.json"))]


def rows(repo: Path = REPO) -> list[str]:
    cards = _cards(repo)
    lines = []
    for path in sorted((repo / "recipes").glob("*.yaml")):
        recipe = load_recipe(path)  # with its base recipes merged in
        relative = path.relative_to(repo).as_posix()
        paper, model, data = recipe.get("paper", {}), recipe["model"], recipe["data"]
        T = model.get("kwargs", {}).get("T", "-")
        trained = [c for c in cards if c.get("recipe") == relative]
        if not trained:
            ours = ("not trained here: dataset not available" if data["name"] in NOT_AVAILABLE_HERE
                    else "not trained yet")
            lines.append(f"| {_short_paper(paper)} | `{relative}` | {_model_label(model)} | {_dataset_label(data['name'], data.get('kwargs'))} | {T} | "
                         f"{_reported(paper)} | {ours} | - |")
        for card in sorted(trained, key=lambda c: -c["metrics"]["acc1"]):
            label = _model_label({"name": card["arch"], "kwargs": card["kwargs"]}, card.get("finetuned_from"))
            lines.append(f"| {_short_paper(paper)} | `{relative}` | {label} | {_dataset_label(card['dataset'], card.get('dataset_kwargs'))} | {card.get('T') or '-'} | "
                         f"{_reported(paper, card['kwargs'].get('cnf'))} | "
                         f"{card['metrics']['acc1']:.2f}% ({card['metrics']['num_samples']:,}){_sweep(card)}"
                         f"{_best_test_epoch(card)} | "
                         f"`{card['arch']}.{card['tag']}` |")
    return lines


def render(repo: Path = REPO) -> str:
    return "\n".join([START, HEADER, *rows(repo), END])


def render_bench(repo: Path = REPO) -> str:
    """The ratios of the last ``zoo bench --write docs/bench`` run, with the command and machine."""
    path = repo / BENCH_RESULTS
    if not path.is_file():
        return "\n".join([BENCH_START, "No benchmark results yet: run `python -m zoo bench --write docs/bench`.",
                          BENCH_END])
    result = json.loads(path.read_text())
    machine = result["machine"]
    from ..bench import commands

    measured_by = ", ".join(f"`{command} --write docs/bench`" for command in commands(result))
    lines = [BENCH_START, f"Measured by {measured_by} on {machine['cpu']} "
             f"({machine['threads']} threads, torch {machine['torch']}" + (f", {machine['gpu']}" if machine["gpu"] else "")
             + "):", "", "| suite | case | ratio |", "|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['suite']} | {row['case']} | {row['ratio']:.2f} |" if "ratio" in row
                     else f"| {row['suite']} | {row['case']} | - |")
    return "\n".join([*lines, BENCH_END])


def render_nir(repo: Path = REPO) -> str:
    """One row per shipped weight: whether it exports to NIR (or why not) and how its file read back."""
    lines = [NIR_START, "| weight | NIR | read back on real test images (reader: same class, same read-out) |",
             "|---|---|---|"]
    for card in _cards(repo):
        nir = card.get("nir")
        if nir is None:
            status, agreement = "not checked", ""
        elif not nir["exports"]:
            status, agreement = "refused: " + nir["reason"], ""
        else:
            status = f"exports (dt={nir['dt']:g} s)"
            agreement = "; ".join(f"{reader}: failed ({r['error']})" if "error" in r else
                                  f"{reader}: {r['same_class']}/{r['images']}, {r['same_readout']}/{r['images']}"
                                  for reader, r in sorted(nir["read_back"].items()))
        lines.append(f"| {card['arch']}.{card['tag']} | {status} | {agreement} |")
    return "\n".join([*lines, NIR_END])


def _replace_block(text: str, start: str, end: str, content: str, where: Path) -> str:
    if start not in text or end not in text:
        raise ValueError(f"{where} has no {start} ... {end} block to write into")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + content + tail


def update_readme(repo: Path = REPO, check: bool = False) -> bool:
    """Rewrite (or with ``check``, compare) the README's status table and benchmark block; True when
    they were current."""
    readme = repo / "README.md"
    text = readme.read_text()
    updated = _replace_block(text, START, END, render(repo), readme)
    if BENCH_START in text:
        updated = _replace_block(updated, BENCH_START, BENCH_END, render_bench(repo), readme)
    if NIR_START in text:
        updated = _replace_block(updated, NIR_START, NIR_END, render_nir(repo), readme)
    if updated == text:
        return True
    if not check:
        readme.write_text(updated)
    return False
