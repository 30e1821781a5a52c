"""Exact cosine nearest neighbours by blocked matrix products, and the 1-NN probe.

``nearest_neighbors`` never builds the queries x references similarity matrix: it walks query
blocks and, inside each, reference blocks, keeping a running top-k, so memory is bounded by one
``query_block x reference_block`` tile whatever the reference size (100k+ references run on a
laptop CPU). It runs on a CUDA device when given one or when the inputs are CUDA tensors.
Inputs may be numpy arrays, torch tensors or scipy sparse matrices (k-mer counts), which are
densified one block at a time.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .labels import LabelMap, is_known_label
from .metrics import percent_metrics

logger = logging.getLogger(__name__)

# Largest tile, in float32 elements, for a densified reference block and for a similarity block
# (2**24 elements = 64 MiB).
TILE_ELEMENTS = 1 << 24


def _is_sparse(x) -> bool:
    return hasattr(x, "tocsr") and hasattr(x, "nnz")  # scipy.sparse, without importing scipy


def _shape(x, name: str) -> tuple[int, int]:
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ValueError(f"{name} must be a 2-D (n, dim) array, got shape {shape}")
    return shape


def _dense_block(x, start: int, stop: int, device: torch.device, name: str) -> torch.Tensor:
    """Rows ``start:stop`` of ``x`` as a float32 tensor on ``device``, L2-normalised."""
    if isinstance(x, torch.Tensor):
        block = x[start:stop]
    elif _is_sparse(x):
        block = torch.from_numpy(x[start:stop].toarray())
    else:
        block = torch.from_numpy(np.ascontiguousarray(x[start:stop]))
    block = block.to(device=device, dtype=torch.float32)
    norms = torch.linalg.vector_norm(block, dim=1, keepdim=True)
    # A NaN or infinite element makes its row's norm non-finite: a cheap check per row.
    finite = torch.isfinite(norms[:, 0])
    if not finite.all():
        bad = start + int((~finite).nonzero()[0, 0])
        raise ValueError(f"{name} row {bad} holds NaN or infinite values")
    # Zero vectors (e.g. a sequence with no valid k-mer) stay zero: similarity 0 to everything.
    return block / norms.clamp_min(1e-12)


def _block_similarity(queries: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Cosine similarities of normalised rows: one bounded tile of the full matrix."""
    return queries @ references.T


def _resolve_device(device, *arrays) -> torch.device:
    if device is not None:
        return torch.device(device)
    for x in arrays:
        if isinstance(x, torch.Tensor) and x.device.type != "cpu":
            return x.device
    return torch.device("cpu")


