"""Multi-rank taxonomy for BarcodeMamba+ / BarcodeMAE classifiers.

Hub module: copied next to saved weights and imported where ``barcodefm`` is not installed, so
it imports only the standard library, ``numpy`` and ``torch``.

What lives here:

- :class:`TaxonomySpec`: the ranks, the per-rank label lists (ids are list positions), the
  child -> parent maps and the training class counts; JSON-serialisable for ``config.taxonomy``.
- Hierarchical label smoothing (HLS): :func:`hierarchical_targets` builds soft targets per batch
  from compact per-rank ancestor tables (see :func:`hierarchy_tables`), never a C x C matrix.
- Class-weighted loss: :func:`class_weights` and :func:`soft_cross_entropy`.
- :class:`TaxonomyHeads`: one ``Linear`` per rank plus the loss, with integer buffers that
  :meth:`TaxonomyHeads.reset_buffers` rebuilds from the spec (transformers 5 may create the model
  on the meta device and fill buffers later through ``_init_weights``).
- :func:`predict`: names, probabilities, a consistency flag and SINTAX-style truncation.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
DEFAULT_RANK_SMOOTHING = 0.02
DEFAULT_CLASS_WEIGHT_STRENGTH = 0.5


def is_missing_label(label: Any) -> bool:
    """True for None, NaN and blank strings: the only labels this module treats as unknown.

    Raw labels (``s__Genus_sp``, ``incertae_sedis``, ``NA``, ...) must first go through the
    package's one cleaning rule, ``barcodefm.data.labels.normalize_label`` (the readers and
    ``barcodefm.data.taxonomy_labels`` do), which turns placeholders into None. That rule lives
    outside this hub module so that "unknown" means the same thing everywhere.
    """
    if label is None or type(label).__name__ == "NAType":  # pandas.NA
        return True
    if isinstance(label, (float, np.floating)) and math.isnan(label):
        return True
    return isinstance(label, str) and not label.strip()


# --------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------


@dataclass
class TaxonomySpec:
    """Ranks (top -> bottom), per-rank labels, child -> parent maps and training counts.

    ``labels[rank]`` is the id order of that rank's head; ``parents[rank]`` maps a label at
    ``rank`` to a label at the rank above (absent = parent unknown; the first rank has none);
    ``counts[rank][i]`` is how many training records carry ``labels[rank][i]``.
    """

    ranks: list[str]
    labels: dict[str, list[str]]
    parents: dict[str, dict[str, str]] = field(default_factory=dict)
    counts: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ranks = [str(r) for r in self.ranks]
        if not self.ranks:
            raise ValueError("a taxonomy needs at least one rank")
        if len(set(self.ranks)) != len(self.ranks):
            raise ValueError(f"rank names repeat: {self.ranks}")
        for rank in self.ranks:
            # Rank names become nn.ModuleDict keys (``heads.<rank>.weight``).
            if not rank or "." in rank or hasattr(nn.ModuleDict, rank):
                raise ValueError(f"rank name {rank!r} cannot name a head (empty, has '.', or reserved)")
            if rank not in self.labels:
                raise ValueError(f"no label list for rank {rank!r}")
        self.labels = {r: [str(x) for x in self.labels[r]] for r in self.ranks}
        self._index = {}
        for rank in self.ranks:
            index = {label: i for i, label in enumerate(self.labels[rank])}
            if len(index) != len(self.labels[rank]):
                dup = [x for x, n in Counter(self.labels[rank]).items() if n > 1][:3]
                raise ValueError(f"rank {rank!r} lists labels more than once: {dup}")
            self._index[rank] = index
        self.parents = {r: dict(self.parents.get(r, {})) for r in self.ranks[1:]}
        for above, rank in zip(self.ranks, self.ranks[1:]):
            for child, parent in self.parents[rank].items():
                if child not in self._index[rank] or parent not in self._index[above]:
                    raise ValueError(
                        f"parent map of rank {rank!r} links {child!r} -> {parent!r}, "
                        f"but {child!r} is not a {rank} label or {parent!r} not a {above} label"
                    )
        counts = {}
        for rank in self.ranks:
            values = [int(c) for c in self.counts.get(rank, [0] * len(self.labels[rank]))]
            if len(values) != len(self.labels[rank]) or min(values, default=0) < 0:
                raise ValueError(f"counts of rank {rank!r} must be {len(self.labels[rank])} non-negative integers")
            counts[rank] = values
        self.counts = counts

    # ---- sizes and lookups ------------------------------------------------------------------

    @property
    def num_classes(self) -> list[int]:
        return [len(self.labels[r]) for r in self.ranks]

    def index(self, rank: str, label: str) -> int | None:
        """Id of ``label`` at ``rank`` (None when the spec does not know it)."""
        return self._index[rank].get(label)

    def parent_indices(self, rank: str) -> np.ndarray:
        """For each label id at ``rank``, the id of its parent at the rank above (-1 unknown)."""
        position = self.ranks.index(rank)
        out = np.full(len(self.labels[rank]), -1, dtype=np.int64)
        if position == 0:
            return out
        above = self._index[self.ranks[position - 1]]
        for child, parent in self.parents[rank].items():
            out[self._index[rank][child]] = above[parent]
        return out

    # ---- (de)serialisation --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only, so the spec can live in ``PretrainedConfig.taxonomy``."""
        return {
            "ranks": list(self.ranks),
            "labels": {r: list(self.labels[r]) for r in self.ranks},
            "parents": {r: dict(self.parents[r]) for r in self.ranks[1:]},
            "counts": {r: list(self.counts[r]) for r in self.ranks},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaxonomySpec:
        if isinstance(data, TaxonomySpec):
            return data
        if not isinstance(data, Mapping) or "ranks" not in data or "labels" not in data:
            raise ValueError("a taxonomy dict needs 'ranks' and 'labels' (see TaxonomySpec.to_dict)")
        return cls(
            ranks=list(data["ranks"]),
            labels={r: list(v) for r, v in data["labels"].items()},
            parents={r: dict(v) for r, v in (data.get("parents") or {}).items()},
            counts={r: list(v) for r, v in (data.get("counts") or {}).items()},
        )

    # ---- building from data -------------------------------------------------------------------

    @classmethod
    def from_columns(
        cls,
        columns: Mapping[str, Sequence[Any]],
        ranks: Sequence[str] | None = None,
        counted: Sequence[bool] | None = None,
    ) -> TaxonomySpec:
        """Build a spec from per-rank label columns (``{rank: [label or None, ...]}``).

        ``ranks`` picks and orders the ranks (default: the column order, top -> bottom).
        ``counted`` marks the training records whose labels are counted for the class weights
        (default: all). None, NaN and blank labels are unknown (see :func:`is_missing_label`);
        every other label is kept exactly as given (U+FFFD included); label lists are sorted.
        The tree comes from records where child and parent are both known; a child seen under
        several parents keeps its majority parent (ties: the first in sorted order) and a
        warning says how many labels and records disagreed; a child never seen with a known
        parent has no parent entry.
        """
        ranks = list(columns) if ranks is None else list(ranks)
        missing = [r for r in ranks if r not in columns]
        if missing:
            raise ValueError(f"no column for rank(s) {missing}; columns: {list(columns)}")
        lengths = {r: len(columns[r]) for r in ranks}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"rank columns differ in length: {lengths}")
        n = lengths[ranks[0]] if ranks else 0
        if counted is not None and len(counted) != n:
            raise ValueError(f"'counted' has {len(counted)} entries for {n} records")
        clean = {r: [None if is_missing_label(x) else str(x) for x in columns[r]] for r in ranks}
        labels, counts = {}, {}
        for rank in ranks:
            tally = Counter(x for i, x in enumerate(clean[rank]) if x is not None and (counted is None or counted[i]))
            labels[rank] = sorted({x for x in clean[rank] if x is not None})
            counts[rank] = [tally.get(x, 0) for x in labels[rank]]
        parents = {}
        for above, rank in zip(ranks, ranks[1:]):
            pairs = Counter((c, p) for c, p in zip(clean[rank], clean[above]) if c is not None and p is not None)
            by_child: dict[str, Counter] = {}
            for (child, parent), k in pairs.items():
                by_child.setdefault(child, Counter())[parent] = k
            chosen, conflicts, disagreeing = {}, [], 0
            for child, seen in by_child.items():
                best = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))
                chosen[child] = best[0][0]
                if len(best) > 1:
                    conflicts.append((child, best))
                    disagreeing += sum(k for _, k in best[1:])
            if conflicts:
                child, best = sorted(conflicts)[0]
                example = " and ".join(f"{p!r} x{k}" for p, k in best)
                logger.warning(
                    "%s: %d label(s) occur under more than one %s (e.g. %r under %s); kept each "
                    "label's majority %s, %d record(s) disagree",
                    rank,
                    len(conflicts),
                    above,
                    child,
                    example,
                    above,
                    disagreeing,
                )
            orphans = len(labels[rank]) - len(chosen)
            if orphans:
                logger.info("%s: %d label(s) never seen with a known %s", rank, orphans, above)
            parents[rank] = dict(sorted(chosen.items()))
        return cls(ranks=ranks, labels=labels, parents=parents, counts=counts)

    # ---- label ids ------------------------------------------------------------------------------

    def encode(
        self,
        data: Mapping[str, Sequence[Any]] | Iterable[Mapping[str, Any]],
        unseen: str = "warn",
    ) -> np.ndarray:
        """Label ids, shape ``(n_records, n_ranks)`` int64, ``-100`` where missing or unknown.

        ``data`` is columns (``{rank: [label, ...]}`` or a DataFrame) or records
        (``[{rank: label}, ...]``);
        a rank absent from the input is missing everywhere. A known label that the spec does
        not list (a class unseen when the spec was built) also becomes ``-100``; ``unseen``
        says whether that is silent (``"ignore"``), logged with counts (``"warn"``) or an
        error (``"error"``).
        """
        if unseen not in ("ignore", "warn", "error"):
            raise ValueError(f"unseen must be 'ignore', 'warn' or 'error', not {unseen!r}")
        if isinstance(data, Mapping) or hasattr(data, "columns"):  # dict or DataFrame of columns
            present = [r for r in self.ranks if r in data]
            lengths = {len(data[r]) for r in present}
            if len(lengths) > 1:
                raise ValueError("label columns differ in length")
            if not lengths:
                raise ValueError(f"none of the ranks {self.ranks} is among the columns {list(data)}")
            n = lengths.pop()
            column = lambda r: data[r] if r in present else [None] * n  # noqa: E731
        else:
            records = list(data)
            n = len(records)
            column = lambda r: [rec.get(r) for rec in records]  # noqa: E731
        out = np.full((n, len(self.ranks)), IGNORE_INDEX, dtype=np.int64)
        for j, rank in enumerate(self.ranks):
            index, novel = self._index[rank], Counter()
            for i, label in enumerate(column(rank)):
                if is_missing_label(label):
                    continue
                k = index.get(str(label))
                if k is None:
                    novel[str(label)] += 1
                else:
                    out[i, j] = k
            if novel and unseen != "ignore":
                message = (
                    f"{rank}: {sum(novel.values())} record(s) carry {len(novel)} label(s) the "
                    f"taxonomy does not list (e.g. {sorted(novel)[0]!r}); encoded as {IGNORE_INDEX}"
                )
                if unseen == "error":
                    raise ValueError(message)
                logger.warning(message)
        return out

    def decode(self, ids: Any) -> list[dict[str, str | None]]:
        """Inverse of :meth:`encode`: one ``{rank: label or None}`` per row of ids."""
        array = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else ids, dtype=np.int64)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != len(self.ranks):
            raise ValueError(f"expected ids of shape (n, {len(self.ranks)}), got {array.shape}")
        out = []
        for row in array:
            record = {}
            for rank, k in zip(self.ranks, row):
                if k == IGNORE_INDEX:
                    record[rank] = None
                elif 0 <= k < len(self.labels[rank]):
                    record[rank] = self.labels[rank][k]
                else:
                    raise ValueError(f"id {k} is out of range for rank {rank!r} ({len(self.labels[rank])} labels)")
            out.append(record)
        return out


