"""Calls from the nearest references of an index, and their combination with the model's own call.

For each query the ``k`` nearest references vote, each weighted by ``exp((s - s_best) / T)``
(``s`` = cosine similarity, ``T`` = :data:`TEMPERATURE`, as the model's own reference vote). The
vote runs down the ranks: once a rank is called, only the neighbours inside that taxon (or without
a label there) vote at the ranks below, so the calls form one lineage.

The index's vote counts as much as its nearest voting reference is close (:class:`Closeness`:
the share of queries whose nearest reference at that similarity carried their label, measured by
the model far from its own references), so a library of one family does not name everything that
family: a query far from every reference of the index keeps the model's call. The combined call is
the same walk over the weighted mean of two distributions per rank: the model's call (its label
with its probability, weight 1) and the index's vote (weight ``w``). A rank the model does not know
is the index's alone, its probability scaled by ``w``; a rank the index does not hold is the model's. ``min_prob`` (SINTAX-style) then empties the combined call
from the first rank below it downwards.

Ties (shares within :data:`TIE_TOLERANCE`, e.g. an index sure of one label and a model sure of
another: 0.5 / 0.5) go to the label of the nearest reference among the tied ones, then to the
model's label: the call never depends on the order of a dict or of the search results.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .reference_index import ReferenceIndex

TEMPERATURE = 0.01


class Closeness:
    """How much an index's vote counts at each rank, from the cosine similarity of its nearest
    voting reference: the share of queries whose nearest reference at that similarity carried
    their label, measured by the model's own calibration far from its references (the model
    folder's ``identification.json``, ``index_vote_weight``: records as they come and records of
    species, genera, families left out of the model, weighted equally). A folder without it (made
    before it existed) weighs every vote 1, as before."""

    def __init__(self, tables: dict[str, dict] | None):
        self.tables = tables or {}

    @classmethod
    def of(cls, model_dir: str | Path) -> Closeness:
        import json

        path = Path(model_dir) / "identification.json"
        info = json.loads(path.read_text()) if path.is_file() else {}
        return cls(info.get("index_vote_weight"))

    def weight(self, rank: str, similarity: float) -> float:
        table = self.tables.get(rank)
        if table is None:
            return 1.0
        return float(np.interp(similarity, table["score_points"], table["probabilities"]))


DEFAULT_K = 10
TIE_TOLERANCE = 1e-6  # shares this close are a tie: float rounding must not pick the call


def _vote(index: ReferenceIndex, rank: str, sims: np.ndarray, rows: np.ndarray, alive: np.ndarray) -> dict[str, float]:
    """The similarity-weighted vote (label -> share) of the ``alive`` neighbours labelled at ``rank``."""
    totals: dict[str, float] = {}
    weights = np.exp((sims - sims.max(initial=-np.inf)) / TEMPERATURE) if len(sims) else sims
    for w, row, keep in zip(weights, rows, alive):
        label = index.label(rank, int(row)) if keep else None
        if label is not None:
            totals[label] = totals.get(label, 0.0) + float(w)
    total = sum(totals.values())
    return {label: w / total for label, w in totals.items()} if total > 0 else {}


def lineage_call(
    index: ReferenceIndex,
    ranks: Sequence[str],
    sims: np.ndarray,
    rows: np.ndarray,
    model_call: dict[str, tuple[str | None, float]] | None = None,
    closeness: Closeness | None = None,
) -> dict[str, tuple[str | None, float]]:
    """rank -> (label or None, probability) for one query with neighbours ``(sims, rows)``: the
    index's vote walked down ``ranks``, weighted by how close its nearest voting reference is
    (``closeness``; None: weight 1) and combined with ``model_call`` (rank -> (label, prob)) when given."""
    valid = rows >= 0
    sims, rows = sims[valid], rows[valid]
    nearest_first = np.argsort(-sims, kind="stable")  # FAISS's order; also for callers' own arrays
    sims, rows = sims[nearest_first], rows[nearest_first]
    alive = np.ones(len(rows), dtype=bool)
    out = {}
    for rank in ranks:
        dist = _vote(index, rank, sims, rows, alive) if rank in index.codes else {}
        w = closeness.weight(rank, sims[alive].max(initial=-1.0)) if closeness is not None and dist else 1.0
        label, prob = (model_call or {}).get(rank, (None, 0.0))
        if label is not None and dist:  # the model's call and the index's vote, weighted 1 : w
            dist = {name: share * w / (1 + w) for name, share in dist.items()}
            dist[label] = dist.get(label, 0.0) + prob / (1 + w)
        elif label is not None:
            dist = {label: prob}
        else:  # the index's alone: as sure as its nearest voting reference is close
            dist = {name: share * w for name, share in dist.items()}
        if not dist:
            out[rank] = (None, 0.0)
            continue
        call = _tie_break(dist, index, rank, rows, alive, label)
        out[rank] = (call, dist[call])
        if rank in index.codes:  # below, only the neighbours inside the called taxon (or unlabelled there)
            alive &= np.array([index.label(rank, int(r)) in (None, call) for r in rows], dtype=bool)
    return out


def _tie_break(dist: dict[str, float], index, rank: str, rows, alive, model_label: str | None) -> str:
    """The label with the largest share; among labels tied with it, the nearest (alive) reference's,
    then the model's (``rows`` nearest first)."""
    best = max(dist.values())
    tied = sorted(name for name, share in dist.items() if share >= best - TIE_TOLERANCE)
    if len(tied) == 1:
        return tied[0]
    for row, keep in zip(rows, alive):
        label = index.label(rank, int(row)) if keep and rank in index.codes else None
        if label in tied:
            return label
    return model_label if model_label in tied else tied[0]


