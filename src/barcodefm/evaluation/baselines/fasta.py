"""FASTA files for the external aligners, with ids that cannot be mangled.

User ids may hold spaces, ``|`` or ``;`` (which BLAST, VSEARCH and SINTAX headers all treat
specially). The files therefore carry short positional ids (``r0, r1, ...`` for references,
``q0, q1, ...`` for queries) and results are mapped back by position, so every id survives
the round trip unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...models.dna import normalize_batch


def default_ids(n: int, ids: Sequence | None, what: str) -> list[str]:
    """User ids as strings (``"0".."n-1"`` when none are given), checked against ``n``."""
    if ids is None:
        return [str(i) for i in range(n)]
    ids = [str(i) for i in ids]
    if len(ids) != n:
        raise ValueError(f"{n} {what} sequences but {len(ids)} {what} ids")
    return ids


def clean_sequences(sequences: Sequence[str], ids: Sequence[str], what: str) -> list[str]:
    """Normalised sequences (SPEC 1 rules); a bad or empty one raises naming its record."""
    sequences = list(sequences)
    if not sequences:
        raise ValueError(f"no {what} sequences given")
    cleaned = normalize_batch(sequences, records=list(ids))
    for seq, record in zip(cleaned, ids):
        if not seq:
            raise ValueError(f"{what} record {record!r} has an empty sequence")
    return cleaned


def positional_ids(prefix: str, n: int) -> list[str]:
    """``[prefix0, prefix1, ...]``: the ids written to FASTA files in place of the user's."""
    return [f"{prefix}{i}" for i in range(n)]


def write_fasta(path: Path, headers: Sequence[str], sequences: Sequence[str]) -> None:
    """Write one ``>header`` line and one sequence line per record."""
    if len(headers) != len(sequences):
        raise ValueError(f"{len(headers)} FASTA headers for {len(sequences)} sequences")
    with open(path, "w", encoding="utf-8") as handle:
        for header, seq in zip(headers, sequences):
            handle.write(f">{header}\n{seq}\n")
