"""Zero-shot clustering: UMAP (cosine, 5 neighbours) -> Ward -> AMI x 100."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("umap", reason="zero-shot clustering needs umap-learn (barcodefm[eval])")

from barcodefm.evaluation.clustering import umap_reduce, zero_shot_clustering  # noqa: E402


def _blobs(n_labels=8, per_label=25, dim=64, spread=0.2, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_labels, dim)) * 5
    x = np.concatenate([c + rng.normal(0, spread, size=(per_label, dim)) for c in centres])
    labels = [f"species {i}" for i in range(n_labels) for _ in range(per_label)]
    return x.astype(np.float32), labels


def test_well_separated_species_cluster_almost_perfectly():
    x, labels = _blobs()
    result = zero_shot_clustering(x, labels)
    assert result["n"] == 200 and result["n_clusters"] == 8
    assert result["ami"] > 90.0


def test_random_labels_give_ami_near_zero():
    x, _ = _blobs()
    labels = np.random.default_rng(1).integers(0, 8, size=len(x)).astype(str).tolist()
    assert abs(zero_shot_clustering(x, labels)["ami"]) < 10.0


def test_unlabelled_samples_are_left_out():
    x, labels = _blobs(n_labels=4, per_label=10)
    labels[:5] = [None, "", None, float("nan"), ""]
    result = zero_shot_clustering(x, labels)
    assert result["n"] == 35 and result["n_clusters"] == 4


@pytest.mark.parametrize("n", [2, 4, 12])
def test_tiny_inputs_clamp_umap(n):
    x, _ = _blobs(n_labels=2, per_label=n // 2, dim=16)
    reduced = umap_reduce(x, n_components=50)
    assert reduced.shape == (n, 16 if n < 3 else min(50, n - 2))
    result = zero_shot_clustering(x, ["a", "b"] * (n // 2))
    assert np.isfinite(result["ami"])
