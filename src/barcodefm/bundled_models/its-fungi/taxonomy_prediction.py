"""Reading taxonomy logits: names, probabilities, a consistency flag and a SINTAX-style cutoff.

Hub module: travels with the weights of a taxonomy model (``model.predict_taxonomy`` and the
``barcode-classification`` pipeline use it); imports only ``torch``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .taxonomy_heads import logits_by_rank
from .taxonomy_spec import TaxonomySpec


@torch.no_grad()
def top_predictions(
    logits: Mapping[str, torch.Tensor] | Sequence[torch.Tensor], spec: TaxonomySpec
) -> tuple[torch.Tensor, torch.Tensor]:
    """Arg-max ids and their softmax probabilities, each ``(batch, n_ranks)``."""
    probs = [F.softmax(x.float(), dim=-1) for x in logits_by_rank(logits, spec)]
    best = [p.max(dim=-1) for p in probs]
    return torch.stack([b.indices for b in best], dim=1), torch.stack([b.values for b in best], dim=1)


def predict(
    logits: Mapping[str, torch.Tensor] | Sequence[torch.Tensor],
    spec: TaxonomySpec | Mapping[str, Any],
    min_prob: float | None = None,
) -> list[dict[str, Any]]:
    """Per sample: ``{"labels": {rank: name or None}, "probs": {rank: p}, "consistent": bool,
    "inconsistent_ranks": [rank, ...]}``.

    ``probs`` is the softmax probability of the top class at each rank, capped by the probability
    reported at the rank above wherever the call lies inside the call above: a species cannot be
    surer than its genus (the per-rank heads and votes are separate distributions, so uncapped a
    lower rank can claim more than its parent). The cap never changes a label. With ``min_prob``
    (SINTAX-style cutoff), from the first rank whose probability is below it downwards every
    label is None; the probability is kept, so one can see how far below the cutoff the
    rejected guesses were. ``consistent`` is false when a reported label's parent in the spec
    differs from the label reported at the rank above; ``inconsistent_ranks`` names those
    child ranks. Pairs where either label is None (truncated) or the child's parent is unknown
    to the spec are not checked.
    """
    spec = TaxonomySpec.from_dict(spec)
    if min_prob is not None and not 0.0 <= float(min_prob) <= 1.0:
        raise ValueError(f"min_prob must be within [0, 1], got {min_prob}")
    ids, probs = top_predictions(logits, spec)
    ids, probs = ids.cpu().numpy(), probs.cpu().numpy()
    parents = [spec.parent_indices(r) for r in spec.ranks]
    results = []
    for row_ids, row_probs in zip(ids, probs):
        row_probs = row_probs.copy()
        for j in range(1, len(spec.ranks)):
            if parents[j][row_ids[j]] == row_ids[j - 1]:  # the call lies inside the call above
                row_probs[j] = min(row_probs[j], row_probs[j - 1])
        reported: list[int | None] = []
        truncated = False
        for k, p in zip(row_ids, row_probs):
            truncated = truncated or (min_prob is not None and p < min_prob)
            reported.append(None if truncated else int(k))
        broken = []
        for j in range(1, len(spec.ranks)):
            child, parent = reported[j], reported[j - 1]
            if child is None or parent is None:
                continue
            expected = parents[j][child]
            if expected >= 0 and expected != parent:
                broken.append(spec.ranks[j])
        results.append(
            {
                "labels": {r: (None if k is None else spec.labels[r][k]) for r, k in zip(spec.ranks, reported)},
                "probs": {r: float(p) for r, p in zip(spec.ranks, row_probs)},
                "consistent": not broken,
                "inconsistent_ranks": broken,
            }
        )
    return results
