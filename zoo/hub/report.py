"""The documentation's tables and model pages, written from the recipes and the weight cards so they
cannot drift: the status table (one row per recipe, paper x dataset, and one per shipped weight trained
with it), the README's best weight per family and dataset, one page per shipped weight, the benchmark
ratios of ``docs/bench/results.json``, what the cards say about NIR export and the tables of schedules
trained in legs (:mod:`zoo.hub.legs`).

``python -m zoo report`` rewrites each block between its markers (``<!-- status:start -->`` ...
``<!-- status:end -->`` and the like) in whichever of ``README.md`` and the ``docs/`` pages hold it, and the
pages under ``docs/models/``; ``--check`` only says whether they are current (the tests run it).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..conversion.records import was_calibrated
from ..data import EMULATED_DATASETS
from ..data.copies import source_label
from ..train.config import load_recipe
from .legs import chain, end_marker, figure, positions, render_legs, roots, start_marker, validation_text

REPO = Path(__file__).resolve().parents[2]
START, END = "<!-- status:start -->", "<!-- status:end -->"
BENCH_START, BENCH_END = "<!-- bench:start -->", "<!-- bench:end -->"
NIR_START, NIR_END = "<!-- nir:start -->", "<!-- nir:end -->"
BEST_START, BEST_END = "<!-- best:start -->", "<!-- best:end -->"
TRAINING_START, TRAINING_END = "<!-- training:start -->", "<!-- training:end -->"
LAYOUT_START, LAYOUT_END = "<!-- memory_format:start -->", "<!-- memory_format:end -->"
PAGES = ("README.md", "docs/index.md", "docs/recipes.md", "docs/performance.md", "docs/nir.md",
         "docs/training-cost.md", "docs/transformers.md", "docs/conversion.md")  # the blocks' homes
MODELS = Path("docs/models")  # one page per shipped weight, and the index
NAV_START, NAV_END = "# models:start", "    # models:end"  # in mkdocs.yml's nav
BENCH_RESULTS = Path("docs/bench/results.json")  # written by `python -m zoo bench --write docs/bench`
BUDGET_RESULTS = Path("docs/bench/training_budget/results.json")  # written by examples/gradient_budget.py
# datasets that the machines this zoo is trained on cannot download (see docs/data.md)
NOT_AVAILABLE_HERE = {"cifar10dvs", "dvsgesture", "imagenet"}
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
    start = start or model.get("from_ann") or (model["name"] if tag else None)
    kwargs = model.get("kwargs", {})
    extras = [f"{key}={kwargs[key]}" for key in ("cnf", "block", "width", "stem", "sparse_grad", "neuron", "hidden")
              if key in kwargs]
    extras += [f"from `{start}`"] if start else []
    return f"`{arch}`" + (f" ({', '.join(extras)})" if extras else "")


DATASET_ARGUMENTS = ("order", "delay")  # the dataset arguments that define the task a row is about


def _dataset_label(name: str, kwargs: dict | None = None, source: dict | None = None) -> str:
    """The dataset, the task its arguments set, and whether it is emulated or a copy that is not the official
    data (``source``: a card's ``data_source``)."""
    task = [f"{key}={kwargs[key]}" for key in DATASET_ARGUMENTS if key in (kwargs or {})]
    emulated = " (emulated)" if name in EMULATED_DATASETS else ""
    return source_label(name + (f" ({', '.join(task)})" if task else "") + emulated, source)


def card_dataset_label(card: dict) -> str:
    """:func:`_dataset_label` of the data a card's number was measured on."""
    return _dataset_label(card["dataset"], card.get("dataset_kwargs"), card.get("data_source"))


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


def accuracy_protocol(card: dict) -> str:
    """How a card's accuracy was obtained: a conversion at its T (calibrated for it or not), the epoch chosen
    on validation, a leg's latest validated weights (latest.pt), or a run's final weights (last.pt has no
    chosen epoch)."""
    if conversion := card.get("conversion"):
        steps = [f"{conversion['calibrate']} calibration"] if conversion.get("calibrate") != "none" else []
        steps += [f"{conversion['weight_steps']} weight steps"] if conversion.get("weight_steps") else []
        images = f" on {conversion['calibration_images']} training images" if conversion.get("calibration_images") else ""
        calibration = f"calibrated for it: {' and '.join(steps)}{images}" if was_calibrated(conversion) else "no calibration"
        return f"the ANN converted for T={card['T']}, {calibration}"
    train = card.get("train") or {}
    if train.get("chosen") == "latest" and train.get("best_epoch") is not None:
        return (f"the weights of the leg's latest validation ({train['val_acc1']:.2f}% on a held-out "
                f"{train['val_fraction']:.0%} of the training set), where the schedule's next leg goes on")
    if train.get("val_fraction") and train.get("best_epoch") is not None:
        chosen = "checkpoint" if train.get("steps") else "epoch"  # a budget of steps validates every N steps
        return f"the {chosen} chosen on a held-out validation split, {train['val_fraction']:.0%} of the training set"
    return "the final weights"


def training_summary(card: dict) -> str:
    """``N epochs, adam lr 0.001``: how long and with what the weight was trained (``N steps`` for a run given a
    budget of optimizer steps, ``N of M planned`` for one stopped short, where in a schedule a leg of it was,
    the teacher it was distilled from); a converted weight's training is its ANN's, and says so."""
    train = card.get("train") or {}
    unit = "steps" if train.get("steps") else "epochs"
    count = train.get(unit, "-")
    planned = f" of {train[unit + '_planned']} planned" if train.get(unit + "_planned") else ""
    length = f"{count}{planned} {unit[:-1] if count == 1 and not planned else unit}"
    if train.get("schedule_epochs"):
        length += f" (from epoch {train.get('schedule_from_epoch', 0)} of a {train['schedule_epochs']}-epoch schedule)"
    distilled = ""
    if distillation := train.get("distillation"):
        how = [distillation["type"], f"alpha {distillation['alpha']:g}"]
        how += [f"tau {distillation['tau']:g}"] if distillation["type"] == "soft" else []
        distilled = f", distilled from `{distillation['teacher']}` ({', '.join(how)})"
    return (("the ANN: " if card.get("conversion") else "")
            + f"{length}, {train.get('optimizer', '-')} lr {train.get('lr', '-')}{distilled}")


def _sweep(card: dict) -> str:
    """For a converted SNN: the source ANN's accuracy and the SNN's at every T of the card (a T run with
    another T's state marked with it), and whether its states were calibrated at all."""
    conversion = card.get("conversion")
    if not conversion:
        return ""
    by_T = ", ".join(f"T={steps}: {record['acc1']:.2f}%"
                     + ("" if record["calibrated"] else f" (the T={record['state_T']} state)")
                     for steps, record in conversion.get("per_T", {}).items() if "acc1" in record)
    return (f"; ANN {conversion['ann_acc1']:.2f}%" + ("" if was_calibrated(conversion) else ", no calibration")
            + (f"; {by_T}" if by_T else ""))


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
        lines += [_weight_row(card, paper, relative) for card in sorted(trained, key=lambda c: -c["metrics"]["acc1"])]
    recipes = {path.relative_to(repo).as_posix() for path in (repo / "recipes").glob("*.yaml")}
    scripted = [card for card in cards if card.get("recipe") and card["recipe"] not in recipes]  # made by a script
    lines += [_weight_row(card, card.get("paper", {}), card["recipe"]) for card in scripted]
    return lines


def _converted_weight(card: dict) -> str:
    """The published ANN weight a conversion converted ('' where it converted a training run's checkpoint:
    its record then names the bare architecture)."""
    converted = (card.get("conversion") or {}).get("from", "")
    return converted if "." in converted else ""


def started_from(card: dict) -> str | None:
    """The published weight a card's network came from: the ANN weight a conversion converted, the weight a
    run continued, or the ANN whose conversion a run fine-tuned."""
    return _converted_weight(card) or card.get("finetuned_from") or card.get("converted_from")


def _lineage(card: dict) -> str:
    """What a model page's recipe row adds about where the weights began."""
    if converted := _converted_weight(card):
        return f", converted from `{converted}`"
    return ((f", continued from `{card['finetuned_from']}`" if card.get("finetuned_from") else "")
            + (f", starting from the conversion of `{card['converted_from']}`" if card.get("converted_from") else ""))


def _weight_row(card: dict, paper: dict, source: str) -> str:
    """A shipped weight's row of the status table; ``source`` is the recipe or script that made it."""
    label = _model_label({"name": card["arch"], "kwargs": card["kwargs"]}, started_from(card))
    return (f"| {_short_paper(paper)} | `{source}` | {label} | {card_dataset_label(card)} | "
            f"{card.get('T') or '-'} | {_reported(paper, card['kwargs'].get('cnf'))} | "
            f"{card['metrics']['acc1']:.2f}% ({card['metrics']['num_samples']:,}){_sweep(card)}"
            f"{_best_test_epoch(card)} | `{card['arch']}.{card['tag']}` |")


def render(repo: Path = REPO) -> str:
    return "\n".join([START, HEADER, *rows(repo), END])


def _bench_results(repo: Path, suite: str | None = None) -> dict:
    """The last ``zoo bench --write docs/bench`` run with its rows of ``suite`` only (all where None), or
    no rows where nothing was written yet."""
    path = repo / BENCH_RESULTS
    bench = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    return {**bench, "rows": [row for row in bench["rows"] if suite is None or row["suite"] == suite]}


def render_bench(repo: Path = REPO) -> str:
    """The ratios of the last ``zoo bench --write docs/bench`` run, with the command and machine."""
    result = _bench_results(repo)
    if not result["rows"]:
        return "\n".join([BENCH_START, "No benchmark results yet: run `python -m zoo bench --write docs/bench`.",
                          BENCH_END])
    from ..bench import measured_by

    lines = [BENCH_START, f"Measured by {measured_by(result, ' --write docs/bench')}:", "", "| suite | case | ratio |", "|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['suite']} | {row['case']} | {row['ratio']:.2f} |" if "ratio" in row
                     else f"| {row['suite']} | {row['case']} | - |")
    return "\n".join([*lines, BENCH_END])


def render_training(repo: Path = REPO, docs: str = "") -> str:
    """BPTT against SLTT and SLTT-K: the bench suite ``training`` at T=8 and the memory growth from T=4
    to T=16, and the accuracy at the same training budget (``examples/gradient_budget.py``)."""
    bench = _bench_results(repo, "training")
    rows = bench["rows"]
    lines = [TRAINING_START]
    if not rows:
        lines.append("Not measured yet: `python -m zoo bench --suite training --write docs/bench`.")
    else:
        from ..bench import measured_by

        lines += [f"One training step (forward and backward, bfloat16 autocast) at T=8 as a fraction of BPTT's, "
                  f"and the memory kept for the backward as T grows from 4 to 16 "
                  f"({measured_by(bench, ' --write docs/bench')}; "
                  f"[all rows]({docs}bench/bench.md)):", "",
                  "| network | step time, SLTT | step time, SLTT-2 | memory, SLTT | memory T=16 / T=4: BPTT, SLTT, SLTT-2 |",
                  "|---|---|---|---|---|"]
        for model in dict.fromkeys(row["model"] for row in rows):
            def ratio(method, measure, T=8):
                found = [r["ratio"] for r in rows if r["model"] == model and r["method"] == method
                         and r["measure"] == measure and (measure == "growth" or r["T"] == T)]
                return f"{found[0]:.2f}x" if found else "-"
            lines.append(f"| {model} | {ratio('sltt', 'time')} | {ratio('sltt-k', 'time')} | "
                         f"{ratio('sltt', 'memory')} | {ratio('bptt', 'growth')}, {ratio('sltt', 'growth')}, "
                         f"{ratio('sltt-k', 'growth')} |")
    if (repo / BUDGET_RESULTS).is_file():
        budget = json.loads((repo / BUDGET_RESULTS).read_text())
        names = {"bptt": "BPTT", "sltt": "SLTT", "sltt-k": f"SLTT-{budget['K']}"}
        lines += ["", f"The same {budget['budget_s']:g} s of training each on Fashion-MNIST ({budget['recipe']}, "
                      f"`{budget['command']}`):", "", "| method | steps | test acc1 |", "|---|---|---|"]
        lines += [f"| {names[r['method']]} | {r['steps']} | {r['test_acc1']:.2f}% ({r['test_images']:,}) |"
                  for r in budget["rows"]]
    return "\n".join([*lines, TRAINING_END])


def render_memory_format(repo: Path = REPO) -> str:
    """The bench suite ``memory_format``: each network's training step time in NCHW over channels-last,
    and how far each layout's update is from float32's."""
    bench = _bench_results(repo, "memory_format")
    rows = bench["rows"]
    if not rows:
        return "\n".join([LAYOUT_START, "Not measured yet: `python -m zoo bench --suite memory_format --write "
                          "docs/bench`.", LAYOUT_END])
    from ..bench import measured_by

    lines = [LAYOUT_START, f"Measured by {measured_by(bench, ' --write docs/bench')}:", "",
             "| network (recipe's batch, image) | arithmetic | step time, NCHW / channels-last | update's distance "
             "from float32's: NCHW, channels-last |", "|---|---|---|---|"]
    lines += [f"| {row['case'].partition(':')[0]} | {row['precision']} | {row['ratio']:.2f}x | "
              f"{100 * row['nchw_from_float32']:.1f}%, {100 * row['channels_last_from_float32']:.1f}% |" for row in rows]
    return "\n".join([*lines, LAYOUT_END])


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


def render_best(repo: Path = REPO, models: str = "docs/models/") -> str:
    """The most accurate shipped weight of each paper and dataset, for the front doors (the README, and
    the site's home page, whose links to the model pages start at ``models``)."""
    best: dict[tuple[str, str], dict] = {}
    for card in _cards(repo):
        key = (_short_paper(card.get("paper", {})), card_dataset_label(card))
        if key not in best or card["metrics"]["acc1"] > best[key]["metrics"]["acc1"]:
            best[key] = card
    lines = [BEST_START, "| family (paper) | dataset | best weight | acc1 (full test set) | T |", "|---|---|---|---|---|"]
    for (paper, dataset), card in sorted(best.items()):
        name = f"{card['arch']}.{card['tag']}"
        lines.append(f"| {paper} | {dataset} | [`{name}`]({models}{name}.md) | {card['metrics']['acc1']:.2f}% "
                     f"({card['metrics']['num_samples']:,}) | {card.get('T') or '-'} |")
    return "\n".join([*lines, BEST_END])


WEIGHT_COLUMNS = ["", "weight", "dataset", "acc1", "T", "size"]


def weight_cells(card: dict) -> list[str]:
    """A weight in one line, as the models index and ``zoo list --pretrained`` show it: default mark, name,
    dataset, accuracy, T, file size."""
    metrics = card.get("metrics") or {}
    return ["*" if card.get("default") else "", f"{card['arch']}.{card['tag']}",
            card_dataset_label(card),
            f"{metrics['acc1']:.2f}%" if "acc1" in metrics else "-", str(card.get("T") or "-"),
            f"{card.get('file_size', 0) / 1e6:.1f} MB"]


def nir_status(card: dict) -> str:
    """What a card says about NIR export: exports, does not export (why), or not checked."""
    nir = card.get("nir") or {}
    if nir.get("exports"):
        return "exports"
    return f"does not export: {nir['reason']}" if "reason" in nir else "not checked"


def _pictures(repo: Path, name: str) -> list[str]:
    """The images under docs/img a weight's runs made: files named after the weight (``arch_tag_*.png``),
    each given to the weight whose name is the longest match."""
    cards = [f"{c['arch']}_{c['tag']}" for c in _cards(repo)]
    own = name.replace(".", "_")
    found = []
    for image in sorted((repo / "docs" / "img").glob("*.png")):
        matching = [c for c in cards if image.stem.startswith(c + "_") or image.stem == c]
        if matching and max(matching, key=len) == own:
            found.append(image.name)
    return found


def _wall_time(train: dict) -> str:
    """The run's wall time (hours, or minutes under six); none logged (a run killed before the zoo counted
    killed sessions) says so."""
    seconds = train.get("wall_time_s") or 0.0
    if not seconds:
        return "time not recorded"
    return f"{seconds / 3600:.1f} h" if seconds >= 360 else f"{seconds / 60:.1f} min"


def render_model_page(card: dict, repo: Path = REPO) -> str:
    """A weight's page: how to load it, what it was trained and measured on, and its card in short."""
    name = f"{card['arch']}.{card['tag']}"
    metrics, train = card["metrics"], card.get("train") or {}
    neuron, surrogate = card.get("neuron") or {}, card.get("surrogate") or {}
    paper = card.get("paper") or {}
    best_test = card.get("best_test_epoch")
    rows = [("accuracy", f"{metrics['acc1']:.2f}% on {metrics['num_samples']:,} {card_dataset_label(card)} {metrics.get('split', 'test')} "
                         f"samples ({accuracy_protocol(card)})" + (f"; best test epoch {best_test['acc1']:.2f}% (a paper's protocol)"
                                                    if best_test else "")),
            *(("also measured", f"{r['acc1']:.2f}% on {r['num_samples']:,} {source_label(r['dataset'], r.get('data_source'))} {r['split']} samples"
               + (f" ({r['emulated']})" if r.get("emulated") else "")) for r in card.get("also_measured", [])),
            ("dataset", card_dataset_label(card)
             + (f": {card['emulated']}" if card.get("emulated") else "")),
            ("paper", f"{paper.get('title', '-')} ({_short_paper(paper)}); reported: {_reported(paper, card['kwargs'].get('cnf'))}"),
            ("T", str(card.get("T") or "-")), ("input", f"{card.get('input_shape')}, {card.get('normalisation', '')}"),
            ("encoding", str(card.get("encoding", "-"))),
            ("neuron", ", ".join(f"{k}={v}" for k, v in neuron.items()) or "-"),
            ("surrogate", ", ".join(f"{k}={v}" for k, v in surrogate.items()) or "-"),
            ("recipe", f"`{card.get('recipe') or '-'}`" + _lineage(card)),
            *((f"saw: {what}", text) for what, text in (card.get("seen") or {}).items()),
            ("training", f"{training_summary(card)}, batch {train.get('batch_size', '-')}, {_wall_time(train)} on {train.get('device', '-')}"),
            *((("validation", f"{validation_text(train)} on {train['val_fraction']:.0%} of the training set held out"),)
              if train.get("validation") else ()),
            ("parameters", f"{card.get('num_params', 0):,}"), ("file", f"`{card['file']}`, {card.get('file_size', 0) / 1e6:.1f} MB"),
            ("NIR", nir_status(card))]
    if card.get("conversion"):
        rows.insert(1, ("against T", _sweep(card).lstrip("; ")))
    lines = [f"# {name}", "", f"{'The default weight of' if card.get('default') else 'A weight of'} `{card['arch']}`.", "",
             "```python", "import zoo",
             f"model = zoo.create_model(\"{name}\", pretrained=True).eval()",
             f"# or: torch.hub.load(\"<repo>\", \"{card['arch']}\", source=\"local\", pretrained=\"{card['tag']}\")",
             "```", "", f"Re-measure: `python -m zoo eval {name}`; the whole card: `python -m zoo info {name} --json`.", "",
             "| | |", "|---|---|", *[f"| {key} | {value} |" for key, value in rows]]
    for image in _pictures(repo, name):
        lines += ["", f"![{image}](../img/{image})"]
    return "\n".join(lines) + "\n"


def render_models(repo: Path = REPO) -> dict[Path, str]:
    """``docs/models/``: the index of every shipped weight and a page for each."""
    cards = _cards(repo)
    pages = {MODELS / f"{c['arch']}.{c['tag']}.md": render_model_page(c, repo) for c in cards}
    index = ["# Models", "", "Every shipped weight, with its card's accuracy on the full test set; `*` marks an "
             "architecture's default. Each page says how to load the weight and what it was trained on.", "",
             "| " + " | ".join(WEIGHT_COLUMNS) + " |", "|---" * len(WEIGHT_COLUMNS) + "|"]
    for card in sorted(cards, key=lambda c: (c["arch"], c["tag"])):
        cells = weight_cells(card)
        cells[1] = f"[{cells[1]}]({cells[1]}.md)"
        index.append("| " + " | ".join(cells) + " |")
    pages[MODELS / "index.md"] = "\n".join(index) + "\n"
    return pages


def render_nav(pages: dict[Path, str]) -> str:
    """The Models section of mkdocs.yml's nav: the index, then a page per weight."""
    names = sorted(path.name for path in pages if path.name != "index.md")
    entries = ["      - All weights: models/index.md"] + [f"      - {name[:-3]}: models/{name}" for name in names]
    return "\n".join([NAV_START, *entries, "    " + NAV_END.strip()])


def _legs_figure(repo: Path, cards: list[dict], root: str, check: bool) -> bool:
    """Draw the figure of ``root``'s legs (unless ``check``); True where it was already there."""
    from ..train.plots import plot_legs

    path = repo / "docs" / figure(root)
    there = path.is_file()
    if not check:
        legs = chain(cards, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        plot_legs(positions(legs), path, title=f"{legs[0]['arch']} on {card_dataset_label(legs[0])}: validation "
                                             "(lines) and test (stars) of each leg")
    return there


def update_readme(repo: Path = REPO, check: bool = False) -> bool:
    """Rewrite (or with ``check``, compare) every generated block and page; True when all were current."""
    current = True
    cards = _cards(repo)  # for the tables of legs and their figures
    for page in PAGES:
        path = repo / page
        if not path.is_file():
            continue
        blocks = ((START, END, render), (BENCH_START, BENCH_END, render_bench), (NIR_START, NIR_END, render_nir),
                  (TRAINING_START, TRAINING_END, lambda r: render_training(r, "docs/" if page == "README.md" else "")),
                  (LAYOUT_START, LAYOUT_END, render_memory_format),
                  (BEST_START, BEST_END, lambda r: render_best(r, "docs/models/" if page == "README.md" else "models/")))
        text = path.read_text()
        updated = text
        blocks += tuple((start_marker(root), end_marker(root), lambda r, root=root: render_legs(cards, root))
                        for root in roots(text))
        for root in roots(text):  # each table's figure, drawn from the same cards
            current &= _legs_figure(repo, cards, root, check)
        for start, end, make in blocks:
            if start in text:
                updated = _replace_block(updated, start, end, make(repo), path)
        if updated != text:
            current = False
            if not check:
                path.write_text(updated)
    if (repo / "mkdocs.yml").is_file():  # the documentation site's model pages, and their place in its nav
        pages = render_models(repo)
        site = repo / "mkdocs.yml"
        config = site.read_text()
        nav = _replace_block(config, NAV_START, NAV_END, render_nav(pages), site)
        if nav != config:
            current = False
            if not check:
                site.write_text(nav)
        folder = repo / MODELS
        stale = [p for p in folder.glob("*.md") if p.relative_to(repo) not in pages] if folder.is_dir() else []
        changed = [path for path, text in pages.items()
                   if not (repo / path).is_file() or (repo / path).read_text() != text]
        if changed or stale:
            current = False
            if not check:
                folder.mkdir(parents=True, exist_ok=True)
                for path in changed:
                    (repo / path).write_text(pages[path])
                for path in stale:
                    path.unlink()
    return current
