"""A schedule trained in legs, one table from the weight cards: each leg a run that continued the previous
leg's published weight (its card's ``finetuned_from``) on the same dataset. What each leg trained, its
validation at every epoch (the card's ``train.validation``, or its best where the card predates that
record) and its test accuracy, so no page copies these numbers by hand.

A page under ``docs/`` (its links lead to ``docs/models/``) holds the table between
``<!-- legs:NAME:start -->`` and ``<!-- legs:NAME:end -->``, NAME being the first leg's weight;
``python -m zoo report`` writes it and its figure (``docs/img/legs_NAME.png``)."""
from __future__ import annotations

import re

MARKER = re.compile(r"<!-- legs:(?P<root>[\w.]+):start -->")
HEADER = "| leg | weight | what it trained | validation | test |\n|---|---|---|---|---|"


def start_marker(root: str) -> str:
    return f"<!-- legs:{root}:start -->"


def end_marker(root: str) -> str:
    return f"<!-- legs:{root}:end -->"


def _name(card: dict) -> str:
    return f"{card['arch']}.{card['tag']}"


def chain(cards: list[dict], root: str) -> list[dict]:
    """``root``'s card and every card that continues it, leg after leg, on its dataset (a fine-tune on
    other data starts a chain of its own); legs that continue the same weight are ordered by name."""
    by_name = {_name(card): card for card in cards}
    if root not in by_name:
        raise ValueError(f"no shipped weight {root!r} to start a table of legs from")
    legs, frontier = [], [by_name[root]]
    while frontier:
        legs += frontier
        names = {_name(card) for card in frontier}
        frontier = sorted((card for card in cards if card.get("finetuned_from") in names
                           and card["dataset"] == by_name[root]["dataset"]), key=_name)
    return legs


def _epochs(train: dict) -> str:
    """The epochs a leg trained, where its schedule has them, and where it stopped short."""
    done, planned, first = train.get("epochs", 0), train.get("epochs_planned"), train.get("schedule_from_epoch")
    if train.get("schedule_epochs") is not None and first is not None:
        span = f"epoch {first}" if done == 1 else f"epochs {first}-{first + done - 1}"
        text = f"{span} of a {train['schedule_epochs']}-epoch {train['schedule']} schedule (peak lr {train['lr']:g})"
    else:
        text = f"{done} epochs, lr {train['lr']:g}, {train['schedule']}"
    if planned:
        text += f", stopped after {done} of {planned}"
    chosen = train.get("best_epoch")
    if chosen is not None and done > 1:
        epoch = chosen + (first or 0)
        text += f"; shipped: epoch {epoch}, the latest" if train.get("chosen") == "latest" else f"; best: epoch {epoch}"
    return text


def validation_text(train: dict) -> str:
    """A card's validations in order (its best alone where the card predates the record of all)."""
    if train.get("validation"):
        return " / ".join(f"{v['acc1']:.2f}" for v in train["validation"]) + "%"
    return f"best {train['val_acc1']:.2f}%" if train.get("val_acc1") is not None else "-"


def figure(root: str) -> str:
    """Where ``root``'s figure goes, relative to ``docs/``."""
    return f"img/legs_{root.replace('.', '_')}.png"


def render_legs(cards: list[dict], root: str) -> str:
    """The table of ``root``'s legs, the most accurate leg's test number in bold, and its figure."""
    legs = chain(cards, root)
    best = max(legs, key=lambda card: card["metrics"]["acc1"])
    lines = [start_marker(root), HEADER]
    for number, card in enumerate(legs, 1):
        metrics, train = card["metrics"], card.get("train") or {}
        test = f"{metrics['acc1']:.2f}% of {metrics['num_samples']:,}" + (f" at T={card['T']}" if card.get("T") else "")
        lines.append(f"| {number} | [`{_name(card)}`](models/{_name(card)}.md) | {_epochs(train)} | {validation_text(train)} | "
                     f"{f'**{test}**' if card is best else test} |")
    lines += ["", f"![{root} and the legs after it: validation per epoch, test per leg]({figure(root)})"]
    return "\n".join([*lines, end_marker(root)])


def positions(legs: list[dict]) -> list[dict]:
    """Where each leg stands on one epoch axis: its validations (by epoch) and its test accuracy at the epoch
    its weight was taken. A leg inside a schedule stands at its ``schedule_from_epoch``; a leg without one, or
    the first leg of a new schedule, right after the leg before it."""
    placed, offset, end = [], 0, 0
    for index, card in enumerate(legs):
        train = card.get("train") or {}
        first = train.get("schedule_from_epoch") if train.get("schedule_epochs") else None
        if first is None or (first == 0 and index > 0):
            offset = end  # a schedule of its own begins where the last leg ended
        start = offset + (first or 0)
        chosen = train.get("best_epoch")
        taken = start + (chosen if chosen is not None else train.get("epochs", 1) - 1)
        history = train.get("validation") or ([{"epoch": chosen, "acc1": train["val_acc1"]}]
                                               if train.get("val_acc1") is not None and chosen is not None else [])
        placed.append({"name": _name(card), "val": [(start + v["epoch"], v["acc1"]) for v in history],
                       "test": (taken, card["metrics"]["acc1"])})
        end = start + train.get("epochs", 1)
    return placed


def roots(text: str) -> list[str]:
    """The first legs of the tables a page holds."""
    return [match["root"] for match in MARKER.finditer(text)]
