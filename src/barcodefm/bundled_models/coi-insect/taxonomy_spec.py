"""The label space of a multi-rank taxonomic classifier: :class:`TaxonomySpec`.

Hub module: travels with the weights of a taxonomy model (its ``to_dict()`` is ``config.taxonomy``)
and imports only the standard library, ``numpy`` and ``torch``.

A spec lists the ranks top -> bottom; per rank, the labels (a label's id is its position, i.e. the
output index of that rank's head), the child -> parent map to the rank above and how many training
records carry each label (for the class weights). ``encode`` / ``decode`` turn names into ids and
back; ids are ``-100`` (:data:`IGNORE_INDEX`) where a rank's label is unknown.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


def is_missing_label(label: Any) -> bool:
    """True for None, NaN and blank strings: the only labels this module treats as unknown.

    Raw labels (``s__Genus_sp``, ``incertae_sedis``, ``NA``, ...) must first go through the
    package's one cleaning rule, ``barcodefm.data.labels.normalize_label`` (the readers and
    ``barcodefm.data.taxonomy_labels`` do), which turns placeholders into None. That rule lives
    outside this hub module so that "unknown" means the same thing everywhere.
    """
    if label is None or type(label).__name__ == "NAType":  # pandas.NA
        return True
    if isinstance(label, (float, np.floating)) and math.isnan(label):
        return True
    return isinstance(label, str) and not label.strip()


@dataclass
class TaxonomySpec:
    """Ranks (top -> bottom), per-rank labels, child -> parent maps and training counts.

    ``labels[rank]`` is the id order of that rank's head; ``parents[rank]`` maps a label at
    ``rank`` to a label at the rank above (absent = parent unknown; the first rank has none);
    ``counts[rank][i]`` is how many training records carry ``labels[rank][i]``.
    """

    ranks: list[str]
    labels: dict[str, list[str]]
    parents: dict[str, dict[str, str]] = field(default_factory=dict)
    counts: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ranks = [str(r) for r in self.ranks]
        if not self.ranks:
            raise ValueError("a taxonomy needs at least one rank")
        if len(set(self.ranks)) != len(self.ranks):
            raise ValueError(f"rank names repeat: {self.ranks}")
        for rank in self.ranks:
            # Rank names become nn.ModuleDict keys (``heads.<rank>.weight``).
            if not rank or "." in rank or hasattr(nn.ModuleDict, rank):
                raise ValueError(f"rank name {rank!r} cannot name a head (empty, has '.', or reserved)")
            if rank not in self.labels:
                raise ValueError(f"no label list for rank {rank!r}")
        self.labels = {r: [str(x) for x in self.labels[r]] for r in self.ranks}
        self._index = {}
        for rank in self.ranks:
            index = {label: i for i, label in enumerate(self.labels[rank])}
            if len(index) != len(self.labels[rank]):
                dup = [x for x, n in Counter(self.labels[rank]).items() if n > 1][:3]
                raise ValueError(f"rank {rank!r} lists labels more than once: {dup}")
            self._index[rank] = index
        self.parents = {r: dict(self.parents.get(r, {})) for r in self.ranks[1:]}
        for above, rank in zip(self.ranks, self.ranks[1:]):
            for child, parent in self.parents[rank].items():
                if child not in self._index[rank] or parent not in self._index[above]:
                    raise ValueError(
                        f"parent map of rank {rank!r} links {child!r} -> {parent!r}, "
                        f"but {child!r} is not a {rank} label or {parent!r} not a {above} label"
                    )
        counts = {}
        for rank in self.ranks:
            values = [int(c) for c in self.counts.get(rank, [0] * len(self.labels[rank]))]
            if len(values) != len(self.labels[rank]) or min(values, default=0) < 0:
                raise ValueError(f"counts of rank {rank!r} must be {len(self.labels[rank])} non-negative integers")
            counts[rank] = values
        self.counts = counts

    # ---- sizes and lookups ------------------------------------------------------------------

    @property
    def num_classes(self) -> list[int]:
        return [len(self.labels[r]) for r in self.ranks]

    def index(self, rank: str, label: str) -> int | None:
        """Id of ``label`` at ``rank`` (None when the spec does not know it)."""
        return self._index[rank].get(label)

    def parent_indices(self, rank: str) -> np.ndarray:
        """For each label id at ``rank``, the id of its parent at the rank above (-1 unknown)."""
        position = self.ranks.index(rank)
        out = np.full(len(self.labels[rank]), -1, dtype=np.int64)
        if position == 0:
            return out
        above = self._index[self.ranks[position - 1]]
        for child, parent in self.parents[rank].items():
            out[self._index[rank][child]] = above[parent]
        return out

    # ---- (de)serialisation --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only, so the spec can live in ``PretrainedConfig.taxonomy``."""
        return {
            "ranks": list(self.ranks),
            "labels": {r: list(self.labels[r]) for r in self.ranks},
            "parents": {r: dict(self.parents[r]) for r in self.ranks[1:]},
            "counts": {r: list(self.counts[r]) for r in self.ranks},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaxonomySpec:
        if isinstance(data, TaxonomySpec):
            return data
        if not isinstance(data, Mapping) or "ranks" not in data or "labels" not in data:
            raise ValueError("a taxonomy dict needs 'ranks' and 'labels' (see TaxonomySpec.to_dict)")
        return cls(
            ranks=list(data["ranks"]),
            labels={r: list(v) for r, v in data["labels"].items()},
            parents={r: dict(v) for r, v in (data.get("parents") or {}).items()},
            counts={r: list(v) for r, v in (data.get("counts") or {}).items()},
        )

    # ---- building from data -------------------------------------------------------------------

    @classmethod
    def from_columns(
        cls,
        columns: Mapping[str, Sequence[Any]],
        ranks: Sequence[str] | None = None,
        counted: Sequence[bool] | None = None,
    ) -> TaxonomySpec:
        """Build a spec from per-rank label columns (``{rank: [label or None, ...]}``).

        ``ranks`` picks and orders the ranks (default: the column order, top -> bottom).
        ``counted`` marks the training records whose labels are counted for the class weights
        (default: all). None, NaN and blank labels are unknown (see :func:`is_missing_label`);
        every other label is kept exactly as given (U+FFFD included); label lists are sorted.
        The tree comes from records where child and parent are both known; a child seen under
        several parents keeps its majority parent (ties: the first in sorted order) and a
        warning says how many labels and records disagreed; a child never seen with a known
        parent has no parent entry.
        """
        ranks = list(columns) if ranks is None else list(ranks)
        missing = [r for r in ranks if r not in columns]
        if missing:
            raise ValueError(f"no column for rank(s) {missing}; columns: {list(columns)}")
        lengths = {r: len(columns[r]) for r in ranks}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"rank columns differ in length: {lengths}")
        n = lengths[ranks[0]] if ranks else 0
        if counted is not None and len(counted) != n:
            raise ValueError(f"'counted' has {len(counted)} entries for {n} records")
        clean = {r: [None if is_missing_label(x) else str(x) for x in columns[r]] for r in ranks}
        labels, counts = {}, {}
        for rank in ranks:
            tally = Counter(x for i, x in enumerate(clean[rank]) if x is not None and (counted is None or counted[i]))
            labels[rank] = sorted({x for x in clean[rank] if x is not None})
            counts[rank] = [tally.get(x, 0) for x in labels[rank]]
        parents = {}
        for above, rank in zip(ranks, ranks[1:]):
            pairs = Counter((c, p) for c, p in zip(clean[rank], clean[above]) if c is not None and p is not None)
            by_child: dict[str, Counter] = {}
            for (child, parent), k in pairs.items():
                by_child.setdefault(child, Counter())[parent] = k
            chosen, conflicts, disagreeing = {}, [], 0
            for child, seen in by_child.items():
                best = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))
                chosen[child] = best[0][0]
                if len(best) > 1:
                    conflicts.append((child, best))
                    disagreeing += sum(k for _, k in best[1:])
            if conflicts:
                child, best = sorted(conflicts)[0]
                example = " and ".join(f"{p!r} x{k}" for p, k in best)
                logger.warning(
                    "%s: %d label(s) occur under more than one %s (e.g. %r under %s); kept each "
                    "label's majority %s, %d record(s) disagree",
                    rank,
                    len(conflicts),
                    above,
                    child,
                    example,
                    above,
                    disagreeing,
                )
            orphans = len(labels[rank]) - len(chosen)
            if orphans:
                logger.info("%s: %d label(s) never seen with a known %s", rank, orphans, above)
            parents[rank] = dict(sorted(chosen.items()))
        return cls(ranks=ranks, labels=labels, parents=parents, counts=counts)

    # ---- label ids ------------------------------------------------------------------------------

    def encode(
        self,
        data: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]],
        unseen: str = "warn",
    ) -> np.ndarray:
        """Label ids, shape ``(n_records, n_ranks)`` int64, ``-100`` where missing or unknown.

        ``data`` is columns (``{rank: [label, ...]}`` or a DataFrame) or records
        (``[{rank: label}, ...]``);
        a rank absent from the input is missing everywhere. A known label that the spec does
        not list (a class unseen when the spec was built) also becomes ``-100``; ``unseen``
        says whether that is silent (``"ignore"``), logged with counts (``"warn"``) or an
        error (``"error"``).
        """
        if unseen not in ("ignore", "warn", "error"):
            raise ValueError(f"unseen must be 'ignore', 'warn' or 'error', not {unseen!r}")
        if isinstance(data, Mapping) or hasattr(data, "columns"):  # dict or DataFrame of columns
            present = [r for r in self.ranks if r in data]
            lengths = {len(data[r]) for r in present}
            if len(lengths) > 1:
                raise ValueError("label columns differ in length")
            if not lengths:
                raise ValueError(f"none of the ranks {self.ranks} is among the columns {list(data)}")
            n = lengths.pop()
            column = lambda r: data[r] if r in present else [None] * n  # noqa: E731
        else:
            records = list(data)
            n = len(records)
            column = lambda r: [rec.get(r) for rec in records]  # noqa: E731
        out = np.full((n, len(self.ranks)), IGNORE_INDEX, dtype=np.int64)
        for j, rank in enumerate(self.ranks):
            index, novel = self._index[rank], Counter()
            for i, label in enumerate(column(rank)):
                if is_missing_label(label):
                    continue
                k = index.get(str(label))
                if k is None:
                    novel[str(label)] += 1
                else:
                    out[i, j] = k
            if novel and unseen != "ignore":
                message = (
                    f"{rank}: {sum(novel.values())} record(s) carry {len(novel)} label(s) the "
                    f"taxonomy does not list (e.g. {sorted(novel)[0]!r}); encoded as {IGNORE_INDEX}"
                )
                if unseen == "error":
                    raise ValueError(message)
                logger.warning(message)
        return out

    def decode(self, ids: Any) -> list[dict[str, str | None]]:
        """Inverse of :meth:`encode`: one ``{rank: label or None}`` per row of ids."""
        array = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else ids, dtype=np.int64)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != len(self.ranks):
            raise ValueError(f"expected ids of shape (n, {len(self.ranks)}), got {array.shape}")
        out = []
        for row in array:
            record = {}
            for rank, k in zip(self.ranks, row):
                if k == IGNORE_INDEX:
                    record[rank] = None
                elif 0 <= k < len(self.labels[rank]):
                    record[rank] = self.labels[rank][k]
                else:
                    raise ValueError(f"id {k} is out of range for rank {rank!r} ({len(self.labels[rank])} labels)")
            out.append(record)
        return out
