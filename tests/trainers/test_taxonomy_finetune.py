"""`barcodefm finetune --task taxonomy` (BarcodeMamba+) on the real samples bundled with the package
(tiny models, a few steps): the spec and the loss switches reach the saved config, per-rank
metrics per split, unknown labels are -100, the folder is ready for `barcodefm classify` with
novelty columns, and the demo's taxonomy step."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from barcodefm import BarcodeMambaForTaxonomicClassification
from barcodefm.cli import main
from barcodefm.data import load_barcodes, sample_path
from barcodefm.data.labels import normalize_label
from barcodefm.models.taxonomy import IGNORE_INDEX
from barcodefm.trainers.finetuning import build_finetuning
from barcodefm.trainers.options import FinetuneOptions
from barcodefm.trainers.taxonomy_task import TaxonomyCollator, TaxonomyTask

ITS = str(sample_path("its"))
COI = str(sample_path("coi"))
TINY = ["--d-model", "32", "--n-layer", "1", "--headdim", "16", "--d-state", "16", "--d-intermediate", "0"]
# 500 bases keep every ITS2 barcode of the sample whole (longest 439), so `classify`, which
# never cuts, sees exactly what the evaluation saw.
COMMON = ["--data", ITS, "--batch-size", "16", "--max-length", "500", "--save-steps", "0"]
TRAIN_SPLITS = ("train", "train_singleton")
ABLATION_RANKS = ["species", "genus", "order", "phylum"]  # given out of order on purpose


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # The test machine's 2 cores are shared: two torch threads fighting other jobs run these
    # tiny models several times slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def records():
    return load_barcodes(ITS)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("its_pre") / "model"
    assert (
        main(
            [
                "pretrain",
                *COMMON,
                "--output",
                str(out),
                *TINY,
                "--tokenizer",
                "kmer",
                "--splits",
                ",".join(TRAIN_SPLITS),
                "--max-steps",
                "2",
                "--eval-split",
                "none",
            ]
        )
        == 0
    )
    return out


@pytest.fixture(scope="module")
def finetuned(pretrained, tmp_path_factory) -> Path:
    """The ablation run: no HLS, unweighted loss, a subset of ranks."""
    out = tmp_path_factory.mktemp("its_ft") / "run"
    assert (
        main(
            [
                "finetune",
                str(pretrained),
                "--task",
                "taxonomy",
                "--ranks",
                ",".join(ABLATION_RANKS),
                "--no-hls",
                "--class-weight-strength",
                "0",
                "--rank-weights",
                "1,1,2,3",
                *COMMON,
                "--output",
                str(out),
                "--train-split",
                ",".join(TRAIN_SPLITS),
                "--test-split",
                "test,unseen_query",
                "--max-steps",
                "6",
                "--lr",
                "3e-3",
            ]
        )
        == 0
    )
    return out


def split_of(records, *names):
    return [r for r in records if r["split"] in names]


def known(rank, records):
    return [normalize_label(rank, r[rank]) for r in records if normalize_label(rank, r[rank]) is not None]


def test_config_carries_the_train_spec_and_the_ablation_switches(finetuned, records):
    config = json.loads((finetuned / "config.json").read_text())
    assert config["architectures"] == ["BarcodeMambaForTaxonomicClassification"]
    spec = config["taxonomy"]
    assert spec["ranks"] == ["phylum", "order", "genus", "species"]  # top -> bottom
    train = split_of(records, *TRAIN_SPLITS)
    for rank in spec["ranks"]:
        assert spec["labels"][rank] == sorted(set(known(rank, train))), rank
    # Genus -> order parent map straight from the records (ranks in between are skipped).
    first = train[0]
    assert spec["parents"]["genus"][normalize_label("genus", first["genus"])] == normalize_label(
        "order", first["order"]
    )
    assert config["taxonomy_label_smoothing"] is None
    assert config["taxonomy_class_weight_strength"] == 0
    assert config["taxonomy_rank_weights"] == [1, 1, 2, 3]
    model = BarcodeMambaForTaxonomicClassification.from_pretrained(str(finetuned))
    assert model.taxonomy.label_smoothing == [0.0] * 4
    assert model.taxonomy.class_weight_strength == 0.0
    assert model.taxonomy.rank_weights == [1.0, 1.0, 2.0, 3.0]


def test_defaults_every_varying_rank_hls_and_weighted_loss_on_the_pretrained_backbone(pretrained, tmp_path):
    options = FinetuneOptions(
        model=str(pretrained),
        task="taxonomy",
        data=ITS,
        output=str(tmp_path / "run"),
        train_splits=TRAIN_SPLITS,
        max_length=500,
        batch_size=16,
        max_steps=1,
        save_steps=0,
    )
    run = build_finetuning(options)
    model = run.trainer.model
    # kingdom is Fungi everywhere: no head for it.
    assert model.taxonomy.spec.ranks == ["phylum", "class", "order", "family", "genus", "species"]
    assert model.config.taxonomy_label_smoothing == "default"
    assert model.taxonomy.label_smoothing == [0.02] * 5 + [0.0]
    assert model.taxonomy.class_weight_strength == 0.5
    saved = load_file(str(pretrained / "model.safetensors"))
    backbone = {n: t for n, t in model.state_dict().items() if n.startswith("backbone.")}
    assert backbone and all(torch.equal(t, saved[n]) for n, t in backbone.items())
    # HLS is on: a batch's loss differs from the same model's loss without smoothing.
    batch = run.trainer.data_collator([run.trainer.train_dataset[i] for i in range(8)])
    with torch.no_grad():
        smoothed = model(**batch).loss
        model.taxonomy.label_smoothing = [0.0] * 6
        plain = model(**batch).loss
    assert torch.isfinite(smoothed) and not torch.isclose(smoothed, plain)


def test_eval_results_hold_per_rank_metrics_per_split(finetuned, records):
    results = json.loads((finetuned / "eval_results.json").read_text())
    assert results["task"] == "taxonomy" and results["ranks"] == ["phylum", "order", "genus", "species"]
    assert results["hls"] is False and results["class_weight_strength"] == 0
    for split in ("val", "test", "unseen_query"):
        truth = split_of(records, split)
        train_sequences = {r["sequence"] for r in split_of(records, *TRAIN_SPLITS)}
        for rank in results["ranks"]:
            metrics = results[split]["all"][rank]
            assert set(metrics) >= {"accuracy", "balanced_accuracy", "macro_f1", "mcc", "n", "n_unseen_label"}
            assert metrics["n"] == len(known(rank, truth))
            assert results[split]["dedup"][rank]["n"] == len(
                known(rank, [r for r in truth if r["sequence"] not in train_sequences])
            )
    # Species absent from training are scored, and can only be errors.
    unseen = results["unseen_query"]["all"]["species"]
    assert unseen["n"] == unseen["n_unseen_label"] == len(split_of(records, "unseen_query"))
    assert unseen["accuracy"] == 0.0
    assert results["test"]["all"]["species"]["n_unseen_label"] == 0


def test_predictions_file_agrees_with_the_per_rank_metrics(finetuned):
    with open(finetuned / "predictions_test.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    ranks = ["phylum", "order", "genus", "species"]
    assert list(rows[0]) == [
        "id",
        *[c for r in ranks for c in (f"true_{r}", r, f"{r}_prob")],
        "consistent",
        "sequence_in_train",
    ]
    results = json.loads((finetuned / "eval_results.json").read_text())["test"]
    for rank in ranks:
        scored = [r for r in rows if r[f"true_{rank}"]]
        accuracy = sum(r[rank] == r[f"true_{rank}"] for r in scored) / len(scored)
        assert accuracy == pytest.approx(results["all"][rank]["accuracy"]), rank
    assert results["consistent"] == pytest.approx(sum(r["consistent"] == "True" for r in rows) / len(rows))


def test_classify_reads_the_folder_and_reports_novelty(finetuned, records, tmp_path):
    info = json.loads((finetuned / "novelty.json").read_text())
    train = split_of(records, *TRAIN_SPLITS)
    ranks = json.loads((finetuned / "config.json").read_text())["taxonomy"]["ranks"]
    # The reference holds each distinct (barcode, labels) of the training records once.
    distinct = {(r["sequence"][:500], *(str(r.get(rank)) for rank in ranks)) for r in train}
    assert info["n_references"] == len(distinct)
    assert info["n_val_seen"] == len(split_of(records, "val"))
    assert info["n_val_novel"] == len(split_of(records, "unseen_key"))
    test = split_of(records, "test")[:12]
    fasta = tmp_path / "query.fasta"
    fasta.write_text("".join(f">{r['id']}\n{r['sequence']}\n" for r in test))
    out = tmp_path / "calls.tsv"
    assert main(["classify", str(finetuned), str(fasta), "-o", str(out)]) == 0
    with open(out, encoding="utf-8") as f:
        calls = list(csv.DictReader(f, delimiter="\t"))
    assert [c["id"] for c in calls] == [r["id"] for r in test]
    assert {"novelty", "likely_novel"} <= set(calls[0])
    assert all(float(c["novelty"]) >= -1e-4 and c["likely_novel"] in ("true", "false") for c in calls)
    # Where the folder's identification rule is the head, classify predicts what the run's evaluation
    # (heads) predicted for the same barcodes; every rule was chosen by the fine-tuning export.
    rules = json.loads((finetuned / "identification.json").read_text())["rules"]
    assert set(rules) == set(ranks)
    with open(finetuned / "predictions_test.tsv", encoding="utf-8") as f:
        evaluated = {r["id"]: r for r in csv.DictReader(f, delimiter="\t")}
    head_ranks = [r for r in ABLATION_RANKS if rules[r] == "head"]
    for call in calls:
        assert [call[r] for r in head_ranks] == [evaluated[call["id"]][r] for r in head_ranks]


def test_unknown_labels_are_ignore_index_at_their_rank():
    coi = load_barcodes(COI)
    task = TaxonomyTask(ranks=["order", "family", "subfamily", "genus", "species"])
    task.fit(coi.filter(lambda s: s == "train", input_columns="split"))
    encoded = task.encode(coi)
    subfamily = task.ranks.index("subfamily")
    no_subfamily = [i for i, label in enumerate(coi["subfamily"]) if normalize_label("subfamily", label) is None]
    assert no_subfamily  # the real sample has records identified to genus but not subfamily
    labels = encoded["labels"]
    for i in no_subfamily:
        assert labels[i][subfamily] == IGNORE_INDEX
        assert all(x >= 0 for j, x in enumerate(labels[i]) if j != subfamily and coi[i]["split"] == "train")
    # Species absent from training are unknown to the spec: -100 at species, known above.
    unseen = [i for i, split in enumerate(coi["split"]) if split == "unseen_query"]
    assert all(labels[i][-1] == IGNORE_INDEX for i in unseen)
    assert sum(labels[i][0] >= 0 for i in unseen) == len(unseen)
    batch = TaxonomyCollator(task_tokenizer(), max_bases=60)(
        [{"sequence": coi[i]["sequence"], "index": i, "labels": labels[i]} for i in no_subfamily[:3]]
    )
    assert batch["labels"].shape == (3, 5) and bool((batch["labels"][:, subfamily] == IGNORE_INDEX).all())


def task_tokenizer():
    from barcodefm.trainers.tokenizer_choice import build_tokenizer

    return build_tokenizer("kmer", k=6)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--task", "taxonomy", "--ranks", "kingdom,species"], "fewer than 2 labels at kingdom"),
        (["--task", "taxonomy", "--ranks", "genus,tribe"], "no column for rank(s) tribe"),
        (["--task", "taxonomy", "--rank-weights", "1,2"], "--rank-weights gives 2 number(s) for 6 ranks"),
        (["--no-hls"], "--no-hls: only with --task taxonomy"),
        (["--task", "taxonomy", "--class-weight-strength", "-1"], "--class-weight-strength must be >= 0"),
    ],
)
def test_bad_taxonomy_options_are_one_clear_line(pretrained, tmp_path, capsys, flags, message):
    code = main(
        [
            "finetune",
            str(pretrained),
            *COMMON,
            "--output",
            str(tmp_path / "run"),
            "--max-steps",
            "1",
            "--train-split",
            ",".join(TRAIN_SPLITS),
            *flags,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err


def test_demo_taxonomy_step_saves_a_classify_ready_model(tmp_path, capsys):
    from barcodefm.commands.demo import print_report
    from barcodefm.trainers.demo import QUICK, run_taxonomy_step

    summary = run_taxonomy_step(tmp_path, QUICK, report=print_report)
    printed = capsys.readouterr().out
    assert summary["ranks"] == ["phylum", "class", "order", "family", "genus", "species"]
    model_dir = tmp_path / "taxonomy-model"
    assert (model_dir / "novelty_reference.safetensors").is_file() and (model_dir / "model.safetensors").is_file()
    with open(tmp_path / "taxonomy_predictions.tsv", encoding="utf-8") as f:
        calls = list(csv.DictReader(f, delimiter="\t"))
    queries = {r["id"]: r for r in load_barcodes(tmp_path / "its_query.fasta")}
    assert [c["id"] for c in calls] == list(queries) and len(calls) == QUICK.n_taxonomy_queries
    assert all(c["likely_novel"] in ("true", "false") for c in calls)
    for rank in summary["ranks"]:
        assert rank in printed and 0.0 <= summary["test"][rank] <= 1.0
    assert calls[0]["id"] in printed and "unseen species" in printed


def test_barcodemae_backbone_fine_tunes_under_taxonomy_heads(tmp_path):
    from barcodefm import BarcodeMAEForTaxonomicClassification

    pre = tmp_path / "mae"
    assert (
        main(
            [
                "pretrain",
                "--family",
                "barcodemae",
                "--d-model",
                "32",
                "--n-layer",
                "1",
                *COMMON,
                "--output",
                str(pre),
                "--splits",
                ",".join(TRAIN_SPLITS),
                "--max-steps",
                "1",
                "--eval-split",
                "none",
            ]
        )
        == 0
    )
    options = FinetuneOptions(
        model=str(pre),
        task="taxonomy",
        data=ITS,
        output=str(tmp_path / "run"),
        train_splits=TRAIN_SPLITS,
        max_length=500,
        batch_size=16,
        max_steps=1,
        save_steps=0,
    )
    model = build_finetuning(options).trainer.model
    assert isinstance(model, BarcodeMAEForTaxonomicClassification)
    assert model.taxonomy.spec.ranks == ["phylum", "class", "order", "family", "genus", "species"]
    saved = load_file(str(pre / "model.safetensors"))
    encoder = {n: t for n, t in model.state_dict().items() if n.startswith("encoder.")}
    assert encoder and all(torch.equal(t, saved[n]) for n, t in encoder.items())
