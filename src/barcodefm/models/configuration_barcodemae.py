"""Configuration of BarcodeMAE: a BERT encoder that never sees ``[MASK]`` and a BERT
decoder that reconstructs the masked k-mers.

Hub module: travels with saved weights; imports single-dot siblings only.
"""

from __future__ import annotations

from .config_base import BarcodeConfig
from .config_checks import check_positive_ints, check_probabilities, check_token_ids


class BarcodeMAEConfig(BarcodeConfig):
    r"""Hyper-parameters of BarcodeMAE.

    Encoder arguments keep BERT's names (``hidden_size``, ``num_hidden_layers``, ...) so generic
    Hugging Face code (Trainer, PEFT, pipelines) finds them; the decoder has its own ``decoder_*``
    sizes. The defaults are the published model: encoder and decoder of 6 layers, 6 heads, hidden
    size 768, 512 positions, the 6-mer vocabulary (``[MASK]=0 [SEP]=1 [UNK]=2``, the 4096 k-mers
    from 3, ``[PAD]=4099``) and a mask ratio of 0.5. :func:`barcodefm.config_from_tokenizer` (with
    ``config_class=BarcodeMAEConfig``) sets the vocabulary, the token ids and ``k_mer`` from a
    tokenizer.

    Args:
        vocab_size (`int`, *optional*, defaults to 4100):
            Number of tokens of the k-mer tokenizer: the ``4 ** k_mer`` k-mers and the specials.
        k_mer (`int`, *optional*, defaults to 6):
            Length k of the non-overlapping k-mers the tokenizer cuts (1 to 8).
        hidden_size (`int`, *optional*, defaults to 768):
            Width of the encoder.
        num_hidden_layers (`int`, *optional*, defaults to 6):
            Number of encoder layers.
        num_attention_heads (`int`, *optional*, defaults to 6):
            Attention heads per encoder layer; divides ``hidden_size``.
        intermediate_size (`int`, *optional*, defaults to 3072):
            Hidden width of the encoder's feed-forward layers.
        decoder_hidden_size (`int`, *optional*, defaults to 768):
            The decoder's width; the encoder's states are projected to it.
        decoder_num_hidden_layers (`int`, *optional*, defaults to 6):
            How many layers the decoder stacks.
        decoder_num_attention_heads (`int`, *optional*, defaults to 6):
            The decoder's attention heads per layer (a divisor of ``decoder_hidden_size``).
        decoder_intermediate_size (`int`, *optional*, defaults to 3072):
            The decoder's feed-forward width.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the feed-forward layers: ``gelu``, ``gelu_new``, ``gelu_pytorch_tanh``,
            ``relu``, ``silu`` or ``swish`` (transformers' spellings).
        hidden_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout on the embeddings and on the output of every sublayer, encoder and decoder.
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout on the attention probabilities.
        max_position_embeddings (`int`, *optional*, defaults to 512):
            Longest input in tokens: rows of the encoder's and the decoder's position embeddings.
        layer_norm_eps (`float`, *optional*, defaults to 1e-12):
            Epsilon of the LayerNorms.
        mask_ratio (`float`, *optional*, defaults to 0.5):
            Share of each row's real k-mers hidden from the encoder in pretraining (rounded down,
            so a non-empty row keeps at least one visible k-mer); strictly between 0 and 1.
        mask_in_encoder (`bool`, *optional*, defaults to `False`):
            The "BarcodeMAE w/MASK" ablation (BarcodeBERT-style): the encoder sees ``[MASK]`` in
            place at full length, and the decoder gets its output at every position.
        pad_token_id (`int`, *optional*, defaults to 4099):
            Id of ``[PAD]``.
        sep_token_id (`int`, *optional*, defaults to 1):
            Id of ``[SEP]``.
        unk_token_id (`int`, *optional*, defaults to 2):
            Id of ``[UNK]`` (a k-mer that holds ``N``).
        n_token_id (`int`, *optional*, defaults to 2):
            Filler of the ``mean_all`` pooling shared with BarcodeMamba (``[UNK]`` for k-mer
            vocabularies).
        classifier_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the pooled feature before the classification heads.
        kwargs:
            The arguments every family shares, documented in ``BarcodeConfig`` (``config_base.py``):
            ``pooling``, ``initializer_range`` (also of the learned ``[MASK]`` embedding),
            ``mask_token_id`` (required here: it also marks the positions to reconstruct when the
            input already holds it), the ``taxonomy*`` heads, ``tie_word_embeddings``; and
            :class:`~transformers.PretrainedConfig`'s own (``num_labels``, ``id2label``, ...).
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
        mask_ratio: float = 0.5,
        mask_in_encoder: bool = False,
        pad_token_id: int | None = 4099,
        sep_token_id: int | None = 1,
        unk_token_id: int | None = 2,
        n_token_id: int | None = 2,
        classifier_dropout: float = 0.1,
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
        self.mask_ratio = mask_ratio
        self.mask_in_encoder = mask_in_encoder
        self.classifier_dropout = classifier_dropout
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        # Set after the base class, which may reset token ids it knows about to its own defaults.
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
        """A ValueError naming the first argument out of range (``__init__`` runs this)."""
        layer_sizes = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
        decoder_sizes = tuple(f"decoder_{name}" for name in layer_sizes)
        check_positive_ints(self, ("vocab_size", "k_mer", "max_position_embeddings") + layer_sizes + decoder_sizes)
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
        check_probabilities(self, ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"))
        if self.layer_norm_eps <= 0:
            raise ValueError(f"BarcodeMAEConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps}")
        if not isinstance(self.mask_token_id, int):
            raise ValueError("BarcodeMAEConfig.mask_token_id is required (the id of [MASK])")
        check_token_ids(self, ("pad_token_id", "mask_token_id", "sep_token_id", "unk_token_id", "n_token_id"))
        super().validate_numbers()
