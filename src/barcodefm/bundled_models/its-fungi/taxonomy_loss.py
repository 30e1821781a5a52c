"""The training loss of the taxonomy heads: hierarchical label smoothing and class weights.

Hub module: travels with the weights of a taxonomy model; imports only ``numpy`` and ``torch``.

- Hierarchical label smoothing (HLS): :func:`hierarchy_tables` turns the spec's tree into compact
  per-rank ancestor tables once; :func:`hierarchical_targets` builds a batch's soft targets from
  them (never a C x C matrix). :func:`resolve_label_smoothing` reads the config's setting.
- Class weights: :func:`class_weights` (``n_c ** -strength``) and the weighted
  :func:`soft_cross_entropy`; :class:`TaxonomyLoss` holds the total and each rank's part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .taxonomy_spec import TaxonomySpec

DEFAULT_RANK_SMOOTHING = 0.02
DEFAULT_CLASS_WEIGHT_STRENGTH = 0.5


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
