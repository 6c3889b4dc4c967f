"""The zoo's exception types: each is also the built-in type callers would catch for it."""
from __future__ import annotations

import difflib


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class UnknownModelError(ZooError, KeyError):
    """A model or weight name that is not registered; the message lists close names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsError(ZooError, ValueError):
    """A weight file that is missing, corrupt, truncated or does not fit its card."""


class DatasetNotFoundError(ZooError, FileNotFoundError):
    """A dataset whose files are not on disk; the message says where to put them."""


class RecipeError(ZooError, ValueError):
    """A recipe or ``--set`` override that does not describe a valid run."""


def suggest(name: str, choices) -> str:
    """``"; did you mean a, b?"`` for the close matches of a mistyped ``name`` among ``choices``, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""


def first_sentence(error: BaseException) -> str:
    """The first sentence of a third-party error message (torch's run on for a paragraph)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.split(". ")[0].rstrip(".")
