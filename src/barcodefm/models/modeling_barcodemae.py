"""BarcodeMAE: a masked autoencoder over k-mer barcodes whose encoder never sees
``[MASK]``.

Pretraining (``BarcodeMAEForPreTraining``):
1. Masked positions are drawn among the real k-mers of each row (never padding, ``[UNK]`` or other
   special tokens): ``floor(mask_ratio * n)`` of the row's ``n`` maskable k-mers, uniformly, with
   the global torch RNG (so the Trainer's seed controls it). Input that already holds ``[MASK]``
   tokens is reconstructed at those positions instead.
2. The ENCODER gets only the unmasked tokens, compacted to the left, each keeping its ORIGINAL
   position id; the filler after them is masked out of attention.
3. The DECODER gets the full length: the projected encoder state at every unmasked position, a
   learned ``[MASK]`` embedding at masked ones (padding is masked out of its attention), plus its
   own position embeddings.
4. A token classifier over the whole vocabulary (so logit index = token id; specials are never
   targets) and cross-entropy on the masked positions only (mean over the batch's masked tokens).

``mask_in_encoder=True`` is the "BarcodeMAE w/MASK" ablation: the encoder sees ``[MASK]`` in place
at full length and, as in the published code, the decoder gets the projected encoder output at
every position.

Positions count real tokens only (``cumsum(attention_mask) - 1``), so left and right padding give
the same states; the k-mer tokenizer pads left by default and either side is fine.

What every family shares (saving, initialisation, pooling, the embedding API, the classification
heads) lives in ``pretrained_base.py`` and ``heads.py``.

Hub module: travels with saved weights. Imports torch, transformers and single-dot siblings only
(transformers 5.0 copies only the modules a remote-code file imports directly, so this file also
names the modules its siblings import).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import ModelOutput

from .bert_layer import BertEncoderLayer, run_bert_layers
from .config_base import BarcodeConfig  # noqa: F401  (the config's; copied by name)
from .config_checks import check_positive_ints  # noqa: F401  (the config's; copied by name)
from .configuration_barcodemae import BarcodeMAEConfig
from .heads import SequenceClassifierMixin, TaxonomyHeadsMixin
from .pooling import masked_mean, pool
from .pretrained_base import BarcodePreTrainedModel, can_return_tuple, register_for_auto_classes, token_cross_entropy
from .taxonomy import IGNORE_INDEX

# transformers 5.0 copies only the direct single-dot imports: the taxonomy classifier's pieces too.
from .taxonomy_heads import logits_by_rank  # noqa: F401
from .taxonomy_loss import hierarchical_targets  # noqa: F401
from .taxonomy_prediction import predict  # noqa: F401
from .taxonomy_spec import TaxonomySpec  # noqa: F401


@dataclass
class BarcodeMAEPreTrainingOutput(ModelOutput):
    """``masked_positions``: the (batch, length) bool mask of the positions that were hidden from
    the encoder and scored; ``encoder_last_hidden_state``: the encoder states of the compacted
    visible tokens (full length for the w/MASK variant); ``hidden_states`` (on request): the
    encoder's embeddings and each layer's states at the input positions, zero where the encoder
    did not see the token."""

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    masked_positions: torch.BoolTensor | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


def real_token_positions(attention_mask: torch.Tensor) -> torch.LongTensor:
    """Position of each token among the real tokens of its row (0 on padding), whatever the
    padding side."""
    mask = attention_mask.long()
    return ((mask.cumsum(dim=1) - 1) * mask).clamp(min=0)


def compact_left(keep: torch.Tensor, *tensors: torch.Tensor, fill_values: tuple):
    """Move the ``keep`` positions of each row to the left (original order kept) and cut the width
    to the longest row. Returns ``(source_index, valid, *compacted)``: the original position of
    each slot, which slots hold a kept token, and each tensor compacted with its fill value in the
    filler slots."""
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # kept first, in order
    n_keep = keep.sum(dim=1)
    width = max(int(n_keep.max()) if n_keep.numel() else 0, 1)
    order = order[:, :width]
    valid = torch.arange(width, device=keep.device)[None, :] < n_keep[:, None]
    out = [t.gather(1, order).masked_fill(~valid, fill) for t, fill in zip(tensors, fill_values)]
    return (order, valid, *out)


def scatter_back(values: torch.Tensor, source: torch.LongTensor, length: int) -> torch.Tensor:
    """Compacted (batch, width, dim) ``values`` back at their original positions (``source``, as
    :func:`compact_left` gives it) in a (batch, length, dim) tensor of zeros. ``source`` is a
    prefix of a permutation, so no two slots collide."""
    index = source[:, :, None].expand(-1, -1, values.shape[-1])
    return values.new_zeros(values.shape[0], length, values.shape[-1]).scatter(1, index, values)


def bert_layers(config: BarcodeMAEConfig, part: str) -> nn.ModuleList:
    """The encoder's (``part="encoder"``) or the decoder's (``"decoder"``) BERT layers."""
    prefix = {"encoder": "", "decoder": "decoder_"}[part]
    return nn.ModuleList(
        [
            BertEncoderLayer(
                hidden=getattr(config, f"{prefix}hidden_size"),
                heads=getattr(config, f"{prefix}num_attention_heads"),
                intermediate=getattr(config, f"{prefix}intermediate_size"),
                act=config.hidden_act,
                eps=config.layer_norm_eps,
                dropout=config.hidden_dropout_prob,
                attention_dropout=config.attention_probs_dropout_prob,
            )
            for _ in range(getattr(config, f"{prefix}num_hidden_layers"))
        ]
    )


class BarcodeMAEEmbeddings(nn.Module):
    """Encoder input: k-mer embedding + absolute position embedding, LayerNorm, dropout (BERT)."""

    def __init__(self, config: BarcodeMAEConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        return self.dropout(self.layer_norm(inputs_embeds + self.position_embeddings(position_ids)))


class BarcodeMAEDecoderEmbeddings(nn.Module):
    """Decoder input: given states + the decoder's own position embedding, LayerNorm, dropout; holds
    the learned ``[MASK]`` embedding (absent in the w/MASK variant, whose decoder never uses it)."""

    def __init__(self, config: BarcodeMAEConfig):
        super().__init__()
        hidden = config.decoder_hidden_size
        self.mask_embedding = None if config.mask_in_encoder else nn.Parameter(torch.zeros(hidden))
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, hidden)
        self.layer_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, inputs_embeds, position_ids):
        return self.dropout(self.layer_norm(inputs_embeds + self.position_embeddings(position_ids)))


class BarcodeMAEDecoder(nn.Module):
    def __init__(self, config: BarcodeMAEConfig):
        super().__init__()
        self.embeddings = BarcodeMAEDecoderEmbeddings(config)
        self.layers = bert_layers(config, "decoder")

    def forward(self, inputs_embeds, attention_mask, position_ids):
        hidden = self.embeddings(inputs_embeds, position_ids)
        hidden, _ = run_bert_layers(self.layers, hidden, attention_mask)
        return hidden


class BarcodeMAEPreTrainedModel(BarcodePreTrainedModel):
    config_class = BarcodeMAEConfig
    config: BarcodeMAEConfig
    base_model_prefix = "encoder"
    _no_split_modules = ["BertEncoderLayer"]
    _supports_sdpa = True
    # AutoModel on a pretraining checkpoint keeps the encoder and drops the rest silently.
    _keys_to_ignore_on_load_unexpected = [r"^decoder\.", r"^projection\.", r"^lm_head\."]

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, BarcodeMAEDecoderEmbeddings) and module.mask_embedding is not None:
            init.normal_(module.mask_embedding, mean=0.0, std=self.config.initializer_range)

    def content_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Real k-mer positions: attended and not a special token (pad, [MASK], [SEP], [UNK], ...)."""
        real = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        specials = torch.tensor(self.config.special_token_ids, device=input_ids.device, dtype=input_ids.dtype)
        return real & ~torch.isin(input_ids, specials)

    def _pool_token_states(self, hidden, input_ids, attention_mask):
        """``mean`` averages over real k-mers only; ``mean_all`` on ``inputs_embeds`` (no ids to
        re-pad) averages over the real tokens."""
        pooling = self.config.pooling
        if pooling == "mean" and input_ids is not None:
            return masked_mean(hidden, self.content_mask(input_ids, attention_mask))
        return pool(hidden, attention_mask, "mean" if pooling == "mean_all" else pooling)

    def embed(self, input_ids, attention_mask=None, pooling=None, **kwargs):
        """Pooled (batch, hidden) embeddings of the last encoder layer. ``"mean"`` (default)
        averages over real k-mers, padding and special tokens excluded; a row with no
        real k-mer gets the zero vector. Other poolings as in BarcodeMamba."""
        pooling = pooling or self.config.pooling
        if pooling != "mean":
            return super().embed(input_ids, attention_mask, pooling=pooling, **kwargs)
        hidden = self._token_states(input_ids, attention_mask)
        return masked_mean(hidden, self.content_mask(input_ids, attention_mask))


