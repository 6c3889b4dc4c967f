"""The zoo's main job: load a shipped pretrained SNN through torch.hub (offline, from this repo) and
evaluate it on the full Fashion-MNIST test set, next to the accuracy its card reports."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import zoo
from zoo.hub.report import card_dataset_label
from zoo.train import evaluate

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="stbp_cnn", help="architecture (its default weight is used)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N test images")
    args = parser.parse_args()

    model = torch.hub.load(str(REPO), args.model, source="local", pretrained=True, trust_repo=True)
    card = zoo.get_weights(args.model).meta
    test_set = zoo.load_dataset(card["dataset"], split="test")
    result = evaluate(model, test_set, batch_size=card["eval"]["batch_size"], seed=card["eval"]["seed"],
                      limit=args.limit, desc=f"{args.model} on {card_dataset_label(card)}")
    print(f"{args.model}.{card['tag']} (T={card['T']}, {card['neuron']['type']}, "
          f"{card['surrogate']['type']} surrogate) on the {card_dataset_label(card)} test set:")
    print(f"  measured: {result['acc1']:.2f}% ({result['correct']}/{result['num_samples']})")
    print(f"  card:     {card['metrics']['acc1']:.2f}% ({card['metrics']['num_samples']} images)")


if __name__ == "__main__":
    main()
