"""The taxonomy heads: one ``Linear`` per rank on a model's pooled feature, and their loss.

Hub module: travels with the weights of a taxonomy model; imports only ``numpy`` and ``torch``.
The loss maths (hierarchical label smoothing, class weights) is in ``taxonomy_loss.py``; the label
space (ranks, labels, tree, counts) in ``taxonomy_spec.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .taxonomy_loss import (
    DEFAULT_CLASS_WEIGHT_STRENGTH,
    TaxonomyLoss,
    class_weights,
    hierarchical_targets,
    hierarchy_tables,
    resolve_label_smoothing,
    soft_cross_entropy,
)
from .taxonomy_spec import IGNORE_INDEX, TaxonomySpec


def logits_by_rank(
    logits: Mapping[str, torch.Tensor] | Sequence[torch.Tensor], spec: TaxonomySpec
) -> list[torch.Tensor]:
    """One checked ``(batch, C_rank)`` tensor per rank, in rank order, from a ``{rank: logits}``
    mapping (what the heads return) or a sequence in rank order (a model output's ``logits``)."""
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
        per_rank_logits = logits_by_rank(logits, self.spec)
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
