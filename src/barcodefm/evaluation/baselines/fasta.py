"""FASTA files for the external aligners, with ids that cannot be mangled.

User ids may hold spaces, ``|`` or ``;`` (which BLAST, VSEARCH and SINTAX headers all treat
specially). The files therefore carry short positional ids (``r0, r1, ...`` for references,
``q0, q1, ...`` for queries) and results are mapped back by position, so every id survives
the round trip unchanged.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ...models.dna import normalize_batch

# The files of an aligner run's temporary folder (see AlignerInput.written).
REFERENCES_FASTA = "references.fasta"
QUERIES_FASTA = "queries.fasta"


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


@dataclass
class AlignerInput:
    """The references and queries of one aligner run: the caller's ids (as strings), the normalised
    sequences, and the positional FASTA ids (``r0..``, ``q0..``) they are written under."""

    reference_ids: list[str]
    query_ids: list[str]
    references: list[str]
    queries: list[str]

    @cached_property
    def _reference_position(self) -> dict[str, int]:
        return {h: i for i, h in enumerate(positional_ids("r", len(self.references)))}

    @cached_property
    def _query_position(self) -> dict[str, int]:
        return {h: i for i, h in enumerate(positional_ids("q", len(self.queries)))}

    def write_references(self, path: Path) -> None:
        write_fasta(path, positional_ids("r", len(self.references)), self.references)

    def write_queries(self, path: Path) -> None:
        write_fasta(path, positional_ids("q", len(self.queries)), self.queries)

    def reference_position(self, fasta_id: str) -> int:
        """Index of the reference written as ``fasta_id`` (``r7`` -> 7)."""
        return self._reference_position[fasta_id]

    def query_position(self, fasta_id: str) -> int:
        """Index of the query written as ``fasta_id`` (``q7`` -> 7)."""
        return self._query_position[fasta_id]

    @contextlib.contextmanager
    def written(self, prefix: str) -> Iterator[tuple[Path, float]]:
        """A temporary folder holding :data:`REFERENCES_FASTA` and :data:`QUERIES_FASTA`, removed
        afterwards; yields it with the seconds writing the references took (part of an index cost)."""
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            folder = Path(tmp)
            start = time.perf_counter()
            self.write_references(folder / REFERENCES_FASTA)
            seconds = time.perf_counter() - start
            self.write_queries(folder / QUERIES_FASTA)
            yield folder, seconds


def aligner_input(
    reference_sequences: Sequence[str],
    query_sequences: Sequence[str],
    reference_ids: Sequence | None = None,
    query_ids: Sequence | None = None,
) -> AlignerInput:
    """Check the ids against the sequences and normalise the sequences (a bad one raises naming
    its record), ready to be written for an aligner."""
    reference_ids = default_ids(len(reference_sequences), reference_ids, "reference")
    query_ids = default_ids(len(query_sequences), query_ids, "query")
    return AlignerInput(
        reference_ids,
        query_ids,
        clean_sequences(reference_sequences, reference_ids, "reference"),
        clean_sequences(query_sequences, query_ids, "query"),
    )
