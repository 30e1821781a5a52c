"""The evidence behind each call that a scientist can check: the query's nearest training reference.

``barcodefm classify`` and the page's download write, per query, ``nearest_reference`` (the
reference's own id: the training record's BOLD process id or accession, as named in the folder's
``reference_sequences.fasta.gz``; ``ref<i>``, its row, in folders made before references carried
their ids), ``nearest_identity`` (the alignment identity of the query to it, 0-1, as the
identifier's ``align`` vote measures it: ``align_identity`` in ``identification.json``) and
``nearest_by``, how it was found:

- ``alignment``: the reference of highest alignment identity among the identifier's aligned
  neighbours (its k-mer candidates re-ranked by identity, :mod:`.reference_vote`), the BLAST /
  VSEARCH top hit; for a folder whose rules and novelty score use the alignment vote (both
  bundled identifiers);
- ``kmer``: else the nearest by k-mer cosine, when the folder's votes read k-mers;
- ``embedding``: else the nearest by cosine in the network's embedding space (identity empty when
  the folder stores no reference sequences).

The search is the one the identification runs (``ReferenceSet.find``): no second search.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

NEAREST_COLUMNS = ("nearest_reference", "nearest_identity", "nearest_by")


def reference_records(reference, model_dir: str | Path | None = None) -> tuple[list[str], list[str] | None]:
    """(ids, sequences or None) of ``reference``'s rows: from its loaded sequences, else from the
    folder's ``reference_sequences.fasta.gz``; ``ref<i>`` ids when neither names them."""
    from .kmer_reference import read_reference_records

    n = int(reference.embeddings.shape[0])
    kmer = reference.kmer
    ids = getattr(kmer, "ids", None) if kmer is not None else None
    sequences = kmer.sequences if kmer is not None else None
    if ids is None and model_dir is not None:  # a folder whose votes do not read the sequences
        stored = read_reference_records(model_dir)
        if stored is not None and len(stored[0]) == n:
            ids, sequences = stored[0], sequences if sequences is not None else stored[1]
    if ids is None or len(ids) != n:
        ids = [f"ref{i}" for i in range(n)]
    return ids, sequences


def nearest_references(
    found: dict,
    queries: Sequence[str],
    ids: Sequence[str],
    sequences: Sequence[str] | None,
    definition: str,
    embedding_identity: Sequence[float] | None = None,
) -> list[tuple[str, float | None, str]]:
    """Per query, (nearest reference id, its alignment identity or None, how it was found:
    ``alignment``, ``kmer`` or ``embedding``). ``found``: ``ReferenceSet.find``'s neighbours of the
    ``queries`` (cut as the votes read them: ``ReferenceSet.vote_sequences``); ``sequences``: the
    references' (None: not stored, no identity); ``definition``: the folder's alignment identity
    (``ReferenceSet.align_identity``); ``embedding_identity``: each query's identity to its
    nearest reference in embedding space when the caller has it already (not aligned again)."""
    source = next(s for s in ("align", "kmer", "reference") if s in found)
    sims, idx = found[source]
    if idx.shape[1] == 0:  # a reference set without references
        return [("", None, "")] * len(queries)
    first = idx[:, 0].tolist()
    if source == "align":  # the vote's own identities, most identical first
        identity = [float(x) for x in sims[:, 0].tolist()]
    elif source == "reference" and embedding_identity is not None:
        identity = [float(x) for x in embedding_identity]
    elif sequences is not None:
        identity = alignment_identities(queries, [sequences[j] for j in first], definition)
    else:
        identity = None
    by = {"align": "alignment", "kmer": "kmer", "reference": "embedding"}[source]
    return [(ids[j], None if identity is None else min(max(identity[q], 0.0), 1.0), by) for q, j in enumerate(first)]


def alignment_identities(queries: Sequence[str], references: Sequence[str], definition: str) -> list[float]:
    """Alignment identity (:mod:`.alignment`) of each query to its reference."""
    from .alignment import identities

    return [float(x) for x in identities(list(zip(queries, references)), definition=definition)]


def nearest_cells(nearest: tuple[str, float | None, str]) -> list[str]:
    """The three cells of :data:`NEAREST_COLUMNS` (identity with 4 decimals)."""
    ref, identity, by = nearest
    return [ref, "" if identity is None else f"{identity:.4f}", by]
