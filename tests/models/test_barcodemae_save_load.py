"""BarcodeMAE through the Auto classes: in-process registration, encoder export, and the folder
loaded in a FRESH process where `import barcodefm` fails, offline (what a Hub user gets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForPreTraining,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from barcodefm import (
    BarcodeKmerTokenizer,
    BarcodeMAEConfig,
    BarcodeMAEForPreTraining,
    BarcodeMAEForSequenceClassification,
    BarcodeMAEForTaxonomicClassification,
    BarcodeMAEModel,
    config_from_tokenizer,
)
from barcodefm.factory import load_model
from barcodefm.models.taxonomy import TaxonomySpec

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


TREE = TaxonomySpec.from_columns(
    {
        "order": ["Coleoptera", "Coleoptera", "Lepidoptera"],
        "family": ["Carabidae", "Carabidae", "Crambidae"],
        "genus": ["Abax", "Carabus", "Pyrausta"],
    }
).to_dict()


@pytest.fixture(scope="module")
def taxonomy_folder(tmp_path_factory):
    """A saved BarcodeMAE taxonomic classifier (SPEC 4 heads on the MAE encoder)."""
    tok = BarcodeKmerTokenizer(k=6)
    torch.manual_seed(1)
    model = BarcodeMAEForTaxonomicClassification(
        config_from_tokenizer(tok, config_class=BarcodeMAEConfig, taxonomy=TREE, **TINY)
    ).eval()
    folder = str(tmp_path_factory.mktemp("mae-taxonomy"))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model, folder


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
    masked = model.choose_masked_positions(enc["input_ids"], enc["attention_mask"])
    return model, tok, full, encoder_only, seqs, enc, masked


def weight_names(folder):
    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as f:
        return set(f.keys())


def test_auto_classes_load_the_saved_folders_in_process(pretrained):
    model, tok, full, encoder_only, seqs, enc, masked = pretrained
    assert isinstance(AutoConfig.from_pretrained(full), BarcodeMAEConfig)
    assert isinstance(AutoTokenizer.from_pretrained(full), BarcodeKmerTokenizer)
    with torch.no_grad():
        expected_logits = model(**enc, masked_positions=masked).logits
        expected_emb = model.embed(enc["input_ids"], enc["attention_mask"])
        for auto in (AutoModelForPreTraining, AutoModelForMaskedLM):
            loaded = auto.from_pretrained(full).eval()
            assert type(loaded) is BarcodeMAEForPreTraining
            torch.testing.assert_close(loaded(**enc, masked_positions=masked).logits, expected_logits, rtol=0, atol=0)
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


def test_taxonomy_folder_loads_as_the_classifier(taxonomy_folder, pretrained):
    model, folder = taxonomy_folder
    enc = pretrained[5]
    # In-process AutoModel is the registered encoder; the saved architecture is the classifier
    # (a fresh process's AutoModel gets it through auto_map: see the test below).
    loaded = load_model(folder, "AutoModel").eval()
    assert type(loaded) is BarcodeMAEForTaxonomicClassification
    assert loaded.predict_taxonomy(enc["input_ids"], enc["attention_mask"]) == model.predict_taxonomy(
        enc["input_ids"], enc["attention_mask"]
    )
    assert os.path.exists(os.path.join(folder, "taxonomy.py"))  # travels with the hub code


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


LOADER = r"""
import json, sys
sys.modules["barcodefm"] = None  # any `import barcodefm` now raises ImportError
import torch
from transformers import AutoModel, AutoModelForPreTraining, AutoModelForSequenceClassification, AutoTokenizer
full, encoder_only, taxonomy, seqs, out_path = json.loads(sys.argv[1])
tok = AutoTokenizer.from_pretrained(full, trust_remote_code=True)
enc = tok(seqs, padding=True, return_tensors="pt")
masked = torch.load(out_path.replace("remote", "masked"))
pre = AutoModelForPreTraining.from_pretrained(full, trust_remote_code=True).eval()
encoder = AutoModel.from_pretrained(encoder_only, trust_remote_code=True).eval()
classifier = AutoModelForSequenceClassification.from_pretrained(encoder_only, trust_remote_code=True, num_labels=2)
tax = AutoModel.from_pretrained(taxonomy, trust_remote_code=True).eval()
for m in (pre, encoder, classifier, tax):
    assert "barcodefm" not in type(m).__module__ and "transformers_modules" in type(m).__module__, type(m)
with torch.no_grad():
    logits = pre(**enc, masked_positions=masked).logits
    torch.manual_seed(3)
    drawn = pre(**enc).masked_positions
    emb = encoder.embed(enc["input_ids"], enc["attention_mask"])
    tax_logits = tax(**enc).logits
torch.save({"ids": enc["input_ids"], "logits": logits, "drawn": drawn, "emb": emb, "tax": tax_logits,
            "classes": [type(tok).__name__, type(pre).__name__, type(encoder).__name__, type(tax).__name__]}, out_path)
"""


def test_saved_folders_load_without_barcodefm(pretrained, taxonomy_folder, tmp_path):
    model, tok, full, encoder_only, seqs, enc, masked = pretrained
    tax_model, tax_folder = taxonomy_folder
    with torch.no_grad():
        expected_logits = model(**enc, masked_positions=masked).logits
        torch.manual_seed(3)
        expected_drawn = model(**enc).masked_positions
        expected_emb = model.embed(enc["input_ids"], enc["attention_mask"])
        expected_tax = tax_model(**enc).logits
    torch.save(masked, tmp_path / "masked.pt")
    out_path = str(tmp_path / "remote.pt")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # Run from tmp_path so that the repository's src/ is not importable either.
    proc = subprocess.run(
        [sys.executable, "-c", LOADER, json.dumps([full, encoder_only, tax_folder, seqs, out_path])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = torch.load(out_path)
    assert got["classes"] == [
        "BarcodeKmerTokenizer",
        "BarcodeMAEForPreTraining",
        "BarcodeMAEModel",
        "BarcodeMAEForTaxonomicClassification",
    ]
    assert torch.equal(got["ids"], enc["input_ids"])
    torch.testing.assert_close(got["logits"], expected_logits, rtol=0, atol=0)
    assert torch.equal(got["drawn"], expected_drawn)  # same seed, same mask
    torch.testing.assert_close(got["emb"], expected_emb, rtol=0, atol=0)
    for got_rank, expected_rank in zip(got["tax"], expected_tax, strict=True):
        torch.testing.assert_close(got_rank, expected_rank, rtol=0, atol=0)
