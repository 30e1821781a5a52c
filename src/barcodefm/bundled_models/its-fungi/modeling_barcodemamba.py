"""BarcodeMamba: a Mamba-2 / Mamba-1 language model over DNA barcodes, with heads for
next-token prediction, the published MLM variant, sequence classification and the multi-rank
taxonomy of BarcodeMamba+. What every family shares (saving, initialisation, pooling, the
embedding API, the classification heads) lives in ``pretrained_base.py`` and ``heads.py``.

Hub module: travels with saved weights. Imports torch, transformers and single-dot siblings
only; the CUDA kernels are loaded lazily by the mixers (see ``mamba_kernels.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin
from transformers import initialization as init
from transformers.utils import ModelOutput

from .config_base import BarcodeConfig  # noqa: F401  (the config's; copied by name)
from .config_checks import check_positive_ints  # noqa: F401  (the config's; copied by name)
from .configuration_barcodemamba import BarcodeMambaConfig
from .heads import SequenceClassifierMixin, TaxonomyHeadsMixin
from .mamba_cache import BarcodeMambaCache

# transformers 5.0 copies only the modules a remote-code file imports directly into its module
# cache, not what those import in turn: name every module the mixers, the config and
# pretrained_base need here as well.
from .mamba_kernels import load_kernels  # noqa: F401
from .mixer_common import causal_conv  # noqa: F401
from .mixer_mamba1 import Mamba1Mixer
from .mixer_mamba2 import Mamba2Mixer
from .pooling import pool  # noqa: F401  (pretrained_base's; copied by name)
from .pretrained_base import BarcodePreTrainedModel, can_return_tuple, register_for_auto_classes, token_cross_entropy
from .selective_scan import selective_scan  # noqa: F401
from .ssd_chunk_scan import ssd_chunk_scan  # noqa: F401
from .taxonomy import IGNORE_INDEX

# transformers 5.0 copies only the direct single-dot imports: the taxonomy classifier's pieces too.
from .taxonomy_heads import logits_by_rank  # noqa: F401
from .taxonomy_loss import hierarchical_targets  # noqa: F401
from .taxonomy_prediction import predict  # noqa: F401
from .taxonomy_spec import TaxonomySpec  # noqa: F401

# The recurrent state travels under the name ``cache``: transformers 5.24 renamed the cache of every
# model output to it (and rewrites the old ``cache_params=`` keyword), while older releases leave a
# field of that name alone. Our own code never uses the old names, so the classes below mean the
# same thing on every transformers 5.x; ``take_cache`` still accepts the old keywords from callers.


@dataclass
class BarcodeMambaOutput(ModelOutput):
    last_hidden_state: torch.FloatTensor | None = None
    cache: BarcodeMambaCache | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class BarcodeMambaLMOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    cache: BarcodeMambaCache | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def take_cache(cache, kwargs: dict):
    """The recurrent-state cache given as ``cache`` or under a pre-5.24 name (``cache_params``,
    ``past_key_values``, removed from ``kwargs``). Only our own cache type counts: anything else
    (e.g. a cache object ``generate`` made for attention models) means "no state yet"."""
    for old_name in ("cache_params", "past_key_values"):
        old = kwargs.pop(old_name, None)
        if cache is None:
            cache = old
    return cache if isinstance(cache, BarcodeMambaCache) else None


class BarcodeMambaEmbeddings(nn.Module):
    def __init__(self, config: BarcodeMambaConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.padded_vocab_size, config.d_model)
        self.dropout = nn.Dropout(config.embed_dropout)

    def forward(self, input_ids):
        return self.dropout(self.word_embeddings(input_ids))


class BarcodeMambaMLP(nn.Module):
    def __init__(self, config: BarcodeMambaConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.d_intermediate)
        self.fc2 = nn.Linear(config.d_intermediate, config.d_model)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class BarcodeMambaBlock(nn.Module):
    """Pre-norm block over a residual stream: norm1 -> mixer, then norm2 -> MLP."""

    def __init__(self, config: BarcodeMambaConfig, layer_idx: int):
        super().__init__()
        self.residual_in_fp32 = config.residual_in_fp32
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        mixer_cls = Mamba2Mixer if config.mamba_version == 2 else Mamba1Mixer
        self.mixer = mixer_cls(config, layer_idx)
        if config.d_intermediate > 0:
            self.norm2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
            self.mlp = BarcodeMambaMLP(config)
        else:  # as in mamba_ssm: d_intermediate = 0 means no MLP and no second norm
            self.norm2 = None
            self.mlp = None

    def _add(self, hidden, residual):
        residual = hidden if residual is None else hidden + residual
        return residual.float() if self.residual_in_fp32 else residual

    def forward(self, hidden, residual, attention_mask=None, state=None):
        dtype = hidden.dtype
        residual = self._add(hidden, residual)
        hidden = self.mixer(
            self.norm1(residual.to(self.norm1.weight.dtype)), attention_mask=attention_mask, state=state
        )
        if self.mlp is not None:
            residual = self._add(hidden, residual)
            hidden = self.mlp(self.norm2(residual.to(self.norm2.weight.dtype)))
        return hidden.to(dtype), residual


class BarcodeMambaPreTrainedModel(BarcodePreTrainedModel):
    config_class = BarcodeMambaConfig
    config: BarcodeMambaConfig
    base_model_prefix = "backbone"
    _no_split_modules = ["BarcodeMambaBlock"]
    _is_stateful = True

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        # Residual-path outputs are scaled down with depth (GPT-2 / mamba_ssm scheme).
        residual_std = self.config.initializer_range / math.sqrt(2 * self.config.n_layer)
        if isinstance(module, (Mamba2Mixer, Mamba1Mixer)):
            init.normal_(module.out_proj.weight, mean=0.0, std=residual_std)
            if not getattr(module.A_log, "_is_hf_initialized", False):
                module.reset_ssm_parameters()
            if isinstance(module, Mamba2Mixer):
                init.ones_(module.norm.weight)
        elif isinstance(module, BarcodeMambaMLP):
            init.normal_(module.fc2.weight, mean=0.0, std=residual_std)


class BarcodeMambaModel(BarcodeMambaPreTrainedModel):
    """The backbone: token states (batch, length, d_model) after the final LayerNorm."""

    def __init__(self, config: BarcodeMambaConfig):
        super().__init__(config)
        self.embeddings = BarcodeMambaEmbeddings(config)
        self.layers = nn.ModuleList([BarcodeMambaBlock(config, i) for i in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: BarcodeMambaCache | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ):
        self._check_inputs(input_ids, inputs_embeds)
        cache = take_cache(cache, kwargs)
        output_hidden_states = self._wants_hidden_states(output_hidden_states)
        if use_cache and cache is None:
            cache = BarcodeMambaCache(self.config.n_layer)
        hidden = self.embeddings(input_ids) if inputs_embeds is None else self.embeddings.dropout(inputs_embeds)
        rows = self._cpu_block_rows(hidden, cache)
        if rows < hidden.shape[0]:
            # Sequences are independent, so row blocks give the same result; on CPU they keep each
            # intermediate small enough for the allocator to reuse (2-3x faster than one batch).
            blocks = [
                self._run_layers(
                    hidden[i : i + rows],
                    None if attention_mask is None else attention_mask[i : i + rows],
                    None,
                    output_hidden_states,
                )
                for i in range(0, hidden.shape[0], rows)
            ]
            hidden = torch.cat([h for h, _ in blocks])
            all_hidden = (
                tuple(torch.cat(layer) for layer in zip(*(a for _, a in blocks))) if output_hidden_states else None
            )
        else:
            hidden, all_hidden = self._run_layers(hidden, attention_mask, cache, output_hidden_states)
        if cache is not None:
            cache.seqlen_offset += hidden.shape[1]
        return BarcodeMambaOutput(last_hidden_state=hidden, cache=cache, hidden_states=all_hidden)

    def _cpu_block_rows(self, hidden, cache) -> int:
        """Rows per block of the CPU forward (``config.cpu_block_tokens`` tokens); the whole
        batch on other devices, with a cache, or when the option is 0."""
        budget = self.config.cpu_block_tokens
        if budget <= 0 or cache is not None or hidden.device.type != "cpu":
            return hidden.shape[0]
        return max(1, budget // max(1, hidden.shape[1]))

    def _run_layers(self, hidden, attention_mask, cache, output_hidden_states):
        residual = None
        all_hidden = () if output_hidden_states else None
        for i, layer in enumerate(self.layers):
            if output_hidden_states:
                all_hidden += (hidden,)
            state = cache[i] if cache is not None else None
            hidden, residual = layer(hidden, residual, attention_mask=attention_mask, state=state)
        residual = hidden + residual if residual is not None else hidden
        hidden = self.ln_f(residual.to(self.ln_f.weight.dtype))
        if output_hidden_states:
            all_hidden += (hidden,)
        return hidden, all_hidden


class BarcodeMambaWithLMHead(BarcodeMambaPreTrainedModel):
    """The backbone and a vocabulary head (not tied to the embedding, as published): the forward
    that the causal and the masked language model share. Each supplies its loss (``lm_loss``)."""

    def __init__(self, config: BarcodeMambaConfig):
        super().__init__(config)
        self._add_backbone(config)
        self.lm_head = nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: BarcodeMambaCache | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ):
        out = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            cache=take_cache(cache, kwargs),
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self._vocab_logits(out.last_hidden_state)
        loss = None if labels is None else self.lm_loss(logits, labels, input_ids, attention_mask)
        return BarcodeMambaLMOutput(loss=loss, logits=logits, cache=out.cache, hidden_states=out.hidden_states)

    def _vocab_logits(self, hidden):
        """LM logits; [PAD] and the rows that only pad the vocabulary to a multiple of 8 can never
        be predicted (generation cannot sample them; a converted published model, which had no
        [PAD], keeps its exact distribution)."""
        logits = self.lm_head(hidden.to(self.lm_head.weight.dtype)).float()
        if self.config.padded_vocab_size > self.config.vocab_size:
            logits[..., self.config.vocab_size :] = float("-inf")
        if self.config.pad_token_id is not None:
            logits[..., self.config.pad_token_id] = float("-inf")  # padding is never a prediction
        return logits

    def lm_loss(self, logits, labels, input_ids, attention_mask):
        """The mean loss of ``logits`` against ``labels``: each language model defines its own."""
        raise NotImplementedError


def ignore_padding(labels, attention_mask, pad_token_id):
    """A copy of ``labels`` with every pad position set to ``IGNORE_INDEX``."""
    labels = labels.clone()
    if attention_mask is not None and attention_mask.shape == labels.shape:
        labels[attention_mask == 0] = IGNORE_INDEX
    if pad_token_id is not None:
        labels[labels == pad_token_id] = IGNORE_INDEX
    return labels


def causal_lm_loss(logits, labels, attention_mask=None, pad_token_id=None):
    """Mean cross-entropy of predicting token t+1 from tokens <= t; pads never count."""
    labels = ignore_padding(labels, attention_mask, pad_token_id)
    shift_labels = labels[:, 1:].clone()
    if attention_mask is not None and attention_mask.shape == labels.shape:
        # A pad position does not predict the first real token: the unpadded sequence has no
        # such term, and padding must never change the loss.
        shift_labels[attention_mask[:, :-1] == 0] = IGNORE_INDEX
    return token_cross_entropy(logits[:, :-1], shift_labels)


class BarcodeMambaForCausalLM(BarcodeMambaWithLMHead, GenerationMixin):
    """Next-token prediction (the published pretraining objective). Loss ignores padding.
    ``generate()`` decodes step by step with a recurrent state cache."""

    def lm_loss(self, logits, labels, input_ids, attention_mask):
        return causal_lm_loss(logits, labels, attention_mask, self.config.pad_token_id)

    def _supports_default_dynamic_cache(self) -> bool:
        return False  # we build our own recurrent cache in forward

    def prepare_inputs_for_generation(
        self, input_ids, attention_mask=None, cache=None, use_cache=None, inputs_embeds=None, **kwargs
    ):
        cache = take_cache(cache, kwargs)
        if cache is not None and cache.seqlen_offset > 0:
            # The state already holds the prompt: feed only the newest token, unmasked.
            return {"input_ids": input_ids[:, -1:], "cache": cache, "use_cache": True}
        return {"input_ids": input_ids, "attention_mask": attention_mask, "cache": cache, "use_cache": use_cache}

    def _update_model_kwargs_for_generation(self, outputs, model_kwargs, *args, **kwargs):
        # generate() before transformers 5.24 carries a cache from one step to the next only under
        # its old names; hand ours on explicitly (on 5.24+ this repeats what generate already did).
        model_kwargs = super()._update_model_kwargs_for_generation(outputs, model_kwargs, *args, **kwargs)
        if getattr(outputs, "cache", None) is not None:
            model_kwargs["cache"] = outputs.cache
        return model_kwargs


class BarcodeMambaForMaskedLM(BarcodeMambaWithLMHead):
    """The published BarcodeMamba MLM variant: ~50% of input positions are [MASK], the
    model stays causal, and the target at each position is the ORIGINAL token there (no shift).
    ``config.mlm_loss_on="all"`` (published) scores every real position, ``"masked"`` only the
    positions whose input is the mask token."""

    def lm_loss(self, logits, labels, input_ids, attention_mask):
        labels = ignore_padding(labels, attention_mask, self.config.pad_token_id)
        if self.config.mlm_loss_on == "masked":
            if input_ids is None:
                raise ValueError("mlm_loss_on='masked' needs input_ids to find the masked positions")
            labels[input_ids != self.config.mask_token_id] = IGNORE_INDEX
        return token_cross_entropy(logits, labels)


class BarcodeMambaForSequenceClassification(SequenceClassifierMixin, BarcodeMambaPreTrainedModel):
    """Pooled backbone features -> dropout -> Linear (species fine-tuning)."""


class BarcodeMambaForTaxonomicClassification(TaxonomyHeadsMixin, BarcodeMambaPreTrainedModel):
    """BarcodeMamba+: one Linear head per taxonomic rank on the pooled backbone feature,
    hierarchical label smoothing and an inverse-square-root class-weighted loss. ``labels`` is
    (batch, n_ranks) with -100 where a rank's label is unknown."""


__all__ = [
    "BarcodeMambaForTaxonomicClassification",
    "BarcodeMambaPreTrainedModel",
    "BarcodeMambaModel",
    "BarcodeMambaForCausalLM",
    "BarcodeMambaForMaskedLM",
    "BarcodeMambaForSequenceClassification",
]

AUTO_MAP = register_for_auto_classes(
    BarcodeMambaPreTrainedModel,
    {
        "AutoModel": BarcodeMambaModel,
        "AutoModelForCausalLM": BarcodeMambaForCausalLM,
        "AutoModelForMaskedLM": BarcodeMambaForMaskedLM,
        "AutoModelForSequenceClassification": BarcodeMambaForSequenceClassification,
    },
    taxonomic_classifier=BarcodeMambaForTaxonomicClassification,
)
