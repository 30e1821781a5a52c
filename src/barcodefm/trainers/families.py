"""Model families the trainers can build: one registry entry per architecture.

An entry says how to make a config from a tokenizer and the size options, which head each
pretraining objective trains and with which collator, and which head fine-tunes from scratch.
A family of the registry (:data:`barcodefm.registry.FAMILIES`) is one more entry in
:data:`FAMILY_FACTORIES`, keyed by its registry name, whose default tokenizer the registry gives;
the pretrain and finetune commands pick it with ``--family``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..registry import FAMILIES
from .options import SIZE_OPTIONS

if TYPE_CHECKING:  # the collators import torch: the families import them when built
    from .collators import BarcodeCollator


@dataclass(frozen=True)
class Objective:
    """A pretraining objective: the model head it trains and the collator that feeds it."""

    model_class: Callable  # a PreTrainedModel class (called with a config)
    collator_class: type[BarcodeCollator]
    description: str = ""


@dataclass(frozen=True)
class ModelFamily:
    name: str
    description: str
    default_tokenizer: str  # "char" | "kmer" | "bpe"
    # (tokenizer, **size options) -> config; size options are those in ``size_options``
    build_config: Callable
    objectives: Mapping[str, Objective]
    classification_class: Callable  # head for fine-tuning from scratch
    size_options: frozenset = field(default_factory=frozenset)

    def config(self, tokenizer, sizes: Mapping | None = None):
        """A config for ``tokenizer`` with the given size options (unknown ones are an error)."""
        sizes = dict(sizes or {})
        foreign = sorted(set(sizes) - set(self.size_options))
        if foreign:
            flags = ", ".join("--" + name.replace("_", "-") for name in foreign)
            raise ValueError(f"{flags}: not a size option of the {self.name} family")
        return self.build_config(tokenizer, **sizes)

    def objective(self, name: str) -> Objective:
        if name not in self.objectives:
            raise ValueError(
                f"the {self.name} family has no pretraining objective {name!r}: choose one of {', '.join(self.objectives)}"
            )
        return self.objectives[name]


def _registered_family(name: str, **parts) -> ModelFamily:
    """The trainers' entry for the registry's family ``name``: its default tokenizer is the
    registry's (the last of the family's tokenizers)."""
    return ModelFamily(name=name, default_tokenizer=FAMILIES[name].tokenizers[-1], **parts)


def _barcodemamba_config(tokenizer, dropout=None, **sizes):
    from ..factory import config_from_tokenizer

    if dropout is not None:
        sizes["embed_dropout"] = dropout
    return config_from_tokenizer(tokenizer, **sizes)


def _barcodemamba() -> ModelFamily:
    from ..models.modeling_barcodemamba import (
        BarcodeMambaForCausalLM,
        BarcodeMambaForMaskedLM,
        BarcodeMambaForSequenceClassification,
    )
    from .collators import CausalLMCollator, MaskedLMCollator

    return _registered_family(
        "barcodemamba",
        description="BarcodeMamba: Mamba-2 / Mamba-1 state-space model over barcodes",
        build_config=_barcodemamba_config,
        objectives={
            "ntp": Objective(BarcodeMambaForCausalLM, CausalLMCollator, "next-token prediction (published)"),
            "mlm": Objective(BarcodeMambaForMaskedLM, MaskedLMCollator, "published 50% masked-token variant"),
        },
        classification_class=BarcodeMambaForSequenceClassification,
        size_options=frozenset(SIZE_OPTIONS),  # every size option the trainers have
    )


def _barcodemae_config(tokenizer, dropout=None, d_model=None, n_layer=None, **sizes):
    from ..factory import config_from_tokenizer
    from ..models.configuration_barcodemae import BarcodeMAEConfig

    # --d-model / --n-layer size the encoder and the decoder alike (published: 6 + 6 layers).
    if d_model is not None:
        sizes.update(
            hidden_size=d_model,
            decoder_hidden_size=d_model,
            intermediate_size=4 * d_model,
            decoder_intermediate_size=4 * d_model,
        )
        heads = next(h for h in (6, 4, 2, 1) if d_model % h == 0)
        sizes.update(num_attention_heads=heads, decoder_num_attention_heads=heads)
    if n_layer is not None:
        sizes.update(num_hidden_layers=n_layer, decoder_num_hidden_layers=n_layer)
    if dropout is not None:
        sizes.update(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return config_from_tokenizer(tokenizer, config_class=BarcodeMAEConfig, **sizes)


def _barcodemae() -> ModelFamily:
    from ..models.modeling_barcodemae import BarcodeMAEForPreTraining, BarcodeMAEForSequenceClassification
    from .collators import BarcodeCollator

    return _registered_family(
        "barcodemae",
        description="BarcodeMAE: masked autoencoder whose encoder never sees [MASK]",
        build_config=_barcodemae_config,
        objectives={
            # The model masks inside forward: the collator only pads.
            "mae": Objective(BarcodeMAEForPreTraining, BarcodeCollator, "masked autoencoding (published)"),
        },
        classification_class=BarcodeMAEForSequenceClassification,
        size_options=frozenset({"d_model", "n_layer", "dropout"}),
    )


# name -> factory (families are built on first use, so importing this module stays cheap)
FAMILY_FACTORIES: dict[str, Callable[[], ModelFamily]] = {
    "barcodemamba": _barcodemamba,
    "barcodemae": _barcodemae,
}


def get_family(name: str) -> ModelFamily:
    """The registered family ``name``; a clear error lists the others."""
    key = str(name).lower()
    if key not in FAMILY_FACTORIES:
        raise ValueError(f"unknown model family {name!r}: choose one of {', '.join(FAMILY_FACTORIES)}")
    return FAMILY_FACTORIES[key]()


def family_names() -> list[str]:
    return list(FAMILY_FACTORIES)
