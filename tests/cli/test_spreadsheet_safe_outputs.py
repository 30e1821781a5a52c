"""Every text cell of the TSVs barcodefm writes (classify's table, rejects files, embed's ids) is
spreadsheet-safe: a cell a spreadsheet would read as a formula (starting with =, +, -, @, a tab or
a CR) gets a leading ', and --resume still matches the ids of the rows written that way."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import coi_sample_records

from barcodefm.cli import main
from barcodefm.data.writers import spreadsheet_safe

HOSTILE_IDS = ['=HYPERLINK("http://x","y")', "+SUM(A1)", "-2+3", "@cmd", "'=quoted", "-0.5", "plain"]


@pytest.fixture
def fasta(tmp_path):
    records = coi_sample_records(len(HOSTILE_IDS))
    text = "".join(f">{i}\n{r['sequence'][:150]}\n" for i, r in zip(HOSTILE_IDS, records))
    text += ">=BAD()\nACGT!!ACGT\n"  # a rejected record with a formula for an id
    path = tmp_path / "q.fasta"
    path.write_text(text)
    return path


def first_cells(path) -> list[str]:
    with open(path, newline="") as f:
        return [row[0] for row in csv.reader(f, delimiter="\t")]


def test_spreadsheet_safe_cells():
    assert spreadsheet_safe("=1+2") == "'=1+2"
    assert [spreadsheet_safe(c) for c in ("+A", "-B", "@C", "\tD", "\rE")] == ["'+A", "'-B", "'@C", "'\tD", "'\rE"]
    assert spreadsheet_safe("'=x") == "''=x"  # a leading ' is doubled, so the change can be undone exactly
    for number in ("-0.5", "0.1234", "-1e-05", "+3", "12"):
        assert spreadsheet_safe(number) == number  # a number is read as that number, not as a formula
    assert spreadsheet_safe("Aedes albopictus") == "Aedes albopictus" and spreadsheet_safe("") == ""


def test_classify_and_rejects_cells_are_neutralised(fasta, tiny_taxonomy_dir, tmp_path):
    out, rejects = tmp_path / "calls.tsv", tmp_path / "rejects.tsv"
    argv = ["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", str(out), "--batch-size", "3"]
    assert main([*argv, "--rejects", str(rejects)]) == 0
    expected_ids = ['\'=HYPERLINK("http://x","y")', "'+SUM(A1)", "'-2+3", "'@cmd", "''=quoted", "-0.5", "plain"]
    assert first_cells(out)[1:] == expected_ids
    assert first_cells(rejects)[1:] == ["'=BAD()"]
    # --resume matches the ids as written: an interrupted run's first rows are continued, not refused.
    full = out.read_text()
    out.write_text("".join(full.splitlines(keepends=True)[:5]))
    assert main([*argv, "--resume"]) == 0
    assert out.read_text() == full


def test_embed_ids_file_is_neutralised_and_resumable(fasta, tiny_lm_dir, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "emb.npy"
    argv = ["embed", str(tiny_lm_dir), str(fasta), "--batch-size", "3"]
    assert main([*argv, "-o", str(out)]) == 0
    assert first_cells(out.with_suffix(".ids.txt"))[:3] == ['\'=HYPERLINK("http://x","y")', "'+SUM(A1)", "'-2+3"]
    assert main([*argv, "-o", str(tmp_path / "emb.parquet")]) == 0
    assert pq.read_table(tmp_path / "emb.parquet").column("id").to_pylist() == HOSTILE_IDS  # typed: as read
    np.testing.assert_array_equal(
        np.stack(pq.read_table(tmp_path / "emb.parquet").column("embedding").to_pylist()), np.load(out)
    )
