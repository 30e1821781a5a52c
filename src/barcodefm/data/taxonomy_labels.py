"""Glue between barcode tables and :class:`barcodefm.models.taxonomy.TaxonomySpec` (tooling side).

Takes label columns from a ``datasets.Dataset``, a pandas ``DataFrame`` or a plain mapping,
cleans every label with :func:`barcodefm.data.labels.normalize_label` (the package's single
"unknown" rule), builds the spec from the training records and turns labels into the
``(n, n_ranks)`` id matrix with ``-100`` for unknown that the taxonomic classifiers train on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..models.taxonomy import TaxonomySpec
from .labels import RANKS, normalize_label

logger = logging.getLogger(__name__)

# Records a classifier learns from (SPEC 5 / data README: reference = train + train_singleton).
TRAIN_SPLITS = ("train", "train_singleton")


def _column_names(source: Any) -> list[str]:
    names = getattr(source, "column_names", None)  # datasets.Dataset
    if names is None:
        names = list(getattr(source, "columns", None) if hasattr(source, "columns") else source)
    return [str(n) for n in names]


def label_columns(source: Any, ranks: Sequence[str]) -> dict[str, list[str | None]]:
    """``{rank: [cleaned label or None, ...]}`` for each rank column of ``source``."""
    names = _column_names(source)
    missing = [r for r in ranks if r not in names]
    if missing:
        raise ValueError(f"the table has no column for rank(s) {missing}; its columns: {names}")
    return {rank: [normalize_label(rank, v) for v in list(source[rank])] for rank in ranks}


def varying_ranks(columns: dict[str, list[str | None]]) -> list[str]:
    """The ranks (in the given order) with at least two distinct known labels."""
    return [r for r, values in columns.items() if len({v for v in values if v is not None}) > 1]


def build_taxonomy_spec(
    source: Any,
    ranks: Sequence[str] | None = None,
    split_column: str | None = "split",
    train_splits: Sequence[str] = TRAIN_SPLITS,
) -> TaxonomySpec:
    """Spec built from the training records of ``source`` (labels, tree and class counts).

    ``ranks`` default: the canonical ranks (:data:`barcodefm.data.labels.RANKS`) that are
    columns of ``source`` and vary among the training records, so a constant kingdom (ITS) or
    phylum/class (insect COI) gets no head (SPEC 4 defaults). ``split_column=None`` uses every
    record. Classes outside the training records are not in the spec: encoding them gives -100.
    """
    names = _column_names(source)
    candidates = list(ranks) if ranks is not None else [r for r in RANKS if r in names]
    if not candidates:
        raise ValueError(f"no rank columns found; expected some of {list(RANKS)}, got {names}")
    columns = label_columns(source, candidates)
    if split_column is not None:
        if split_column not in names:
            raise ValueError(f"no split column {split_column!r}; pass split_column=None to use all records")
        wanted = set(train_splits)
        keep = [str(s) in wanted for s in list(source[split_column])]
        if not any(keep):
            raise ValueError(f"no record has {split_column!r} in {sorted(wanted)}")
        columns = {r: [v for v, k in zip(values, keep) if k] for r, values in columns.items()}
    if ranks is None:
        dropped = [r for r in candidates if r not in varying_ranks(columns)]
        if dropped:
            logger.info("ranks without two distinct labels get no head: %s", ", ".join(dropped))
        columns = {r: columns[r] for r in candidates if r not in dropped}
        if not columns:
            raise ValueError(f"no rank among {candidates} has two distinct labels")
    return TaxonomySpec.from_columns(columns)


def encode_labels(source: Any, spec: TaxonomySpec, unseen: str = "warn"):
    """Label ids ``(n_records, n_ranks)`` int64 (numpy), -100 where unknown or not in ``spec``."""
    return spec.encode(label_columns(source, spec.ranks), unseen=unseen)


def add_label_ids(dataset, spec: TaxonomySpec, column: str = "labels", unseen: str = "warn"):
    """``dataset`` (a ``datasets.Dataset``) with a ``column`` of per-rank label ids."""
    ids = encode_labels(dataset, spec, unseen=unseen)
    if column in dataset.column_names:
        dataset = dataset.remove_columns(column)
    return dataset.add_column(column, ids.tolist())
