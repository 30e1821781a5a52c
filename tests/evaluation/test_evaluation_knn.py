"""Blocked exact cosine k-NN and the 1-NN probe with ONE reference label map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.neighbors import NearestNeighbors

from barcodefm.evaluation import knn
from barcodefm.evaluation.knn import knn_predict, knn_probe, nearest_neighbors


def _random(n, dim, seed):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def _brute_force(queries, references, k):
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    r = references / np.linalg.norm(references, axis=1, keepdims=True)
    sims = q @ r.T
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # then order those k (no ties in random data)
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1), axis=1)
    return order, np.take_along_axis(sims, order, axis=1)


def test_matches_sklearn_brute_force_with_blocks_smaller_than_n():
    references, queries = _random(2000, 16, 0), _random(300, 16, 1)
    indices, sims = nearest_neighbors(queries, references, k=5, block_size=64, reference_block_size=333, progress=False)
    distances, expected = (
        NearestNeighbors(n_neighbors=5, metric="cosine", algorithm="brute").fit(references).kneighbors(queries)
    )
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(sims, 1.0 - distances, atol=1e-5)
    assert indices.dtype == np.int64 and sims.shape == (300, 5)


@pytest.mark.parametrize("inputs", ["torch", "sparse"])
def test_torch_and_sparse_inputs_give_the_numpy_answer(inputs):
    references, queries = _random(500, 12, 2), _random(40, 12, 3)
    expected, _ = nearest_neighbors(queries, references, k=3, progress=False)
    if inputs == "torch":
        got, _ = nearest_neighbors(torch.from_numpy(queries), torch.from_numpy(references), k=3, progress=False)
    else:
        got, _ = nearest_neighbors(
            sparse.csr_matrix(queries), sparse.csr_matrix(references), k=3, block_size=7, progress=False
        )
    np.testing.assert_array_equal(got, expected)


def test_memory_stays_bounded_for_120k_references(monkeypatch):
    """Every similarity tile is block_size x reference_block_size, never queries x references."""
    references, queries = _random(120_000, 32, 4), _random(200, 32, 5)
    tiles = []
    real_block_similarity = knn._block_similarity

    def recording(q, r):
        tiles.append(tuple(q.shape[:1]) + tuple(r.shape[:1]))
        return real_block_similarity(q, r)

    monkeypatch.setattr(knn, "_block_similarity", recording)
    indices, sims = nearest_neighbors(
        queries, references, k=2, block_size=128, reference_block_size=16_384, progress=False
    )
    assert max(a * b for a, b in tiles) <= 128 * 16_384 < 200 * 120_000
    assert len(tiles) == 2 * 8  # 2 query blocks x ceil(120000 / 16384) reference blocks
    expected, expected_sims = _brute_force(queries, references, 2)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(sims, expected_sims, atol=1e-5)


def test_default_tile_is_bounded_for_wide_vectors(monkeypatch):
    tiles = []
    real_block_similarity = knn._block_similarity
    monkeypatch.setattr(knn, "_block_similarity", lambda q, r: tiles.append(r.shape) or real_block_similarity(q, r))
    nearest_neighbors(_random(3, 4096, 6), _random(5000, 4096, 7), progress=False)
    # 4096-dim references are densified 4096 rows at a time (64 MiB), not all 5000 at once.
    assert max(shape[0] for shape in tiles) * 4096 <= knn.TILE_ELEMENTS


def test_ties_go_to_the_lowest_reference_index_whatever_the_blocks():
    base = _random(10, 8, 8)
    references = np.concatenate([base, base, base])  # each vector at i, i+10, i+20
    for reference_block_size in (1, 4, 30):
        indices, _ = nearest_neighbors(base, references, k=1, reference_block_size=reference_block_size, progress=False)
        np.testing.assert_array_equal(indices[:, 0], np.arange(10))


def test_bad_inputs_are_named():
    references = _random(10, 4, 9)
    with pytest.raises(ValueError, match="dimension 5 but references have dimension 4"):
        nearest_neighbors(_random(2, 5, 0), references, progress=False)
    with pytest.raises(ValueError, match="k must be between 1 and the number of references"):
        nearest_neighbors(_random(2, 4, 0), references, k=11, progress=False)
    broken = references.copy()
    broken[7, 2] = np.nan
    with pytest.raises(ValueError, match="references row 7 holds NaN"):
        nearest_neighbors(_random(2, 4, 0), broken, progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu():
    references, queries = _random(3000, 64, 10), _random(100, 64, 11)
    cpu, _ = nearest_neighbors(queries, references, k=3, progress=False)
    gpu, _ = nearest_neighbors(queries, references, k=3, device="cuda", progress=False)
    np.testing.assert_array_equal(cpu, gpu)


# -- the 1-NN probe and its label map ------------------------------------------------------------


def _genus_clusters():
    """Four reference genera (5 points each) around orthogonal directions; 8 queries.

    Queries: 2 each of Bombus, Culex, Drosophila near their clusters, and 2 of Eristalis, a
    genus absent from the references, that lie next to Drosophila.
    """
    rng = np.random.default_rng(12)
    genera = ["Aedes", "Bombus", "Culex", "Drosophila"]
    centre = {g: 10 * np.eye(8)[i] for i, g in enumerate(genera)}
    ref_emb = np.stack([centre[g] + rng.normal(0, 0.3, 8) for g in genera for _ in range(5)])
    ref_labels = [g for g in genera for _ in range(5)]
    query_labels = ["Bombus", "Bombus", "Culex", "Culex", "Drosophila", "Drosophila", "Eristalis", "Eristalis"]
    near = {"Bombus": "Bombus", "Culex": "Culex", "Drosophila": "Drosophila", "Eristalis": "Drosophila"}
    query_emb = np.stack([centre[near[g]] + rng.normal(0, 0.3, 8) for g in query_labels])
    return ref_emb.astype(np.float32), ref_labels, query_emb.astype(np.float32), query_labels


def _published_separate_encoding_accuracy(ref_emb, ref_labels, query_emb, query_labels):
    """The published BarcodeMamba probe: each file's labels encoded on their own."""
    _, ref_codes = np.unique(ref_labels, return_inverse=True)
    _, query_codes = np.unique(query_labels, return_inverse=True)
    indices, _ = nearest_neighbors(query_emb, ref_emb, k=1, progress=False)
    return 100.0 * float(np.mean(ref_codes[indices[:, 0]] == query_codes))


