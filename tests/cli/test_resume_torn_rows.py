"""--resume after a kill that tore the last row: a row that does not end in a newline (even one cut
in its last cell, which still has the right number of cells) or has the wrong width is dropped and
redone, so the resumed output is the one an uninterrupted run writes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import coi_sample_records, write_fasta

from barcodefm.cli import main
from barcodefm.inference.embed import EmbeddingWriter


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    return write_fasta(tmp_path_factory.mktemp("torn") / "q.fasta", coi_sample_records(20))


@pytest.fixture(scope="module")
def full_classify(fasta, tiny_taxonomy_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "full.tsv"
    assert main(["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", str(out)]) == 0
    return out.read_text()


@pytest.mark.parametrize(
    "tear",
    [
        "inside_the_last_cell",  # right width after csv parsing: used to be kept and appended to
        "after_the_last_cell",  # the whole row but its newline
        "inside_the_first_cell",  # a short row
    ],
)
def test_classify_resume_redoes_a_torn_last_row(fasta, tiny_taxonomy_dir, full_classify, tmp_path, tear):
    lines = full_classify.splitlines(keepends=True)
    row = lines[9]
    torn = {
        "inside_the_last_cell": row[: row.rindex("\t") + 2],
        "after_the_last_cell": row[:-1],
        "inside_the_first_cell": row[:5],
    }[tear]
    out = tmp_path / "calls.tsv"
    out.write_text("".join(lines[:9]) + torn)
    argv = ["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", str(out), "--resume"]
    assert main([*argv, "--batch-size", "4"]) == 0
    assert out.read_text() == full_classify


def test_classify_resume_of_a_wide_last_row_is_redone(fasta, tiny_taxonomy_dir, full_classify, tmp_path):
    lines = full_classify.splitlines(keepends=True)
    out = tmp_path / "calls.tsv"
    out.write_text("".join(lines[:9]) + lines[9].rstrip("\n") + "\textra\n")  # a complete line, one cell too many
    assert main(["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", str(out), "--resume"]) == 0
    assert out.read_text() == full_classify


def test_embed_resume_redoes_a_torn_last_id(fasta, tiny_lm_dir, tmp_path):
    full = tmp_path / "full.npy"
    argv = ["embed", str(tiny_lm_dir), str(fasta), "--batch-size", "4"]
    assert main([*argv, "-o", str(full)]) == 0
    expected, ids = np.load(full), full.with_suffix(".ids.txt").read_text().splitlines()
    out = tmp_path / "emb.npy"
    writer = EmbeddingWriter(out)
    writer.write(ids[:8], expected[:8])
    text = writer.ids_path.read_text()
    writer.ids_path.write_text(text[:-1])  # the 8th id lost its newline: its row is redone
    assert main([*argv, "-o", str(out), "--resume"]) == 0
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-6, atol=1e-6)
    assert out.with_suffix(".ids.txt").read_text() == full.with_suffix(".ids.txt").read_text()
