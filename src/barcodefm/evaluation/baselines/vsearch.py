"""VSEARCH baselines: global-alignment top hit (``--usearch_global``) and SINTAX (SPEC 8).

``--usearch_global`` stops at the first candidate that passes ``--id`` (candidates are ordered
by shared 8-mers, not identity), so its default "top hit" is often not the most similar
reference. We accept up to 32 candidates (``--maxaccepts 32 --maxrejects 64``) and keep the
highest-identity one (``--maxhits 1``: hits are sorted by decreasing identity). Measured on COI
cap20 (11k references, 60 unseen queries): VSEARCH's default missed the best identity for 35
queries, 32 accepts for 11 (by at most 2 points of identity) at about the default's cost;
``maxaccepts=0, maxrejects=0`` aligns every reference (exact, but ~150x slower: 1.4 s/query).

SINTAX needs ``;tax=d:..,k:..,p:..,c:..,o:..,f:..,g:..,s:..;`` headers; :func:`sintax_headers`
builds them from rank columns. VSEARCH 2.22 reads only the rank letters ``d k p c o f g s``
and cuts labels at whitespace, so taxon names are written in a safe ASCII form and mapped back.
SINTAX's bootstrap draws random k-mers: it is reproducible only with ``--randseed`` and one
thread, which are the defaults here.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..labels import is_known_label
from .executables import require_executable, run_tool
from .fasta import QUERIES_FASTA, REFERENCES_FASTA, aligner_input, write_fasta
from .results import SintaxResult, TopHitResult, top_hit_result

logger = logging.getLogger(__name__)

DEBIAN_PACKAGE = "vsearch"

# Rank names (as in BOLD / UNITE tables) -> SINTAX rank letters, top-down.
SINTAX_RANK_LETTERS = {
    "domain": "d",
    "superkingdom": "d",
    "kingdom": "k",
    "phylum": "p",
    "class": "c",
    "order": "o",
    "family": "f",
    "genus": "g",
    "species": "s",
}
_LETTER_ORDER = "dkpcofgs"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_SINTAX_ENTRY = re.compile(r"^([a-z]):(.*)\(([0-9.]+)\)$")


def vsearch_top_hits(
    reference_sequences: Sequence[str],
    query_sequences: Sequence[str],
    reference_ids: Sequence | None = None,
    query_ids: Sequence | None = None,
    reference_labels: Sequence | None = None,
    *,
    min_identity: float = 0.5,
    maxaccepts: int = 32,
    maxrejects: int = 64,
    threads: int = 1,
    strand: str = "plus",
) -> TopHitResult:
    """Highest-identity reference of each query by ``vsearch --usearch_global --id 0.5``.

    The hit is the highest-identity one among the first ``maxaccepts`` accepted candidates
    (VSEARCH's own default, 1, returns the first acceptable one; 0 and 0 search everything).
    ``scores`` and ``identities`` are VSEARCH's percent identity.
    """
    vsearch = require_executable("vsearch", DEBIAN_PACKAGE)
    inputs = aligner_input(reference_sequences, query_sequences, reference_ids, query_ids)

    with inputs.written("barcodefm-vsearch-") as (tmp, index_seconds):
        search_seconds = run_tool(
            [
                vsearch,
                "--usearch_global",
                str(tmp / QUERIES_FASTA),
                "--db",
                str(tmp / REFERENCES_FASTA),
                "--id",
                str(min_identity),
                "--maxaccepts",
                str(maxaccepts),
                "--maxrejects",
                str(maxrejects),
                "--maxhits",
                "1",
                "--top_hits_only",
                "--strand",
                strand,
                "--threads",
                str(threads),
                "--blast6out",
                str(tmp / "hits.tsv"),
                "--quiet",
            ]
        )
        hits: dict[int, tuple[int, float, float]] = {}
        with open(tmp / "hits.tsv", encoding="utf-8") as handle:
            for line in handle:
                fields = line.rstrip("\n").split("\t")
                q, r = inputs.query_position(fields[0]), inputs.reference_position(fields[1])
                identity = float(fields[2])
                if q not in hits:  # hits come sorted by decreasing identity
                    hits[q] = (r, identity, identity)
    return top_hit_result(
        "vsearch", inputs.query_ids, inputs.reference_ids, hits, index_seconds, search_seconds, reference_labels
    )


class _TaxonNames:
    """Safe, unique ASCII spellings of taxon names for SINTAX headers, and the way back."""

    def __init__(self):
        self._safe: dict[tuple[str, str], str] = {}
        self._original: dict[tuple[str, str], object] = {}

    def safe(self, letter: str, name) -> str:
        key = (letter, str(name))
        if key not in self._safe:
            base = _UNSAFE.sub("_", str(name).strip()) or "_"
            candidate, n = base, 1
            while (letter, candidate) in self._original:  # two names that sanitise alike
                n += 1
                candidate = f"{base}~{n}"
            self._safe[key] = candidate
            self._original[(letter, candidate)] = name
        return self._safe[key]

    def original(self, letter: str, safe_name: str):
        return self._original.get((letter, safe_name), safe_name)


def _rank_letters(ranks: Sequence[str]) -> dict[str, str]:
    letters = {}
    for rank in ranks:
        letter = SINTAX_RANK_LETTERS.get(str(rank).lower())
        if letter is None:
            raise ValueError(
                f"SINTAX cannot use rank {rank!r}: VSEARCH knows only {', '.join(sorted(set(SINTAX_RANK_LETTERS)))}"
            )
        if letter in letters.values():
            raise ValueError(f"ranks {ranks!r} map two columns to the SINTAX letter {letter!r}")
        letters[rank] = letter
    return letters


def sintax_headers(taxonomy: Mapping[str, Sequence], names: _TaxonNames | None = None) -> list[str | None]:
    """``;tax=o:..,f:..,g:..,s:..;`` header suffixes from rank columns (None: no known rank).

    ``taxonomy`` maps rank names (order, family, genus, species, ...) to equal-length label
    columns, e.g. a dict of lists or a pandas DataFrame; missing labels are left out of the
    header of that record.
    """
    ranks = list(taxonomy.keys())
    letters = _rank_letters(ranks)
    ranks.sort(key=lambda rank: _LETTER_ORDER.index(letters[rank]))
    columns = {rank: list(taxonomy[rank]) for rank in ranks}
    lengths = {len(column) for column in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"taxonomy columns differ in length: { {r: len(c) for r, c in columns.items()} }")
    names = names if names is not None else _TaxonNames()
    headers = []
    for i in range(lengths.pop() if lengths else 0):
        entries = [
            f"{letters[rank]}:{names.safe(letters[rank], columns[rank][i])}"
            for rank in ranks
            if is_known_label(columns[rank][i])
        ]
        headers.append(f";tax={','.join(entries)};" if entries else None)
    return headers


def sintax_classify(
    reference_sequences: Sequence[str],
    reference_taxonomy: Mapping[str, Sequence],
    query_sequences: Sequence[str],
    query_ids: Sequence | None = None,
    *,
    cutoff: float = 0.8,
    seed: int = 1,
    threads: int = 1,
    strand: str = "plus",
) -> SintaxResult:
    """Classify queries with ``vsearch --sintax`` against references labelled per rank.

    ``reference_taxonomy`` maps rank names to label columns aligned with
    ``reference_sequences``; references with no known rank are left out of the database.
    """
    vsearch = require_executable("vsearch", DEBIAN_PACKAGE)
    inputs = aligner_input(reference_sequences, query_sequences, query_ids=query_ids)
    references, queries = inputs.references, inputs.queries
    ranks = list(reference_taxonomy.keys())
    letters = _rank_letters(ranks)
    rank_of_letter = {letter: rank for rank, letter in letters.items()}
    names = _TaxonNames()
    suffixes = sintax_headers(reference_taxonomy, names)
    if len(suffixes) != len(references):
        raise ValueError(f"{len(references)} reference sequences but taxonomy columns of length {len(suffixes)}")
    kept = [i for i, suffix in enumerate(suffixes) if suffix is not None]
    if not kept:
        raise ValueError("no reference has a known label at any rank: SINTAX has nothing to learn from")
    if len(kept) < len(references):
        logger.warning("SINTAX: %d reference(s) without any rank label left out", len(references) - len(kept))

    result = SintaxResult(query_ids=inputs.query_ids, ranks=ranks, cutoff=cutoff)
    for table in (result.predictions, result.best, result.confidences):
        table.update({rank: [None] * len(queries) for rank in ranks})
    with tempfile.TemporaryDirectory(prefix="barcodefm-sintax-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        write_fasta(tmp / REFERENCES_FASTA, [f"r{i}{suffixes[i]}" for i in kept], [references[i] for i in kept])
        result.index_seconds = time.perf_counter() - start
        inputs.write_queries(tmp / QUERIES_FASTA)
        result.search_seconds = run_tool(
            [
                vsearch,
                "--sintax",
                str(tmp / QUERIES_FASTA),
                "--db",
                str(tmp / REFERENCES_FASTA),
                "--tabbedout",
                str(tmp / "sintax.tsv"),
                "--sintax_cutoff",
                str(cutoff),
                "--randseed",
                str(seed),
                "--threads",
                str(threads),
                "--strand",
                strand,
                "--quiet",
            ]
        )
        with open(tmp / "sintax.tsv", encoding="utf-8") as handle:
            for line in handle:
                fields = line.rstrip("\n").split("\t")
                q = inputs.query_position(fields[0])
                # Column 2: every rank of the winning lineage with its bootstrap confidence.
                for entry in filter(None, (fields[1] if len(fields) > 1 else "").split(",")):
                    match = _SINTAX_ENTRY.match(entry)
                    if match is None or match.group(1) not in rank_of_letter:
                        continue
                    letter, safe_name, confidence = match.groups()
                    rank = rank_of_letter[letter]
                    result.best[rank][q] = names.original(letter, safe_name)
                    result.confidences[rank][q] = float(confidence)
                # Column 4: the ranks VSEARCH kept at --sintax_cutoff.
                for entry in filter(None, (fields[3] if len(fields) > 3 else "").split(",")):
                    letter, _, safe_name = entry.partition(":")
                    if letter in rank_of_letter:
                        result.predictions[rank_of_letter[letter]][q] = names.original(letter, safe_name)
    return result
