"""Model card rendering: Hub metadata from results files, one template per family."""

from __future__ import annotations

import pytest
import torch
import yaml
from release_fixtures import one_torch_thread  # noqa: F401 (pytest fixtures)

from barcodefm import (
    BarcodeCharTokenizer,
    BarcodeKmerTokenizer,
    BarcodeMAEConfig,
    BarcodeMAEModel,
    BarcodeMambaForTaxonomicClassification,
    BarcodeMambaModel,
    config_from_tokenizer,
)
from barcodefm.models.taxonomy import TaxonomySpec
from barcodefm.release import card_family, metrics_from_results, render_model_card
from barcodefm.release.cards import default_template_dir


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_metrics_are_read_from_every_results_layout():
    flat = metrics_from_results({"eval_accuracy": 0.97, "eval_loss": 0.1, "epoch": 3.0, "test_macro_f1": 0.5})
    assert [(m.split, m.key, m.value) for m in flat] == [("eval", "accuracy", 0.97), ("test", "macro_f1", 0.5)]
    nested = metrics_from_results(
        {
            "task": "species",
            "n_train": 10,
            "lora": False,
            "test": {"all": {"accuracy": 0.9, "n_unseen_label": 2}, "dedup": {"accuracy": 0.8}},
        }
    )
    assert [(m.split, m.display_name, m.value) for m in nested] == [
        ("test", "Accuracy", 0.9),
        ("test", "Accuracy (de-duplicated)", 0.8),
    ]
    probes = metrics_from_results(
        {
            "knn_genus_unseen": {"accuracy": 0.69, "balanced_accuracy": 0.6, "macro_f1": 0.55},
            "zsc": {"ami": 80.3},
            "harmonic_mean": 74.2,
        }
    )
    assert [(m.split, m.key) for m in probes] == [
        ("knn_genus_unseen", "accuracy"),
        ("knn_genus_unseen", "balanced_accuracy"),
        ("knn_genus_unseen", "macro_f1"),
        ("zsc", "ami"),
        ("eval", "harmonic_mean"),
    ]
    per_rank = metrics_from_results({"test": {"genus": {"accuracy": 0.95, "mcc": 0.9}, "species": {"accuracy": 0.8}}})
    assert [m.display_name for m in per_rank] == ["Accuracy (genus)", "MCC (genus)", "Accuracy (species)"]
    pretraining = metrics_from_results({"eval": {"val": {"n": 100, "loss": 1.2, "perplexity": 3.3}}, "train_loss": 1.0})
    assert [(m.split, m.key, m.qualifiers) for m in pretraining] == [("val", "perplexity", ())]


def test_barcodemamba_plus_card_for_a_taxonomy_model():
    tokenizer = BarcodeCharTokenizer()
    spec = TaxonomySpec.from_columns(
        {
            "genus": ["Aspergillus", "Aspergillus", "Candida"],
            "species": ["Aspergillus niger", "Aspergillus flavus", "Candida albicans"],
        }
    )
    torch.manual_seed(0)
    model = BarcodeMambaForTaxonomicClassification(
        config_from_tokenizer(tokenizer, d_model=32, n_layer=1, headdim=16, d_state=16, taxonomy=spec.to_dict())
    )
    assert card_family(model.config) == "barcodemamba-plus"
    results = {"test": {"genus": {"accuracy": 0.93}, "species": {"accuracy": 0.817, "macro_f1": 0.7}}}
    card = render_model_card(
        model,
        tokenizer,
        "fungi-lab/barcodemamba-plus-its",
        results=results,
        datasets=["fungi-lab/its-benchmark"],
        base_model="fungi-lab/barcodemamba-its",
    )
    meta = _front_matter(card)
    assert meta["pipeline_tag"] == "text-classification" and meta["base_model"] == "fungi-lab/barcodemamba-its"
    assert meta["datasets"] == ["fungi-lab/its-benchmark"] and "barcodemamba-plus" in meta["tags"]
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"] == {"name": "fungi-lab/its-benchmark", "type": "fungi-lab/its-benchmark", "split": "test"}
    assert [m["name"] for m in result["metrics"]] == ["Accuracy (genus)", "Accuracy (species)", "Macro F1 (species)"]
    assert "| Ranks predicted | genus (2), species (3) |" in card
    assert "model.predict_taxonomy(" in card and "Romeijn" in card and "BarcodeMamba+: Advancing" in card
    assert "No evaluation results" not in card and "were not recorded" in card


def test_barcodemae_card_without_results():
    tokenizer = BarcodeKmerTokenizer(k=4)
    model = BarcodeMAEModel(
        config_from_tokenizer(
            tokenizer,
            config_class=BarcodeMAEConfig,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            decoder_hidden_size=32,
            decoder_num_hidden_layers=1,
            decoder_num_attention_heads=2,
            decoder_intermediate_size=64,
        )
    )
    card = render_model_card(model, tokenizer, "lab/barcodemae-4mer", license="cc-by-4.0")
    meta = _front_matter(card)
    assert meta["license"] == "cc-by-4.0" and meta["pipeline_tag"] == "feature-extraction"
    assert "model-index" not in meta and "metrics" not in meta
    assert "No evaluation results were supplied" in card and "safari2025barcodemae" in card
    assert "non-overlapping 4-mers (stride 4, 260 tokens" in card and "embed_sequences" in card


def test_templates_exist_and_errors_are_clear(tmp_path):
    assert sorted(p.name for p in default_template_dir().glob("*.md")) == [
        "barcodemae.md",
        "barcodemamba-plus.md",
        "barcodemamba.md",
    ]
    tokenizer = BarcodeCharTokenizer()
    model = BarcodeMambaModel(config_from_tokenizer(tokenizer, d_model=16, n_layer=1, headdim=16, d_state=8))
    (tmp_path / "barcodemamba.md").write_text("---\n${card_data}\n---\n# ${model_name} ${nonsense}\n")
    with pytest.raises(ValueError, match=r"unknown placeholder \$\{nonsense\}"):
        render_model_card(model, tokenizer, "a/b", template_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="--card-templates"):
        render_model_card(model, tokenizer, "a/b", template_dir=tmp_path / "missing")
    with pytest.raises(ValueError, match="no model card template for model_type 'bert'"):
        card_family(type("C", (), {"model_type": "bert"})())
