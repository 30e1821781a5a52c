"""Configuration of BarcodeMamba: a Mamba-2 / Mamba-1 language model over DNA barcodes.

Hub module: travels with saved weights; imports single-dot siblings only.
"""

from __future__ import annotations

import math

from .config_base import BarcodeConfig
from .config_checks import check_choice, check_positive_ints, check_probabilities, check_token_ids


class BarcodeMambaConfig(BarcodeConfig):
    r"""Hyper-parameters of BarcodeMamba (and of BarcodeMamba+, its multi-rank taxonomy heads).

    The defaults are the published "mini" model: BarcodeMamba-2, ``d_model`` 384, 2 layers,
    ``headdim`` 48, character tokens. :func:`barcodefm.config_from_tokenizer` sets the vocabulary and
    every token id from a tokenizer.

    Args:
        vocab_size (`int`, *optional*, defaults to 9):
            Number of tokens of the tokenizer (the character vocabulary: 4 specials, A C G T N and
            ``[PAD]``). The embedding and the LM head have ``padded_vocab_size`` rows.
        d_model (`int`, *optional*, defaults to 384):
            Width of the residual stream (``hidden_size`` to generic Hugging Face code).
        n_layer (`int`, *optional*, defaults to 2):
            Number of blocks (``num_hidden_layers``); each is a mixer and, unless
            ``d_intermediate=0``, an MLP.
        mamba_version (`int`, *optional*, defaults to 2):
            2 for the Mamba-2 (SSD) mixer, 1 for the Mamba-1 (selective scan) mixer.
        d_state (`int`, *optional*):
            Size of the SSM state per channel (Mamba-1) or per head (Mamba-2); defaults to 64 for
            Mamba-2 and 16 for Mamba-1.
        d_conv (`int`, *optional*, defaults to 4):
            Width of the causal depthwise convolution before the scan.
        expand (`int`, *optional*, defaults to 2):
            Inner width of the mixer as a multiple of ``d_model`` (``d_inner = expand * d_model``).
        headdim (`int`, *optional*, defaults to 48):
            Channels per SSM head (Mamba-2): ``d_inner / headdim`` heads.
        ngroups (`int`, *optional*, defaults to 1):
            Groups of heads that share their B and C projections (Mamba-2); divides the head count.
        chunk_size (`int`, *optional*, defaults to 256):
            Chunk length of mamba_ssm's SSD kernel (Mamba-2 on CUDA).
        d_intermediate (`int`, *optional*):
            Hidden width of each block's MLP; defaults to ``4 * d_model``. 0 means no MLP and no
            second LayerNorm in a block, as in mamba_ssm.
        pad_vocab_size_multiple (`int`, *optional*, defaults to 8):
            The embedding and LM head round the vocabulary up to a multiple of this; the extra
            rows are never predicted.
        residual_in_fp32 (`bool`, *optional*, defaults to `True`):
            Keep the residual stream in float32 when the model runs in half precision.
        embed_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the token embeddings.
        layer_norm_epsilon (`float`, *optional*, defaults to 1e-05):
            Epsilon of the LayerNorms and of Mamba-2's gated RMSNorm.
        pad_token_id (`int`, *optional*, defaults to 8):
            Id of ``[PAD]``: never predicted, never a target of a loss.
        n_token_id (`int`, *optional*, defaults to 7):
            Id of the ``N`` token (``[UNK]`` for k-mer vocabularies), the filler of the published
            ``mean_all`` pooling.
        dt_rank (`int` or `"auto"`, *optional*, defaults to `"auto"`):
            Rank of Mamba-1's time-step projection; ``"auto"`` is ``ceil(d_model / 16)``.
        dt_min (`float`, *optional*, defaults to 0.001):
            Lower end of the log-uniform range the initial time steps are drawn from.
        dt_max (`float`, *optional*, defaults to 0.1):
            Upper end of that range.
        dt_init_floor (`float`, *optional*, defaults to 1e-04):
            Smallest initial time step.
        A_init_range (`tuple[float, float]`, *optional*, defaults to `(1.0, 16.0)`):
            Range of the initial decay rate ``A`` of each Mamba-2 head (uniform; stored as log).
        conv_bias (`bool`, *optional*, defaults to `True`):
            Whether the causal convolution has a bias.
        torch_chunk_size (`int`, *optional*, defaults to 64):
            Chunk length of the pure-PyTorch SSD scan (the path without CUDA kernels); 64-128 suit
            a CPU. Chunking changes only rounding, never the result.
        cpu_block_tokens (`int`, *optional*, defaults to 8192):
            On CPU, a forward without a cache runs the batch in blocks of rows of about this many
            tokens (0: one block). Smaller intermediates are reused by the memory allocator instead
            of being mapped afresh per operation: 2-3x the throughput at batch 32 x 660 bases.
        use_kernels (`str`, *optional*, defaults to `"auto"`):
            ``"auto"``: the mamba_ssm / causal_conv1d CUDA kernels when they import and the input
            is on CUDA; ``"never"``: always the PyTorch path; ``"always"``: an error where the
            kernels cannot run.
        mlm_loss_on (`str`, *optional*, defaults to `"all"`):
            Positions the MLM variant scores: ``"all"`` real positions (published) or only the
            ``"masked"`` ones.
        classifier_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the pooled feature before the classification heads.
        kwargs:
            The arguments every family shares, documented in ``BarcodeConfig`` (``config_base.py``):
            ``pooling``, ``initializer_range`` (residual outputs here are scaled down by
            ``sqrt(2 * n_layer)``), ``mask_token_id`` (the MLM variant's), the ``taxonomy*`` heads,
            ``tie_word_embeddings``; and :class:`~transformers.PretrainedConfig`'s own
            (``num_labels``, ``id2label``, ...).
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
        n_token_id: int | None = 7,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        A_init_range: tuple[float, float] = (1.0, 16.0),
        conv_bias: bool = True,
        torch_chunk_size: int = 64,
        cpu_block_tokens: int = 8192,
        use_kernels: str = "auto",
        mlm_loss_on: str = "all",
        classifier_dropout: float = 0.0,
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
        self.torch_chunk_size = torch_chunk_size
        self.cpu_block_tokens = cpu_block_tokens
        self.use_kernels = use_kernels
        self.mlm_loss_on = mlm_loss_on
        self.classifier_dropout = classifier_dropout
        self.n_token_id = n_token_id
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.validate_numbers()

    @property
    def d_inner(self) -> int:
        """Inner width of a mixer: ``expand * d_model``."""
        return self.expand * self.d_model

    @property
    def nheads(self) -> int:
        """SSM heads of a Mamba-2 mixer: ``d_inner / headdim``."""
        return self.d_inner // self.headdim

    @property
    def padded_vocab_size(self) -> int:
        """Rows of the embedding and the LM head: ``vocab_size`` rounded up to ``pad_vocab_size_multiple``."""
        m = self.pad_vocab_size_multiple
        return ((self.vocab_size + m - 1) // m) * m

    def validate_numbers(self):
        """A ValueError naming the first argument out of range (``__init__`` runs this)."""
        sizes = "vocab_size d_model n_layer d_state d_conv expand headdim ngroups chunk_size pad_vocab_size_multiple"
        check_positive_ints(self, sizes.split() + ["dt_rank", "torch_chunk_size"])
        blocks = self.cpu_block_tokens
        if not isinstance(blocks, int) or isinstance(blocks, bool) or blocks < 0:
            raise ValueError(
                f"BarcodeMambaConfig.cpu_block_tokens must be an integer >= 0 (0 = no blocking), got {blocks!r}"
            )
        check_choice(self, "mamba_version", (1, 2))
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
        check_probabilities(self, ("embed_dropout", "classifier_dropout"))
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, dt_max={self.dt_max}")
        if self.layer_norm_epsilon <= 0:
            raise ValueError(f"layer_norm_epsilon must be > 0, got {self.layer_norm_epsilon}")
        check_token_ids(self, ("pad_token_id",))
        check_choice(self, "use_kernels", ("auto", "never", "always"))
        check_choice(self, "mlm_loss_on", ("all", "masked"))
        super().validate_numbers()
