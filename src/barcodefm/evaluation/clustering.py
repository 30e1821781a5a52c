"""Zero-shot clustering (ZSC), the BarcodeBERT / BarcodeMAE protocol (SPEC 5).

1. UMAP to 50 dimensions with ``metric="cosine"``, ``n_neighbors=5``, ``random_state=42``:
   the settings of BarcodeBERT's ``baselines/zsc.py`` (reused for BarcodeMAE), which leaves
   ``min_dist`` at UMAP's default 0.1, so we do too.
2. Agglomerative clustering with Ward linkage (Euclidean, on the UMAP output) into as many
   clusters as there are distinct true labels (species or BIN).
3. Adjusted mutual information between clusters and labels, x 100.

Samples whose label is missing are left out. Ward linkage holds an n x n distance matrix, so
keep ``n`` in the tens of thousands. ``umap-learn`` is an optional dependency
(``pip install 'barcodefm[eval]'``); its first call in a process spends ~10 s compiling.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np

from .labels import LabelMap, is_known_label
from .metrics import harmonic_mean  # noqa: F401  (ZSC AMI is summarised with 1-NN accuracy by it)

logger = logging.getLogger(__name__)


def _as_array(embeddings) -> np.ndarray:
    if hasattr(embeddings, "detach"):  # torch tensor, without importing torch
        embeddings = embeddings.detach().cpu().numpy()
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D (n, dim) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"embeddings row {row} holds NaN or infinite values")
    return x


def umap_reduce(
    embeddings,
    n_components: int = 50,
    n_neighbors: int = 5,
    metric: str = "cosine",
    min_dist: float = 0.1,
    random_state: int = 42,
) -> np.ndarray:
    """UMAP projection; ``n_components`` and ``n_neighbors`` are clamped for tiny inputs.

    UMAP's spectral initialisation needs ``n_components <= n_samples - 2`` and its neighbour
    graph ``n_neighbors < n_samples``; with fewer than 3 samples the input is returned as is.
    """
    x = _as_array(embeddings)
    n = x.shape[0]
    if n < 3:
        return x
    try:
        import umap
    except ImportError as exc:
        raise ImportError(
            "zero-shot clustering needs umap-learn: pip install 'barcodefm[eval]' (or umap-learn)"
        ) from exc
    n_components = min(n_components, n - 2)
    n_neighbors = min(n_neighbors, n - 1)
    reducer = umap.UMAP(
        n_components=n_components,
        n_neighbors=n_neighbors,
        metric=metric,
        min_dist=min_dist,
        random_state=random_state,
    )
    with warnings.catch_warnings():
        # "n_jobs value 1 overridden to 1 by setting random_state": seeding is the point.
        warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
        return reducer.fit_transform(x)


def zero_shot_clustering(
    embeddings,
    labels: Sequence,
    n_components: int | None = 50,
    n_neighbors: int = 5,
    metric: str = "cosine",
    min_dist: float = 0.1,
    random_state: int = 42,
) -> dict[str, float]:
    """ZSC score: ``{"ami": AMI x 100, "n": samples scored, "n_clusters": distinct labels}``.

    ``n_components=None`` skips UMAP and clusters the embeddings themselves.
    """
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_mutual_info_score

    x = _as_array(embeddings)
    labels = labels.tolist() if hasattr(labels, "tolist") else list(labels)
    if len(labels) != x.shape[0]:
        raise ValueError(f"{x.shape[0]} embeddings but {len(labels)} labels")
    keep = [i for i, label in enumerate(labels) if is_known_label(label)]
    if len(keep) < len(labels):
        logger.info("zero-shot clustering: %d sample(s) without a label left out", len(labels) - len(keep))
    if not keep:
        raise ValueError("zero-shot clustering needs labelled samples, got none")
    x = x[keep]
    label_map = LabelMap.fit(labels[i] for i in keep)
    true_codes = label_map.encode(labels[i] for i in keep)
    n_clusters = len(label_map)

    if n_components is not None:
        x = umap_reduce(x, n_components, n_neighbors, metric, min_dist, random_state)
    if n_clusters == 1 or x.shape[0] < 2:
        clusters = np.zeros(x.shape[0], dtype=np.int64)
    else:
        clusters = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward").fit_predict(x)
    ami = adjusted_mutual_info_score(true_codes, clusters)
    return {"ami": 100.0 * float(ami), "n": len(keep), "n_clusters": n_clusters}
