"""The recipe of a schedule's next leg, written from the card of the weight the last leg published: the last
leg's recipe as its base, that weight as its model, and the epoch where the schedule goes on (after the epoch
the weight was taken at, or after the last leg's last epoch where it shipped its final weights), so a
schedule longer than a session continues without working out a learning rate by hand. A leg before the last
publishes its latest validated weights (latest.pt: the schedule goes on from where the leg stopped, not from
an earlier best epoch that the next leg would train again); the schedule's final leg publishes its best
validated checkpoint (best.pt)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from ..errors import ZooError
from ..hub.weights import get_weights

LEG = re.compile(r"^(?P<stem>.*_leg)(?P<number>\d+)$")


def following(name: str) -> str:
    """``x_leg3`` -> ``x_leg4``; a name without a leg number is leg 1, so its successor is ``x_leg2``."""
    match = LEG.match(name)
    return f"{match['stem']}{int(match['number']) + 1}" if match else f"{name}_leg2"


def shipped_checkpoint(train: dict) -> str:
    """The checkpoint a run with these ``train`` settings publishes: ``latest.pt`` for a leg before its
    schedule's last, ``best.pt`` for the last leg (nothing continues from it) or a run that is no leg."""
    before_last = train.get("schedule_from_epoch", 0) + train["epochs"] < train.get("schedule_epochs", 0)
    return "latest.pt" if before_last else "best.pt"


def next_start(train: dict) -> int:
    """The schedule epoch the next leg starts at."""
    first = train.get("schedule_from_epoch", 0)
    best = train.get("best_epoch")
    return first + (best + 1 if best is not None else train["epochs"])


def next_leg(weight: str, epochs: int | None = None, out: str | Path | None = None) -> tuple[Path, dict]:
    """Write the next leg's recipe (``out``, default beside the last leg's recipe, its leg number plus one);
    returns its path and its contents."""
    card = get_weights(weight).meta
    name = f"{card['arch']}.{card['tag']}"
    train = card.get("train") or {}
    if not train.get("schedule_epochs"):
        raise ZooError(f"{name} was not trained as a leg of a longer schedule (its card has no "
                       "train.schedule_epochs): write its next recipe by hand")
    previous = Path(card.get("recipe") or "")
    if not previous.is_file():
        raise ZooError(f"{name}'s recipe {str(previous) or '(none)'} is not here: run this from the repository "
                       "that trained it")
    start, total = next_start(train), train["schedule_epochs"]
    if start >= total:
        raise ZooError(f"{name} ends its {total}-epoch schedule: there is no next leg")
    epochs = min(epochs or train.get("epochs_planned") or train["epochs"], total - start)
    path = Path(out) if out else previous.with_name(following(previous.stem) + ".yaml")
    if path.exists():
        raise ZooError(f"{path} exists; pass --out for another file")
    recipe = {"base": Path(os.path.relpath(previous, path.parent)).as_posix(),  # relative to the new recipe
              "model": {"name": name}, "train": {"epochs": epochs, "schedule_from_epoch": start}}
    tag = following(card["tag"])
    checkpoint = shipped_checkpoint({"schedule_from_epoch": start, "epochs": epochs, "schedule_epochs": total})
    which = "next" if checkpoint == "latest.pt" else "last"
    header = [f"The {which} leg of {name}'s {total}-epoch {train.get('schedule', '')} schedule: epochs {start}-{start + epochs - 1},",
              f"from that weight (written by `python -m zoo next-leg {name}`).",
              f"  python -m zoo train {path.as_posix()} --out runs/{path.stem}",
              f"  python -m zoo publish runs/{path.stem}/checkpoints/{checkpoint} --tag {tag}",
              "Everything not named below comes from the base recipe."]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"# {line}\n" for line in header) + yaml.safe_dump(recipe, sort_keys=False))
    return path, recipe
