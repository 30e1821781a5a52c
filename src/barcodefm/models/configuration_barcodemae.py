"""Configuration of BarcodeMAE: a BERT encoder that never sees ``[MASK]`` and a BERT
decoder that reconstructs the masked k-mers.

Hub module: travels with saved weights; imports transformers and the standard library only.
"""

from __future__ import annotations

from transformers import PretrainedConfig

POOLINGS = ("mean", "mean_all", "last")


def _check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"BarcodeMAEConfig.{name} must be a positive integer, got {value!r}")


def _check_probability(name, value):
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"BarcodeMAEConfig.{name} must be in [0, 1), got {value!r}")


class BarcodeMAEConfig(PretrainedConfig):
    """Hyper-parameters of BarcodeMAE.

    Encoder fields keep BERT's names (``hidden_size``, ``num_hidden_layers``, ...) so generic Hugging
    Face code (Trainer, PEFT, pipelines) finds them; the decoder has its own ``decoder_*`` sizes.
    Defaults are the published model: encoder and decoder 6 layers, 6 heads, hidden 768,
    intermediate 3072, GELU, dropout 0.1, 512 positions, 6-mer vocabulary (``[MASK]=0 [SEP]=1
    [UNK]=2``, the 4096 k-mers from 3, ``[PAD]=4099``), mask ratio 0.5.

    - ``mask_in_encoder``: the "BarcodeMAE w/MASK" ablation (BarcodeBERT-style): the encoder sees
      ``[MASK]`` in place at full length.
    - ``pooling``: default pooling of :meth:`embed` and of the classification head; ``"mean"``
      averages the last encoder layer over real tokens, special tokens excluded.
    - ``n_token_id``: filler of the ``mean_all`` pooling shared with BarcodeMamba (``[UNK]`` for
      k-mer vocabularies).
    - ``taxonomy*``: the multi-rank heads of ``BarcodeMAEForTaxonomicClassification``,
      as in BarcodeMamba+: the rank tree (``TaxonomySpec.to_dict()``), hierarchical label
      smoothing, class-weight strength and per-rank loss weights.

    :func:`barcodefm.config_from_tokenizer` (with ``config_class=BarcodeMAEConfig``) sets the
    vocabulary, special ids and ``k_mer`` from a tokenizer.
    """

    model_type = "barcodemae"
    # Output fields the Trainer must not gather across evaluation batches (their length varies).
    keys_to_ignore_at_inference = ["masked_positions", "encoder_last_hidden_state"]

    def __init__(
        self,
        vocab_size: int = 4100,
        k_mer: int = 6,
        hidden_size: int = 768,
        num_hidden_layers: int = 6,
        num_attention_heads: int = 6,
        intermediate_size: int = 3072,
        decoder_hidden_size: int = 768,
        decoder_num_hidden_layers: int = 6,
        decoder_num_attention_heads: int = 6,
        decoder_intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        layer_norm_eps: float = 1e-12,
        initializer_range: float = 0.02,
        mask_ratio: float = 0.5,
        mask_in_encoder: bool = False,
        pad_token_id: int | None = 4099,
        mask_token_id: int = 0,
        sep_token_id: int | None = 1,
        unk_token_id: int | None = 2,
        n_token_id: int | None = 2,
        pooling: str = "mean",
        classifier_dropout: float = 0.1,
        taxonomy: dict | None = None,
        taxonomy_label_smoothing: str | list[float] | None = "default",
        taxonomy_class_weight_strength: float = 0.5,
        taxonomy_rank_weights: list[float] | None = None,
        tie_word_embeddings: bool = False,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.k_mer = k_mer
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.decoder_hidden_size = decoder_hidden_size
        self.decoder_num_hidden_layers = decoder_num_hidden_layers
        self.decoder_num_attention_heads = decoder_num_attention_heads
        self.decoder_intermediate_size = decoder_intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.mask_ratio = mask_ratio
        self.mask_in_encoder = mask_in_encoder
        self.pooling = pooling
        self.classifier_dropout = classifier_dropout
        self.taxonomy = taxonomy
        self.taxonomy_label_smoothing = taxonomy_label_smoothing
        self.taxonomy_class_weight_strength = taxonomy_class_weight_strength
        self.taxonomy_rank_weights = taxonomy_rank_weights
        super().__init__(pad_token_id=pad_token_id, tie_word_embeddings=tie_word_embeddings, **kwargs)
        # Set after the base class, which may reset token ids it knows about to its own defaults.
        self.mask_token_id = mask_token_id
        self.sep_token_id = sep_token_id
        self.unk_token_id = unk_token_id
        self.n_token_id = n_token_id
        self.validate_numbers()

    @property
    def special_token_ids(self) -> list[int]:
        """Ids that are not k-mers: never masked, never averaged into an embedding."""
        ids = (
            self.mask_token_id,
            self.sep_token_id,
            self.unk_token_id,
            self.pad_token_id,
            getattr(self, "cls_token_id", None),
            getattr(self, "bos_token_id", None),
            getattr(self, "eos_token_id", None),
        )
        return sorted({i for i in ids if isinstance(i, int)})

    def validate_numbers(self):
        for name in (
            "vocab_size",
            "k_mer",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "decoder_hidden_size",
            "decoder_num_hidden_layers",
            "decoder_num_attention_heads",
            "decoder_intermediate_size",
            "max_position_embeddings",
        ):
            _check_positive_int(name, getattr(self, name))
        if self.k_mer > 8:
            raise ValueError(f"BarcodeMAEConfig.k_mer must be in 1..8, got {self.k_mer}")
        for prefix in ("", "decoder_"):
            hidden, heads = getattr(self, f"{prefix}hidden_size"), getattr(self, f"{prefix}num_attention_heads")
            if hidden % heads:
                raise ValueError(
                    f"BarcodeMAEConfig.{prefix}hidden_size ({hidden}) must be divisible by "
                    f"{prefix}num_attention_heads ({heads})"
                )
        if not isinstance(self.mask_ratio, (int, float)) or not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"BarcodeMAEConfig.mask_ratio must be strictly between 0 and 1, got {self.mask_ratio!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            _check_probability(name, getattr(self, name))
        if self.layer_norm_eps <= 0:
            raise ValueError(f"BarcodeMAEConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"BarcodeMAEConfig.pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not isinstance(self.mask_token_id, int):
            raise ValueError("BarcodeMAEConfig.mask_token_id is required (the id of [MASK])")
        for name in ("pad_token_id", "mask_token_id", "sep_token_id", "unk_token_id", "n_token_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(
                    f"BarcodeMAEConfig.{name} ({value}) must be a token id below vocab_size ({self.vocab_size})"
                )