class BarcodeMAEModel(BarcodeMAEPreTrainedModel):
    """The encoder (what downstream use loads): token states (batch, length, hidden_size)."""

    def __init__(self, config: BarcodeMAEConfig):
        super().__init__(config)
        self.embeddings = BarcodeMAEEmbeddings(config)
        self.layers = bert_layers(config, "encoder")
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ):
        """``position_ids`` default to each token's index among the real tokens of its row."""
        self._check_inputs(input_ids, inputs_embeds)
        output_hidden_states = self._wants_hidden_states(output_hidden_states)
        shape = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        device = input_ids.device if input_ids is not None else inputs_embeds.device
        if attention_mask is None:
            attention_mask = torch.ones(shape, dtype=torch.long, device=device)
        if position_ids is None:
            position_ids = real_token_positions(attention_mask)
        self._check_positions(position_ids)
        hidden = self.embeddings(input_ids=input_ids, position_ids=position_ids, inputs_embeds=inputs_embeds)
        hidden, all_hidden = run_bert_layers(self.layers, hidden, attention_mask, output_hidden_states)
        return BaseModelOutput(last_hidden_state=hidden, hidden_states=all_hidden)

    def _check_positions(self, position_ids):
        if position_ids.numel() and int(position_ids.max()) >= self.config.max_position_embeddings:
            raise ValueError(
                f"a sequence has {int(position_ids.max()) + 1} tokens but max_position_embeddings is "
                f"{self.config.max_position_embeddings}: truncate it (tokenizer max_length) or use a model "
                "with more positions"
            )