def test_one_label_map_fixes_the_published_per_file_encoding():
    ref_emb, ref_labels, query_emb, query_labels = _genus_clusters()
    predictions = knn_predict(ref_emb, ref_labels, query_emb, progress=False)
    assert predictions == ["Bombus", "Bombus", "Culex", "Culex", "Drosophila", "Drosophila", "Drosophila", "Drosophila"]

    ours = knn_probe(ref_emb, ref_labels, query_emb, query_labels, progress=False)
    # 6 of 8 right: the two Eristalis queries cannot be (their genus is not in the references).
    assert ours["accuracy"] == pytest.approx(75.0)
    assert ours["n"] == 8
    # Recall per true genus: Bombus 1, Culex 1, Drosophila 1, Eristalis 0.
    assert ours["balanced_accuracy"] == pytest.approx(75.0)
    # F1: Bombus 1, Culex 1, Drosophila 2/3 (4 predicted, 2 right), Eristalis 0.
    assert ours["macro_f1"] == pytest.approx(100 * (1 + 1 + 2 / 3 + 0) / 4)

    published = _published_separate_encoding_accuracy(ref_emb, ref_labels, query_emb, query_labels)
    # Reference codes Aedes0 Bombus1 Culex2 Drosophila3; query codes Bombus0 Culex1 Drosophila2
    # Eristalis3: every right answer is scored wrong, and the two wrong "Drosophila" answers
    # for Eristalis are scored right.
    assert published == pytest.approx(25.0)


def test_knn_probe_skips_unlabelled_queries_and_references():
    ref_emb, ref_labels, query_emb, query_labels = _genus_clusters()
    ref_labels = list(ref_labels)
    ref_labels[0] = None  # an unidentified reference cannot vote
    query_labels = list(query_labels)
    query_labels[0] = ""  # an unidentified query is not scored
    result = knn_probe(ref_emb, ref_labels, query_emb, query_labels, progress=False)
    assert result["n"] == 7
    assert result["accuracy"] == pytest.approx(100 * 5 / 7)


def test_knn_majority_vote_for_k_greater_than_one():
    ref_emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]], dtype=np.float32)
    ref_labels = ["near", "far", "far", "other"]
    # Nearest is "near", but 2 of the 3 nearest are "far".
    assert knn_predict(ref_emb, ref_labels, np.array([[1.0, 0.0]]), k=1, progress=False) == ["near"]
    assert knn_predict(ref_emb, ref_labels, np.array([[1.0, 0.0]]), k=3, progress=False) == ["far"]


def test_collinear_embeddings_are_logged_and_centring_recovers_the_neighbours(caplog):
    """Embeddings that differ only by a tiny offset around one shared direction (as a lightly
    trained BarcodeMAE's mean-pooled outputs do: centroid cosine 0.9999998 in the ci benchmark):
    raw float32 cosines tie, centring against the reference mean separates the genera again."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 32))
    ref_labels = np.repeat(np.arange(5), 20)
    query_labels = np.repeat(np.arange(5), 4)
    shared = 1000.0 * rng.normal(size=32)
    ref = (shared + 1e-3 * (centers[ref_labels] + 0.05 * rng.normal(size=(100, 32)))).astype(np.float32)
    query = (shared + 1e-3 * (centers[query_labels] + 0.05 * rng.normal(size=(20, 32)))).astype(np.float32)
    assert knn.centroid_cosine(ref) > knn.COLLINEAR_WARNING
    with caplog.at_level("WARNING", logger="barcodefm.evaluation.knn"):
        raw = knn_probe(ref, list(ref_labels), query, list(query_labels), progress=False)
    assert "nearly collinear" in caplog.text
    centred = knn_probe(ref, list(ref_labels), query, list(query_labels), center=True, progress=False)
    assert centred["accuracy"] == 100.0
    as_tensors = knn_probe(
        torch.from_numpy(ref),
        list(ref_labels),
        torch.from_numpy(query),
        list(query_labels),
        center=True,
        progress=False,
    )
    assert as_tensors == centred
    assert raw["accuracy"] < 60.0
    with pytest.raises(ValueError, match="dense"):
        knn_probe(sparse.csr_matrix(ref), list(ref_labels), query, list(query_labels), center=True)
    caplog.clear()
    with caplog.at_level("WARNING", logger="barcodefm.evaluation.knn"):
        knn_probe(*_genus_clusters(), progress=False)
    assert "nearly collinear" not in caplog.text
