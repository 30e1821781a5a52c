"""`barcodefm demo` (quick variant) end to end on the bundled real COI sample: pretrain,
fine-tune, k-mer baseline, reload through the Auto class, classify a FASTA."""

from __future__ import annotations

import csv
import json

import pytest
from transformers import AutoModelForSequenceClassification

from barcodefm.commands.demo import print_report
from barcodefm.data import iter_barcodes, load_barcodes, sample_path
from barcodefm.trainers.demo import QUICK, run_demo


def test_quick_demo_runs_the_whole_workflow(tmp_path, capsys):
    out = tmp_path / "demo"
    summary = run_demo(out, quick=True, report=print_report)  # printed as `barcodefm demo` prints it
    printed = capsys.readouterr().out

    records = load_barcodes(sample_path("coi"))
    test = {r["id"]: r for r in records if r["split"] == "test"}
    assert summary["n_test"] == len(test)
    assert summary["n_species"] == len({r["species"] for r in records if r["split"] == "train"})
    # The 6-mer 1-NN is near perfect on seen species of this sample (SPEC 8: 99.4% on COI cap20).
    assert summary["kmer_1nn"]["all"] > 0.95
    assert 0.0 <= summary["barcodemamba"]["all"] <= 1.0 and 0.0 <= summary["barcodemamba"]["dedup"] <= 1.0

    # The model folder is Hub-ready and loads through the Auto class with remote code.
    model = AutoModelForSequenceClassification.from_pretrained(str(out / "model"), trust_remote_code=True)
    assert model.config.num_labels == summary["n_species"]
    assert json.loads((out / "model" / "eval_results.json").read_text())["test"]["all"]["n"] == len(test)
    assert (out / "pretrained" / "model.safetensors").is_file()

    # Held-out queries: a FASTA of test barcodes of distinct species, one call per query.
    queries = list(iter_barcodes(out / "query.fasta"))
    assert len(queries) == QUICK.n_queries
    assert all(q["id"] in test and q["sequence"] == test[q["id"]]["sequence"] for q in queries)
    assert len({test[q["id"]]["species"] for q in queries}) == len(queries)
    with open(out / "predictions.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert [r["id"] for r in rows] == [q["id"] for q in queries]
    assert all(r["predicted_species"] in model.config.label2id and 0 < float(r["probability"]) <= 1 for r in rows)
    assert all(r["true_species"] == test[r["id"]]["species"] for r in rows)
    assert rows == [{k: str(v) for k, v in q.items()} for q in summary["queries"]]

    assert "species accuracy on the held-out test split" in printed and "6-mer frequency 1-NN" in printed
    assert rows[0]["id"] in printed


def test_demo_never_writes_into_a_used_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not an empty folder"):
        run_demo(tmp_path, quick=True)
