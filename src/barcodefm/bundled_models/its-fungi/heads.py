"""Classification heads shared by every model family (hub module).

A family's ``*ForSequenceClassification`` is :class:`SequenceClassifierMixin` on the family's
``*PreTrainedModel``, its ``*ForTaxonomicClassification`` :class:`TaxonomyHeadsMixin`: each builds
the family's backbone and its head, and both share one forward (:class:`PooledHeadMixin`) on the
pooled features of ``BarcodePreTrainedModel._pooled_features`` (``pretrained_base.py``), with the
family's pooling.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from .pretrained_base import can_return_tuple, token_cross_entropy
from .taxonomy import TaxonomicClassifierMixin, TaxonomicClassifierOutput


class PooledHeadMixin:
    """The forward of every classification head: the backbone's pooled features (and, on request,
    its per-layer states) -> ``_head`` -> an ``output_class`` of loss, logits and hidden states."""

    output_class = SequenceClassifierOutput

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ):
        pooled, hidden = self._pooled_features(input_ids, attention_mask, inputs_embeds, output_hidden_states)
        loss, logits = self._head(pooled, labels)
        return self.output_class(loss=loss, logits=logits, hidden_states=hidden)

    def _head(self, pooled: torch.Tensor, labels: torch.Tensor | None):
        """``(loss or None, logits)`` of the pooled features."""
        raise NotImplementedError


class SequenceClassifierMixin(PooledHeadMixin):
    """Pooled backbone features -> dropout -> Linear; cross-entropy, -100 ignored."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self._add_backbone(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def _head(self, pooled, labels):
        logits = self.classifier(self.dropout(pooled)).float()
        return (None if labels is None else token_cross_entropy(logits, labels)), logits


class TaxonomyHeadsMixin(PooledHeadMixin, TaxonomicClassifierMixin):
    """One Linear head per taxonomic rank on the pooled backbone feature, with the taxonomy's loss
    and predictions (:class:`TaxonomicClassifierMixin`, ``taxonomy.py``). ``labels``: (batch,
    n_ranks) ids, -100 where a rank's label is unknown; ``logits``: one tensor per rank."""

    output_class = TaxonomicClassifierOutput

    def __init__(self, config):
        super().__init__(config)
        self._add_backbone(config)
        self._init_taxonomy(config, config.hidden_size)
        self.post_init()

    def _head(self, pooled, labels):
        return self._taxonomy_forward(pooled, labels)
