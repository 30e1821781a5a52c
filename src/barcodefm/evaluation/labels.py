"""One label map per evaluation, built from the reference (or training) labels only.

The published BarcodeMamba probing scripts encoded the labels of each file with its own
``np.unique(..., return_inverse=True)``, so code 3 in the reference file and code 3 in the query
file could be different genera. Every probe here builds ONE :class:`LabelMap` from the reference
side and compares predictions with truths by label value, so a query label that the reference
never saw can only be counted wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np


def is_known_label(label) -> bool:
    """True unless ``label`` is missing: ``None``, NaN (pandas' empty cell) or a blank string."""
    if label is None:
        return False
    if isinstance(label, float) and math.isnan(label):
        return False
    if isinstance(label, np.floating) and np.isnan(label):
        return False
    if isinstance(label, str) and not label.strip():
        return False
    return True


def _sorted_unique(labels: Iterable) -> list:
    unique = set(labels)
    try:
        return sorted(unique)
    except TypeError:
        # Mixed label types (e.g. int and str) have no natural order; any fixed order will do.
        return sorted(unique, key=repr)


class LabelMap:
    """Bidirectional map between labels and integer codes ``0..n-1`` (sorted label order).

    Missing labels (see :func:`is_known_label`) are never classes. Labels absent from the map
    encode to ``-1`` and decode back to ``None``.
    """

    def __init__(self, classes: Sequence):
        self.classes = list(classes)
        self._code = {label: code for code, label in enumerate(self.classes)}
        if len(self._code) != len(self.classes):
            raise ValueError("LabelMap classes must be distinct")

    @classmethod
    def fit(cls, labels: Iterable) -> LabelMap:
        """Build the map from reference/training labels, skipping missing ones."""
        return cls(_sorted_unique(label for label in labels if is_known_label(label)))

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, label) -> bool:
        return label in self._code

    def encode(self, labels: Iterable) -> np.ndarray:
        """Codes of ``labels``; ``-1`` for labels the map does not hold (unseen or missing)."""
        return np.fromiter((self._code.get(label, -1) for label in labels), dtype=np.int64)

    def decode(self, codes: Iterable[int]) -> list:
        """Labels of ``codes``; ``None`` for ``-1``."""
        return [self.classes[c] if c >= 0 else None for c in (int(c) for c in codes)]

    def __repr__(self) -> str:
        return f"LabelMap(n_classes={len(self.classes)})"
