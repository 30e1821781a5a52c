"""Configuration of BarcodeMamba: a Mamba-2 / Mamba-1 language model over DNA barcodes."""

from __future__ import annotations

import math

from transformers import PretrainedConfig


def _positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"BarcodeMambaConfig.{name} must be a positive integer, got {value!r}")


class BarcodeMambaConfig(PretrainedConfig):
    """Hyper-parameters of BarcodeMamba.

    Defaults are the published "mini" model (BarcodeMamba-2, d_model 384, 2 layers, headdim 48,
    char tokens). ``d_state`` defaults to 64 for Mamba-2 and 16 for Mamba-1; ``d_intermediate``
    to ``4 * d_model`` (0 = no MLP and no second LayerNorm in a block, as in mamba_ssm).

    Beyond the published fields:
    - ``torch_chunk_size``: block length of the pure-PyTorch SSD path (a CPU-friendly 64-128;
      chunking changes only rounding, never the result).
    - ``cpu_block_tokens``: on CPU, a plain forward runs the batch in row blocks of about this
      many tokens (one block when 0). Smaller intermediates are reused by the memory allocator
      instead of being mapped afresh per operation: 2-3x the throughput at batch 32 x 660 bases.
    - ``use_kernels``: ``"auto"`` (mamba_ssm kernels when importable and on CUDA), ``"never"``,
      or ``"always"`` (error if they cannot run).
    - ``pooling``: default pooling of :meth:`embed` and of the classification heads.
    - ``mlm_loss_on``: ``"all"`` (published: CE on every position) or ``"masked"``.
    - ``taxonomy*``: BarcodeMamba+ (per-rank heads): the rank tree (``TaxonomySpec.to_dict()``), hierarchical
      label smoothing masses (``"default"``: 0.02 above species, 0 at species; ``None`` = off),
      class-weight exponent (0.5 = n_c^-0.5; 0 = off) and per-rank loss weights.
    - ``mask_token_id`` / ``n_token_id``: ids of ``[MASK]`` and of the ``N`` token (the filler of
      the published ``mean_all`` pooling; ``[UNK]`` for k-mer vocabularies). Defaults match the
      char tokenizer; :func:`barcodefm.config_from_tokenizer` sets all token ids from a tokenizer.
    """

    model_type = "barcodemamba"
    # Names that generic Hugging Face code (Trainer, PEFT, pipelines) looks for.
    attribute_map = {"hidden_size": "d_model", "num_hidden_layers": "n_layer"}
    keys_to_ignore_at_inference = ["cache", "cache_params"]

    def __init__(
        self,
        vocab_size: int = 9,
        d_model: int = 384,
        n_layer: int = 2,
        mamba_version: int = 2,
        d_state: int | None = None,
        d_conv: int = 4,
        expand: int = 2,
        headdim: int = 48,
        ngroups: int = 1,
        chunk_size: int = 256,
        d_intermediate: int | None = None,
        pad_vocab_size_multiple: int = 8,
        residual_in_fp32: bool = True,
        embed_dropout: float = 0.1,
        layer_norm_epsilon: float = 1e-5,
        pad_token_id: int | None = 8,
        mask_token_id: int | None = 0,
        n_token_id: int | None = 7,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        A_init_range: tuple[float, float] = (1.0, 16.0),
        conv_bias: bool = True,
        initializer_range: float = 0.02,
        torch_chunk_size: int = 64,
        cpu_block_tokens: int = 8192,
        use_kernels: str = "auto",
        pooling: str = "mean",
        mlm_loss_on: str = "all",
        classifier_dropout: float = 0.0,
        tie_word_embeddings: bool = False,
        taxonomy: dict | None = None,
        taxonomy_label_smoothing: str | list[float] | None = "default",
        taxonomy_class_weight_strength: float = 0.5,
        taxonomy_rank_weights: list[float] | None = None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.n_layer = n_layer
        self.mamba_version = mamba_version
        self.d_state = d_state if d_state is not None else (64 if mamba_version == 2 else 16)
        self.d_conv = d_conv
        self.expand = expand
        self.headdim = headdim
        self.ngroups = ngroups
        self.chunk_size = chunk_size
        self.d_intermediate = 4 * d_model if d_intermediate is None else d_intermediate
        self.pad_vocab_size_multiple = pad_vocab_size_multiple
        self.residual_in_fp32 = residual_in_fp32
        self.embed_dropout = embed_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.dt_min = dt_min
        self.dt_max = dt_max
        self.dt_init_floor = dt_init_floor
        self.A_init_range = list(A_init_range)
        self.conv_bias = conv_bias
        self.initializer_range = initializer_range
        self.torch_chunk_size = torch_chunk_size
        self.cpu_block_tokens = cpu_block_tokens
        self.use_kernels = use_kernels
        self.pooling = pooling
        self.mlm_loss_on = mlm_loss_on
        self.classifier_dropout = classifier_dropout
        self.taxonomy = taxonomy
        self.taxonomy_label_smoothing = taxonomy_label_smoothing
        self.taxonomy_class_weight_strength = taxonomy_class_weight_strength
        self.taxonomy_rank_weights = taxonomy_rank_weights
        self.mask_token_id = mask_token_id
        self.n_token_id = n_token_id
        super().__init__(pad_token_id=pad_token_id, tie_word_embeddings=tie_word_embeddings, **kwargs)
        self.validate_numbers()

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def nheads(self) -> int:
        return self.d_inner // self.headdim

    @property
    def padded_vocab_size(self) -> int:
        m = self.pad_vocab_size_multiple
        return ((self.vocab_size + m - 1) // m) * m

    def validate_numbers(self):
        for name in (
            "vocab_size",
            "d_model",
            "n_layer",
            "d_state",
            "d_conv",
            "expand",
            "headdim",
            "ngroups",
            "chunk_size",
            "pad_vocab_size_multiple",
            "dt_rank",
            "torch_chunk_size",
        ):
            _positive_int(name, getattr(self, name))
        if (
            not isinstance(self.cpu_block_tokens, int)
            or isinstance(self.cpu_block_tokens, bool)
            or self.cpu_block_tokens < 0
        ):
            raise ValueError(
                f"BarcodeMambaConfig.cpu_block_tokens must be an integer >= 0 (0 = no blocking), got {self.cpu_block_tokens!r}"
            )
        if self.mamba_version not in (1, 2):
            raise ValueError(f"BarcodeMambaConfig.mamba_version must be 1 or 2, got {self.mamba_version!r}")
        if not isinstance(self.d_intermediate, int) or self.d_intermediate < 0:
            raise ValueError(
                f"BarcodeMambaConfig.d_intermediate must be >= 0 (0 = no MLP), got {self.d_intermediate!r}"
            )
        if self.mamba_version == 2:
            if self.d_inner % self.headdim:
                raise ValueError(
                    f"expand * d_model ({self.expand} * {self.d_model} = {self.d_inner}) must be divisible by "
                    f"headdim ({self.headdim})"
                )
            if self.nheads % self.ngroups:
                raise ValueError(f"the number of heads ({self.nheads}) must be divisible by ngroups ({self.ngroups})")
        for name in ("embed_dropout", "classifier_dropout"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"BarcodeMambaConfig.{name} must be in [0, 1), got {p!r}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}")
        if self.layer_norm_epsilon <= 0:
            raise ValueError(f"layer_norm_epsilon must be > 0, got {self.layer_norm_epsilon}")
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"pad_token_id ({self.pad_token_id}) must be a token id below vocab_size ({self.vocab_size})"
            )
        if self.use_kernels not in ("auto", "never", "always"):
            raise ValueError(f"use_kernels must be 'auto', 'never' or 'always', got {self.use_kernels!r}")
        if self.pooling not in ("mean", "mean_all", "last"):
            raise ValueError(f"pooling must be 'mean', 'mean_all' or 'last', got {self.pooling!r}")
        if self.mlm_loss_on not in ("all", "masked"):
            raise ValueError(f"mlm_loss_on must be 'all' or 'masked', got {self.mlm_loss_on!r}")
