"""`barcodefm classify`, the novelty reference and the barcode-classification pipeline."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import save_tiny_taxonomy_model

from barcodefm import BarcodeCharTokenizer, BarcodeMambaForTaxonomicClassification, config_from_tokenizer
from barcodefm.cli import main
from barcodefm.data import iter_barcodes, sample_path
from barcodefm.inference.novelty import (
    build_novelty_reference,
    calibrate_threshold,
    load_novelty_reference,
    save_novelty_reference,
)

RANKS = ("order", "family", "genus", "species")


@pytest.fixture(scope="module")
def records():
    return [r for _, r in zip(range(300), iter_barcodes(sample_path("coi")))]


@pytest.fixture(scope="module")
def taxonomy_dir(tmp_path_factory, records):
    out = tmp_path_factory.mktemp("taxonomy-model")
    model, tok = save_tiny_taxonomy_model(out, records, RANKS)
    seqs = [r["sequence"][:200] for r in records]
    reference, info = build_novelty_reference(model, tok, seqs[:200], seqs[200:240], val_novel_sequences=None)
    save_novelty_reference(out, reference, info)
    return out


def write_fasta(path, records, bad=()):
    with open(path, "w") as f:
        for i, r in enumerate(records):
            seq = r["sequence"][:200]
            if i in bad:
                seq = seq[:10] + "!?" + seq[12:]
            f.write(f">{r['id']}\n{seq}\n")


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_calibration_by_hand():
    # Seen distances 0.1..0.4, novel 0.35..0.9: "> 0.3" flags 3/3 novel and 0/4 seen -> J = 1.
    info = calibrate_threshold(np.array([0.1, 0.2, 0.3, 0.3]), np.array([0.35, 0.6, 0.9]))
    assert info["threshold"] == pytest.approx(0.3) and info["balanced_accuracy"] == pytest.approx(1.0)
    only_seen = calibrate_threshold(np.linspace(0, 1, 101))
    assert only_seen["threshold"] == pytest.approx(0.95) and only_seen["false_alarm_rate"] == pytest.approx(
        0.05, abs=0.011
    )


def test_classify_fasta_with_bad_records(taxonomy_dir, records, tmp_path, capsys):
    fasta = tmp_path / "q.fasta"
    write_fasta(fasta, records[:30], bad=(4, 17))
    out = tmp_path / "pred.tsv"
    assert main(["classify", str(taxonomy_dir), str(fasta), "-o", str(out), "--batch-size", "7"]) == 0
    rows = read_tsv(out)
    assert [r["id"] for r in rows] == [r["id"] for i, r in enumerate(records[:30]) if i not in (4, 17)]
    assert list(rows[0]) == [
        "id",
        "order",
        "order_prob",
        "family",
        "family_prob",
        "genus",
        "genus_prob",
        "species",
        "species_prob",
        "consistent",
        "novelty",
        "likely_novel",
    ]
    assert "skipped" in capsys.readouterr().out
    ref, info = load_novelty_reference(taxonomy_dir)
    for r in rows:
        assert r["consistent"] in ("true", "false") and 0.0 <= float(r["novelty"]) <= 2.0
        assert r["likely_novel"] == str(float(r["novelty"]) > info["threshold"]).lower()
        assert 0 < float(r["species_prob"]) <= 1


def test_min_prob_truncates_instead_of_guessing(taxonomy_dir, records, tmp_path):
    fasta = tmp_path / "q.fasta"
    write_fasta(fasta, records[:10])
    out = tmp_path / "pred.tsv"
    assert main(["classify", str(taxonomy_dir), str(fasta), "-o", str(out), "--min-prob", "0.99"]) == 0
    rows = read_tsv(out)
    # An untrained model is never 99% sure of a species: nothing is written there.
    assert all(r["species"] == "" and r["species_prob"] == "" for r in rows)


def test_resume_after_interruption_skips_done_ids(taxonomy_dir, records, tmp_path):
    fasta = tmp_path / "q.fasta"
    write_fasta(fasta, records[:20])
    full = tmp_path / "full.tsv"
    assert main(["classify", str(taxonomy_dir), str(fasta), "-o", str(full)]) == 0
    lines = full.read_text().splitlines(keepends=True)
    partial = tmp_path / "partial.tsv"
    partial.write_text("".join(lines[:9]) + lines[9][:15])  # killed mid-row
    assert main(["classify", str(taxonomy_dir), str(fasta), "-o", str(partial)]) == 1  # no clobbering
    assert main(["classify", str(taxonomy_dir), str(fasta), "-o", str(partial), "--resume"]) == 0
    assert partial.read_text() == full.read_text()


def test_classify_refuses_a_model_without_taxonomy(tmp_path, records):
    from barcodefm import BarcodeMambaForCausalLM

    tok = BarcodeCharTokenizer()
    BarcodeMambaForCausalLM(config_from_tokenizer(tok, d_model=32, n_layer=1, headdim=16)).save_pretrained(
        tmp_path / "lm"
    )
    tok.save_pretrained(tmp_path / "lm")
    write_fasta(tmp_path / "q.fasta", records[:2])
    assert main(["classify", str(tmp_path / "lm"), str(tmp_path / "q.fasta"), "-o", str(tmp_path / "o.tsv")]) == 1


def test_pipeline_task_returns_the_same_per_rank_dicts(taxonomy_dir, records):
    from transformers import pipeline

    pipe = pipeline("barcode-classification", model=str(taxonomy_dir), trust_remote_code=True)
    seq = records[3]["sequence"][:200]
    got = pipe(seq)
    tok = BarcodeCharTokenizer()
    model = BarcodeMambaForTaxonomicClassification.from_pretrained(taxonomy_dir).eval()
    expected = model.predict_taxonomy(tok([seq], return_tensors="pt")["input_ids"])[0]
    assert got["labels"] == expected["labels"] and got["consistent"] == expected["consistent"]
    assert set(got["labels"]) == set(RANKS)
    truncated = pipe([seq, seq], min_prob=0.99)
    assert len(truncated) == 2 and truncated[0]["labels"]["species"] is None


def test_classify_cuts_barcodes_to_the_trained_max_length(taxonomy_dir, records, tmp_path, capsys):
    """A folder from `barcodefm finetune` records its --max-length in run_options.json: classify
    cuts to it (as fine-tuning and the novelty reference did), and --max-length overrides it."""
    import json
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(taxonomy_dir, model_dir)
    (model_dir / "run_options.json").write_text(json.dumps({"max_length": 60}))
    full, cut = tmp_path / "full.fasta", tmp_path / "cut.fasta"
    write_fasta(full, records[:12])  # 200 bases each
    with open(cut, "w") as f:
        for r in records[:12]:
            f.write(f">{r['id']}\n{r['sequence'][:60]}\n")

    runs = iter(range(100))

    def classify(folder, fasta, *extra):
        out = tmp_path / f"run-{next(runs)}.tsv"
        assert main(["classify", str(folder), str(fasta), "-o", str(out), *extra]) == 0
        return read_tsv(out)

    by_default = classify(model_dir, full)
    assert by_default == classify(taxonomy_dir, cut)  # same as cutting the input by hand
    assert by_default != classify(taxonomy_dir, full)  # and the cut changes the answer
    assert classify(model_dir, full, "--max-length", "200") == classify(taxonomy_dir, full)
    assert main(["classify", str(model_dir), str(full), "-o", str(tmp_path / "bad.tsv"), "--max-length", "0"]) != 0
    assert "max_length must be >= 1" in capsys.readouterr().err
