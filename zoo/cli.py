"""``python -m zoo`` / ``zoo``: list, info, eval, convert, train, publish, finetune, bench, export, report,
events-to-frames.

Errors are one line on stderr: exit code 2 for usage errors, 1 for data and file errors;
``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import DatasetNotFoundError, RecipeError, UnknownModelError, WeightsError, ZooError
from .runtime import keep_freed_memory, resolve_device, set_threads, use_huge_pages

USAGE_ERRORS = (UnknownModelError, RecipeError, ValueError, TypeError)


BENCH_HEADER = ("suite        ratio  case (raw medians)\n"
                "A ratio is how many times the case's first-named candidate takes the second's time or memory "
                "(e.g. dense / sparse: above 1, sparse is faster); it is the median over repeats of each repeat's "
                "ratio, so it need not equal the quotient of the medians printed beside it.")


def _cmd_bench(args) -> int:
    from .bench import DEFAULT_SUITES, check_suite, format_rows, iter_suite, machine, write_report

    suites = args.suite or list(DEFAULT_SUITES)
    for name in suites:  # every name before the first (long) suite runs
        check_suite(name)
    if not args.json:
        print(BENCH_HEADER, flush=True)
    rows = []
    for name in suites:
        if not args.json:
            print(f"{name}: measuring ...", end="\r", flush=True)
        for row in iter_suite(name, args.repeats, args.device):
            rows.append(row)
            if not args.json:
                print(format_rows([row]), flush=True)
    command = "python -m zoo bench" + "".join(f" --suite {name}" for name in args.suite or []) + \
        (f" --repeats {args.repeats}" if args.repeats != 5 else "") + (f" --threads {args.threads}" if args.threads else "") + \
        (f" --device {args.device}" if args.device != "cpu" else "")
    result = {"command": command, "machine": machine(), "rows": rows}
    if args.json:
        print(json.dumps(result, indent=2))
    if args.write:
        write_report(result, Path(args.write))
    return 0


def _cmd_convert(args) -> int:
    from .conversion.publish import convert_checkpoint, names_a_weight
    from .conversion.records import was_calibrated

    sweep = args.sweep
    if names_a_weight(args.checkpoint, "converted_"):
        from .hub import get_weights
        from .conversion.publish import sweep_weights

        card = sweep_weights(get_weights(args.checkpoint), sweep)  # extend a published conversion's sweep
    else:
        if not args.tag:
            raise ValueError("zoo convert needs --tag to publish a new conversion")
        threshold = args.threshold if args.threshold in (None, "mse", "qcfs") else float(args.threshold)
        card = convert_checkpoint(args.checkpoint, args.tag, T=args.T, threshold=threshold,
                                  calibrate=args.calibrate, weight_steps=args.weight_steps,
                                  calibration_images=args.calibration_images, sweep=sweep,
                                  out_dir=args.out_dir, default=args.default)
    conversion = card["conversion"]
    print(f"{card['arch']}.{card['tag']}: SNN acc1 {card['metrics']['acc1']:.2f}% at T={card['T']} "
          f"(ANN {conversion['from']} {conversion['ann_acc1']:.2f}%) -> {card['file']}")
    own = "calibrated in {:.0f} s" if was_calibrated(conversion) else "converted for this T, no calibration"
    for steps, record in conversion["per_T"].items():
        if "acc1" not in record:  # a sweep interrupted before this T was measured
            print(f"  T={steps:>4}: not measured yet (python -m zoo convert {card['arch']}.{card['tag']} --sweep {steps})")
            continue
        how = (own.format(record["calibration_s"]) if record["calibrated"]
               else f"not calibrated: the T={record['state_T']} state")
        print(f"  T={steps:>4}: {record['acc1']:.2f}%  ({how})")
    if args.plot:
        from .train.plots import plot_accuracy_vs_T

        print(f"accuracy against T: {plot_accuracy_vs_T(card, args.plot)}")
    return 0


def _steps_list(text: str) -> tuple[int, ...]:
    """Comma-separated time steps, e.g. ``8,16,32`` ('' for none); each must be a positive integer."""
    return tuple(_positive_int(part.strip()) for part in text.split(",") if part.strip())


def _cmd_list(args) -> int:
    from .hub import list_models

    names = list_models(args.pattern, pretrained=args.pretrained)
    if not args.pretrained:
        print("\n".join(names))
        return 0
    from .hub import get_weights
    from .hub.report import WEIGHT_COLUMNS, weight_cells

    rows = [weight_cells(get_weights(name).meta) for name in names]
    print(format_table(WEIGHT_COLUMNS, rows))
    if rows:
        print("* the architecture's default weight (create_model(arch, pretrained=True))")
    return 0


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
                     for line in [header, *rows])


def _plain(text: str) -> str:
    """Docstring markup (RST literals and roles) as plain text for the terminal."""
    import re

    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


def _cmd_info(args) -> int:
    from .hub import get_weights, list_models
    from .hub.registry import model_entry
    from .data.copies import source_label
    from .hub.report import (WEIGHT_COLUMNS, accuracy_protocol, card_dataset_label, nir_status, training_summary,
                             weight_cells)

    arch = args.name.partition(".")[0]
    entry = model_entry(arch)
    weights = None
    try:
        weights = get_weights(args.name)
    except UnknownModelError:
        if "." in args.name:
            raise
    if args.json:
        print(json.dumps(dict(weights.meta) if weights else {"arch": arch, "paper": entry.paper}, indent=2))
        return 0
    print(f"{entry.name}: {entry.paper}\n{_plain(entry.doc)}\n")
    names = [name for name in list_models(pretrained=True) if name.partition(".")[0] == arch]
    if not names:
        print("no shipped weights yet")
        return 0
    print(format_table(WEIGHT_COLUMNS, [weight_cells(get_weights(n).meta) for n in names]))
    card = weights.meta
    metrics = card.get("metrics") or {}
    neuron, surrogate = card.get("neuron") or {}, card.get("surrogate") or {}
    lines = [f"\n{weights.name}" + (" (default)" if card.get("default") else ""),
             f"  accuracy   {metrics.get('acc1', '-')}% on {metrics.get('num_samples', '-')} {card_dataset_label(card)} "
             f"{metrics.get('split', 'test')} samples ({accuracy_protocol(card)})",
             *(f"  also       {r['acc1']}% on {r['num_samples']} "
               f"{source_label(r['dataset'], r.get('data_source'))} {r['split']} samples"
               for r in card.get("also_measured", [])),
             f"  T          {card.get('T')}, input {card.get('input_shape')}, {card.get('encoding')}",
             f"  neuron     {neuron.get('type', '-')}, surrogate {surrogate.get('type', '-')}",
             *(f"  saw        {what}: {text}" for what, text in (card.get("seen") or {}).items()),
             f"  trained    {training_summary(card)}, recipe {card.get('recipe') or '-'}",
             f"  size       {card.get('num_params', 0):,} parameters, {card.get('file_size', 0) / 1e6:.1f} MB",
             f"  NIR        {nir_status(card)}",
             f"  raw card   python -m zoo info {weights.name} --json"]
    print("\n".join(lines))
    return 0


def _cmd_eval(args) -> int:
    from .hub import get_weights
    from .hub.publish import evaluate_weights

    weights = get_weights(args.name)
    print(f"{weights.name}: {weights.file_path()} (card {weights.card_path})", flush=True)
    result = evaluate_weights(args.name, dataset=args.data, root=args.root, split=args.split,
                              limit=args.limit, batch_size=args.batch_size, activity=args.activity,
                              plots=args.plots, T=args.T, device=resolve_device(args.device or "cpu"))
    card = result.pop("card_metrics", None)
    line = f"{args.name} on {result['dataset']} {result['split']}: acc1 {result['acc1']:.2f}% " \
           f"({result['correct']}/{result['num_samples']})"
    if card:
        line += f"; card: {card['acc1']:.2f}% on {card['num_samples']}" + (f" at T={args.T}" if args.T else "")
    print(line)
    if "activity" in result:
        print(format_activity(result["activity"]))
    if args.plots:
        print(f"plots and activity.json in {args.plots}")
    if args.json:
        print(json.dumps(result))
    return 0


def format_activity(activity: dict) -> str:
    """Firing rate per layer, then SynOps and the energy estimate, as printed by ``zoo eval --activity``."""
    width = max((len(name) for name in activity["firing_rates"]), default=5)
    lines = [f"  {name:<{width}}  {100 * rate:6.2f}%" for name, rate in activity["firing_rates"].items()]
    ops = activity["energy_per_op_pJ"]
    ann, snn = activity["energy_ann_uJ"], activity["energy_snn_uJ"]
    lines.append(f"  per sample: {activity['synops_per_sample']:,} SynOps + {activity['snn_macs_per_sample']:,} MACs "
                 f"(SNN) vs {activity['ann_macs_per_sample']:,} MACs (same network as an ANN)")
    ratio = "" if not snn or not ann else (f" ({ann / snn:.1f}x less)" if ann >= snn else f" ({snn / ann:.1f}x more)")
    lines.append(f"  energy: SNN {snn:.3f} uJ vs ANN {ann:.3f} uJ{ratio}; {ops['ac']} pJ per accumulate, "
                 f"{ops['mac']} pJ per MAC ({ops['source']})")
    return "firing rate per layer:\n" + "\n".join(lines)


def _cmd_train(args) -> int:
    from .train import load_recipe, train

    if args.resume:
        if args.recipe or args.set:
            raise RecipeError("--resume continues a run with its saved config.yaml; "
                              "a recipe or --set cannot change it")
        out = Path(args.resume)
        config = None
    else:
        config = load_recipe(args.recipe, args.set)
        out = Path(args.out or Path("runs") / Path(args.recipe).stem)
        if (out / "checkpoints" / "last.pt").exists():
            raise ZooError(f"{out} already holds a run; continue it with --resume {out} or pick --out")
    summary = train(config, out, resume=bool(args.resume), max_steps=args.max_steps, device=args.device)
    state = "finished" if summary["finished"] else f"stopped at step {summary['step']}/{summary['total_steps']}"
    best = summary["best_val_acc1"]
    print(f"run {out}: {state}; " + (f"best validation acc1 {best:.2f}%" if best >= 0 else "no validation yet"))
    hint = resume_hint(out)
    if not summary["finished"] and hint:
        print(hint)
    return 0


def resume_hint(out: Path) -> str | None:
    """How to continue a stopped run, as the process was launched (torchrun or not); only the first
    process of a torchrun job says it."""
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    world = int(os.environ.get("WORLD_SIZE", "1"))
    launcher = f"torchrun --nproc_per_node {world} -m zoo" if world > 1 else "python -m zoo"
    return f"continue with: {launcher} train --resume {out}"


def _cmd_publish(args) -> int:
    from .data.copies import source_label
    from .hub.publish import publish
    from .hub.report import card_dataset_label

    also = dict(item.partition("=")[::2] for item in args.also or [])
    card = publish(args.checkpoint, tag=args.tag, out_dir=args.out, default=args.default,
                   batch_size=args.batch_size, also={name: root or None for name, root in also.items()})
    print(f"published {card['arch']}.{card['tag']}: {card['file']} acc1 {card['metrics']['acc1']:.2f}% on "
          f"{card['metrics']['num_samples']} {card_dataset_label(card)} {card['metrics']['split']} samples")
    for record in card.get("also_measured", []):
        print(f"  also {record['acc1']:.2f}% on {record['num_samples']} "
              f"{source_label(record['dataset'], record.get('data_source'))} test samples")
    return 0


def _cmd_recheck(args) -> int:
    from .hub.recheck import recheck

    changed = 0
    for name, old, new in recheck(args.names, root=args.root):
        changed += 1
        print(f"{name}: check {old['acc1']:.2f}% on {old['num_samples']} -> {new['acc1']:.2f}% on "
              f"{new['num_samples']} test samples")
    print(f"{changed} card{'s' * (changed != 1)} rewritten" if changed else "every card's check is at the current size")
    return 0


def _cmd_next_leg(args) -> int:
    from .train.next_leg import next_leg

    path, recipe = next_leg(args.weight, epochs=args.epochs, out=args.out)
    train = recipe["train"]
    print(f"wrote {path}: epochs {train['schedule_from_epoch']}-{train['schedule_from_epoch'] + train['epochs'] - 1} "
          f"from {recipe['model']['name']}; train it with: python -m zoo train {path}")
    return 0


def _cmd_finetune(args) -> int:
    from .data import load_dataset
    from .hub import Weights, create_model
    from .hub.publish import publish
    from .hub.weights import load_into
    from .train import evaluate, train
    from .train.finetune import finetune_config, print_choices
    from .train.plots import plot_confusion

    out = Path(args.out or Path("runs") / f"finetune-{args.name.replace('.', '-')}")
    if args.resume:
        config = None
    else:
        if (out / "checkpoints" / "last.pt").exists():
            raise ZooError(f"{out} already holds a run; continue it with --resume or pick --out")
        config = finetune_config(args.name, args.data, epochs=args.epochs, steps=args.steps, batch_size=args.batch_size,
                                 lr=args.lr, T=args.T, sensor_size=args.sensor_size,
                                 freeze_backbone=args.freeze_backbone, augment=args.augment, adapt=args.adapt)
        print_choices(config)
    summary = train(config, out, resume=args.resume)
    if not summary["finished"]:
        print(f"fine-tuning stopped at step {summary['step']}/{summary['total_steps']}; "
              f"continue with: python -m zoo finetune {args.name} --data {args.data} --out {out} --resume")
        return 0
    card = publish(out / "checkpoints" / "best.pt", tag=args.tag, out_dir=out / "weights",
                   batch_size=args.batch_size or 16)
    name = f"{card['arch']}.{card['tag']}"
    tuned = create_model(card["arch"], **card["kwargs"])
    load_into(tuned, Weights(name, card, out / "weights" / f"{name}.json"))
    test_set = load_dataset("events", root=card["finetune"]["folder"], split="test", **card["dataset_kwargs"])
    result = evaluate(tuned, test_set, batch_size=card["eval"]["batch_size"], per_sample=True, progress=False)
    plot_confusion(result["targets"], result["predictions"], test_set.classes, out / "confusion_test.png",
                   title=f"{name} on the test recordings")
    print(f"fine-tuned {args.name} on {args.data}: validation acc1 {summary['best_val_acc1']:.2f}%, "
          f"test acc1 {card['metrics']['acc1']:.2f}% ({card['metrics']['num_samples']} samples)"
          + (" (stopped early)" if summary.get("early_stopped") else ""))
    for label, cls in enumerate(test_set.classes):
        hits = [hit for hit, target in zip(result["per_sample"], result["targets"]) if target == label]
        print(f"  {cls:<16} {100.0 * sum(hits) / max(1, len(hits)):6.2f}% of {len(hits)}")
    print(f"confusion matrix: {out / 'confusion_test.png'}")
    print(f"weight {out / 'weights' / card['file']}; load with ZOO_WEIGHTS={out / 'weights'} and "
          f"zoo.create_model('{name}')")
    return 0


def _cmd_export(args) -> int:
    from .hub import create_model, get_weights
    from .nir.export import NIRExportError, export_nir, require_nir

    nir = require_nir()

    model = create_model(args.name, pretrained=True)
    weights = get_weights(args.name)
    try:
        graph = export_nir(model, dt=args.dt)
    except NIRExportError as error:
        if args.update_card:  # the card says why this weight does not export
            _record_nir(weights, {"exports": False, "reason": str(error)}, card=True)
        raise
    if args.update_card and not args.check:
        raise ValueError(f"{weights.name} exports: --update-card records its read-back, so give --check N "
                         "(e.g. --check 1000)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    nir.write(str(partial), graph)  # HDF5 through h5py: written beside, then renamed into place
    partial.replace(out)
    print(f"{weights.name} -> {out} (NIR graph of {len(graph.nodes) - 2} layers, dt={args.dt:g} s)")
    if args.check:
        _check_export(model, weights, out, args)
    return 0


def _record_nir(weights, record: dict, card: bool, path: Path | None = None) -> Path:
    """Write a NIR record into the weight's card (``--update-card``) or into ``path``, a file of the user's."""
    from .hub.publish import write_card

    if card:
        write_card(weights.card_path, {**weights.meta, "nir": record})
        return weights.card_path
    write_card(path, {"weight": weights.name, "sha256": weights.meta["sha256"], "nir": record})
    return path


def _check_export(model, weights, path: Path, args) -> None:
    """Read the written file back with every available reader on the weight's test images; print the
    agreement and record it beside the file (``<out>.check.json``), or in the card with ``--update-card``,
    where the results of readers measured in another environment on this very file are kept."""
    import torch

    from .hub.publish import card_dataset
    from .nir.check import available_readers, read_back

    test = card_dataset(weights.meta)
    count = min(args.check, len(test))
    images = torch.stack([test[i][0] for i in range(count)])
    previous = (weights.meta.get("nir") or {}) if args.update_card else {}
    # a record without a hash was written into this card, for its file
    same_file = previous.get("dt") == args.dt and previous.get("sha256", weights.meta["sha256"]) == weights.meta["sha256"]
    results = dict(previous.get("read_back", {})) if same_file else {}
    for reader in available_readers():
        try:
            results[reader] = read_back(model, path, images, reader, args.dt)
        except Exception as error:  # a reader that cannot run the file is a result too
            results[reader] = {"images": count, "error": f"{type(error).__name__}: {str(error).splitlines()[0]}"}
            print(f"read back by {reader}: failed ({results[reader]['error']})")
            continue
        r = results[reader]
        print(f"read back by {reader}: the same class on {r['same_class']}/{count} test images, the same "
              f"read-out on {r['same_readout']}/{count}")
    record = {"exports": True, "dt": args.dt, "sha256": weights.meta["sha256"], "read_back": results}
    written = _record_nir(weights, record, card=args.update_card, path=path.with_name(path.name + ".check.json"))
    print(f"read-back record: {written}")


def _cmd_report(args) -> int:
    from .hub.report import update_readme

    current = update_readme(check=args.check)
    if args.check:
        print("README and documentation: everything is current" if current else
              "README and documentation tables are stale: run python -m zoo report")
        return 0 if current else 1
    print("README and documentation tables " + ("were already current" if current else
                                                 "rewritten from recipes/ and weights/"))
    return 0


def _cmd_events_to_frames(args) -> int:
    from .data import load_dataset
    from .data.export import export_event_dataset

    options = {"T": args.T, "split_by": args.split_by}
    if args.sensor_size:
        options["sensor_size"] = tuple(args.sensor_size)
    dataset = load_dataset(args.data, root=args.root, split=args.split, **options)
    count = export_event_dataset(dataset, args.out, kind=args.format, limit=args.limit)
    print(f"wrote {count} {dataset.name} samples as {args.format} to {args.out}"
          + (f" (read back with load_dataset('events', root='{args.out}'))" if args.format == "events" else ""))
    if args.preview:
        from .train.plots import plot_event_frames

        plot_event_frames(dataset, args.preview, title=f"{dataset.name} {args.split}: first samples, "
                                                        f"{args.T} frames (ON red, OFF blue)")
        print(f"preview of the first samples in {args.preview}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit code 2), like every other zoo error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="zoo", description="Spiking model zoo")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    threads_help = ("CPU threads for torch and the zoo's kernels (default: torch's, one per core); fewer when "
                    "other work shares the machine")
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N", help=threads_help)
    # --debug and --threads after the subcommand too; SUPPRESS keeps a missing one from overwriting the top-level value
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    common.add_argument("--threads", type=_positive_int, default=argparse.SUPPRESS, metavar="N", help=threads_help)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    add_parser = sub.add_parser
    sub.add_parser = lambda *args, **kwargs: add_parser(*args, parents=[common], **kwargs)

    p = sub.add_parser("list", help="list architectures (or shipped weights with --pretrained)")
    p.add_argument("pattern", nargs="?", default=None,
                   help="a word matched anywhere in the name (sew), or a glob with * ? [ ] (sew_resnet*)")
    p.add_argument("--pretrained", action="store_true",
                   help="shipped weights with their dataset, accuracy, T and size; * marks each default")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="a model's paper, its weights and the default (or named) weight's card")
    p.add_argument("name", help="arch or arch.tag")
    p.add_argument("--json", action="store_true", help="print the weight's whole card as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("eval", help="evaluate a shipped weight on its test set")
    p.add_argument("name", help="arch or arch.tag")
    p.add_argument("--data", default=None, help="dataset name (default: the card's)")
    p.add_argument("--root", default=None, help="dataset root folder")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=_positive_int, default=None, help="only the first N samples")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="default: the card's eval batch size")
    p.add_argument("--json", action="store_true", help="also print the result as JSON")
    p.add_argument("--activity", action="store_true",
                   help="also firing rate per layer, SynOps and energy against the same network as an ANN")
    p.add_argument("--plots", default=None, metavar="DIR",
                   help="write firing_rates.png, raster.png, confusion.png and activity.json into DIR")
    p.add_argument("--T", type=_positive_int, default=None, help="time steps (default: the card's)")
    p.add_argument("--device", default=None, help="cpu (default: where the cards were measured; a GPU rounds "
                                                  "differently and draws other random encodings), cuda or cuda:N")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("convert", help="convert a trained ReLU network (ann_* checkpoint) into an IF SNN and "
                                       "publish it with its accuracy against T")
    p.add_argument("checkpoint", help="an ann_* training checkpoint or published weight name (e.g. "
                                       "ann_resnet20.cifar10_qcfs_leg1), or a published converted_* weight name "
                                       "whose --sweep to extend")
    p.add_argument("--tag", default=None)
    p.add_argument("--T", type=_steps_list, default="8,16,32", help="calibrate and measure at each of these T (comma-separated); "
                                                   "the weight's own T is the largest")
    p.add_argument("--threshold", default=None, help="'mse' (searched per T for the smallest layer error; the "
                                                     "default for ReLU networks), 'qcfs' (the thresholds a QCFS "
                                                     "network trained; its default) or a percentile of the "
                                                     "activations, e.g. 99.99")
    p.add_argument("--calibrate", default="advanced", choices=["none", "bias", "potential", "light", "advanced"],
                   help="layer-wise calibration: light = bias calibration, advanced = weight + potential "
                        "calibration (Li et al. 2021); or one piece: bias, potential, none")
    p.add_argument("--weight-steps", type=int, default=None, help="optimizer steps of weight calibration per "
                                                                  "layer (default: the pipeline's; 0 = none)")
    p.add_argument("--calibration-images", type=_positive_int, default=512)
    p.add_argument("--sweep", type=_steps_list, default="", help="also evaluate at these uncalibrated T (comma-separated)")
    p.add_argument("--out-dir", default=None, help="default: the repository's weights/")
    p.add_argument("--default", action="store_true", help="make it the architecture's default weight")
    p.add_argument("--plot", default=None, metavar="PNG", help="also draw the accuracy against T, with the ANN's")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("train", help="train a recipe (or --resume a run folder)")
    p.add_argument("recipe", nargs="?", help="a recipe YAML file, e.g. recipes/stbp_mnist.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one recipe value, e.g. --set train.epochs=3 --set data.root=DIR (repeatable; "
                        "values are YAML)")
    p.add_argument("--out", default=None, help="run folder (default runs/<recipe name>)")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR")
    p.add_argument("--max-steps", type=_positive_int, default=None, metavar="N",
                   help="stop (with a checkpoint) once the run has made N optimizer steps in total, counting "
                        "those before a resume; --resume continues it")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("next-leg", help="write the recipe of a schedule's next leg from the weight the last leg "
                                        "published (its base recipe, the weight, the epoch to go on from)")
    p.add_argument("weight", help="the last leg's published weight, e.g. spikformer_4_256.cifar10_t1_leg6")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="epochs this leg trains (default: the last leg's planned epochs, at most what is left)")
    p.add_argument("--out", default=None, help="recipe file (default: the last leg's, its leg number plus one)")
    p.set_defaults(func=_cmd_next_leg)

    p = sub.add_parser("publish", help="turn a checkpoint into a hub weight with its card")
    p.add_argument("checkpoint", help="a training checkpoint: runs/x/checkpoints/best.pt (the best validated "
                   "weights) or latest.pt (the latest validated: a leg that the next leg continues from)")
    p.add_argument("--tag", default=None)
    p.add_argument("--out", default=None, help="weights folder (default: the repo's weights/)")
    p.add_argument("--default", action="store_true", help="make it the arch's default weight")
    p.add_argument("--batch-size", type=_positive_int, default=500)
    p.add_argument("--also", action="append", metavar="DATASET[=ROOT]",
                   help="also measure this dataset's test split into the card (repeatable), e.g. real "
                        "recordings for a weight trained on emulated ones: --also nmnist-subset=DIR")
    p.set_defaults(func=_cmd_publish)

    p = sub.add_parser("recheck", help="re-measure shipped cards' quick-check slices whose size the rule "
                                       "(zoo.hub.publish.check_samples) no longer gives, rewriting their check")
    p.add_argument("names", nargs="*", help="weights (arch.tag; default: every shipped weight)")
    p.add_argument("--root", default=None, help="dataset root (default: the card's, else the dataset's own rule)")
    p.set_defaults(func=_cmd_recheck)

    p = sub.add_parser("finetune", help="fine-tune a pretrained model on your own event recordings "
                       "(DIR/<class>/<sample>.npy|npz|bin|aedat4) and publish the result locally")
    p.add_argument("name", help="arch or arch.tag of a pretrained weight")
    p.add_argument("--data", required=True, help="custom event folder")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="optimizer steps (default: at least 300, or 5 epochs when that is more)")
    p.add_argument("--epochs", type=_positive_int, default=None, help="train for epochs instead of --steps")
    p.add_argument("--out", default=None, help="run folder (default runs/finetune-<name>)")
    p.add_argument("--freeze-backbone", action="store_true", help="train only the read-out layer")
    p.add_argument("--T", type=_positive_int, default=None, help="frames per sample (default: the card's T)")
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate of the new read-out (default 1e-3; the pretrained body gets a tenth)")
    p.add_argument("--augment", choices=["default", "none"], default="default",
                   help="shifts of 2 pixels, 10%% of events dropped, frames 1 step early or late (default), or none")
    p.add_argument("--adapt", choices=["native", "resize"], default=None,
                   help="another sensor size: keep it (native, default) or resize frames to the pretrained size")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="default 16")
    p.add_argument("--sensor-size", type=_positive_int, nargs=3, metavar=("W", "H", "P"), default=None,
                   help="default: inferred from the events")
    p.add_argument("--tag", default="finetuned", help="tag of the published weight")
    p.add_argument("--resume", action="store_true", help="continue an interrupted fine-tuning in --out")
    p.set_defaults(func=_cmd_finetune)

    p = sub.add_parser("bench", help="speed and memory ratios measured side by side (suites: snn_vs_ann, amp, "
                                     "optimizer, memory, sparse, backend, conversion, load, training, qcfs; "
                                     "cifar10 only when named)")
    p.add_argument("--suite", action="append", default=None, help="run only this suite (repeatable)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--write", default=None, metavar="DIR", help="also write results.json, bench.md and plots to DIR")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("export", help="write a pretrained SNN as a NIR graph for neuromorphic hardware and "
                       "other simulators")
    p.add_argument("name", help="arch (its default weight) or arch.tag")
    p.add_argument("--format", choices=["nir"], default="nir")
    p.add_argument("--out", required=True, help="the .nir file to write")
    p.add_argument("--dt", type=float, default=1e-4, help="seconds per time step in NIR's continuous-time "
                   "neurons (default 1e-4, as snnTorch reads them)")
    p.add_argument("--check", type=_positive_int, default=0, metavar="N",
                   help="read the file back with every available NIR reader on N test images and record the "
                   "agreement in OUT.check.json")
    p.add_argument("--update-card", action="store_true",
                   help="record the read-back (with --check) or why the weight does not export in the weight's "
                   "card instead, keeping the results of readers measured elsewhere on the same file")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("report", help="write the README's and the documentation's tables and model pages from "
                                      "the recipes and weight cards")
    p.add_argument("--check", action="store_true", help="only check that they are current (exit 1 if not)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("events-to-frames", help="write an event dataset as frames, or as events in the "
                       "custom-folder format (e.g. the emulated fashion-mnist-dvs)")
    p.add_argument("data", help="event dataset: nmnist, cifar10dvs, dvsgesture, fashion-mnist-dvs, events")
    p.add_argument("--out", required=True, help="output folder: OUT/<class>/<n>.npy")
    p.add_argument("--root", default=None, help="dataset root folder")
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.add_argument("--format", default="frames", choices=["frames", "events"])
    p.add_argument("--T", type=_positive_int, default=10, help="frames per sample")
    p.add_argument("--split-by", default="number", choices=["number", "time"])
    p.add_argument("--sensor-size", type=_positive_int, nargs=3, metavar=("W", "H", "P"), default=None,
                   help="custom folders only: the sensor (default: inferred)")
    p.add_argument("--limit", type=_positive_int, default=None, help="only the first N samples")
    p.add_argument("--preview", default=None, metavar="PNG", help="also draw the first samples' frames into PNG")
    p.set_defaults(func=_cmd_events_to_frames)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    zoo_log = logging.getLogger("zoo")  # the zoo's own messages only, not its dependencies'
    if not zoo_log.handlers:
        zoo_log.addHandler(logging.StreamHandler())
        zoo_log.propagate = False  # a root handler that a dependency configured would print each line again
    zoo_log.setLevel(logging.INFO)
    if args.command == "train" and not (args.recipe or args.resume):
        parser.error("train needs a RECIPE or --resume DIR")
    if args.threads:
        set_threads(args.threads)
    keep_freed_memory()  # every command allocates the same activations again and again
    use_huge_pages()  # and the heap grows to its peak in 2 MiB faults
    try:
        return args.func(args)
    except BrokenPipeError:  # `zoo info ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        if args.debug:
            raise
        code = 2 if isinstance(error, USAGE_ERRORS) and not isinstance(error, (WeightsError, DatasetNotFoundError)) else 1
        if not isinstance(error, (ZooError, ValueError, TypeError, OSError)):
            message = f"unexpected {type(error).__name__}: {error} (rerun with --debug for the traceback)"
        else:
            message = str(error)
        print(f"zoo: error: {message}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
