"""What barcodefm knows by name (tooling; standard library only, so reading it costs nothing).

- Model families and tokenizers: :data:`FAMILIES` and :data:`TOKENIZERS`, the one table that
  registers barcodefm's classes with transformers' Auto classes (:mod:`barcodefm.registration`),
  gives ``barcodefm`` its lazily imported names and ``--tokenizer`` its choices. A new family or
  tokenizer joins here, next to its Hub modules in ``barcodefm/models/``.
- Bundled models: trained identifiers shipped inside the package (``barcodefm/bundled_models/``),
  usable offline right after ``pip install``: ``--model coi-insect`` or ``--model its-fungi``.
  Each is an ordinary model folder; ``AutoModel.from_pretrained(bundled_model_path(name),
  trust_remote_code=True)`` loads it without barcodefm. ``barcodefm recipe NAME`` regenerates one.
- Presets: the published model sizes, as options to train from (``--preset NAME`` of
  ``barcodefm pretrain`` / ``finetune --from-scratch``).

Anything else given as ``--model`` is a folder or a Hugging Face Hub id.
"""

from __future__ import annotations

import importlib
from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from pathlib import Path

# ``import barcodefm`` reads the tables below: this module imports nothing more than it needs
# (namedtuples, not dataclasses, which import ``inspect``; ``BUNDLED_DIR`` is built on first use,
# as pathlib brings ``re`` and ``urllib``).


class HubFamily(namedtuple("HubFamily", "name config pretrained_model auto_models taxonomic_classifier tokenizers")):
    """A model family, by class names: its config lives in ``models/configuration_<name>.py``, its
    models in ``models/modeling_<name>.py``, and ``name`` is the config's ``model_type``.

    ``pretrained_model``: the family's PreTrainedModel base (no Auto class); ``auto_models``: Auto
    class name -> the model class it builds; ``taxonomic_classifier``: AutoModel's second class (a
    folder saved from it, as config.architectures says, loads as itself); ``tokenizers``: the
    TOKENIZERS kinds AutoTokenizer may find in a folder of this family, the default last.
    """

    __slots__ = ()

    @property
    def config_module(self) -> str:
        return f"models.configuration_{self.name}"

    @property
    def modeling_module(self) -> str:
        return f"models.modeling_{self.name}"

    def model_classes(self) -> list[str]:
        """Every public model class of the family, the base first."""
        named = [self.pretrained_model, *self.auto_models.values(), self.taxonomic_classifier]
        return list(dict.fromkeys(named))


FAMILIES = {
    family.name: family
    for family in (
        HubFamily(
            name="barcodemamba",
            config="BarcodeMambaConfig",
            pretrained_model="BarcodeMambaPreTrainedModel",
            auto_models={
                "AutoModel": "BarcodeMambaModel",
                "AutoModelForCausalLM": "BarcodeMambaForCausalLM",
                "AutoModelForMaskedLM": "BarcodeMambaForMaskedLM",
                "AutoModelForSequenceClassification": "BarcodeMambaForSequenceClassification",
            },
            taxonomic_classifier="BarcodeMambaForTaxonomicClassification",
            tokenizers=("kmer", "bpe", "char"),
        ),
        HubFamily(
            name="barcodemae",
            config="BarcodeMAEConfig",
            pretrained_model="BarcodeMAEPreTrainedModel",
            auto_models={
                "AutoModel": "BarcodeMAEModel",
                "AutoModelForPreTraining": "BarcodeMAEForPreTraining",
                "AutoModelForMaskedLM": "BarcodeMAEForPreTraining",
                "AutoModelForSequenceClassification": "BarcodeMAEForSequenceClassification",
            },
            taxonomic_classifier="BarcodeMAEForTaxonomicClassification",
            tokenizers=("kmer",),
        ),
    )
}


class HubTokenizer(namedtuple("HubTokenizer", "module name aliases", defaults=((),))):
    """A tokenizer kind (``--tokenizer KIND`` or one of its ``aliases``): the class ``name`` of
    ``models/<module>.py``."""

    __slots__ = ()


TOKENIZERS = {
    "char": HubTokenizer("tokenization_barcode_char", "BarcodeCharTokenizer"),
    "kmer": HubTokenizer("tokenization_barcode_kmer", "BarcodeKmerTokenizer", aliases=("k-mer", "k_mer")),
    "bpe": HubTokenizer("tokenization_barcode_bpe", "BarcodeBPETokenizer"),
}


