"""Classification heads shared by every model family (hub module).

A family's ``*ForSequenceClassification`` is :class:`SequenceClassifierMixin` on the family's
``*PreTrainedModel``, its ``*ForTaxonomicClassification`` :class:`TaxonomyHeadsMixin`: each builds
the family's backbone and its head, and reads pooled features from
``BarcodePreTrainedModel._pooled_features`` (``pretrained_base.py``), with the family's pooling.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from .pretrained_base import token_cross_entropy
from .taxonomy import TaxonomicClassifierMixin


class SequenceClassifierMixin:
    """Pooled backbone features -> dropout -> Linear; cross-entropy, -100 ignored."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self._add_backbone(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ):
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        pooled, hidden = self._pooled_features(input_ids, attention_mask, inputs_embeds, output_hidden_states)
        logits = self.classifier(self.dropout(pooled)).float()
        loss = None if labels is None else token_cross_entropy(logits, labels)
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden)
        return output if return_dict else output.to_tuple()


class TaxonomyHeadsMixin(TaxonomicClassifierMixin):
    """One Linear head per taxonomic rank on the pooled backbone feature, with the taxonomy's loss
    and predictions (:class:`TaxonomicClassifierMixin`, ``taxonomy.py``)."""

    def __init__(self, config):
        super().__init__(config)
        self._add_backbone(config)
        self._init_taxonomy(config, config.hidden_size)
        self.post_init()