class BarcodeMAEForPreTraining(BarcodeMAEPreTrainedModel):
    """Encoder + decoder for masked-autoencoder pretraining (see the module docstring).

    ``forward(input_ids, attention_mask)`` needs no labels: the targets are the input ids (or
    ``labels`` when given, ``-100`` ignored). ``masked_positions`` (bool, batch x length) fixes the
    mask instead of drawing it. ``save_pretrained(dir, encoder_only=True)`` / ``save_encoder(dir)``
    export the encoder alone, which ``AutoModel`` loads as ``BarcodeMAEModel``.
    """

    def __init__(self, config: BarcodeMAEConfig):
        super().__init__(config)
        self.encoder = BarcodeMAEModel(config)
        self.projection = nn.Linear(config.hidden_size, config.decoder_hidden_size)
        self.decoder = BarcodeMAEDecoder(config)
        self.lm_head = nn.Linear(config.decoder_hidden_size, config.vocab_size)
        self.post_init()

    def save_pretrained(self, save_directory, *args, encoder_only: bool = False, **kwargs):
        if encoder_only:
            return self.encoder.save_pretrained(save_directory, *args, **kwargs)
        return super().save_pretrained(save_directory, *args, **kwargs)

    def save_encoder(self, save_directory, *args, **kwargs):
        """Write the encoder alone (config + weights + hub code): what downstream use loads."""
        return self.encoder.save_pretrained(save_directory, *args, **kwargs)

    def choose_masked_positions(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """``floor(mask_ratio * n)`` of the ``n`` real k-mers of each row, uniformly at random (the
        global torch RNG); floor keeps at least one visible k-mer in every non-empty row."""
        maskable = self.content_mask(input_ids, attention_mask)
        n_mask = torch.floor(maskable.sum(dim=1).double() * self.config.mask_ratio).long()
        scores = torch.rand(input_ids.shape, device=input_ids.device).masked_fill(~maskable, 2.0)
        ranks = scores.argsort(dim=1).argsort(dim=1)  # non-maskable positions rank last
        return maskable & (ranks < n_mask[:, None])

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        masked_positions: torch.Tensor | None = None,
        return_loss: bool = True,
        output_hidden_states: bool | None = None,
        **kwargs,
    ):
        if input_ids is None:
            raise ValueError("BarcodeMAEForPreTraining needs input_ids (it masks k-mers itself)")
        output_hidden_states = self._wants_hidden_states(output_hidden_states)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        real = attention_mask.bool()
        positions = real_token_positions(attention_mask)
        mask_id = self.config.mask_token_id
        user_masked = masked_positions is None and bool((input_ids == mask_id).any())
        if masked_positions is not None:
            masked_positions = masked_positions.to(device=input_ids.device, dtype=torch.bool)
            if masked_positions.shape != input_ids.shape:
                raise ValueError(
                    f"masked_positions has shape {tuple(masked_positions.shape)}, input_ids {tuple(input_ids.shape)}"
                )
            if bool((masked_positions & ~real).any()):
                raise ValueError("masked_positions marks padding positions; only real tokens can be masked")
        elif user_masked:
            masked_positions = (input_ids == mask_id) & real  # reconstruct the caller's [MASK]s
        else:
            masked_positions = self.choose_masked_positions(input_ids, attention_mask)

        if self.config.mask_in_encoder:
            encoder_ids = input_ids.masked_fill(masked_positions, mask_id)
            encoder = self.encoder(
                encoder_ids, attention_mask, position_ids=positions, output_hidden_states=output_hidden_states
            )
            encoder_states, hidden_states = encoder.last_hidden_state, encoder.hidden_states
            decoder_inputs = self.projection(encoder_states)
        else:
            visible = real & ~masked_positions
            pad_id = self.config.pad_token_id if self.config.pad_token_id is not None else 0
            source, valid, encoder_ids, encoder_positions = compact_left(
                visible, input_ids, positions, fill_values=(pad_id, 0)
            )
            encoder = self.encoder(
                encoder_ids, valid.long(), position_ids=encoder_positions, output_hidden_states=output_hidden_states
            )
            encoder_states = encoder.last_hidden_state
            scattered = scatter_back(self.projection(encoder_states), source, input_ids.shape[1])
            # Filler slots land on hidden positions, which the [MASK] embedding overwrites.
            mask_embedding = self.decoder.embeddings.mask_embedding.to(scattered.dtype)
            decoder_inputs = torch.where(visible[:, :, None], scattered, mask_embedding)
            hidden_states = None
            if encoder.hidden_states is not None:
                hidden_states = tuple(
                    scatter_back(states, source, input_ids.shape[1]).masked_fill(~visible[:, :, None], 0.0)
                    for states in encoder.hidden_states
                )
        decoder_states = self.decoder(decoder_inputs, attention_mask, positions)
        logits = self.lm_head(decoder_states).float()

        loss = None
        targets = labels if labels is not None else (None if user_masked else input_ids)
        if return_loss and targets is not None:
            targets = targets.to(logits.device).masked_fill(~masked_positions, IGNORE_INDEX)
            if bool((targets != IGNORE_INDEX).any()):
                loss = token_cross_entropy(logits, targets)
            else:  # nothing masked in this batch (rows of one k-mer): a zero that still has a graph
                loss = logits.sum() * 0.0
        return BarcodeMAEPreTrainingOutput(
            loss=loss,
            logits=logits,
            masked_positions=masked_positions,
            encoder_last_hidden_state=encoder_states,
            hidden_states=hidden_states,
        )


