"""`barcodefm finetune` (and `pretrain`) end with a few human lines: where the model is and each
split's headline numbers; every metric stays in the run folder's eval_results.json (finetune used
to print all of it, ~340 lines of JSON)."""

from __future__ import annotations

import json

from barcodefm.cli import main
from barcodefm.data import sample_path
from barcodefm.trainers.summary import finetune_summary

TINY = ["--d-model", "32", "--n-layer", "1", "--headdim", "16", "--d-state", "16", "--d-intermediate", "64"]


def test_finetune_prints_a_short_summary_and_keeps_every_metric_in_the_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "finetune",
                "--from-scratch",
                *TINY,
                "--data",
                str(sample_path("coi")),
                "--output",
                str(out),
                "--batch-size",
                "8",
                "--max-length",
                "120",
                "--max-steps",
                "2",
                "--save-steps",
                "0",
                "--test-split",
                "test,unseen_query",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out.strip().splitlines()
    results = json.loads((out / "eval_results.json").read_text())
    assert printed[-1] == f"model saved to {out}; every metric in {out / 'eval_results.json'}"
    summary = printed[printed.index(next(line for line in printed if line.startswith("fine-tuned"))) :]
    assert len(summary) == 5  # headline, val, test, unseen_query, where
    assert summary[0].startswith(
        f"fine-tuned a species classifier ({results['n_labels']} labels) on 1,265 barcodes: 2 steps, train loss "
    )
    accuracy = f"{100 * results['test']['all']['accuracy']:.1f}%"
    assert summary[2].startswith(f"  test ({results['test']['all']['n']:,} barcodes): accuracy {accuracy}")
    assert not any(line.strip() in ("{", "}") or line.lstrip().startswith('"') for line in printed)  # no JSON dump
    assert {"all", "dedup"} <= set(results["val"]) and "macro_f1" in results["val"]["all"]  # all kept on disk


def test_taxonomy_summary_has_one_line_per_split_with_every_rank():
    per_rank = {r: {"accuracy": a, "n": 10} for r, a in (("genus", 0.9), ("species", 0.755))}
    results = {
        "task": "taxonomy",
        "ranks": ["genus", "species"],
        "n_labels": {"genus": 3, "species": 7},
        "n_train": 1234,
        "global_step": 50,
        "train_loss": 1.23456,
        "lora": False,
        "val": {"all": per_rank, "dedup": {"species": {"accuracy": 0.5}}, "consistent": 1.0},
        "novelty": {"saved": True, "threshold": 0.1234, "detection_rate": 0.8, "false_alarm_rate": 0.05},
    }
    assert finetune_summary(results, "runs/tax").splitlines() == [
        "fine-tuned a taxonomic classifier (3 genus, 7 species) on 1,234 barcodes: 50 steps, train loss 1.235",
        "  val: accuracy genus 90.0%, species 75.5%; species 50.0% on sequences not in train; consistent 100.0%",
        "  novelty: score > 0.1234 flags 80.0% of unseen-species and 5.0% of seen-species validation barcodes",
        "model saved to runs/tax; every metric in runs/tax/eval_results.json",
    ]
