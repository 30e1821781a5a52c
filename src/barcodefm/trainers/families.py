"""Model families the trainers can build: one registry entry per architecture.

An entry says how to make a config from a tokenizer and the size options, which head each
pretraining objective trains and with which collator, and which head fine-tunes from scratch.
Adding a family (e.g. BarcodeMAE) is one more entry in :data:`FAMILY_FACTORIES`; the pretrain and
finetune commands pick it with ``--family``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .collators import BarcodeCollator, CausalLMCollator, MaskedLMCollator


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


def _barcodemamba_config(tokenizer, dropout=None, **sizes):
    from ..factory import config_from_tokenizer

    if dropout is not None:
        sizes["embed_dropout"] = dropout
    return config_from_tokenizer(tokenizer, **sizes)


def _barcodemamba() -> ModelFamily:
    from ..modeling_barcodemamba import (
        BarcodeMambaForCausalLM,
        BarcodeMambaForMaskedLM,
        BarcodeMambaForSequenceClassification,
    )

    return ModelFamily(
        name="barcodemamba",
        description="BarcodeMamba: Mamba-2 / Mamba-1 state-space model over barcodes (SPEC 2)",
        default_tokenizer="char",
        build_config=_barcodemamba_config,
        objectives={
            "ntp": Objective(BarcodeMambaForCausalLM, CausalLMCollator, "next-token prediction (published)"),
            "mlm": Objective(BarcodeMambaForMaskedLM, MaskedLMCollator, "published 50% masked-token variant"),
        },
        classification_class=BarcodeMambaForSequenceClassification,
        size_options=frozenset({"d_model", "n_layer", "headdim", "d_state", "mamba_version", "d_intermediate", "dropout"}),
    )


# name -> factory (families are built on first use, so importing this module stays cheap)
FAMILY_FACTORIES: dict[str, Callable[[], ModelFamily]] = {
    "barcodemamba": _barcodemamba,
}


def get_family(name: str) -> ModelFamily:
    """The registered family ``name``; a clear error lists the others."""
    key = str(name).lower()
    if key not in FAMILY_FACTORIES:
        raise ValueError(f"unknown model family {name!r}: choose one of {', '.join(FAMILY_FACTORIES)}")
    return FAMILY_FACTORIES[key]()


def family_names() -> list[str]:
    return list(FAMILY_FACTORIES)