def tokenizer_kind(choice: str) -> str | None:
    """The TOKENIZERS kind ``choice`` names (any case, or an alias), else None."""
    text = str(choice).lower()
    return next((kind for kind, t in TOKENIZERS.items() if text == kind or text in t.aliases), None)


def hub_class(module: str, name: str):
    """The class ``name`` of the Hub module ``module`` (relative to ``barcodefm``), imported now."""
    return getattr(importlib.import_module(f"barcodefm.{module}"), name)


def tokenizer_class(kind: str):
    entry = TOKENIZERS[kind]
    return hub_class(f"models.{entry.module}", entry.name)


def hub_class_modules() -> dict[str, str]:
    """Every class the tables name -> its module relative to ``barcodefm``."""
    modules = {}
    for family in FAMILIES.values():
        modules[family.config] = family.config_module
        modules.update(dict.fromkeys(family.model_classes(), family.modeling_module))
    for entry in TOKENIZERS.values():
        modules[entry.name] = f"models.{entry.module}"
    return modules


def bundled_dir() -> Path:
    """The folder that holds the bundled models (also ``registry.BUNDLED_DIR``)."""
    from pathlib import Path

    return Path(__file__).resolve().parent / "bundled_models"


def __getattr__(name: str):
    if name == "BUNDLED_DIR":
        return bundled_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


BUNDLED_MODELS = {
    "coi-insect": "BarcodeMamba+ for insect COI-5P barcodes: order, family, subfamily, genus, species "
    "(BOLD, 1,023 species of Diptera, Lepidoptera, Coleoptera, Hymenoptera)",
    "its-fungi": "BarcodeMamba+ for fungal ITS / ITS2 barcodes: phylum, class, order, family, genus, species "
    "(CBS strains and the MycoAI yeast set, 6,871 species)",
}

# The published model sizes (BarcodeMamba mini/large, BarcodeMamba+ ITS, BarcodeMAE 6-mer): the
# architecture and tokenizer options of a training run.
PRESETS = {
    "barcodemamba-mini-char": dict(family="barcodemamba", tokenizer="char", d_model=384, n_layer=2, headdim=48),
    "barcodemamba-mini-kmer": dict(family="barcodemamba", tokenizer="kmer", k=6, d_model=384, n_layer=2, headdim=48),
    "barcodemamba-large-char": dict(family="barcodemamba", tokenizer="char", d_model=768, n_layer=6, headdim=64),
    "barcodemamba-large-kmer": dict(family="barcodemamba", tokenizer="kmer", k=6, d_model=768, n_layer=6, headdim=64),
    "barcodemamba-plus-its": dict(
        family="barcodemamba", tokenizer="bpe", bpe_vocab_size=768, d_model=128, n_layer=2, headdim=32
    ),
    "barcodemae-6mer": dict(family="barcodemae", tokenizer="kmer", k=6),
}


def bundled_model_path(name: str) -> Path:
    """The folder of a bundled model; a clear error when the name is unknown or the folder is
    missing (e.g. a source checkout without the weights)."""
    if name not in BUNDLED_MODELS:
        raise ValueError(f"unknown bundled model {name!r}: one of {', '.join(sorted(BUNDLED_MODELS))}")
    path = bundled_dir() / name
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"bundled model {name!r} is missing from {path}: reinstall barcodefm, or rebuild it "
            f"with `barcodefm recipe {name} --data-dir DATA -o DIR`"
        )
    return path


def resolve_model(name_or_path: str) -> str:
    """A bundled model's name -> its folder; anything else (a folder or Hub id) unchanged."""
    if name_or_path in BUNDLED_MODELS:
        return str(bundled_model_path(name_or_path))
    from pathlib import Path

    if "/" not in name_or_path and not Path(name_or_path).exists():
        # A near miss of a bundled name is a typo, not a Hub id: say so at once instead of
        # letting the Hub client retry (offline, that takes ~20 s before the same conclusion).
        import difflib

        close = difflib.get_close_matches(name_or_path, list(BUNDLED_MODELS), n=1, cutoff=0.75)
        if close:
            raise FileNotFoundError(
                f"{name_or_path}: not a bundled model or a folder; did you mean {close[0]!r}? "
                f"(bundled: {', '.join(sorted(BUNDLED_MODELS))})"
            )
    return name_or_path


def preset_options(name: str) -> dict:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: one of {', '.join(sorted(PRESETS))}")
    return dict(PRESETS[name])