def cut_at(call: dict[str, tuple[str | None, float]], min_prob: float | None) -> dict[str, tuple[str | None, float]]:
    """SINTAX-style: from the first rank below ``min_prob`` downwards, no label."""
    if min_prob is None:
        return call
    out, stopped = {}, False
    for rank, (label, prob) in call.items():
        stopped = stopped or label is None or prob < min_prob
        out[rank] = (None, prob) if stopped else (label, prob)
    return out


class IndexCalls:
    """What ``classify --index`` adds to each row: the index's own per-rank call, the combined
    call, and the nearest references (ids, similarities, labels at their lowest known rank)."""

    def __init__(
        self,
        index_dir: str | Path,
        model_dir: str | Path,
        model_ranks: Sequence[str],
        k: int = DEFAULT_K,
        min_prob: float | None = None,
    ):
        from ..data.labels import RANKS

        self.index = ReferenceIndex.load(index_dir)
        self.index.check_model(model_dir)
        self.k, self.min_prob = k, min_prob
        self.closeness = Closeness.of(model_dir)
        known = set(model_ranks) | set(self.index.ranks)
        self.ranks = [r for r in RANKS if r in known] + [r for r in model_ranks if r not in RANKS]
        self.columns = (
            [c for r in self.index.ranks for c in (f"index_{r}", f"index_{r}_prob")]
            + [c for r in self.ranks for c in (f"combined_{r}", f"combined_{r}_prob")]
            + ["nearest_ids", "nearest_similarities", "nearest_labels"]
        )

    def rows(self, embeddings, preds: list[dict]) -> tuple[list[list[str]], np.ndarray]:
        """(the extra cells of each query, the cosine distance of each query to its nearest reference
        of the index: ``classify`` calls a query likely novel only if that is beyond the model's
        ``index_threshold``, so a barcode close to an index reference is not novel)."""
        sims, rows = self.index.search(embeddings, self.k)
        cells = []
        for query_sims, query_rows, pred in zip(sims, rows, preds):
            own = lineage_call(self.index, self.index.ranks, query_sims, query_rows, closeness=self.closeness)
            model_call = {r: (pred["labels"].get(r), pred["probs"].get(r, 0.0)) for r in pred["labels"]}
            combined = lineage_call(self.index, self.ranks, query_sims, query_rows, model_call, self.closeness)
            combined = cut_at(combined, self.min_prob)
            row = []
            for r in self.index.ranks:
                row += _cell(own[r])
            for r in self.ranks:
                row += _cell(combined[r])
            valid = query_rows >= 0
            row.append(";".join(self.index.ids[int(i)] for i in query_rows[valid]))
            row.append(";".join(f"{s:.4f}" for s in query_sims[valid]))
            row.append(";".join(self._lowest_label(int(i)) for i in query_rows[valid]))
            cells.append(row)
        return cells, np.where(rows[:, 0] >= 0, 1.0 - sims[:, 0], np.inf)

    def _lowest_label(self, row: int) -> str:
        return next((label for r in reversed(self.index.ranks) if (label := self.index.label(r, row))), "")


