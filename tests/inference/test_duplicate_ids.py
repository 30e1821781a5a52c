"""A file that repeats a record id: the reader warns once (count, examples, file name), every
record still gets its own row, and `--resume` after a kill continues by record position, so a
second record sharing a finished record's id is not skipped: the resumed output equals an
uninterrupted run's, row for row."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import coi_sample_records, write_fasta

from barcodefm.cli import main
from barcodefm.data import iter_barcodes, load_barcodes
from barcodefm.inference.embed import EmbeddingWriter


@pytest.fixture(scope="module")
def duplicated(tmp_path_factory):
    """10 records; record 6 reuses record 3's id (another sequence), record 8 reuses record 0's."""
    records = coi_sample_records(10)
    ids = [r["id"] for r in records]
    ids[6], ids[8] = ids[3], ids[0]
    return write_fasta(tmp_path_factory.mktemp("dup") / "dup.fasta", records, ids=ids), ids


def test_the_reader_warns_once_with_the_count_examples_and_file(duplicated, caplog):
    fasta, ids = duplicated
    with caplog.at_level(logging.WARNING):
        reader = iter_barcodes(fasta)
        assert [r["id"] for r in reader] == ids  # every record kept, in order
        load_barcodes(fasta)
    warnings = [r.getMessage() for r in caplog.records if "repeat the id" in r.getMessage()]
    assert len(warnings) == 2  # once per read, not once per duplicate
    assert warnings[0].startswith("dup.fasta: 2 record(s) repeat the id of an earlier record")
    assert ids[3] in warnings[0] and ids[0] in warnings[0]
    assert reader.rejects.n_duplicate_ids == 2


def test_classify_resume_keeps_a_record_that_shares_a_finished_id(tiny_taxonomy_dir, duplicated, tmp_path):
    fasta, ids = duplicated
    full = tmp_path / "full.tsv"
    assert main(["classify", str(tiny_taxonomy_dir), str(fasta), "-o", str(full), "--batch-size", "2"]) == 0
    lines = full.read_text().splitlines(keepends=True)
    assert [line.split("\t")[0] for line in lines[1:]] == ids  # one row per record
    killed = tmp_path / "killed.tsv"
    killed.write_text("".join(lines[:6]) + lines[6][:9])  # rows 0-4 done (record 3 among them), row 5 torn
    assert (
        main(["classify", str(tiny_taxonomy_dir), str(fasta), "-o", str(killed), "--batch-size", "2", "--resume"]) == 0
    )
    assert killed.read_text() == full.read_text()


def test_embed_resume_keeps_a_record_that_shares_a_finished_id(tiny_lm_dir, duplicated, tmp_path):
    fasta, ids = duplicated
    full = tmp_path / "full.npy"
    assert main(["embed", str(tiny_lm_dir), str(fasta), "-o", str(full), "--batch-size", "2"]) == 0
    expected = np.load(full)
    assert expected.shape[0] == 10
    out = tmp_path / "killed.npy"
    writer = EmbeddingWriter(out)  # an interrupted run that wrote records 0-4
    writer.write(ids[:5], expected[:5])
    assert main(["embed", str(tiny_lm_dir), str(fasta), "-o", str(out), "--batch-size", "2", "--resume"]) == 0
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-6, atol=1e-6)
    assert out.with_suffix(".ids.txt").read_text() == full.with_suffix(".ids.txt").read_text()


def test_resume_of_an_output_from_another_input_is_refused(tiny_taxonomy_dir, duplicated, tmp_path, capsys):
    fasta, ids = duplicated
    other = tmp_path / "other.tsv"
    assert main(["classify", str(tiny_taxonomy_dir), str(fasta), "-o", str(other)]) == 0
    rows = other.read_text().splitlines(keepends=True)
    other.write_text(rows[0] + rows[2] + rows[1])  # its first row is not the input's first record
    assert main(["classify", str(tiny_taxonomy_dir), str(fasta), "-o", str(other), "--resume"]) == 1
    err = capsys.readouterr().err
    assert f"does not continue this input: its row 1 is {ids[1]!r}, the input's record 1 is {ids[0]!r}" in err
