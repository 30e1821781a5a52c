"""The trainers' families are the registry's (``barcodefm.registry.FAMILIES``), one name each."""

from barcodefm.registry import FAMILIES
from barcodefm.trainers.families import FAMILY_FACTORIES, family_names, get_family


def test_every_registry_family_trains_under_its_registry_name():
    assert family_names() == list(FAMILIES)
    assert set(FAMILY_FACTORIES) == set(FAMILIES)
    for name, entry in FAMILIES.items():
        family = get_family(name)
        assert family.name == name
        assert family.default_tokenizer == entry.tokenizers[-1]  # the registry's default: last


def test_default_tokenizers_are_unchanged():
    assert get_family("barcodemamba").default_tokenizer == "char"
    assert get_family("barcodemae").default_tokenizer == "kmer"
