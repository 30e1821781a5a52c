"""BarcodeMAE's encoder export: a pretraining checkpoint saved whole or as its encoder alone,
loaded through the Auto classes in process and in a FRESH process where `import barcodefm` fails,
offline (what a Hub user gets). Every head's own round trip is in test_model_common.py."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from barcodefm import (
    BarcodeKmerTokenizer,
    BarcodeMAEConfig,
    BarcodeMAEForPreTraining,
    BarcodeMAEForSequenceClassification,
    BarcodeMAEModel,
    config_from_tokenizer,
)
from barcodefm.release import fresh_loader
from barcodefm.release.load_check import compare_outputs, outputs_without_barcodefm

TINY = dict(
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    decoder_hidden_size=32,
    decoder_num_hidden_layers=1,
    decoder_num_attention_heads=2,
    decoder_intermediate_size=64,
)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, coi_rows):
    """A pretraining checkpoint (full and encoder-only folders) with its tokenizer and inputs."""
    tok = BarcodeKmerTokenizer(k=6)
    torch.manual_seed(0)
    model = BarcodeMAEForPreTraining(config_from_tokenizer(tok, config_class=BarcodeMAEConfig, **TINY)).eval()
    root = tmp_path_factory.mktemp("mae")
    full, encoder_only = str(root / "full"), str(root / "encoder")
    model.save_pretrained(full)
    tok.save_pretrained(full)
    model.save_pretrained(encoder_only, encoder_only=True)
    tok.save_pretrained(encoder_only)
    seqs = [coi_rows[0]["dna"][:300], coi_rows[1]["dna"][:90], "ACGTRYNNACGTACGTAA"]
    enc = tok(seqs, padding=True, return_tensors="pt")
    return model, tok, full, encoder_only, seqs, enc


def weight_names(folder):
    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as f:
        return set(f.keys())


def test_auto_classes_load_the_encoder_in_process(pretrained):
    model, tok, full, encoder_only, seqs, enc = pretrained
    assert isinstance(AutoConfig.from_pretrained(full), BarcodeMAEConfig)
    assert isinstance(AutoTokenizer.from_pretrained(full), BarcodeKmerTokenizer)
    with torch.no_grad():
        expected_emb = model.embed(enc["input_ids"], enc["attention_mask"])
        # AutoModel is the encoder, from the full checkpoint or from the exported encoder.
        for folder in (full, encoder_only):
            encoder = AutoModel.from_pretrained(folder).eval()
            assert type(encoder) is BarcodeMAEModel
            torch.testing.assert_close(
                encoder.embed(enc["input_ids"], enc["attention_mask"]), expected_emb, rtol=0, atol=0
            )
    # Fine-tuning starts from the exported encoder's weights.
    classifier = AutoModelForSequenceClassification.from_pretrained(encoder_only, num_labels=4)
    assert type(classifier) is BarcodeMAEForSequenceClassification
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(classifier.encoder.state_dict()[name], value), name


def test_encoder_export_holds_the_encoder_only(pretrained):
    model, _, full, encoder_only, *_ = pretrained
    config = json.load(open(os.path.join(encoder_only, "config.json")))
    assert config["architectures"] == ["BarcodeMAEModel"] and config["model_type"] == "barcodemae"
    names = weight_names(encoder_only)
    assert names == set(model.encoder.state_dict())
    assert not any(n.startswith(("decoder", "projection", "lm_head")) for n in names)
    assert {n for n in weight_names(full) if n.startswith("decoder")}  # the full one has them
    for folder in (full, encoder_only):
        auto_map = json.load(open(os.path.join(folder, "config.json")))["auto_map"]
        assert {"AutoConfig", "AutoModel", "AutoModelForPreTraining", "AutoModelForSequenceClassification"} <= set(
            auto_map
        )
        assert os.path.exists(os.path.join(folder, "modeling_barcodemae.py"))


def test_the_encoder_loads_without_barcodefm(pretrained):
    """AutoModel with trust_remote_code, in a fresh process without barcodefm, gives the encoder
    from the exported folder and from the whole checkpoint (dropping the decoder)."""
    model, tok, full, encoder_only, seqs, _ = pretrained
    jobs = [{"folder": str(folder), "auto_class": "AutoModel", "sequences": seqs} for folder in (full, encoder_only)]
    remote = outputs_without_barcodefm(jobs, timeout=300)
    expected = fresh_loader.model_outputs(model.encoder, tok, seqs)
    for folder in (full, encoder_only):
        got = remote[str(folder)]
        assert "error" not in got, got.get("error")
        assert got["model_class"].endswith(".BarcodeMAEModel") and "transformers_modules" in got["model_class"]
        assert compare_outputs(expected, got["outputs"], atol=0.0, rtol=0.0)[0] == []