# --------------------------------------------------------------------------------------------
# Hierarchical label smoothing
# --------------------------------------------------------------------------------------------


def default_label_smoothing(num_ranks: int) -> list[float]:
    """The published default: 0.02 for every rank above the last (species), 0 for the last."""
    return [DEFAULT_RANK_SMOOTHING] * (num_ranks - 1) + [0.0]


def resolve_label_smoothing(value: Any, num_ranks: int) -> list[float]:
    """``"default"`` -> :func:`default_label_smoothing`; None or 0 -> off; else a list per rank."""
    if isinstance(value, str):
        if value != "default":
            raise ValueError(f"label_smoothing must be 'default', None or a list, not {value!r}")
        return default_label_smoothing(num_ranks)
    if value is None or (isinstance(value, (int, float)) and value == 0):
        return [0.0] * num_ranks
    masses = [float(s) for s in value]
    if len(masses) != num_ranks:
        raise ValueError(f"label_smoothing needs one mass per rank ({num_ranks}), got {len(masses)}")
    if min(masses) < 0 or sum(masses) > 1 + 1e-9:
        raise ValueError(f"label_smoothing masses must be >= 0 and sum to at most 1, got {masses}")
    return masses


def hierarchy_tables(spec: TaxonomySpec, rank_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Compact tables from which HLS targets at rank ``l = rank_index`` are computed per batch.

    ``ancestors[x, i]`` (shape ``C_l x (l+1)``) is the id of class ``x``'s ancestor at rank
    ``i`` (column ``l`` is ``x`` itself; -1 where the chain of parents breaks).
    ``fanout[x, i]`` is the product, along the path from that ancestor down to ``x``, of the
    number of children each node has *that lead to rank l*; so the share of an ancestor's mass
    that reaches ``x`` is ``1 / fanout[x, i]`` (even split level by level), and the shares of
    all rank-``l`` descendants of one ancestor sum to 1 (nodes without descendants at rank l
    get nothing, so no mass is lost). Memory is O(C_l * l), not O(C_l^2).
    """
    parent = [spec.parent_indices(r) for r in spec.ranks]
    sizes = spec.num_classes
    width = sizes[rank_index]
    ancestors = np.full((width, rank_index + 1), -1, dtype=np.int64)
    fanout = np.ones((width, rank_index + 1), dtype=np.int64)
    ancestors[:, rank_index] = np.arange(width)
    alive = np.ones(width, dtype=bool)  # nodes of the current rank with descendants at rank l
    for k in range(rank_index - 1, -1, -1):
        below = parent[k + 1]  # rank k+1 -> rank k
        linked = alive & (below >= 0)
        children = np.bincount(below[linked], minlength=sizes[k])
        known = ancestors[:, k + 1] >= 0
        ancestors[known, k] = below[ancestors[known, k + 1]]
        has = ancestors[:, k] >= 0
        fanout[has, k] = fanout[has, k + 1] * children[ancestors[has, k]]
        alive = children > 0
    return ancestors, fanout


def hierarchical_targets(
    labels: torch.Tensor,
    ancestors: torch.Tensor,
    fanout: torch.Tensor,
    masses: Sequence[float],
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """HLS soft targets ``(B, C_l)`` for true class ids ``labels`` (all known) at rank ``l``.

    ``ancestors``/``fanout`` come from :func:`hierarchy_tables` for that rank (``l`` is
    ``ancestors.shape[1] - 1``); ``masses`` are ``s_0..s_R`` for ALL ranks. Reading of the published recipe
    (the mass layout of MycoAI's ``LabelSmoothing``, which however splits an ancestor's mass
    by training co-occurrence where the published recipe splits it evenly):

    - ``s_R`` (the LAST rank's mass) is the flat, classic smoothing mass and is used at every
      rank: each class other than the true one gets ``s_R / (C_l - 1)``.
    - Each rank ``i < l`` contributes its own mass ``s_i``: it starts at the true class's
      rank-``i`` ancestor and flows down the tree, split evenly among each node's children (only
      children with descendants at rank ``l``), level by level, down to rank ``l``. The true
      class is one of those descendants and gets its share. ``s_i`` for ``i >= l`` plays no
      part at rank ``l`` (except ``s_R`` as above).
    - The true class gets ``1 - s_R - sum_{i<l} s_i`` plus its shares of the ancestor masses.
      Total: ``s_R + (1 - s_R - sum) + sum = 1``; all entries >= 0 when ``sum(masses) <= 1``.
    - Where the true class's rank-``i`` ancestor is unknown (its chain of parents breaks below
      rank ``i``), ``s_i`` flows from its highest known ancestor instead (from the class
      itself when even its parent is unknown): the mass stays with the surely related classes.
    - ``C_l == 1``: the target is 1.

    Worked example, ranks phylum/genus/species, masses ``[0.1, 0.2, 0.04]``, tree
    P1 -> {G1 -> {S1, S2}, G2 -> {S3}}, P2 -> {G3 -> {S4, S5}}; true species S3:
    flat 0.04/4 = 0.01 to S1, S2, S4, S5; base for S3 = 1 - 0.04 - 0.1 - 0.2 = 0.66;
    phylum mass 0.1 from P1: 0.05 to G1 (0.025 each to S1, S2) and 0.05 to G2 (all to S3);
    genus mass 0.2 from G2: all to S3. Target: S1 0.035, S2 0.035, S3 0.91, S4 0.01, S5 0.01.
    """
    rank_index = ancestors.shape[1] - 1
    num_classes = ancestors.shape[0]
    batch = labels.shape[0]
    if num_classes == 1:
        return torch.ones(batch, 1, dtype=dtype, device=labels.device)
    flat = float(masses[-1])
    above = [float(s) for s in masses[:rank_index]]
    targets = torch.full((batch, num_classes), flat / (num_classes - 1), dtype=dtype, device=labels.device)
    rows = torch.arange(batch, device=labels.device)
    targets[rows, labels] = 1.0 - flat - sum(above)
    if not any(above):
        return targets
    own = ancestors[labels]  # (B, l+1)
    share_of = 1.0 / fanout.to(dtype)  # (C, l+1): share of an ancestor's mass reaching each class
    # The known ancestors of a class are a contiguous run of columns ending at column l.
    highest_known = (own >= 0).to(torch.int8).argmax(dim=1)
    present = torch.unique(highest_known).tolist()  # a few values; one host sync per call
    for i, mass in enumerate(above):
        if mass == 0:
            continue
        # Mass of rank i flows from the rank-i ancestor, or from the highest known one.
        for source_rank in sorted({max(i, m) for m in present}):
            if len(present) == 1 or source_rank == i and all(m <= i for m in present):
                rows_at = slice(None)
            else:
                rows_at = (highest_known.clamp(min=i) == source_rank).nonzero(as_tuple=True)[0]
            source = own[rows_at, source_rank]  # (b,) the node the mass starts from
            under = ancestors[:, source_rank][None, :] == source[:, None]  # (b, C) its descendants
            targets[rows_at] += mass * under * share_of[:, source_rank][None, :]
    return targets


# --------------------------------------------------------------------------------------------
# Class weights and the loss
# --------------------------------------------------------------------------------------------


def class_weights(counts: torch.Tensor, strength: float = DEFAULT_CLASS_WEIGHT_STRENGTH) -> torch.Tensor:
    """Per-class weights ``w_c = n_c ** -strength``, normalised to mean 1 over seen classes.

    ``n_c`` is the training count. A class unseen in training (``n_c == 0``) is weighted as if
    seen once, i.e. gets the largest weight: if such a class does appear as a label it counts
    as the rarest class rather than being silently dropped. The normalisation makes weights
    readable (1 = an average class); the loss is a weighted MEAN, so it does not change the
    loss. ``strength = 0`` gives all ones.
    """
    counts = counts.to(torch.float64)
    if strength == 0:
        return torch.ones_like(counts, dtype=torch.float32)
    raw = counts.clamp(min=1.0) ** (-float(strength))
    seen = counts > 0
    scale = raw[seen].mean() if bool(seen.any()) else raw.mean()
    return (raw / scale).to(torch.float32)


def soft_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, sample_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """``sum_b w_b * CE(targets_b, softmax(logits_b)) / sum_b w_b`` (plain mean without weights).

    Same reduction as ``F.cross_entropy(..., weight=...)`` with hard labels, where a sample
    weighs what its true class weighs.
    """
    log_probs = F.log_softmax(logits, dim=-1)
    per_sample = -(targets * log_probs).sum(dim=-1)
    if sample_weights is None:
        return per_sample.mean()
    sample_weights = sample_weights.to(per_sample.dtype)
    return (sample_weights * per_sample).sum() / sample_weights.sum()


class TaxonomyLoss(NamedTuple):
    """The total (``sum_r rank_weight_r * loss_r``) and each rank's loss."""

    total: torch.Tensor
    per_rank: dict[str, torch.Tensor]


