"""Alignment identity (the identifier's "align" vote): edlib, the numpy reference and a naive
per-cell dynamic programme written here agree; re-ranked neighbours and votes follow from them."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
import torch

from barcodefm.data import iter_barcodes, sample_path
from barcodefm.inference import alignment
from barcodefm.inference.alignment import edit_distances_edlib, edit_distances_reference, identities
from barcodefm.inference.kmer_reference import KmerReference, first_k_by_score_then_index
from barcodefm.inference.reference_vote import ReferenceSet, choose_rules, combine_rule

edlib = pytest.importorskip("edlib", reason="edlib is a dependency on Linux x86-64 and macOS only")


def naive_semiglobal_distance(a: str, b: str) -> int:
    """The shorter sequence aligned anywhere inside the longer one, unit costs, N matches all."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    prev = [0] * (len(long) + 1)  # row 0: free start anywhere in the longer sequence
    for i in range(1, len(short) + 1):
        row = [i] + [0] * len(long)
        for j in range(1, len(long) + 1):
            same = short[i - 1] == long[j - 1] or "N" in (short[i - 1], long[j - 1])
            row[j] = min(prev[j - 1] + (0 if same else 1), prev[j] + 1, row[j - 1] + 1)
        prev = row
    return min(prev)  # free end anywhere too


def mutated(rng: random.Random, seq: str, edits: int) -> str:
    s = list(seq)
    for _ in range(edits):
        op, at = rng.random(), rng.randrange(len(s) + 1)
        if op < 0.4 and at < len(s):
            s[at] = rng.choice("ACGTN")
        elif op < 0.7:
            s.insert(at, rng.choice("ACGT"))
        elif at < len(s):
            del s[at]
    return "".join(s)


@pytest.fixture(scope="module")
def pairs():
    rng = random.Random(0)
    out = [("", ""), ("A", ""), ("", "ACG"), ("NNN", "ACGT"), ("ACGT", "TTACGTTT"), ("ACGTACGT", "ACGT")]
    for _ in range(120):
        a = "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 40)))
        b = mutated(rng, a, rng.randint(0, 8))
        if rng.random() < 0.5:  # a partial barcode: one end missing
            b = b[rng.randint(0, 6) :]
        out.append((a, b) if rng.random() < 0.5 else (b, a))
    return out


def test_edlib_and_the_numpy_reference_equal_a_naive_dynamic_programme(pairs):
    naive = np.array([naive_semiglobal_distance(a, b) for a, b in pairs])
    assert np.array_equal(edit_distances_reference(pairs), naive)
    assert np.array_equal(edit_distances_edlib(pairs), naive)
    # The reference processes pairs of any lengths together: one pair alone gives the same.
    assert [int(edit_distances_reference([p])[0]) for p in pairs[:20]] == naive[:20].tolist()


def test_identity_is_one_minus_distance_over_the_shorter_length(pairs):
    got = identities(pairs)
    for (a, b), value in zip(pairs, got):
        shorter = min(len(a), len(b))
        expected = 1.0 if shorter == 0 else 1 - naive_semiglobal_distance(a, b) / shorter
        assert value == pytest.approx(expected, abs=1e-6)
    assert identities([("ACGTACGTAA", "TTACGTACGTAAGG")])[0] == 1.0  # contained: overhangs are free


def test_query_identity_counts_the_query_bases_a_shorter_reference_cannot_reach(pairs):
    got = identities(pairs, definition="query")
    for (query, ref), value in zip(pairs, got):
        uncovered = max(0, len(query) - len(ref))
        expected = 1.0 if not query else 1 - (naive_semiglobal_distance(query, ref) + uncovered) / len(query)
        assert value == pytest.approx(expected, abs=1e-6)
    inside = ("TTACGTACGTAAGG", "ACGTACGTAA")  # a short reference lying inside the query
    assert identities([inside])[0] == 1.0
    assert identities([inside], definition="query")[0] == pytest.approx(10 / 14)
    # A reference at least as long as the query: both definitions agree.
    longer = [(q, r) for q, r in pairs if len(r) >= len(q)]
    assert np.array_equal(identities(longer), identities(longer, definition="query"))
    with pytest.raises(ValueError, match="unknown identity definition 'bits'"):
        identities(pairs[:2], definition="bits")


def test_without_edlib_the_reference_runs_and_says_so_once(pairs, monkeypatch, caplog):
    monkeypatch.setattr(alignment, "_edlib", lambda: None)
    monkeypatch.setattr(alignment, "_warned", False)
    monkeypatch.setattr(alignment, "REFERENCE_BLOCK", 7)  # several blocks
    with caplog.at_level(logging.WARNING, logger="barcodefm.inference.alignment"):
        slow = identities(pairs)
        identities(pairs[:3])
    assert np.array_equal(slow, identities(pairs, fast=True))
    warnings = [r for r in caplog.records if "edlib is not installed" in r.getMessage()]
    assert len(warnings) == 1


@pytest.fixture(scope="module")
def reference():
    records = [r for _, r in zip(range(120), iter_barcodes(sample_path("coi")))]
    return KmerReference([r["sequence"][:300] for r in records[:100]], k=6), [
        r["sequence"][:300] for r in records[100:]
    ]


