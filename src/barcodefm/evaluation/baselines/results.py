"""What a classic baseline returns: per-query predictions plus timing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


class _PerQueryTiming:
    """Query count and search time per query, for results holding ``query_ids`` and ``search_seconds``."""

    @property
    def n_queries(self) -> int:
        return len(self.query_ids)

    @property
    def ms_per_query(self) -> float:
        """Search milliseconds per query."""
        return 1000.0 * self.search_seconds / max(self.n_queries, 1)


@dataclass
class TopHitResult(_PerQueryTiming):
    """Best reference hit per query (BLAST, VSEARCH ``--usearch_global``, k-mer 1-NN).

    ``hit_indices`` index the reference sequences (-1: no hit); ``hit_ids`` are the reference
    ids given by the caller (None: no hit). ``identities`` are percent identities (NaN when
    there is no hit or the method has none); ``scores`` are the method's ranking score:
    BLAST bitscore, VSEARCH identity, k-mer cosine similarity. ``predicted_labels`` is filled
    when reference labels were given. Seconds: ``index_seconds`` building the reference
    index (makeblastdb, k-mer counts), ``search_seconds`` searching (VSEARCH indexes inside
    its search).
    """

    method: str
    query_ids: list[str]
    hit_indices: np.ndarray
    hit_ids: list[str | None]
    identities: np.ndarray
    scores: np.ndarray
    index_seconds: float
    search_seconds: float
    predicted_labels: list | None = None

    def labels(self, reference_labels: Sequence) -> list:
        """The label of each query's hit (None where there is no hit)."""
        return [reference_labels[i] if i >= 0 else None for i in self.hit_indices.tolist()]


def top_hit_result(
    method: str,
    query_ids: list[str],
    reference_ids: list[str],
    hits: dict[int, tuple[int, float, float]],
    index_seconds: float,
    search_seconds: float,
    reference_labels: Sequence | None = None,
) -> TopHitResult:
    """Assemble a :class:`TopHitResult` from ``{query index: (reference index, identity, score)}``."""
    n = len(query_ids)
    hit_indices = np.full(n, -1, dtype=np.int64)
    identities = np.full(n, np.nan)
    scores = np.full(n, np.nan)
    for q, (r, identity, score) in hits.items():
        hit_indices[q], identities[q], scores[q] = r, identity, score
    result = TopHitResult(
        method=method,
        query_ids=query_ids,
        hit_indices=hit_indices,
        hit_ids=[reference_ids[i] if i >= 0 else None for i in hit_indices.tolist()],
        identities=identities,
        scores=scores,
        index_seconds=index_seconds,
        search_seconds=search_seconds,
    )
    if reference_labels is not None:
        if len(reference_labels) != len(reference_ids):
            raise ValueError(f"{len(reference_ids)} reference sequences but {len(reference_labels)} reference labels")
        result.predicted_labels = result.labels(list(reference_labels))
    return result


@dataclass
class SintaxResult(_PerQueryTiming):
    """SINTAX classification per query and rank.

    ``predictions[rank][i]``: the label at that rank when its bootstrap confidence reaches the
    cutoff, else None. ``best[rank][i]`` and ``confidences[rank][i]``: the top label and its
    confidence in [0, 1] whatever the cutoff (None where SINTAX gave nothing).
    """

    query_ids: list[str]
    ranks: list[str]
    cutoff: float
    predictions: dict[str, list] = field(default_factory=dict)
    best: dict[str, list] = field(default_factory=dict)
    confidences: dict[str, list] = field(default_factory=dict)
    index_seconds: float = 0.0
    search_seconds: float = 0.0
