"""Every argument of every family's config is documented in its class docstring's ``Args:``
section (name, type, default, meaning), in the order of the signature, as transformers does."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from barcodefm import BarcodeMAEConfig, BarcodeMambaConfig
from barcodefm.models.config_base import BarcodeConfig


@pytest.mark.parametrize("config_class", [BarcodeConfig, BarcodeMambaConfig, BarcodeMAEConfig])
def test_every_argument_has_an_entry_in_args(config_class):
    doc = inspect.getdoc(config_class)
    assert "Args:" in doc, config_class.__name__
    args = doc.split("Args:", 1)[1]
    # "    name (`type`, *optional*, defaults to X):" then an indented description
    entries = re.findall(r"^    (\w+) \((.+)\):\n        \S", args, flags=re.M)
    documented = [name for name, _ in entries]
    parameters = [p for p in inspect.signature(config_class.__init__).parameters if p not in ("self", "kwargs")]
    assert documented == parameters
    defaults = {name: p.default for name, p in inspect.signature(config_class.__init__).parameters.items()}
    for name, spec in entries:
        said = re.search(r"defaults to (.+)$", spec)
        if defaults[name] is None:
            assert said is None, name  # optional, computed or off: the description says which
        else:
            assert said and ast.literal_eval(said.group(1).strip("`")) == defaults[name], (name, spec)


def test_config_errors_name_the_class_and_the_argument():
    with pytest.raises(ValueError, match=r"BarcodeMambaConfig\.pooling must be one of \('mean', 'mean_all', 'last'\)"):
        BarcodeMambaConfig(pooling="max")
    with pytest.raises(ValueError, match=r"BarcodeMAEConfig\.classifier_dropout must be in \[0, 1\), got 1.0"):
        BarcodeMAEConfig(classifier_dropout=1.0)
    with pytest.raises(ValueError, match=r"BarcodeMambaConfig\.pad_token_id \(9\) must be a token id below vocab_size"):
        BarcodeMambaConfig(pad_token_id=9)


def test_the_arguments_every_family_shares_are_taken_by_the_base_config():
    shared = [p for p in inspect.signature(BarcodeConfig.__init__).parameters if p not in ("self", "kwargs")]
    for config_class in (BarcodeMambaConfig, BarcodeMAEConfig):
        assert not set(shared) & set(inspect.signature(config_class.__init__).parameters), config_class.__name__
        config = config_class(pooling="last", initializer_range=0.01, taxonomy_rank_weights=[1.0, 2.0])
        again = config_class.from_dict(config.to_dict())
        assert (again.pooling, again.initializer_range, again.taxonomy_rank_weights) == ("last", 0.01, [1.0, 2.0])
        assert again.tie_word_embeddings is False and again.architectures == []
