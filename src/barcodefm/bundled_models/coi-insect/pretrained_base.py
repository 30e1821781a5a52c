"""What every model family's ``*PreTrainedModel`` shares, whatever its backbone.

:class:`BarcodePreTrainedModel` is the base of ``BarcodeMambaPreTrainedModel`` and
``BarcodeMAEPreTrainedModel``: the folder a model saves (``auto_map`` for every Auto class, the
classification pipeline of a taxonomy model), weight initialisation, the embedding accessors,
pooled features for the classification heads and the ``embed`` API. A family's modeling file ends
with :func:`register_for_auto_classes`, which names its classes for remote code.

Hub module: travels with saved weights. Imports torch, transformers and single-dot siblings only
(a family's modeling file imports the same siblings directly: transformers 5.0 copies only the
modules that the loaded file itself imports).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init

from .pooling import EmbeddingMixin, pool
from .taxonomy import IGNORE_INDEX, TaxonomicClassifierMixin, TaxonomyHeads, save_taxonomy_pipeline


def token_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over every label that is not ``IGNORE_INDEX``; ``logits`` is
    (..., classes) and ``labels`` the matching (...) ids."""
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).to(logits.device), ignore_index=IGNORE_INDEX
    )


def check_inputs(input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None, vocab_size: int) -> None:
    """A backbone's input: exactly one of ids and embeddings, and no id the embedding has no row
    for (the usual sign of input made with another model's tokenizer)."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids or inputs_embeds")
    if input_ids is not None and input_ids.numel() and int(input_ids.max()) >= vocab_size:
        raise ValueError(
            f"token id {int(input_ids.max())} is outside the model's vocabulary ({vocab_size}): "
            "was the input made with this model's tokenizer?"
        )


def can_return_tuple(forward):
    """Decorate a ``forward`` that returns a ``ModelOutput``: it also takes ``return_dict``
    (default ``config.return_dict``), and with ``return_dict=False`` returns the output's fields
    that are set, in order, as a tuple (as transformers' models do)."""

    @functools.wraps(forward)
    def forward_or_tuple(self, *args, return_dict: bool | None = None, **kwargs):
        output = forward(self, *args, **kwargs)
        return_dict = self.config.return_dict if return_dict is None else return_dict
        return output if return_dict else output.to_tuple()

    return forward_or_tuple


class BarcodePreTrainedModel(EmbeddingMixin, PreTrainedModel):
    """Base of every family's ``*PreTrainedModel``.

    The family sets ``config_class`` and ``base_model_prefix`` (the attribute under which a head
    model holds the backbone); the backbone keeps its token embedding at
    ``embeddings.word_embeddings`` and returns ``last_hidden_state`` and ``hidden_states``.
    """

    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    # Our losses are plain means over their own targets: the Trainer must not rescale them by
    # num_items_in_batch (transformers 5 otherwise multiplies by processes / accumulation steps).
    accepts_loss_kwargs = False
    # Set by register_for_auto_classes: config.json's auto_map for every folder of the family, and
    # the family's backbone (the class AutoModel builds), which a head model holds under
    # base_model_prefix.
    hub_auto_map: dict = {}
    backbone_class = None

    def save_pretrained(self, save_directory, *args, **kwargs):
        # Every head's Auto entry, not only this class's, so one folder serves AutoModel,
        # AutoModelForCausalLM, ... (transformers adds just the saved class by itself).
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **self.hub_auto_map}
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if isinstance(self, TaxonomicClassifierMixin):
            save_taxonomy_pipeline(self.config, save_directory)
        return result

    @torch.no_grad()
    def _init_weights(self, module):
        """Normal(0, ``initializer_range``) linear and embedding weights, zero biases, unit
        LayerNorms, PyTorch's own initialisation of a convolution; a family adds its special
        cases after calling this."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight.shape[1] * module.weight.shape[2])
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, TaxonomyHeads):
            module.reset_buffers()  # integer HLS tables; not saved, rebuilt from config.taxonomy

    def _check_inputs(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None) -> None:
        """:func:`check_inputs` against the rows of the token embedding."""
        check_inputs(input_ids, inputs_embeds, self.get_input_embeddings().num_embeddings)

    def _wants_hidden_states(self, output_hidden_states: bool | None) -> bool:
        """``output_hidden_states`` when given, else the config's."""
        return self.config.output_hidden_states if output_hidden_states is None else output_hidden_states

    def _add_backbone(self, config) -> None:
        """A head model's backbone, under ``base_model_prefix`` (the prefix of its weights' names)."""
        setattr(self, self.base_model_prefix, self.backbone_class(config))

    def get_input_embeddings(self):
        return self.base_model.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.base_model.embeddings.word_embeddings = value

    def get_output_embeddings(self):
        return getattr(self, "lm_head", None)

    def _token_states(self, input_ids, attention_mask):
        return self.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def _pooled_features(self, input_ids, attention_mask, inputs_embeds=None, output_hidden_states=None):
        """(pooled features with ``config.pooling``, per-layer hidden states or None) for the
        classification heads; ``mean_all`` re-pads with the N token as published (see pooling.py)."""
        if self.config.pooling == "mean_all" and input_ids is not None:
            return self.embed(input_ids, attention_mask), None
        out = self.base_model(
            input_ids,
            attention_mask,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        return self._pool_token_states(out.last_hidden_state, input_ids, attention_mask), out.hidden_states

    def _pool_token_states(self, hidden, input_ids, attention_mask):
        """The pooled feature of the heads from the backbone's token states."""
        return pool(hidden, attention_mask, self.config.pooling)


def hub_name(cls) -> str:
    """``module.Class`` as config.json's ``auto_map`` names a class of the folder's own code."""
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"


def register_for_auto_classes(pretrained_class, auto_classes: dict, taxonomic_classifier) -> dict[str, str]:
    """Name a family's classes for remote code and return the ``auto_map`` of its folders.

    ``save_pretrained`` copies the modeling file (and its single-dot imports) next to the
    weights and writes this map into config.json, so that every Auto class loads the folder with
    ``trust_remote_code=True`` on a machine without barcodefm. ``auto_classes`` maps an Auto class
    name to the class it builds (``AutoModel``: the backbone, which head models build too).
    Multi-rank heads have no Auto class of their own: a taxonomy folder's ``AutoModel`` is the
    ``taxonomic_classifier`` itself (names per rank, not a bare backbone).
    """
    config_class = pretrained_class.config_class
    config_class.register_for_auto_class()
    auto_map = {"AutoConfig": hub_name(config_class)}
    for auto_class, model_class in auto_classes.items():
        model_class.register_for_auto_class(auto_class)
        auto_map[auto_class] = hub_name(model_class)
    taxonomic_classifier.register_for_auto_class("AutoModel")
    pretrained_class.hub_auto_map = auto_map
    pretrained_class.backbone_class = auto_classes["AutoModel"]
    taxonomic_classifier.hub_auto_map = {**auto_map, "AutoModel": hub_name(taxonomic_classifier)}
    return auto_map