def _cell(call: tuple[str | None, float]) -> list[str]:
    label, prob = call
    return ["", ""] if label is None else [label, f"{prob:.4f}"]


def identify(
    sequences: Sequence[str],
    model: str | Path,
    index: str | Path,
    k: int = DEFAULT_K,
    min_prob: float | None = None,
    batch_size: int = 64,
) -> list[dict]:
    """Identify barcodes against an index from Python: per sequence ``{"nearest": [{"id",
    "similarity", "labels"}], "index_call": {rank: (label, prob)}, "model_call": ...,
    "combined_call": ...}`` (``model_call`` from a taxonomic classifier's heads, empty for an
    embedding-only model, whose combined call is then the index's)."""
    import torch

    from ..factory import load_model, load_tokenizer
    from ..inference.classify import trained_max_length
    from ..inference.orientation import Strands
    from ..models.taxonomy import predict
    from ..registry import resolve_model

    model_dir = resolve_model(str(model))
    tokenizer = load_tokenizer(model_dir)
    network = load_model(model_dir, "AutoModel").eval()  # a taxonomic folder gives its classifier
    spec = network.taxonomy.spec if hasattr(network, "taxonomy") else None
    calls = IndexCalls(index, model_dir, list(spec.ranks) if spec else [], k=k, min_prob=min_prob)
    max_length = trained_max_length(model_dir)
    strands = Strands.of(model_dir)  # each barcode on the model's strand, as classify reads it
    out = []
    for start in range(0, len(sequences), batch_size):
        batch = [s[:max_length] for s in strands(sequences[start : start + batch_size])]
        enc = tokenizer(batch, padding=True, return_tensors="pt")
        with torch.no_grad():
            emb = network.embed(enc["input_ids"], enc["attention_mask"]).float()
            preds = [{"labels": {}, "probs": {}} for _ in batch]
            if spec is not None:
                preds = predict(list(network.taxonomy(emb).values()), spec)
        sims, rows = calls.index.search(emb, k)
        for query_sims, query_rows, pred in zip(sims, rows, preds):
            model_call = {r: (pred["labels"][r], pred["probs"][r]) for r in pred["labels"]}
            nearest = [
                {
                    "id": calls.index.ids[int(i)],
                    "similarity": float(s),
                    "labels": {r: calls.index.label(r, int(i)) for r in calls.index.ranks},
                }
                for s, i in zip(query_sims, query_rows)
                if i >= 0
            ]
            combined = lineage_call(calls.index, calls.ranks, query_sims, query_rows, model_call, calls.closeness)
            out.append(
                {
                    "nearest": nearest,
                    "index_call": lineage_call(
                        calls.index, calls.index.ranks, query_sims, query_rows, closeness=calls.closeness
                    ),
                    "model_call": model_call,
                    "combined_call": cut_at(combined, min_prob),
                }
            )
    return out
