"""The one table of families and tokenizers (barcodefm.registry) agrees with the Hub modules, and
everything that reads it (registration, the lazy names, --tokenizer) gets the same classes."""

from __future__ import annotations

import importlib

import pytest
import transformers

import barcodefm
from barcodefm.registry import FAMILIES, TOKENIZERS, hub_class, hub_class_modules, tokenizer_class, tokenizer_kind


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_the_table_is_what_saved_folders_declare(name):
    family = FAMILIES[name]
    modeling = importlib.import_module(f"barcodefm.{family.modeling_module}")
    config = hub_class(family.config_module, family.config)
    assert config.model_type == name
    expected = {"AutoConfig": f"configuration_{name}.{family.config}"}
    expected |= {auto: f"modeling_{name}.{cls}" for auto, cls in family.auto_models.items()}
    assert modeling.AUTO_MAP == expected
    base = getattr(modeling, family.pretrained_model)
    assert base.config_class is config and base.backbone_class is getattr(modeling, family.auto_models["AutoModel"])
    # A taxonomy folder's AutoModel is the classifier itself, everywhere else the backbone.
    classifier = getattr(modeling, family.taxonomic_classifier)
    assert classifier.hub_auto_map == {**expected, "AutoModel": f"modeling_{name}.{family.taxonomic_classifier}"}
    assert set(family.model_classes()) == set(modeling.__all__)


TINY = {
    "barcodemamba": dict(d_model=16, n_layer=1, headdim=8, d_state=8),
    "barcodemae": dict(
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        decoder_hidden_size=8,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=16,
    ),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_registration_follows_the_table(name):
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING

    family = FAMILIES[name]
    # architectures=[]: transformers reads a tuple registration by config.architectures, and a
    # fresh config's None fails there (AutoModel.from_config(fresh config) is a TypeError).
    config = hub_class(family.config_module, family.config)(**TINY[name], architectures=[])
    for auto_class, cls in family.auto_models.items():
        assert type(getattr(transformers, auto_class).from_config(config)).__name__ == cls
    registered = TOKENIZER_MAPPING[type(config)]
    registered = registered if isinstance(registered, tuple) else (registered,)
    assert tokenizer_class(family.tokenizers[-1]) in registered  # the family's default tokenizer


def test_lazy_names_and_tokenizer_kinds_come_from_the_table():
    for name, module in hub_class_modules().items():
        assert barcodefm._NAMES[name] == module
        assert getattr(barcodefm, name) is getattr(importlib.import_module(f"barcodefm.{module}"), name)
    assert tokenizer_kind("K-MER") == tokenizer_kind("k_mer") == "kmer"
    assert tokenizer_kind("char") == "char" and tokenizer_kind("./my-tokenizer") is None
    assert {tokenizer_class(kind).__name__ for kind in TOKENIZERS} == {t.name for t in TOKENIZERS.values()}

    from barcodefm.trainers.tokenizer_choice import TOKENIZER_KINDS, build_tokenizer

    assert TOKENIZER_KINDS == tuple(TOKENIZERS)
    assert type(build_tokenizer("k-mer", k=4)).__name__ == "BarcodeKmerTokenizer"
    assert build_tokenizer("kmer", k=4).k == 4
    assert type(build_tokenizer("char", max_bases=100)).__name__ == "BarcodeCharTokenizer"
    with pytest.raises(ValueError, match="a BPE tokenizer needs sequences"):
        build_tokenizer("bpe")
