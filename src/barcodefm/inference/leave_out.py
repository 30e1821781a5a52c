"""Records novel at a rank, made from records that are not: whole taxa left out of an identifier.

A model's validation records are of species, genera and families it knows; a survey's are often
not. To see what a novel genus looks like to an identifier, its records are identified again by the
same identifier with that genus taken out of it:
- out of the references: the training barcodes of the taxon are dropped
  (:meth:`.reference_vote.ReferenceSet.subset`), so no vote can name it;
- out of the heads: the classes of the taxon and of everything inside it are removed and the rest
  renormalised (a softmax over the remaining classes: what a network without those classes gives).
Taxa are left out in folds (every taxon of the records once), so each record is identified once
per rank it is left out at. Used to fit the distance calibration (:mod:`.distance_calibration`) on
validation records and to measure it on test records (``benchmarks/calibration_far.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

DEFAULT_FOLDS = 5


def ancestors_at(spec, rank: str, level: str) -> np.ndarray:
    """For every class of ``rank`` (at or below ``level``), the id of its ancestor at ``level`` (-1 unknown)."""
    ranks = list(spec.ranks)
    codes = np.arange(len(spec.labels[rank]))
    for i in range(ranks.index(rank), ranks.index(level), -1):
        parents = spec.parent_indices(ranks[i])
        codes = np.where(codes >= 0, parents[np.maximum(codes, 0)], -1)
    return codes


def without_taxa(heads: dict[str, torch.Tensor], spec, level: str, taxa: np.ndarray) -> dict[str, torch.Tensor]:
    """``heads`` (rank -> (batch, classes) probabilities) with the ``taxa`` of ``level`` and every class
    inside them removed at each rank from ``level`` down, the rest renormalised per row."""
    ranks = list(spec.ranks)
    out = dict(heads)
    for rank in ranks[ranks.index(level) :]:
        if rank not in heads:
            continue
        removed = torch.as_tensor(np.isin(ancestors_at(spec, rank, level), taxa))
        kept = heads[rank].masked_fill(removed[None, :], 0.0)
        total = kept.sum(dim=1, keepdim=True)
        out[rank] = torch.where(total > 0, kept / total.clamp(min=1e-30), kept)
    return out


def leave_out(
    reference,
    spec,
    heads: dict[str, torch.Tensor],
    embeddings: torch.Tensor,
    sequences: Sequence[str],
    truth: dict[str, np.ndarray],
    level: str,
    folds: int = DEFAULT_FOLDS,
    max_records: int | None = None,
    seed: int = 0,
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor], dict, object, dict[str, torch.Tensor]]]:
    """For each fold of the ``level`` taxa of the records (``truth``: rank -> spec ids, -1 unknown):
    (the indices of the records of those taxa, their per-rank distributions and neighbours from the
    identifier without those taxa, that identifier, their heads without those taxa).
    ``max_records``: at most this many records in all (a seeded choice of taxa, whole taxa kept)."""
    rng = np.random.default_rng(seed)
    codes = np.asarray(truth[level])
    taxa = np.unique(codes[codes >= 0])
    rng.shuffle(taxa)
    if max_records is not None:
        counts = np.array([(codes == t).sum() for t in taxa])
        taxa = taxa[: max(1, int(np.searchsorted(np.cumsum(counts), max_records, side="right")))]
    reference_codes = reference.labels[level].numpy()
    for fold in np.array_split(taxa, min(folds, len(taxa))):
        records = np.flatnonzero(np.isin(codes, fold))
        if not len(records):
            continue
        without = reference.subset(~np.isin(reference_codes, fold))
        rows = torch.as_tensor(records)
        fold_heads = without_taxa({r: p[rows] for r, p in heads.items()}, spec, level, fold)
        fold_sequences = [sequences[i] for i in records]
        found = without.find(embeddings[rows], fold_sequences)
        combined, _ = without.identify(fold_heads, embeddings[rows], fold_sequences, found=found)
        yield records, combined, found, without, fold_heads
