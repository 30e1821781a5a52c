"""Overlapping k-mer counts (vectorised) against a plain Python count."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from barcodefm.evaluation.baselines.kmer import kmer_count_matrix, kmer_top_hits


def _python_counts(sequence: str, k: int) -> np.ndarray:
    index = {"".join(p): i for i, p in enumerate(itertools.product("ACGT", repeat=k))}
    counts = Counter(sequence[i : i + k] for i in range(len(sequence) - k + 1))
    row = np.zeros(4**k)
    for kmer, n in counts.items():
        if "N" not in kmer:
            row[index[kmer]] += n
    return row


@pytest.mark.parametrize("k", [1, 3, 6])
def test_counts_match_python_including_n_and_chunk_edges(k):
    rng = np.random.default_rng(k)
    sequences = [
        "".join(rng.choice(list("ACGTN"), p=[0.24, 0.24, 0.24, 0.24, 0.04], size=n)) for n in (40, 7, 3, 90, 1)
    ]
    sequences += ["acgu-ry acgt"]  # lower case, U, gap, IUPAC codes and a space are normalised first
    counts = kmer_count_matrix(sequences, k=k, chunk_size=4, progress=False)  # chunks split the batch
    assert counts.shape == (len(sequences), 4**k)
    normalised = sequences[:-1] + ["ACGTNNNACGT"]
    expected = np.stack([_python_counts(s, k) for s in normalised])
    np.testing.assert_array_equal(counts.toarray(), expected)


def test_identical_composition_is_a_perfect_match_and_empty_queries_get_no_hit():
    references = ["ACGTTGCAACGT" * 5, "GGGGGCCCCCAT" * 5]
    result = kmer_top_hits(references, ["GGGGGCCCCCAT" * 5, "NNNNNNNN", "ACG"], k=4, progress=False)
    assert result.hit_indices.tolist() == [1, -1, -1]  # all-N and too-short queries: no 4-mer
    assert result.scores[0] == pytest.approx(1.0)
    assert result.hit_ids == ["1", None, None]
    with pytest.raises(ValueError, match="k must be between 1 and 12"):
        kmer_count_matrix(references, k=13)
