"""Progress of `classify`/`embed` (issue 13): a total counted up front (so the bar has an ETA), and
log lines with the total and the time left when stderr is not a terminal (a job writing to a log)."""

from __future__ import annotations

import gzip
import io
import logging
import re
import sys

import pytest
from conftest import coi_sample_records, write_fasta

from barcodefm.cli import main
from barcodefm.inference.progress import Progress, count_records

PROGRESS_LOGGER = "barcodefm.inference.progress"


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_fasta_records_are_counted_by_their_headers(tmp_path, ending):
    text = ending.join([">a desc > not a header", "ACGT", "ACGT", ">b", "AC", ">c", "GT"]) + ending
    path = tmp_path / "x.fasta"
    path.write_bytes(text.encode())
    assert count_records(path, fasta=True) == 3
    gz = tmp_path / "x.fasta.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    assert count_records(gz, fasta=True) == 3


def test_table_records_are_the_lines_after_the_header(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("id\tsequence\na\tACGT\nb\tAC\rGT\nc\tGT")  # a stray \r inside a cell; no final newline
    assert count_records(path, fasta=False) == 3
    assert count_records(tmp_path / "missing.tsv", fasta=False) is None


def test_log_lines_every_tenth_with_the_total_and_time_left(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: no bar, log lines
    progress = Progress("classifying", "classified", total=20_000)
    with caplog.at_level(logging.INFO, logger=PROGRESS_LOGGER):
        for position in range(100, 20_001, 100):
            progress.update_to(position, 100)
        progress.close()
    lines = [r.getMessage() for r in caplog.records if r.name == PROGRESS_LOGGER]
    assert len(lines) == 10
    assert re.fullmatch(r"classified 2,000 of 20,000 records \(10%\), ~\d+ (s|min) left", lines[0]), lines[0]
    assert lines[-1] == "classified 20,000 of 20,000 records (100%)"


@pytest.mark.parametrize("command", ["classify", "embed"])
def test_a_run_without_a_terminal_logs_its_progress_with_the_total(
    command, tiny_taxonomy_dir, tiny_lm_dir, tmp_path, monkeypatch, caplog
):
    fasta = write_fasta(tmp_path / "q.fasta", coi_sample_records(30))
    model = tiny_taxonomy_dir if command == "classify" else tiny_lm_dir
    out = tmp_path / ("calls.tsv" if command == "classify" else "vectors.npy")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with caplog.at_level(logging.INFO):
        assert main([command, str(model), str(fasta), "-o", str(out), "--batch-size", "3"]) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == PROGRESS_LOGGER]
    verb = "classified" if command == "classify" else "embedded"
    assert lines[0].startswith(f"{verb} 3 of 30 records (10%), ~") and lines[0].endswith(" left"), lines
    assert lines[-1] == f"{verb} 30 of 30 records (100%)"
    assert len(lines) == 10  # every 10%, not every batch
