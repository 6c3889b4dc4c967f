"""The README's status table, written from the recipes and the weight cards so it cannot drift:
one row per recipe (paper x dataset), and one per shipped weight trained with it.

``python -m zoo report`` rewrites the table between the README's ``<!-- status:start -->`` and
``<!-- status:end -->`` markers; ``--check`` only says whether it is current (the tests run it).
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- status:start -->", "<!-- status:end -->"
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


def _model_label(model: dict) -> str:
    kwargs = model.get("kwargs", {})
    extras = [f"{key}={kwargs[key]}" for key in ("cnf", "block", "width", "stem", "sparse_grad") if key in kwargs]
    return f"`{model['name']}`" + (f" ({', '.join(extras)})" if extras else "")


def _reported(paper: dict, cnf: str | None = None) -> str:
    """The paper's number; for a connection function of the paper's ablation, the ablation's."""
    ablation = paper.get("ablation", {})
    if cnf and cnf in ablation:
        where = ", ".join(str(ablation[k]) for k in ("dataset", "arch") if k in ablation)
        return f"{ablation[cnf]:.2f}% ({where}, {cnf})"
    reported = paper.get("reported", {})
    if reported.get("acc1") is None:
        return "not confirmed"
    note = f" ({reported['dataset']})" if reported.get("dataset") else ""
    return f"{reported['acc1']:.2f}%{note}"


def _sweep(card: dict) -> str:
    """For a converted SNN: the source ANN's accuracy and the SNN's at every T of the card's sweep."""
    conversion = card.get("conversion")
    if not conversion:
        return ""
    by_T = ", ".join(f"T={steps}: {acc1:.2f}%" for steps, acc1 in conversion.get("acc1_by_T", {}).items())
    return f"; ANN {conversion['ann_acc1']:.2f}%" + (f"; {by_T}" if by_T else "")


def rows(repo: Path = REPO) -> list[str]:
    cards = [json.loads(p.read_text()) for p in sorted((repo / "weights").glob("*.json"))]
    lines = []
    for path in sorted((repo / "recipes").glob("*.yaml")):
        recipe = yaml.safe_load(path.read_text())
        relative = path.relative_to(repo).as_posix()
        paper, model, data = recipe.get("paper", {}), recipe["model"], recipe["data"]
        T = model.get("kwargs", {}).get("T", "-")
        trained = [c for c in cards if c.get("recipe") == relative]
        if not trained:
            ours = ("not trained here: dataset not available" if data["name"] in NOT_AVAILABLE_HERE
                    else "not trained yet")
            lines.append(f"| {_short_paper(paper)} | `{relative}` | {_model_label(model)} | {data['name']} | {T} | "
                         f"{_reported(paper)} | {ours} | - |")
        for card in sorted(trained, key=lambda c: -c["metrics"]["acc1"]):
            label = _model_label({"name": card["arch"], "kwargs": card["kwargs"]})
            lines.append(f"| {_short_paper(paper)} | `{relative}` | {label} | {card['dataset']} | {card['T']} | "
                         f"{_reported(paper, card['kwargs'].get('cnf'))} | "
                         f"{card['metrics']['acc1']:.2f}% ({card['metrics']['num_samples']:,}){_sweep(card)} | "
                         f"`{card['arch']}.{card['tag']}` |")
    return lines


def render(repo: Path = REPO) -> str:
    return "\n".join([START, HEADER, *rows(repo), END])


def update_readme(repo: Path = REPO, check: bool = False) -> bool:
    """Rewrite (or with ``check``, compare) the README's status table; True when it was current."""
    readme = repo / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} block to write the status table into")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    updated = head + render(repo) + tail
    if updated == text:
        return True
    if not check:
        readme.write_text(updated)
    return False
