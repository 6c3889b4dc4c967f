"""Training: recipes, the trainer, losses, evaluation and checkpoints."""
from .config import load_recipe
from .evaluate import evaluate
from .trainer import Trainer, train

__all__ = ["Trainer", "evaluate", "load_recipe", "train"]