def test_aligned_neighbours_are_the_kmer_candidates_ranked_by_identity(reference):
    kmer, queries = reference
    queries = queries[:8] + [queries[8][50:200]]  # a partial barcode too
    sims, idx = kmer.aligned_neighbours(queries, k=5, candidates=20)
    _, candidates = kmer.neighbours(queries, 20)
    for q, row_sims, row_idx, cand in zip(queries, sims, idx, candidates):
        naive = np.array([identities([(q, kmer.sequences[c])])[0] for c in cand.tolist()])
        order = np.argsort(-naive, kind="stable")[:5]  # equal identities keep the k-mer order
        assert row_idx.tolist() == cand[order].tolist()
        assert np.allclose(row_sims.numpy(), naive[order])
    # Batching never changes the neighbours.
    one = [kmer.aligned_neighbours([q], k=5, candidates=20) for q in queries]
    assert torch.equal(torch.cat([i for _, i in one]), idx)
    assert torch.equal(torch.cat([s for s, _ in one]), sims)


def test_query_identity_ranks_a_full_length_relative_above_a_fragment_inside_the_query(reference):
    kmer, queries = reference
    query = queries[0]
    # Reference 0: a 120-base piece of the query (identical where it lies); reference 1: the whole
    # query with 6 substitutions. VSEARCH's identity prefers the piece, the query identity the whole.
    whole = list(query)
    for at in range(10, 300, 50):
        whole[at] = "A" if whole[at] != "A" else "C"
    refs = KmerReference([query[100:220], "".join(whole)], k=6)
    by_shorter, _ = refs.aligned_neighbours([query], k=2, definition="shorter")
    _, idx_shorter = refs.aligned_neighbours([query], k=2, definition="shorter")
    _, idx_query = refs.aligned_neighbours([query], k=2, definition="query")
    assert by_shorter[0, 0] == 1.0 and idx_shorter[0].tolist() == [0, 1]
    assert idx_query[0].tolist() == [1, 0]


def test_one_kmer_search_serves_both_sequence_votes(reference):
    kmer, queries = reference
    hits = kmer.neighbours(queries, 50)
    for definition in ("shorter", "query"):
        alone = kmer.aligned_neighbours(queries, 5, candidates=20, definition=definition)
        shared = kmer.aligned_neighbours(queries, 5, candidates=20, definition=definition, kmer_hits=hits)
        assert torch.equal(alone[1], shared[1]) and torch.equal(alone[0], shared[0])
    n = len(kmer)
    ref = ReferenceSet(
        torch.nn.functional.normalize(torch.randn(n, 8, generator=torch.Generator().manual_seed(0)), dim=1),
        {"genus": torch.arange(n) % 3},
        k=5,
        rules={"genus": "kmer+align"},
        kmer=kmer,
        align_identity="query",
    )
    found = ref.find(torch.randn(len(queries), 8), queries)
    assert torch.equal(found["kmer"][1], kmer.neighbours(queries, 5)[1])
    assert torch.equal(found["align"][1], kmer.aligned_neighbours(queries, 5, definition="query")[1])


def test_ties_at_the_kth_place_go_in_index_order():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.7, 0.5, 0.9], [0.1, 0.1, 0.1, 0.1, 0.1, 0.1]])
    values, idx = first_k_by_score_then_index(scores, 4)
    assert idx.tolist() == [[1, 5, 3, 0], [0, 1, 2, 3]]
    assert values.tolist()[0] == pytest.approx([0.9, 0.9, 0.7, 0.5])
    for k in range(7):  # the first k of any longer list are the k
        assert torch.equal(first_k_by_score_then_index(scores, k)[1], first_k_by_score_then_index(scores, 6)[1][:, :k])


def test_rules_are_chosen_on_the_mean_of_the_groups_accuracies():
    # 2 seen-species records the head names and the vote misses, 8 novel-species records the
    # vote names and the head misses. Pooled, the vote wins 8 to 2; per group the head scores
    # 1.0 + 0.0 and the vote 0.0 + 1.0: a tie, which the simpler rule (the head) takes.
    n_ref, n_classes = 4, 2
    ref = ReferenceSet(torch.eye(n_ref), {"genus": torch.tensor([0, 0, 1, 1])}, k=1)
    truth = np.array([0, 0] + [1] * 8)
    head = torch.nn.functional.one_hot(torch.tensor([0, 0] + [0] * 8), n_classes).float()
    emb = torch.eye(n_ref)[[2, 3] + [2] * 8]  # nearest references: class 1 for all
    novel = np.array([False, False] + [True] * 8)
    pooled = choose_rules(ref, {"genus": head}, emb, {"genus": truth})
    assert pooled["best"]["genus"].startswith("reference")
    balanced = choose_rules(ref, {"genus": head}, emb, {"genus": truth}, groups=novel)
    assert balanced["best"]["genus"] == "head"
    assert balanced["scores"]["genus"]["head"] == pytest.approx(0.5)


def test_identify_applies_an_align_rule_to_the_realigned_vote(reference):
    kmer, queries = reference
    n, n_classes = len(kmer), 4
    labels = {"genus": torch.arange(n) % n_classes}
    emb = torch.nn.functional.normalize(torch.randn(n, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    ref = ReferenceSet(
        emb, labels, k=5, rules={"genus": "head+align"}, kmer=kmer, temperatures={"genus": {"align": 0.01}}
    )
    head = torch.softmax(torch.randn(len(queries), n_classes, generator=torch.Generator().manual_seed(1)), dim=1)
    out, _ = ref.identify({"genus": head}, torch.randn(len(queries), 8), queries)
    sims, idx = kmer.aligned_neighbours(queries, 5)
    vote = ref.distributions(sims, idx, {"genus": n_classes}, 0.01)["genus"]
    assert torch.allclose(out["genus"], combine_rule("head+align", head, align=vote))
    assert torch.allclose(out["genus"], (head + vote) / 2)
