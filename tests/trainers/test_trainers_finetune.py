"""`barcodefm finetune` on the real COI sample bundled with the package (tiny models, a few steps):
backbone from a pretrained folder, label map from train only, unseen labels scored as errors,
de-duplicated test, predictions files, from-scratch, and LoRA (frozen base, adapters that change
the backbone, merged export that loads through the Auto class)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from barcodefm.cli import main
from barcodefm.data import load_barcodes, sample_path
from barcodefm.trainers.export import export_model
from barcodefm.trainers.finetuning import build_finetuning
from barcodefm.trainers.options import FinetuneOptions

SAMPLE = str(sample_path("coi"))
TINY = ["--d-model", "32", "--n-layer", "1", "--headdim", "16", "--d-state", "16", "--d-intermediate", "64"]
COMMON = ["--data", SAMPLE, "--batch-size", "8", "--max-length", "200", "--save-steps", "0"]


@pytest.fixture(scope="module")
def records():
    return load_barcodes(SAMPLE)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pre") / "model"
    assert main(["pretrain", *COMMON, "--output", str(out), *TINY, "--max-steps", "3", "--eval-split", "none"]) == 0
    return out


@pytest.fixture(scope="module")
def finetuned(pretrained, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ft") / "run"
    args = [
        "finetune",
        str(pretrained),
        *COMMON,
        "--output",
        str(out),
        "--max-steps",
        "8",
        "--lr",
        "3e-3",
        "--logging-steps",
        "2",
        "--test-split",
        "test,unseen_query",
    ]
    assert main(args) == 0
    return out


def split_of(records, name):
    return [r for r in records if r["split"] == name]


def test_label_map_comes_from_the_train_split_only(finetuned, records):
    config = json.loads((finetuned / "config.json").read_text())
    train_species = sorted({r["species"] for r in split_of(records, "train") if r["species"]})
    assert [config["id2label"][str(i)] for i in range(len(train_species))] == train_species
    assert len(config["id2label"]) == len(config["label2id"]) == len(train_species)
    assert config["architectures"] == ["BarcodeMambaForSequenceClassification"]


def test_eval_results_cover_val_test_dedup_and_unseen_labels(finetuned, records):
    results = json.loads((finetuned / "eval_results.json").read_text())
    train_seqs = {r["sequence"] for r in split_of(records, "train")}
    test = split_of(records, "test")
    assert results["test"]["all"]["n"] == len(test) == 364
    assert results["test"]["dedup"]["n"] == sum(r["sequence"] not in train_seqs for r in test)
    assert results["val"]["all"]["n"] == len(split_of(records, "val"))
    # unseen_query holds species absent from train: every record is scored, every one is an error.
    unseen = results["unseen_query"]["all"]
    assert unseen["n"] == unseen["n_unseen_label"] == len(split_of(records, "unseen_query"))
    assert unseen["accuracy"] == 0.0
    assert results["n_labels"] == len({r["species"] for r in split_of(records, "train")})


def test_predictions_file_agrees_with_the_reported_accuracy(finetuned):
    with open(finetuned / "predictions_test.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert list(rows[0]) == ["id", "true", "predicted", "probability", "sequence_in_train"]
    results = json.loads((finetuned / "eval_results.json").read_text())
    accuracy = sum(r["true"] == r["predicted"] for r in rows) / len(rows)
    assert accuracy == pytest.approx(results["test"]["all"]["accuracy"])
    novel = [r for r in rows if r["sequence_in_train"] == "False"]
    assert sum(r["true"] == r["predicted"] for r in novel) / len(novel) == pytest.approx(
        results["test"]["dedup"]["accuracy"]
    )


def test_saved_classifier_reloads_and_reproduces_the_predictions(finetuned, records):
    model = AutoModelForSequenceClassification.from_pretrained(str(finetuned), trust_remote_code=True).eval()
    tok = AutoTokenizer.from_pretrained(str(finetuned), trust_remote_code=True)
    test = split_of(records, "test")[:6]
    with torch.no_grad():
        logits = model(**tok([r["sequence"][:200] for r in test], padding=True, return_tensors="pt")).logits
    predicted = [model.config.id2label[int(i)] for i in logits.argmax(-1)]
    with open(finetuned / "predictions_test.tsv", encoding="utf-8") as f:
        saved = [r["predicted"] for r in csv.DictReader(f, delimiter="\t")][:6]
    assert predicted == saved


def test_backbone_starts_from_the_pretrained_weights(pretrained, tmp_path):
    options = FinetuneOptions(
        model=str(pretrained),
        data=SAMPLE,
        output=str(tmp_path / "run"),
        max_length=200,
        batch_size=8,
        max_steps=1,
        save_steps=0,
    )
    model = build_finetuning(options).trainer.model
    saved = load_file(str(pretrained / "model.safetensors"))
    for name, tensor in model.state_dict().items():
        if name.startswith("backbone."):
            assert torch.equal(tensor, saved[name]), name
    assert "classifier.weight" not in saved


def test_from_scratch(tmp_path):
    out = tmp_path / "scratch"
    assert (
        main(
            [
                "finetune",
                "--from-scratch",
                "--tokenizer",
                "kmer",
                "--k",
                "4",
                *TINY,
                *COMMON,
                "--output",
                str(out),
                "--max-steps",
                "2",
                "--eval-split",
                "none",
                "--pooling",
                "last",
            ]
        )
        == 0
    )
    assert json.loads((out / "config.json").read_text())["pooling"] == "last"
    results = json.loads((out / "eval_results.json").read_text())
    assert set(results) >= {"test", "n_labels"} and "val" not in results
    assert AutoTokenizer.from_pretrained(str(out), trust_remote_code=True).k == 4


def test_lora_freezes_the_base_changes_the_backbone_and_exports_merged(pretrained, tmp_path, records):
    from peft import PeftModel

    options = FinetuneOptions(
        model=str(pretrained),
        data=SAMPLE,
        output=str(tmp_path / "lora"),
        max_length=200,
        batch_size=8,
        max_steps=6,
        lr=1e-2,
        save_steps=0,
        lora=True,
        eval_splits=(),
        test_splits=(),
    )
    run = build_finetuning(options)
    peft_model = run.trainer.model
    assert isinstance(peft_model, PeftModel)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or ".classifier.modules_to_save." in n for n in trainable)
    assert any(".in_proj.lora_A" in n for n in trainable) and any(".fc1.lora_A" in n for n in trainable)
    run.trainer.train()

    saved = load_file(str(pretrained / "model.safetensors"))
    checked = 0
    for name, tensor in peft_model.state_dict().items():
        if "lora_" in name or "classifier" in name:
            continue
        plain = name.replace("base_model.model.", "").replace(".base_layer", "")
        assert torch.equal(tensor, saved[plain]), f"base weight {plain} changed"
        checked += 1
    assert checked > 10

    tok = run.tokenizer
    batch = tok([r["sequence"][:200] for r in split_of(records, "test")[:4]], padding=True, return_tensors="pt")
    peft_model.eval()
    backbone = peft_model.base_model.model.backbone
    with torch.no_grad():
        adapted_states = backbone(**batch).last_hidden_state
        with peft_model.disable_adapter():
            base_states = backbone(**batch).last_hidden_state
        adapted_logits = peft_model(**batch).logits
    assert not torch.allclose(adapted_states, base_states, atol=1e-4), "the adapters must change the backbone"

    export_model(run.trainer, tok, tmp_path / "merged")
    merged = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "merged"), trust_remote_code=True)
    names = {n for n, _ in merged.named_parameters()}
    assert not any("lora" in n for n in names) and "classifier.weight" in names
    with torch.no_grad():
        merged_logits = merged.eval()(**batch).logits
    torch.testing.assert_close(merged_logits, adapted_logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lora", "--lora-targets", "out_proj"], "LoRA target 'out_proj' is not allowed on Mamba layers"),
        (["--lora", "--lora-targets", "in_proj,q_proj"], "LoRA target 'q_proj' matches no linear layer"),
        (["--label-column", "kingdom"], "has no 'kingdom' column; label columns there: order, family"),
        (["--train-split", "training"], "no record in split(s) training"),
        (["--d-model", "64"], "--d-model: only with --from-scratch"),
    ],
)
def test_bad_input_is_one_clear_line(pretrained, tmp_path, capsys, extra, message):
    assert (
        main(["finetune", str(pretrained), *COMMON, "--output", str(tmp_path / "run"), "--max-steps", "1", *extra]) == 1
    )
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("barcodefm finetune: error:") and message in err


def test_data_without_splits_and_missing_model_are_explained(tmp_path, capsys, records):
    table = tmp_path / "labelled.tsv"  # the sample's layout without its split column
    table.write_text(
        "processid\tgenus\tspecies\tdna\n"
        + "".join(f"{r['id']}\t{r['genus']}\t{r['species']}\t{r['sequence']}\n" for r in list(records)[:20])
    )
    assert main(["finetune", "--from-scratch", *TINY, "--data", str(table), "--output", str(tmp_path / "a")]) == 1
    assert "has no split column: run `barcodefm split` on it first" in capsys.readouterr().err
    assert main(["finetune", "--data", SAMPLE, "--output", str(tmp_path / "b")]) == 1
    assert "give a pretrained model folder, or --from-scratch" in capsys.readouterr().err


def test_pooling_choices_are_the_models_poolings():
    """The command line lists --pooling choices without importing torch, from its own copy."""
    from barcodefm.models.pooling import POOLINGS
    from barcodefm.trainers.options import POOLINGS as CLI_POOLINGS

    assert CLI_POOLINGS == POOLINGS
