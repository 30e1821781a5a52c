"""k-mer frequency baseline: overlapping k-mer count vectors + exact cosine 1-NN (SPEC 8).

Counts are overlapping (stride 1) over the 4^k k-mers in lexicographic ACGT order; a k-mer
containing ``N`` is skipped. Sequences are counted in chunks with numpy (no Python loop over
bases) into a scipy sparse matrix; the 1-NN search is :func:`..knn.nearest_neighbors`, which
densifies one block at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from tqdm.auto import tqdm

from ..knn import nearest_neighbors
from .fasta import clean_sequences, default_ids
from .results import TopHitResult, top_hit_result

logger = logging.getLogger(__name__)

MAX_K = 12  # 4^12 = 16.7M columns: beyond that the vectors stop being useful

_BASE_CODE = np.full(256, 4, dtype=np.int64)  # 4 = N (or anything that is not a base)
for _code, _base in enumerate(b"ACGT"):
    _BASE_CODE[_base] = _code


def kmer_codes(sequences: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, code) of every overlapping ``k``-mer of normalised ``sequences`` that holds no ``N``:
    ``code`` indexes the ``4**k`` k-mers in lexicographic ACGT order, ``row`` is the sequence.
    Vectorised over the concatenated sequences (no Python loop over bases)."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    bases = _BASE_CODE[np.frombuffer("".join(sequences).encode("ascii"), dtype=np.uint8)]
    n_windows = bases.size - k + 1
    if n_windows <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # Window code by Horner's rule over k shifted views; N is counted separately.
    codes = np.zeros(n_windows, dtype=np.int64)
    for j in range(k):
        codes = codes * 4 + np.minimum(bases[j : j + n_windows], 3)
    n_count = np.concatenate([[0], np.cumsum(bases == 4)])
    has_n = (n_count[k:] - n_count[:n_windows]) > 0
    # A window is valid if it has no N and does not run past the end of its own sequence.
    row = np.repeat(np.arange(len(sequences)), lengths)[:n_windows]
    ends = np.cumsum(lengths)
    fits = np.arange(n_windows) + k <= ends[row]
    valid = fits & ~has_n
    return row[valid], codes[valid]


def _count_chunk(sequences: list[str], k: int) -> sparse.csr_matrix:
    row, codes = kmer_codes(sequences, k)
    counts = sparse.coo_matrix((np.ones(row.size, dtype=np.float32), (row, codes)), shape=(len(sequences), 4**k))
    return counts.tocsr()  # sums duplicate (row, k-mer) entries


def kmer_count_matrix(
    sequences: Sequence[str],
    k: int = 6,
    records: Sequence | None = None,
    chunk_size: int = 2048,
    progress: bool = True,
) -> sparse.csr_matrix:
    """Overlapping k-mer counts, one row per sequence, ``4**k`` float32 columns (sparse).

    Sequences are normalised first (SPEC 1); a bad character raises naming its record
    (``records[i]``, or the index).
    """
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    records = list(records) if records is not None else list(range(len(sequences)))
    sequences = clean_sequences(sequences, records, "k-mer")
    chunks = []
    for start in tqdm(
        range(0, len(sequences), chunk_size), desc=f"{k}-mer counts", unit="chunk", disable=not progress, leave=False
    ):
        chunks.append(_count_chunk(sequences[start : start + chunk_size], k))
    return sparse.vstack(chunks, format="csr")


def kmer_top_hits(
    reference_sequences: Sequence[str],
    query_sequences: Sequence[str],
    reference_ids: Sequence | None = None,
    query_ids: Sequence | None = None,
    reference_labels: Sequence | None = None,
    *,
    k: int = 6,
    block_size: int = 1024,
    device=None,
    progress: bool = True,
) -> TopHitResult:
    """Most cosine-similar reference of each query in k-mer count space.

    ``scores`` are cosine similarities; ``identities`` stay NaN. A query with no valid k-mer
    (shorter than k, or all N) gets no hit.
    """
    reference_ids = default_ids(len(reference_sequences), reference_ids, "reference")
    query_ids = default_ids(len(query_sequences), query_ids, "query")
    start = time.perf_counter()
    reference_counts = kmer_count_matrix(reference_sequences, k, records=reference_ids, progress=progress)
    index_seconds = time.perf_counter() - start

    start = time.perf_counter()
    query_counts = kmer_count_matrix(query_sequences, k, records=query_ids, progress=progress)
    indices, similarities = nearest_neighbors(
        query_counts, reference_counts, k=1, block_size=block_size, device=device, progress=progress
    )
    search_seconds = time.perf_counter() - start

    empty = np.diff(query_counts.indptr) == 0
    if empty.any():
        logger.warning("k-mer 1-NN: %d query(ies) without any valid %d-mer get no hit", int(empty.sum()), k)
    hits = {
        q: (int(indices[q, 0]), float("nan"), float(similarities[q, 0])) for q in range(len(query_ids)) if not empty[q]
    }
    return top_hit_result(
        f"{k}-mer-1nn", query_ids, reference_ids, hits, index_seconds, search_seconds, reference_labels
    )
