"""Evaluation protocols (SPEC 5): probes, zero-shot clustering, metrics and classic baselines.

Everything works on numpy/torch arrays and plain label lists, independent of the models.
The probes report percentages (as the published scripts do); :mod:`.metrics` reports fractions.
"""

from .clustering import umap_reduce, zero_shot_clustering
from .knn import centroid_cosine, knn_predict, knn_probe, nearest_neighbors
from .labels import LabelMap, is_known_label
from .linear_probe import LinearProbe, linear_probe
from .metrics import (
    classification_metrics,
    compute_classification_metrics,
    harmonic_mean,
    per_rank_metrics,
    perplexity,
)

__all__ = [
    "LabelMap",
    "LinearProbe",
    "classification_metrics",
    "compute_classification_metrics",
    "harmonic_mean",
    "is_known_label",
    "centroid_cosine",
    "knn_predict",
    "knn_probe",
    "linear_probe",
    "nearest_neighbors",
    "per_rank_metrics",
    "perplexity",
    "umap_reduce",
    "zero_shot_clustering",
]
