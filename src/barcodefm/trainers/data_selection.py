"""Reading a barcode file for training and picking its splits."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import datasets

logger = logging.getLogger(__name__)


def read_barcodes(path) -> datasets.Dataset:
    """Every clean record of ``path`` (any format :func:`barcodefm.data.load_barcodes` reads)."""
    from ..data import load_barcodes

    return load_barcodes(path)


def has_splits(dataset: datasets.Dataset) -> bool:
    return "split" in dataset.column_names


def split_counts(dataset: datasets.Dataset) -> Counter:
    return Counter(dataset["split"]) if has_splits(dataset) else Counter()


def select_splits(dataset: datasets.Dataset, splits: Sequence[str], source="the data", required: bool = True):
    """Rows whose ``split`` is one of ``splits``.

    ``required``: at least one row must match (else a clear error lists the splits present);
    otherwise an empty selection returns ``None``.
    """
    if not has_splits(dataset):
        raise ValueError(f"{source} has no split column: run `barcodefm split` on it first")
    wanted = set(splits)
    selected = dataset.filter(lambda s: s in wanted, input_columns="split", desc=f"selecting {','.join(splits)}")
    if len(selected) == 0:
        if not required:
            return None
        present = ", ".join(f"{name} ({n:,})" for name, n in sorted(split_counts(dataset).items(), key=str))
        raise ValueError(f"{source} has no record in split(s) {', '.join(splits)}; its splits are: {present}")
    return selected


def held_out_splits(dataset: datasets.Dataset, names: Sequence[str], source="the data") -> dict:
    """``{name: rows of split name}`` for each of ``names`` that has rows; the others are left out
    with a warning (a run evaluates the held-out splits its data has)."""
    selected = {}
    for name in names:
        rows = select_splits(dataset, [name], source=source, required=False)
        if rows is None:
            logger.warning("%s has no %r records: not evaluated", source, name)
        else:
            selected[name] = rows
    return selected


def drop_short(dataset: datasets.Dataset, min_bases: int, source="the data") -> datasets.Dataset:
    """Drop sequences too short to give a training target (fewer than ``min_bases`` bases)."""
    kept = dataset.filter(lambda s: len(s) >= min_bases, input_columns="sequence", desc="dropping short sequences")
    if len(kept) < len(dataset):
        logger.warning("%s: skipped %d sequence(s) shorter than %d bases", source, len(dataset) - len(kept), min_bases)
    if len(kept) == 0:
        raise ValueError(f"{source}: no sequence has at least {min_bases} bases")
    return kept


def with_index(dataset: datasets.Dataset) -> datasets.Dataset:
    """Add the row number as ``index``: the key of each example's augmentation stream."""
    if "index" in dataset.column_names:
        dataset = dataset.remove_columns("index")
    return dataset.add_column("index", list(range(len(dataset))))
