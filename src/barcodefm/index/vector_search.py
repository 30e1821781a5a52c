"""The FAISS index over the reference embeddings: cosine similarity as the inner product of
L2-normalised vectors.

Below ``exact_below`` references the search is exact (``IndexFlatIP``: every reference scored).
Beyond it an approximate graph (``IndexHNSWFlat``, the default: its query cost grows roughly with
the logarithm of the number of references) or inverted lists (``IndexIVFFlat``: k-means cells, the
``nprobe`` nearest of them scanned) finds nearly always the same nearest references at a small
fraction of the cost; the recall measured against exact search is in benchmarks/index_scaling.py.
The kind and its parameters are recorded in the index's ``index.json`` (``search``).
"""

from __future__ import annotations

import logging
import math

import numpy as np

EXACT_BELOW = 100_000
KINDS = ("auto", "flat", "hnsw", "ivf")
HNSW_M = 32  # graph links per vector
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # candidates kept while searching: recall against cost
IVF_NPROBE = 32


def require_faiss():
    # faiss logs at INFO each instruction-set build it could not load (AVX512 and others): not an error
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    try:
        import faiss
    except ImportError as exc:  # an extra: pip install "barcodefm[index]"
        raise ImportError(
            'the reference index needs FAISS: pip install "barcodefm[index]" (or pip install faiss-cpu)'
        ) from exc
    return faiss


def search_settings(n_references: int, kind: str = "auto", exact_below: int = EXACT_BELOW) -> dict:
    """The index kind for ``n_references`` and its parameters (what ``index.json`` records)."""
    if kind not in KINDS:
        raise ValueError(f"unknown index kind {kind!r}: one of {', '.join(KINDS)}")
    if kind == "auto":
        kind = "flat" if n_references < exact_below else "hnsw"
    settings = {
        "kind": kind,
        "metric": "inner product of L2-normalised embeddings (cosine)",
        "exact_below": exact_below,
    }
    if kind == "hnsw":
        settings.update(M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, ef_search=HNSW_EF_SEARCH)
    elif kind == "ivf":
        nlist = max(1, int(4 * math.sqrt(n_references)))
        settings.update(nlist=nlist, nprobe=min(IVF_NPROBE, nlist))
    return settings


def normalized(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def new_index(dim: int, settings: dict, training: np.ndarray | None = None):
    """An empty FAISS index of ``settings`` (IVF: trained on the normalised ``training`` vectors)."""
    faiss = require_faiss()
    kind = settings["kind"]
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings["ef_construction"]
        index.hnsw.efSearch = settings["ef_search"]
        return index
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, settings["nlist"], faiss.METRIC_INNER_PRODUCT)
    index.train(normalized(training))
    index.nprobe = settings["nprobe"]
    return index


def tune(index, settings: dict) -> None:
    """Apply the query-time parameters of ``settings`` (``ef_search`` / ``nprobe``) to a loaded index."""
    faiss = require_faiss()
    if settings["kind"] == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = int(settings["ef_search"])
    elif settings["kind"] == "ivf":
        faiss.extract_index_ivf(index).nprobe = int(settings["nprobe"])


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(cosine similarities, reference rows), each (n_queries, k), most similar first; rows of -1
    (similarity -inf) where the index holds fewer than ``k`` references."""
    sims, rows = index.search(normalized(queries), k)
    return sims, rows


def save(index, path) -> None:
    require_faiss().write_index(index, str(path))


def load(path, settings: dict | None = None):
    index = require_faiss().read_index(str(path))
    if settings:
        tune(index, settings)
    return index
