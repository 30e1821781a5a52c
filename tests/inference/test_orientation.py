"""Strand choice and the marker check (:mod:`barcodefm.inference.orientation`), on the real barcodes
bundled with the package: the vectorised k-mer codes against a naive per-window reading, reverse
complements turned back, a mixed file, the other marker refused, references deposited on the
other strand turned round, and what the bundled identifiers store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from barcodefm.data import iter_barcodes, sample_path
from barcodefm.evaluation.baselines.kmer import kmer_codes
from barcodefm.inference.orientation import (
    MARKER_CHECK_KEY,
    MarkerProfile,
    _reverse_complement_codes,
    marker_check_info,
    shuffled_sample,
)
from barcodefm.models.dna import reverse_complement
from barcodefm.registry import BUNDLED_MODELS, bundled_model_path


def naive_codes(sequence: str, k: int) -> list[int]:
    """Each window's code read base by base; windows with N left out."""
    value = {"A": 0, "C": 1, "G": 2, "T": 3}
    out = []
    for start in range(len(sequence) - k + 1):
        window = sequence[start : start + k]
        if "N" in window:
            continue
        code = 0
        for base in window:
            code = code * 4 + value[base]
        out.append(code)
    return out


def naive_shared_fraction(references: list[str], query: str, k: int) -> float:
    held = {code for s in references for code in naive_codes(s, k)}
    codes = naive_codes(query, k)
    return sum(c in held for c in codes) / len(codes) if codes else 0.0


@pytest.fixture(scope="module")
def coi():
    return [r["sequence"] for r in iter_barcodes(sample_path("coi"))]


@pytest.fixture(scope="module")
def its():
    return [r["sequence"] for r in iter_barcodes(sample_path("its"))]


@pytest.mark.parametrize("k", [1, 5, 6, 8, 12, 13, 15, 16])
def test_reverse_complement_codes_match_the_codes_of_the_reverse_complement(k):
    rng = np.random.default_rng(k)
    seq = "".join(rng.choice(list("ACGT"), 200)) + "N" + "".join(rng.choice(list("ACGT"), 50))
    _, forward = kmer_codes([seq], k)
    _, backward = kmer_codes([reverse_complement(seq)], k)
    dtype = np.int32 if k <= 15 else np.int64
    assert (_reverse_complement_codes(forward.astype(dtype), k) == backward[::-1]).all()
    assert forward.tolist() == naive_codes(seq, k)


def test_shared_fraction_matches_a_naive_set_lookup(coi):
    references, queries = coi[:60], coi[60:70] + [reverse_complement(s) for s in coi[:3]] + ["ACGTNNNN"]
    profile = MarkerProfile.from_sequences(references, k=8)
    expected = [naive_shared_fraction(references, q, 8) for q in queries]
    assert np.allclose(profile.shared_fraction(queries), expected)


def test_reverse_complemented_and_mixed_barcodes_are_turned_back(coi):
    references, queries = coi[200:], coi[:200]
    profile = MarkerProfile.from_sequences(references)
    mixed = [reverse_complement(s) if i % 3 == 0 else s for i, s in enumerate(queries)]
    oriented = profile.orient(mixed)
    assert oriented.sequences == queries
    assert oriented.reverse.tolist() == [i % 3 == 0 for i in range(len(queries))]
    assert oriented.strands[:2] == ["reverse", "forward"]
    assert oriented.on_marker.all()


def test_another_marker_and_shuffled_barcodes_fail_the_marker_check(coi, its):
    coi_profile = MarkerProfile.from_sequences(coi)
    its_profile = MarkerProfile.from_sequences(its)
    assert not coi_profile.orient(its).on_marker.any()
    assert not its_profile.orient(coi).on_marker.any()
    assert not coi_profile.orient(shuffled_sample(coi, seed=5, n=200)).on_marker.any()
    assert coi_profile.threshold > 0.05  # far above chance, far below a barcode of the marker


def test_a_tie_keeps_the_record_as_given():
    profile = MarkerProfile.from_sequences(["ACGTACGTACGTACGTACGT"], k=4)
    palindrome = "ACGT" * 5  # its own reverse complement: both strands share the same fraction
    assert reverse_complement(palindrome) == palindrome
    assert profile.orient([palindrome]).reverse.tolist() == [False]


def test_a_reference_deposited_on_the_other_strand_is_turned_round(coi):
    references = list(coi[:300])
    references[10] = reverse_complement(references[10])  # as some public records are deposited
    profile = MarkerProfile.from_sequences(references)
    assert profile.info["references_reverse_complemented"] >= 1
    # Its reverse-complemented read is recognised as such, not taken for a forward one.
    assert profile.orient([reverse_complement(coi[10])]).reverse.tolist() == [True]


def test_marker_check_info_reports_refusals_per_group(coi, its):
    info = marker_check_info(coi[100:], coi[:100] + its[:50], [False] * 100 + [True] * 50, marker="COI-5P")
    assert info["marker"] == "COI-5P" and info["k"] == 12
    assert info["selection_refused"] == {"seen": 0.0, "novel": 1.0}
    assert info["n_selection"] == {"seen": 100, "novel": 50}


@pytest.mark.parametrize("name", BUNDLED_MODELS)
def test_bundled_identifiers_store_their_marker_check(name):
    folder = bundled_model_path(name)
    stored = json.loads((folder / "identification.json").read_text())[MARKER_CHECK_KEY]
    assert stored["selection_refused"]["seen"] < 0.005  # the target: under 0.5% false refusals
    profile = MarkerProfile.load(folder)
    assert profile.threshold == stored["threshold"] and profile.marker == stored["marker"]
