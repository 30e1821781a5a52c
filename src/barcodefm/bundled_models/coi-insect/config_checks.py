"""Checks every family's config runs on its arguments: an error names the config class, the
argument and the value, so a bad setting fails when the config is built, not deep in a forward.

Hub module: travels with saved weights (each ``configuration_*.py`` imports it); standard
library only.
"""

from __future__ import annotations

from collections.abc import Iterable

# Default pooling of ``embed`` and of the classification heads (see pooling.py).
POOLINGS = ("mean", "mean_all", "last")


def _fail(config, name: str, requirement: str, value) -> None:
    raise ValueError(f"{type(config).__name__}.{name} must be {requirement}, got {value!r}")


def check_positive_ints(config, names: Iterable[str]) -> None:
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            _fail(config, name, "a positive integer", value)


def check_probabilities(config, names: Iterable[str]) -> None:
    """Dropout rates: in [0, 1)."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            _fail(config, name, "in [0, 1)", value)


def check_choice(config, name: str, choices: tuple) -> None:
    value = getattr(config, name)
    if value not in choices:
        _fail(config, name, f"one of {choices}", value)


def check_token_ids(config, names: Iterable[str]) -> None:
    """Each id, when set, is a row of the embedding: 0 <= id < vocab_size."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not 0 <= value < config.vocab_size:
            raise ValueError(
                f"{type(config).__name__}.{name} ({value}) must be a token id below vocab_size ({config.vocab_size})"
            )
