"""Novelty: how unlike everything the model was trained on a query is (the ``novelty`` and
``likely_novel`` columns of ``barcodefm classify``).

The evidence (:data:`NOVELTY_EVIDENCE`), each larger for a query farther from the training barcodes:
- ``embedding``: cosine distance to the nearest training barcode in the model's embedding space
  (the embeddings are saved next to the model, ``novelty_reference.safetensors``);
- ``kmer`` / ``align``: 1 - k-mer cosine / 1 - alignment identity of the nearest training barcode
  in sequence space (a folder with a reference set, :mod:`.reference_vote`);
- ``call``: 1 - probability of the call at the lowest rank (the species): a query of a species
  absent from training sits between the species it resembles, and the identifier hesitates.

The score (:class:`NoveltyScore`, stored in ``novelty.json`` under ``score``) is either one of
them as it is, or a logistic regression on them with positive weights only (more distant never
means less novel; see :func:`monotone_logistic_regression`): the probability that the query's
species is absent from training, with seen and novel species equally likely a priori. The recipe keeps
whichever separates the selection records of novel species (``unseen_key``) from those of seen
species (``val``) best: the AUROC of a single piece of evidence (nothing fitted), against the
5-fold cross-validated AUROC of the regression (measured per candidate in ``novelty.json``,
``selection_auroc``). A folder without ``score`` (older folders, or a fine-tuned classifier without
a reference set) uses the embedding distance.

The threshold of ``likely_novel``: with selection records of seen AND novel species, the one that
maximises balanced accuracy (Youden's J) of "score > t" as a novel-species detector; with seen
species only, the 95th percentile of their scores (5% false alarms on known species). The same rule
on the embedding distance alone gives ``embedding_threshold``: with ``classify --index`` a query is
likely novel only if no index reference lies within it (the index holds embeddings, not the other
evidence).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)

REFERENCE_FILE = "novelty_reference.safetensors"
NOVELTY_FILE = "novelty.json"
# The evidence a novelty score may read, in the order a fitted score stores its weights.
NOVELTY_EVIDENCE = ("embedding", "kmer", "align", "call")
EVIDENCE_WORDS = {
    "embedding": "cosine distance to the nearest training barcode in the model's embedding space",
    "kmer": "1 - k-mer cosine of the nearest training barcode",
    "align": "1 - alignment identity of the best-aligned training barcode",
    "call": "1 - probability of the species call",
}
LOGISTIC = "logistic"  # the name of the regression among the candidates
CV_FOLDS = 5


@dataclass(frozen=True)
class NoveltyScore:
    """``novelty`` of each query from its evidence: ``evidence[features[0]]`` as it is when
    ``weights`` is None, else ``sigmoid(bias + weights . evidence[features])``."""

    features: tuple[str, ...] = ("embedding",)
    weights: tuple[float, ...] | None = None
    bias: float = 0.0

    @classmethod
    def from_info(cls, info: dict | None) -> NoveltyScore:
        """The score a ``novelty.json`` describes (the embedding distance when it names none)."""
        score = (info or {}).get("score")
        if not score:
            return cls()
        weights = score.get("weights")
        return cls(tuple(score["features"]), None if weights is None else tuple(weights), float(score.get("bias", 0)))

    def to_info(self) -> dict:
        return {"features": list(self.features), "weights": None if self.weights is None else list(self.weights)} | (
            {} if self.weights is None else {"bias": self.bias}
        )

    def describe(self) -> str:
        """The score in words, for logs, summaries and reports."""
        if self.weights is None:
            return EVIDENCE_WORDS.get(self.features[0], self.features[0])
        terms = "; ".join(EVIDENCE_WORDS.get(f, f) for f in self.features)
        return f"a logistic regression chosen on the selection records, on {terms}"

    def __call__(self, evidence: dict[str, np.ndarray]) -> np.ndarray:
        missing = [f for f in self.features if f not in evidence]
        if missing:
            raise KeyError(f"the novelty score reads {missing}, which this identification did not compute")
        if self.weights is None:
            return np.asarray(evidence[self.features[0]], dtype=np.float64)
        x = np.stack([np.asarray(evidence[f], dtype=np.float64) for f in self.features], axis=1)
        return 1.0 / (1.0 + np.exp(-(self.bias + x @ np.asarray(self.weights))))


def choose_novelty_score(
    evidence: dict[str, np.ndarray], novel: np.ndarray, seed: int = 0
) -> tuple[NoveltyScore, dict]:
    """The candidate that best separates ``novel`` records from the others (see the module
    docstring), and the AUROC of every candidate. Without enough records of both kinds: the
    embedding distance."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    novel = np.asarray(novel, dtype=bool)
    if novel.sum() < CV_FOLDS or (~novel).sum() < CV_FOLDS:
        return NoveltyScore(), {}
    features = [f for f in NOVELTY_EVIDENCE if f in evidence]
    auroc = {f: float(roc_auc_score(novel, evidence[f])) for f in features}
    x = np.stack([np.asarray(evidence[f], dtype=np.float64) for f in features], axis=1)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    x = (x - mean) / scale
    kept, regression = monotone_logistic_regression(x, novel)
    if len(kept) > 1:
        folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed)
        held_out = cross_val_predict(regression, x[:, kept], novel, cv=folds, method="decision_function")
        auroc[LOGISTIC] = float(roc_auc_score(novel, held_out))
    best = max(auroc, key=lambda name: (auroc[name], name != LOGISTIC))  # a tie: the simpler score
    if best != LOGISTIC:
        return NoveltyScore((best,)), auroc
    # Standardisation folded into the weights: the stored score reads the raw evidence.
    weights = regression.coef_[0] / scale[kept]
    bias = float(regression.intercept_[0] - weights @ mean[kept])
    return NoveltyScore(tuple(features[i] for i in kept), tuple(float(w) for w in weights), bias), auroc


