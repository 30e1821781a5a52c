"""The base of every family's config (``configuration_barcodemamba.py``,
``configuration_barcodemae.py``): the arguments both families share, beyond
:class:`~transformers.PretrainedConfig`'s own.

Hub module: travels with saved weights; imports transformers and single-dot siblings only.
"""

from __future__ import annotations

from transformers import PretrainedConfig

from .config_checks import POOLINGS, check_choice


class BarcodeConfig(PretrainedConfig):
    r"""What every family's config holds besides its backbone's sizes: the default pooling, the
    weight initialisation, the ``[MASK]`` id and the multi-rank taxonomy heads. A family's config
    lists only its own arguments and passes these on through ``**kwargs``; a family whose default
    differs (e.g. ``classifier_dropout``) lists that argument itself.

    ``architectures`` is a list from the start, never None: with barcodefm installed, ``AutoModel``
    maps a family's config to two classes, the backbone and the taxonomic classifier (a folder saved
    from one loads as it), and transformers picks between them by looping over
    ``config.architectures``, which fails on None. A config made in code (nothing saved yet) names
    no architecture, so ``AutoModel.from_config`` builds the backbone.

    Args:
        pooling (`str`, *optional*, defaults to `"mean"`):
            Default pooling of :meth:`embed` and of the classification heads: ``"mean"`` over the
            real tokens (BarcodeMAE: over the real k-mers, special tokens excluded), ``"mean_all"``
            (the published BarcodeMamba probing recipe: left-padded with ``n_token_id`` to 660
            positions, all averaged) or ``"last"`` (the last real token).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of linear and embedding weights (a
            family's docstring names its special cases).
        mask_token_id (`int`, *optional*, defaults to 0):
            Id of ``[MASK]``: the input at the masked positions of masked-language pretraining.
        taxonomy (`dict`, *optional*):
            The rank tree of a taxonomic classifier (``TaxonomySpec.to_dict()``: ranks, labels,
            parents and training counts); required by every ``*ForTaxonomicClassification``.
        taxonomy_label_smoothing (`str`, `list[float]` or `None`, *optional*, defaults to `"default"`):
            Hierarchical label smoothing mass per rank of those heads: ``"default"`` is 0.02 for
            every rank above species and 0 at species (as in BarcodeMamba+); ``None`` turns it off.
        taxonomy_class_weight_strength (`float`, *optional*, defaults to 0.5):
            Exponent ``s`` of the class weights ``n_c ** -s`` of the taxonomy loss (``n_c``: the
            training examples of class ``c``); 0 weighs every class alike.
        taxonomy_rank_weights (`list[float]`, *optional*):
            Weight of each rank's loss in the total (default: 1 for every rank).
        tie_word_embeddings (`bool`, *optional*, defaults to `False`):
            Whether the language-model head shares the embedding's weights (not in the published
            models).
        kwargs:
            Passed to :class:`~transformers.PretrainedConfig` (``pad_token_id``, ``num_labels``,
            ``id2label``, ...).
    """

    def __init__(
        self,
        pooling: str = "mean",
        initializer_range: float = 0.02,
        mask_token_id: int | None = 0,
        taxonomy: dict | None = None,
        taxonomy_label_smoothing: str | list[float] | None = "default",
        taxonomy_class_weight_strength: float = 0.5,
        taxonomy_rank_weights: list[float] | None = None,
        tie_word_embeddings: bool = False,
        **kwargs,
    ):
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
        # Set after the base class, which may reset token ids it knows about to its own defaults.
        self.pooling = pooling
        self.initializer_range = initializer_range
        self.mask_token_id = mask_token_id
        self.taxonomy = taxonomy
        self.taxonomy_label_smoothing = taxonomy_label_smoothing
        self.taxonomy_class_weight_strength = taxonomy_class_weight_strength
        self.taxonomy_rank_weights = taxonomy_rank_weights
        if self.architectures is None:
            self.architectures = []

    def validate_numbers(self):
        """A ValueError naming the first shared argument out of range; a family's own
        ``validate_numbers`` (run at the end of its ``__init__``) checks its arguments, then these."""
        check_choice(self, "pooling", POOLINGS)
