"""Registry, weight cards, verified loading and publishing of the zoo's models."""
from .checkpoints import load_weights
from .factory import create_model, list_models
from .registry import register_model
from .weights import Weights, get_weights, list_weights

__all__ = ["Weights", "create_model", "get_weights", "list_models", "list_weights", "load_weights",
           "register_model"]
