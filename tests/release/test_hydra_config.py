"""Reading published Hydra configs: interpolations resolved safely, never evaluated as Python."""

from __future__ import annotations

import pytest

from barcodefm.release.hydra_config import HydraConfig, HydraConfigError

PUBLISHED = {
    "model": {
        "d_model": 384,
        "d_inner": "${eval:4 * ${.d_model}}",
        "vocab_size": "${tokenizer.vocab_size}",
        "layer": {"d_model": "${model.d_model}", "headdim": 48, "up": "${..d_model}"},
        "name": "dim${model.d_model}-layer2",
    },
    "dataset": {"max_len": 660, "__train_len": "${div_up:1_000_000_000, ${.max_len}}"},
    "tokenizer": {"k_mer": 6, "stride": "${.k_mer}", "vocab_size": "${eval:4 ** ${.k_mer} + 3}"},
    "train": {"gpu_mem": "${eval:\"round(float(__import__('subprocess').check_output('id', shell=True)))\"}"},
}


def test_interpolations_resolve_like_omegaconf():
    cfg = HydraConfig(PUBLISHED)
    assert cfg.get("model.d_inner") == 1536  # nested ${eval:...} over a relative reference
    assert cfg.get("tokenizer.vocab_size") == 4099
    assert cfg.get("model.vocab_size") == 4099  # a reference to an interpolated value
    assert cfg.get("model.layer.d_model") == 384
    assert cfg.get("model.layer.up") == 384  # ${..key}: one level further up
    assert cfg.get("tokenizer.stride") == 6
    assert cfg.get("dataset.__train_len") == 1_515_152  # div_up rounds up
    assert cfg.get("model.name") == "dim384-layer2"  # interpolation inside a string stays a string
    assert cfg.node("model.layer") == {"d_model": 384, "headdim": 48, "up": 384}
    assert cfg.first(["model.missing", "model.d_inner"]) == 1536


def test_code_in_eval_is_refused_not_run(tmp_path):
    cfg = HydraConfig(PUBLISHED)
    with pytest.raises(HydraConfigError, match="train.gpu_mem.*not plain arithmetic"):
        cfg.get("train.gpu_mem")


def test_missing_keys_and_broken_references_are_named(tmp_path):
    cfg = HydraConfig({"model": {"vocab_size": "${tokenizer.vocab_size}", "a": "${.b}", "b": "${.a}"}})
    with pytest.raises(HydraConfigError, match="missing key 'model.n_layer'"):
        cfg.get("model.n_layer")
    with pytest.raises(HydraConfigError, match=r"model.vocab_size.*tokenizer.vocab_size.*is not in"):
        cfg.get("model.vocab_size")
    with pytest.raises(HydraConfigError, match="cycle"):
        cfg.get("model.a")
    assert cfg.get("model.n_layer", 2) == 2
    path = tmp_path / "config.yaml"
    path.write_text("model: [unclosed\n")
    with pytest.raises(HydraConfigError, match="not valid YAML"):
        HydraConfig.load(path)