def _logits_list(logits: Mapping[str, torch.Tensor] | Sequence[torch.Tensor], spec: TaxonomySpec) -> list[torch.Tensor]:
    if isinstance(logits, Mapping):
        missing = [r for r in spec.ranks if r not in logits]
        if missing:
            raise ValueError(f"logits lack rank(s) {missing}")
        out = [logits[r] for r in spec.ranks]
    else:
        out = list(logits)
        if len(out) != len(spec.ranks):
            raise ValueError(f"expected logits for {len(spec.ranks)} ranks, got {len(out)}")
    for rank, size, x in zip(spec.ranks, spec.num_classes, out):
        if x.ndim != 2 or x.shape[1] != size:
            raise ValueError(f"logits of rank {rank!r} must be (batch, {size}), got {tuple(x.shape)}")
    return out


# --------------------------------------------------------------------------------------------
# The heads
# --------------------------------------------------------------------------------------------


class TaxonomyHeads(nn.Module):
    """One ``Linear(hidden_size, C_r)`` per rank (``heads.<rank>``) on the pooled feature.

    Also owns the loss settings and the integer buffers the loss needs (per rank: HLS
    ancestor/fanout tables and class counts). Buffers are non-persistent (rebuilt from the
    spec, never stored in the weights) and integer (``model.to(torch.bfloat16)`` leaves them
    exact); :meth:`reset_buffers` fills them again, e.g. from a model's ``_init_weights``.

    ``label_smoothing``: ``"default"`` (0.02 per rank above the last, 0 for the last), None
    (off) or one mass per rank (see :func:`hierarchical_targets`); ``class_weight_strength``:
    exponent of :func:`class_weights` (0 = off); ``rank_weights``: one factor per rank in the
    total loss (default all 1).
    """

    def __init__(
        self,
        hidden_size: int,
        spec: TaxonomySpec | Mapping[str, Any],
        dropout: float = 0.0,
        label_smoothing: Sequence[float] | str | None = "default",
        class_weight_strength: float = DEFAULT_CLASS_WEIGHT_STRENGTH,
        rank_weights: Sequence[float] | None = None,
    ):
        super().__init__()
        self.spec = TaxonomySpec.from_dict(spec)
        num_ranks = len(self.spec.ranks)
        self.label_smoothing = resolve_label_smoothing(label_smoothing, num_ranks)
        if class_weight_strength < 0:
            raise ValueError(f"class_weight_strength must be >= 0, got {class_weight_strength}")
        self.class_weight_strength = float(class_weight_strength)
        weights = [1.0] * num_ranks if rank_weights is None else [float(w) for w in rank_weights]
        if len(weights) != num_ranks or min(weights) < 0:
            raise ValueError(f"rank_weights needs {num_ranks} non-negative numbers, got {rank_weights}")
        self.rank_weights = weights
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict(
            {rank: nn.Linear(hidden_size, size) for rank, size in zip(self.spec.ranks, self.spec.num_classes)}
        )
        for i, size in enumerate(self.spec.num_classes):
            # Empty placeholders of the final shapes; reset_buffers fills them.
            self.register_buffer(f"ancestors_{i}", torch.empty(size, i + 1, dtype=torch.long), persistent=False)
            self.register_buffer(f"fanout_{i}", torch.empty(size, i + 1, dtype=torch.long), persistent=False)
            self.register_buffer(f"class_counts_{i}", torch.empty(size, dtype=torch.long), persistent=False)
        self.reset_buffers()

    @torch.no_grad()
    def reset_buffers(self) -> None:
        """Recompute every buffer from the spec, in place (skipped for meta tensors)."""
        for i, rank in enumerate(self.spec.ranks):
            ancestors, fanout = hierarchy_tables(self.spec, i)
            values = {
                f"ancestors_{i}": ancestors,
                f"fanout_{i}": fanout,
                f"class_counts_{i}": np.asarray(self.spec.counts[rank], dtype=np.int64),
            }
            for name, value in values.items():
                buffer = getattr(self, name)
                if buffer.is_meta:
                    continue
                buffer.copy_(torch.from_numpy(value))

    def extra_repr(self) -> str:
        sizes = ", ".join(f"{r}={c}" for r, c in zip(self.spec.ranks, self.spec.num_classes))
        return (
            f"ranks=({sizes}), label_smoothing={self.label_smoothing}, "
            f"class_weight_strength={self.class_weight_strength}, rank_weights={self.rank_weights}"
        )

    def forward(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-rank logits ``{rank: (batch, C_rank)}`` in rank order."""
        features = self.dropout(pooled)
        return {rank: head(features) for rank, head in self.heads.items()}

    def class_weights(self, rank_index: int) -> torch.Tensor:
        return class_weights(getattr(self, f"class_counts_{rank_index}"), self.class_weight_strength)

    def soft_targets(self, rank_index: int, labels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """HLS targets at one rank for known true ids ``labels`` (B,)."""
        return hierarchical_targets(
            labels,
            getattr(self, f"ancestors_{rank_index}"),
            getattr(self, f"fanout_{rank_index}"),
            self.label_smoothing,
            dtype=dtype,
        )

    def loss(self, logits: Mapping[str, torch.Tensor] | Sequence[torch.Tensor], labels: torch.Tensor) -> TaxonomyLoss:
        """Weighted-sum multi-rank loss; ``labels`` is ``(batch, n_ranks)`` with -100 = unknown.

        Per rank: the samples whose label is known, HLS soft targets, soft cross-entropy
        weighted by the true class's weight (weighted mean). A rank with no known label in the
        batch contributes a zero that still reaches every head (DDP sees all parameters used).
        """
        per_rank_logits = _logits_list(logits, self.spec)
        if labels.ndim != 2 or labels.shape[1] != len(self.spec.ranks):
            raise ValueError(
                f"labels must be (batch, {len(self.spec.ranks)}) ids for ranks {self.spec.ranks}, "
                f"got {tuple(labels.shape)}"
            )
        total = None
        per_rank = {}
        for i, (rank, x) in enumerate(zip(self.spec.ranks, per_rank_logits)):
            y = labels[:, i].to(x.device)
            known = y != IGNORE_INDEX
            bad = known & ((y < 0) | (y >= x.shape[1]))
            if bool(bad.any()):
                raise ValueError(
                    f"labels[:, {i}] ({rank}) holds {int(y[bad][0])}, but the {rank} head has "
                    f"{x.shape[1]} classes (use {IGNORE_INDEX} for unknown)"
                )
            # Half-precision logits are scored in float32; float64 stays (gradcheck).
            work_dtype = torch.promote_types(x.dtype, torch.float32)
            if bool(known.any()):
                y_known = y[known]
                targets = self.soft_targets(i, y_known, dtype=work_dtype)
                weights = self.class_weights(i).to(x.device)[y_known] if self.class_weight_strength else None
                rank_loss = soft_cross_entropy(x[known].to(work_dtype), targets, weights)
            else:
                rank_loss = x.to(work_dtype).sum() * 0.0
            per_rank[rank] = rank_loss
            term = self.rank_weights[i] * rank_loss
            total = term if total is None else total + term
        return TaxonomyLoss(total, per_rank)


# --------------------------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def top_predictions(
    logits: Mapping[str, torch.Tensor] | Sequence[torch.Tensor], spec: TaxonomySpec
) -> tuple[torch.Tensor, torch.Tensor]:
    """Arg-max ids and their softmax probabilities, each ``(batch, n_ranks)``."""
    probs = [F.softmax(x.float(), dim=-1) for x in _logits_list(logits, spec)]
    best = [p.max(dim=-1) for p in probs]
    return torch.stack([b.indices for b in best], dim=1), torch.stack([b.values for b in best], dim=1)


def predict(
    logits: Mapping[str, torch.Tensor] | Sequence[torch.Tensor],
    spec: TaxonomySpec | Mapping[str, Any],
    min_prob: float | None = None,
) -> list[dict[str, Any]]:
    """Per sample: ``{"labels": {rank: name or None}, "probs": {rank: p}, "consistent": bool,
    "inconsistent_ranks": [rank, ...]}``.

    ``probs`` is the softmax probability of the top class at each rank. With ``min_prob``
    (SINTAX-style cutoff), from the first rank whose probability is below it downwards every
    label is None; the probability is kept, so one can see how far below the cutoff the
    rejected guesses were. ``consistent`` is false when a reported label's parent in the spec
    differs from the label reported at the rank above; ``inconsistent_ranks`` names those
    child ranks. Pairs where either label is None (truncated) or the child's parent is unknown
    to the spec are not checked.
    """
    spec = TaxonomySpec.from_dict(spec)
    if min_prob is not None and not 0.0 <= float(min_prob) <= 1.0:
        raise ValueError(f"min_prob must be within [0, 1], got {min_prob}")
    ids, probs = top_predictions(logits, spec)
    ids, probs = ids.cpu().numpy(), probs.cpu().numpy()
    parents = [spec.parent_indices(r) for r in spec.ranks]
    results = []
    for row_ids, row_probs in zip(ids, probs):
        reported: list[int | None] = []
        truncated = False
        for k, p in zip(row_ids, row_probs):
            truncated = truncated or (min_prob is not None and p < min_prob)
            reported.append(None if truncated else int(k))
        broken = []
        for j in range(1, len(spec.ranks)):
            child, parent = reported[j], reported[j - 1]
            if child is None or parent is None:
                continue
            expected = parents[j][child]
            if expected >= 0 and expected != parent:
                broken.append(spec.ranks[j])
        results.append(
            {
                "labels": {r: (None if k is None else spec.labels[r][k]) for r, k in zip(spec.ranks, reported)},
                "probs": {r: float(p) for r, p in zip(spec.ranks, row_probs)},
                "consistent": not broken,
                "inconsistent_ranks": broken,
            }
        )
    return results


# --------------------------------------------------------------------------------------------
# The part of a *ForTaxonomicClassification model that every family shares
# --------------------------------------------------------------------------------------------


@dataclass
class TaxonomicClassifierOutput(ModelOutput):
    """``logits``: one (batch, C_rank) tensor per rank, in ``config.taxonomy["ranks"]`` order."""

    loss: torch.FloatTensor | None = None
    logits: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


class TaxonomicClassifierMixin:
    """Heads, loss and prediction of BarcodeMamba+ style models, for any backbone family.

    A family's model class mixes this in, calls :meth:`_init_taxonomy` in ``__init__`` and
    :meth:`_taxonomy_forward` on its pooled features; its ``_init_weights`` calls
    ``TaxonomyHeads.reset_buffers``. Settings come from the config: ``taxonomy`` (a
    :meth:`TaxonomySpec.to_dict`), ``taxonomy_label_smoothing``, ``taxonomy_class_weight_strength``,
    ``taxonomy_rank_weights``, ``classifier_dropout``.
    """

    def _init_taxonomy(self, config, hidden_size: int) -> None:
        if not getattr(config, "taxonomy", None):
            raise ValueError(
                "a taxonomic classifier needs config.taxonomy (ranks, labels and parent maps): build it "
                "from labelled training data with barcodefm.data.taxonomy_labels.build_taxonomy_spec(...).to_dict()"
            )
        self.taxonomy = TaxonomyHeads(
            hidden_size,
            config.taxonomy,
            dropout=getattr(config, "classifier_dropout", 0.0) or 0.0,
            label_smoothing=getattr(config, "taxonomy_label_smoothing", "default"),
            class_weight_strength=getattr(config, "taxonomy_class_weight_strength", DEFAULT_CLASS_WEIGHT_STRENGTH),
            rank_weights=getattr(config, "taxonomy_rank_weights", None),
        )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ):
        """``labels``: (batch, n_ranks) ids, -100 where a rank's label is unknown."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        pooled, hidden = self._pooled_features(input_ids, attention_mask, None, output_hidden_states)
        loss, logits = self._taxonomy_forward(pooled, labels)
        if not return_dict:
            return ((loss,) if loss is not None else ()) + (logits,)
        return TaxonomicClassifierOutput(loss=loss, logits=logits, hidden_states=hidden)

    def _taxonomy_forward(self, pooled: torch.Tensor, labels: torch.Tensor | None):
        """``(loss or None, per-rank logits as a tuple in rank order)``."""
        logits = self.taxonomy(pooled)
        loss = self.taxonomy.loss(logits, labels).total if labels is not None else None
        return loss, tuple(x.float() for x in logits.values())

    @property
    def taxonomy_spec(self) -> TaxonomySpec:
        return self.taxonomy.spec

    @torch.no_grad()
    def predict_taxonomy(self, input_ids, attention_mask=None, min_prob: float | None = None) -> list[dict[str, Any]]:
        """Names, probabilities and a consistency flag per rank (see :func:`predict`)."""
        logits = self(input_ids=input_ids, attention_mask=attention_mask).logits
        return self.predict_from_logits(logits, min_prob=min_prob)

    def predict_from_logits(self, logits, min_prob: float | None = None) -> list[dict[str, Any]]:
        return predict(list(logits), self.taxonomy.spec, min_prob=min_prob)


def save_taxonomy_pipeline(config, save_directory) -> None:
    """Ship the ``barcode-classification`` pipeline with a saved taxonomy model: copy its module
    next to the weights and declare it in config.json's ``custom_pipelines`` (transformers reads
    that key in ``pipeline(task, model=DIR, trust_remote_code=True)``)."""
    import json
    import os
    import shutil

    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline_barcodefm.py")
    if not os.path.exists(source):  # loaded from a folder saved without it: nothing to ship
        return
    shutil.copy(source, os.path.join(save_directory, "pipeline_barcodefm.py"))
    path = os.path.join(save_directory, "config.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    data["custom_pipelines"] = {
        "barcode-classification": {
            "impl": "pipeline_barcodefm.BarcodeClassificationPipeline",
            "pt": ["AutoModel"],
            "type": "text",
        }
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    config.custom_pipelines = data["custom_pipelines"]
