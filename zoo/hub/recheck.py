"""``zoo recheck``: re-measure shipped cards' quick-check slices after the slice's size rule changes
(:func:`zoo.hub.publish.check_samples`), so every card's ``check`` is what the files give on the new slice."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from .factory import create_model
from .publish import check_samples, evaluate_weights, write_card
from .weights import Weights, get_weights, list_weights


def slice_size(weights: Weights) -> int:
    """How many test samples the quick check of ``weights`` covers under the current rule (the architecture
    built from the card's arguments gives its T and cost; the file is not read)."""
    model = create_model(weights.meta["arch"], **weights.meta["kwargs"])
    return check_samples(model.T, getattr(model, "check_cost", 1))


def recheck(names: Iterable[str] | None = None, root: str | None = None) -> Iterator[tuple[str, dict, dict]]:
    """For each weight (every shipped one by default) whose card's check covers another number of samples
    than the rule gives now: evaluate the file on the new slice, rewrite the card's ``check`` and yield
    ``(name, old check, new check)``. Cards already at the rule's size are left as they are."""
    for name in names or list_weights():
        weights = get_weights(name)
        samples = min(slice_size(weights), weights.meta["metrics"]["num_samples"])  # a test set that small
        if weights.meta["check"]["num_samples"] == samples:
            continue
        result = evaluate_weights(weights.name, root=root, limit=samples, progress=False)
        check = {"acc1": result["acc1"], "num_samples": result["num_samples"]}
        write_card(weights.card_path, {**weights.meta, "check": check})
        yield weights.name, dict(weights.meta["check"]), check
