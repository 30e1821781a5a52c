"""The multi-rank taxonomic classifier that every model family shares (BarcodeMamba+ style).

Hub module: travels with the weights of a taxonomy model; imports only ``torch``, ``transformers``
and its siblings. A family's ``*ForTaxonomicClassification`` mixes in
:class:`TaxonomicClassifierMixin` (heads, loss, ``predict_taxonomy``), returns a
:class:`TaxonomicClassifierOutput`, and its ``save_pretrained`` ships the ``barcode-classification``
pipeline with :func:`save_taxonomy_pipeline`.

The pieces, one per file:

- ``taxonomy_spec.py``: :class:`TaxonomySpec`, the ranks, labels, tree and training counts
  (``config.taxonomy``), and :data:`IGNORE_INDEX` for an unknown label;
- ``taxonomy_loss.py``: hierarchical label smoothing and the class-weighted soft cross-entropy;
- ``taxonomy_heads.py``: :class:`TaxonomyHeads`, one ``Linear`` per rank plus the loss;
- ``taxonomy_prediction.py``: :func:`predict`, names, probabilities, consistency and a cutoff.

Their names are importable from here as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers.utils import ModelOutput

from .taxonomy_heads import TaxonomyHeads, logits_by_rank
from .taxonomy_loss import (
    DEFAULT_CLASS_WEIGHT_STRENGTH,
    DEFAULT_RANK_SMOOTHING,
    TaxonomyLoss,
    class_weights,
    default_label_smoothing,
    hierarchical_targets,
    hierarchy_tables,
    resolve_label_smoothing,
    soft_cross_entropy,
)
from .taxonomy_prediction import predict, top_predictions
from .taxonomy_spec import IGNORE_INDEX, TaxonomySpec, is_missing_label

_logits_list = logits_by_rank  # its name before the pieces had files of their own


@dataclass
class TaxonomicClassifierOutput(ModelOutput):
    """``logits``: one (batch, C_rank) tensor per rank, in ``config.taxonomy["ranks"]`` order."""

    loss: torch.FloatTensor | None = None
    logits: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


class TaxonomicClassifierMixin:
    """Heads, loss and prediction of BarcodeMamba+ style models, for any backbone family.

    A family's model class mixes this in, calls :meth:`_init_taxonomy` in ``__init__`` and
    :meth:`_taxonomy_forward` on its pooled features in ``forward`` (``heads.py`` holds the one
    every family uses), returning a :class:`TaxonomicClassifierOutput`; its ``_init_weights`` calls
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
        """Names, probabilities and a consistency flag per rank (see :func:`predict`) of tokenised
        barcodes: ``model.predict_taxonomy(**tokenizer(barcodes, padding=True, return_tensors="pt"))``."""
        if isinstance(input_ids, str) or (
            isinstance(input_ids, (list, tuple)) and input_ids and isinstance(input_ids[0], str)
        ):
            raise TypeError(
                "predict_taxonomy takes token ids, not barcode strings: tokenise them first, e.g. "
                'model.predict_taxonomy(**tokenizer(barcodes, padding=True, return_tensors="pt"))'
            )
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


__all__ = [
    "DEFAULT_CLASS_WEIGHT_STRENGTH",
    "DEFAULT_RANK_SMOOTHING",
    "IGNORE_INDEX",
    "TaxonomicClassifierMixin",
    "TaxonomicClassifierOutput",
    "TaxonomyHeads",
    "TaxonomyLoss",
    "TaxonomySpec",
    "class_weights",
    "default_label_smoothing",
    "hierarchical_targets",
    "hierarchy_tables",
    "is_missing_label",
    "logits_by_rank",
    "predict",
    "resolve_label_smoothing",
    "save_taxonomy_pipeline",
    "soft_cross_entropy",
    "top_predictions",
]