def nearest_neighbors(
    queries,
    references,
    k: int = 1,
    block_size: int = 1024,
    device=None,
    reference_block_size: int | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` cosine neighbours of each query among ``references``.

    Returns ``(indices, similarities)``, numpy arrays of shape ``(n_queries, k)`` (int64 and
    float32), best first. ``block_size`` queries are scored at a time against
    ``reference_block_size`` references (by default as many as keep each tile under 64 MiB),
    so memory does not grow with the number of references. With ``k=1``, on equal similarity
    the lower reference index wins, so the result does not depend on the block sizes.
    """
    n_queries, dim = _shape(queries, "queries")
    n_references, ref_dim = _shape(references, "references")
    if dim != ref_dim:
        raise ValueError(f"queries have dimension {dim} but references have dimension {ref_dim}")
    if not 1 <= k <= n_references:
        raise ValueError(f"k must be between 1 and the number of references ({n_references}), got {k}")
    if block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    if reference_block_size is None:
        reference_block_size = max(1, min(TILE_ELEMENTS // max(dim, 1), TILE_ELEMENTS // block_size))
    elif reference_block_size < 1:
        raise ValueError(f"reference_block_size must be positive, got {reference_block_size}")
    device = _resolve_device(device, queries, references)
    # Row slicing needs CSR (a COO matrix cannot be sliced).
    queries = queries.tocsr() if _is_sparse(queries) else queries
    references = references.tocsr() if _is_sparse(references) else references

    all_indices = np.empty((n_queries, k), dtype=np.int64)
    all_similarities = np.empty((n_queries, k), dtype=np.float32)
    with (
        torch.no_grad(),
        tqdm(total=n_queries, desc="nearest neighbours", unit="query", disable=not progress, leave=False) as bar,
    ):
        for q_start in range(0, n_queries, block_size):
            q_stop = min(q_start + block_size, n_queries)
            q_block = _dense_block(queries, q_start, q_stop, device, "queries")
            best_sim = torch.full((q_stop - q_start, k), -torch.inf, device=device)
            best_idx = torch.full((q_stop - q_start, k), -1, dtype=torch.long, device=device)
            for r_start in range(0, n_references, reference_block_size):
                r_stop = min(r_start + reference_block_size, n_references)
                r_block = _dense_block(references, r_start, r_stop, device, "references")
                sim = _block_similarity(q_block, r_block)
                kk = min(k, r_stop - r_start)
                if kk == 1:
                    # torch.max returns the first maximal index: lowest reference index on ties.
                    block_sim, block_idx = sim.max(dim=1, keepdim=True)
                else:
                    block_sim, block_idx = sim.topk(kk, dim=1)
                # Earlier (lower-index) candidates come first, and the stable sort keeps them
                # ahead of later ones with the same similarity.
                cand_sim = torch.cat([best_sim, block_sim], dim=1)
                cand_idx = torch.cat([best_idx, block_idx + r_start], dim=1)
                order = torch.sort(cand_sim, dim=1, descending=True, stable=True).indices[:, :k]
                best_sim = torch.gather(cand_sim, 1, order)
                best_idx = torch.gather(cand_idx, 1, order)
            all_indices[q_start:q_stop] = best_idx.cpu().numpy()
            all_similarities[q_start:q_stop] = best_sim.cpu().numpy()
            bar.update(q_stop - q_start)
    return all_indices, all_similarities


def _vote(neighbour_labels: list) -> object:
    """Majority label among neighbours (nearest first); ties go to the label seen nearest."""
    counts = Counter(neighbour_labels)
    best = max(counts.values())
    return next(label for label in neighbour_labels if counts[label] == best)


def knn_predict(
    reference_embeddings,
    reference_labels: Sequence,
    query_embeddings,
    k: int = 1,
    **neighbor_kwargs,
) -> list:
    """Label of each query by cosine k-NN (majority vote for k > 1) over the references.

    References whose label is missing (None, NaN, "") cannot vote and are left out.
    ``neighbor_kwargs`` go to :func:`nearest_neighbors` (``block_size``, ``device``, ...).
    """
    reference_labels = reference_labels.tolist() if hasattr(reference_labels, "tolist") else list(reference_labels)
    n_references = _shape(reference_embeddings, "reference_embeddings")[0]
    if len(reference_labels) != n_references:
        raise ValueError(f"{n_references} reference embeddings but {len(reference_labels)} reference labels")
    keep = [i for i, label in enumerate(reference_labels) if is_known_label(label)]
    if not keep:
        raise ValueError("no reference has a label: nothing to predict from")
    if len(keep) < n_references:
        logger.warning("k-NN: %d reference(s) without a label left out", n_references - len(keep))
        reference_embeddings = reference_embeddings[keep]
    # The ONE label map of this probe, built from the references only.
    label_map = LabelMap.fit(reference_labels)
    reference_codes = label_map.encode([reference_labels[i] for i in keep])
    indices, _ = nearest_neighbors(query_embeddings, reference_embeddings, k=k, **neighbor_kwargs)
    neighbour_codes = reference_codes[indices]
    if k == 1:
        return label_map.decode(neighbour_codes[:, 0])
    return [_vote(label_map.decode(row)) for row in neighbour_codes]


def centroid_cosine(embeddings, sample: int = 2048) -> float:
    """Mean cosine between (up to ``sample`` of) the rows and their centroid: near 1 when every
    embedding points the same way and only a small offset tells them apart."""
    x = torch.as_tensor(embeddings[:sample]).to(torch.float64)  # numpy or torch, any device
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    centroid = x.mean(0)
    return float((x @ (centroid / centroid.norm().clamp_min(1e-12))).mean())


def _centred(reference, query):
    """References and queries minus the reference mean (float64 sums), float32, on their device."""
    reference = torch.as_tensor(reference).to(torch.float64)
    mean = reference.mean(0)
    query = torch.as_tensor(query).to(device=reference.device, dtype=torch.float64)
    return (reference - mean).float(), (query - mean).float()


# Above this centroid cosine, raw cosine 1-NN is mostly rounding noise: the probe warns.
COLLINEAR_WARNING = 0.999


def knn_probe(
    reference_embeddings,
    reference_labels: Sequence,
    query_embeddings,
    query_labels: Sequence,
    k: int = 1,
    center: bool = False,
    **neighbor_kwargs,
) -> dict[str, float]:
    """The 1-NN probe (SPEC 5): accuracy, balanced accuracy and macro F1 in percent, and ``n``.

    Predictions are reference labels and are compared with the query labels by value: a query
    whose label is absent from the references (an unseen genus) is counted wrong, never
    re-encoded. Queries without a true label are not scored (``n`` counts those scored).

    ``center=True`` subtracts the reference mean from references and queries before the cosine
    (not in the published protocol). It matters when the embeddings are nearly collinear
    (``centroid_cosine`` near 1), which the uncentred probe logs as a warning.
    """
    n_queries = _shape(query_embeddings, "query_embeddings")[0]
    if len(query_labels) != n_queries:
        raise ValueError(f"{n_queries} query embeddings but {len(query_labels)} query labels")
    if center:
        if _is_sparse(reference_embeddings) or _is_sparse(query_embeddings):
            raise ValueError("center=True needs dense embeddings (centring would densify sparse k-mer counts)")
        reference_embeddings, query_embeddings = _centred(reference_embeddings, query_embeddings)
    elif not _is_sparse(reference_embeddings) and n_queries:
        collinear = centroid_cosine(reference_embeddings)
        if collinear > COLLINEAR_WARNING:
            logger.warning(
                "1-NN probe: the reference embeddings are nearly collinear (mean cosine to their centroid "
                "%.6f), so raw cosine neighbours are mostly rounding noise; compare center=True",
                collinear,
            )
    predictions = knn_predict(reference_embeddings, reference_labels, query_embeddings, k=k, **neighbor_kwargs)
    return percent_metrics(query_labels, predictions)