class BarcodeMAEForSequenceClassification(SequenceClassifierMixin, BarcodeMAEPreTrainedModel):
    """Pooled encoder features (mean over real k-mers by default) -> dropout -> Linear."""


class BarcodeMAEForTaxonomicClassification(TaxonomyHeadsMixin, BarcodeMAEPreTrainedModel):
    """Multi-rank taxonomy heads (as in BarcodeMamba+) on the MAE encoder: one Linear head per
    taxonomic rank on the pooled encoder feature, hierarchical label smoothing and a class-weighted
    loss (see ``taxonomy.py``). ``labels`` is (batch, n_ranks) with -100 where a rank's label is
    unknown."""


__all__ = [
    "BarcodeMAEPreTrainedModel",
    "BarcodeMAEModel",
    "BarcodeMAEForPreTraining",
    "BarcodeMAEForSequenceClassification",
    "BarcodeMAEForTaxonomicClassification",
]

AUTO_MAP = register_for_auto_classes(
    BarcodeMAEPreTrainedModel,
    {
        "AutoModel": BarcodeMAEModel,
        "AutoModelForPreTraining": BarcodeMAEForPreTraining,
        "AutoModelForMaskedLM": BarcodeMAEForPreTraining,
        "AutoModelForSequenceClassification": BarcodeMAEForSequenceClassification,
    },
    taxonomic_classifier=BarcodeMAEForTaxonomicClassification,
)