def monotone_logistic_regression(x: np.ndarray, y: np.ndarray, balanced: bool = True, sample_weight=None):
    """(the columns kept, a logistic regression fitted on them, with classes weighted equally when
    ``balanced``) such that every weight is positive. Each column is oriented so that larger means
    more of what is predicted (more distant: more novel). The columns are correlated, and given the
    others one can take a negative weight (a query farther in embedding space "less novel"): the most
    negative is left out and the rest refitted, until every weight is positive or one column is left."""
    from sklearn.linear_model import LogisticRegression

    kept = list(range(x.shape[1]))
    while True:
        regression = LogisticRegression(class_weight="balanced" if balanced else None, max_iter=1000)
        regression.fit(x[:, kept], y, sample_weight=sample_weight)
        weights = regression.coef_[0]
        if (weights > 0).all() or len(kept) == 1:
            return kept, regression
        del kept[int(np.argmin(weights))]


def index_distance_threshold(info: dict) -> float | None:
    """The embedding distance beyond which a query is new to a reference index (``classify
    --index``): ``embedding_threshold`` of a ``novelty.json``, or its ``threshold`` where the score
    is the embedding distance itself; None where neither applies (the index then changes nothing)."""
    if "embedding_threshold" in info:
        return float(info["embedding_threshold"])
    return float(info["threshold"]) if NoveltyScore.from_info(info).features == ("embedding",) else None


def nearest_distance(queries, references) -> np.ndarray:
    """Cosine distance (1 - cosine similarity) of each query to its nearest reference."""
    from ..evaluation.knn import nearest_neighbors

    _, sims = nearest_neighbors(queries, references, k=1, progress=False)
    return 1.0 - sims[:, 0]


def calibrate_threshold(seen: np.ndarray, novel: np.ndarray | None = None, quantile: float = 0.95) -> dict:
    """The ``likely_novel`` threshold of the scores of seen-species and novel-species records."""
    seen = np.asarray(seen, dtype=np.float64)
    if novel is None or len(novel) == 0:
        t = float(np.quantile(seen, quantile))
        return {
            "threshold": t,
            "method": f"{quantile:.0%} quantile of seen-species validation scores",
            "false_alarm_rate": float((seen > t).mean()),
        }
    novel = np.asarray(novel, dtype=np.float64)
    candidates = np.unique(np.concatenate([seen, novel]))
    best_t, best_j = float(candidates[0]), -1.0
    for t in candidates:
        j = (novel > t).mean() + (seen <= t).mean() - 1.0
        if j > best_j:
            best_t, best_j = float(t), float(j)
    return {
        "threshold": best_t,
        "method": "max balanced accuracy (Youden J) on seen vs unseen-species validation",
        "detection_rate": float((novel > best_t).mean()),
        "false_alarm_rate": float((seen > best_t).mean()),
        "balanced_accuracy": float((best_j + 1.0) / 2.0),
    }


def build_novelty_reference(
    model,
    tokenizer,
    train_sequences,
    val_seen_sequences,
    val_novel_sequences=None,
    batch_size: int = 64,
    pooling: str | None = None,
) -> tuple[torch.Tensor, dict]:
    """Embed the references, measure validation distances, calibrate. Returns (embeddings, info)."""
    kw = dict(batch_size=batch_size, pooling=pooling, progress=True)
    reference = model.embed_sequences(list(train_sequences), tokenizer, **kw)
    seen = nearest_distance(model.embed_sequences(list(val_seen_sequences), tokenizer, **kw), reference)
    novel = None
    if val_novel_sequences:
        novel = nearest_distance(model.embed_sequences(list(val_novel_sequences), tokenizer, **kw), reference)
    info = calibrate_threshold(seen, novel)
    info.update(
        n_references=int(reference.shape[0]),
        n_val_seen=int(len(seen)),
        n_val_novel=0 if novel is None else int(len(novel)),
        pooling=pooling or model.config.pooling,
    )
    return reference, info


def save_novelty_reference(model_dir: str | Path, reference: torch.Tensor, info: dict) -> None:
    from safetensors.torch import save_file

    model_dir = Path(model_dir)
    save_file({"embeddings": reference.float().contiguous()}, str(model_dir / REFERENCE_FILE))
    (model_dir / NOVELTY_FILE).write_text(json.dumps(info, indent=1))


def load_novelty_reference(model_dir: str | Path) -> tuple[torch.Tensor, dict] | None:
    model_dir = Path(model_dir)
    if not (model_dir / REFERENCE_FILE).exists():
        return None
    from safetensors.torch import load_file

    info = json.loads((model_dir / NOVELTY_FILE).read_text())
    return load_file(str(model_dir / REFERENCE_FILE))["embeddings"].float(), info  # stored as float16 or 32
