"""`barcodefm classify` with a species classifier (a *ForSequenceClassification folder, such as the
demo's DIR/model or a `barcodefm finetune --task species` run), not only a taxonomic one (issue 13)."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import coi_sample_records, write_fasta

from barcodefm.cli import main

SPECIES = ["Aedes vexans", "Culex pipiens", "Apamea crenata"]


@pytest.fixture(scope="module")
def species_dir(tmp_path_factory):
    """A tiny (untrained) species classifier folder with its label map, saved as finetune saves one."""
    import torch

    from barcodefm import BarcodeCharTokenizer, BarcodeMambaForSequenceClassification, config_from_tokenizer

    torch.manual_seed(0)
    tok = BarcodeCharTokenizer()
    config = config_from_tokenizer(
        tok,
        d_model=32,
        n_layer=1,
        headdim=16,
        d_state=16,
        num_labels=len(SPECIES),
        id2label=dict(enumerate(SPECIES)),
        label2id={s: i for i, s in enumerate(SPECIES)},
    )
    out = tmp_path_factory.mktemp("species-model")
    BarcodeMambaForSequenceClassification(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_classify_with_a_species_classifier_writes_species_and_probability(species_dir, tmp_path, capsys):
    records = coi_sample_records(12)
    fasta = write_fasta(tmp_path / "q.fasta", records)
    out = tmp_path / "calls.tsv"
    assert main(["classify", str(species_dir), str(fasta), "-o", str(out), "--batch-size", "5"]) == 0
    assert "classified 12 barcodes" in capsys.readouterr().out
    rows = read_tsv(out)
    assert list(rows[0]) == ["id", "species", "species_prob"]  # no novelty reference: no novelty columns
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    assert all(r["species"] in SPECIES and 1 / len(SPECIES) <= float(r["species_prob"]) <= 1 for r in rows)

    # --min-prob leaves a call below it empty (as at a rank of a taxonomic classifier).
    cut = tmp_path / "cut.tsv"
    assert main(["classify", str(species_dir), str(fasta), "-o", str(cut), "--min-prob", "0.999"]) == 0
    assert all(r["species"] == "" and r["species_prob"] == "" for r in read_tsv(cut))


def test_the_label_column_of_the_run_names_the_columns(species_dir, tmp_path):
    folder = tmp_path / "genus-model"
    folder.mkdir()
    for path in species_dir.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "run_options.json").write_text(json.dumps({"label_column": "genus", "task": "species"}))
    out = tmp_path / "calls.tsv"
    fasta = write_fasta(tmp_path / "q.fasta", coi_sample_records(3))
    assert main(["classify", str(folder), str(fasta), "-o", str(out)]) == 0
    assert list(read_tsv(out)[0]) == ["id", "genus", "genus_prob"]


def test_a_language_model_is_still_refused(tiny_lm_dir, tmp_path, capsys):
    fasta = write_fasta(tmp_path / "q.fasta", coi_sample_records(3))
    assert main(["classify", str(tiny_lm_dir), str(fasta), "-o", str(tmp_path / "calls.tsv")]) == 1
    assert "not a taxonomic or species classifier" in capsys.readouterr().err
