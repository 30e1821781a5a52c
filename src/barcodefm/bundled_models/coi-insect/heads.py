"""Classification heads shared by every model family (hub module).

A family's ``*ForSequenceClassification`` mixes in :class:`SequenceClassifierMixin` and builds
``self.dropout`` and ``self.classifier``; its pooled features come from the family's
``_pooled_features(input_ids, attention_mask, inputs_embeds, output_hidden_states)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.modeling_outputs import SequenceClassifierOutput

from .taxonomy import IGNORE_INDEX


class SequenceClassifierMixin:
    """Pooled backbone features -> dropout -> Linear; cross-entropy, -100 ignored."""

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
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, labels.to(logits.device), ignore_index=IGNORE_INDEX)
        if not return_dict:
            return ((loss,) if loss is not None else ()) + (logits,)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden)
