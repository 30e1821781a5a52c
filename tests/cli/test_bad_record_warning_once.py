"""A bad input record is reported once: the reader's one-line summary (a warning), not a second
copy from the command; the command's last line only counts the skipped records."""

from __future__ import annotations

import logging

import pytest
from conftest import coi_sample_records

from barcodefm.cli import main


@pytest.fixture(scope="module")
def fasta_with_a_bad_record(tmp_path_factory):
    records = coi_sample_records(5)
    path = tmp_path_factory.mktemp("bad") / "q.fasta"
    seqs = [r["sequence"][:150] for r in records]
    seqs[2] = seqs[2][:20] + "XZ" + seqs[2][22:]
    path.write_text("".join(f">{r['id']}\n{s}\n" for r, s in zip(records, seqs)))
    return path, records[2]["id"]


@pytest.mark.parametrize("command", ["embed", "classify"])
def test_the_bad_record_summary_appears_once(
    command, tiny_lm_dir, tiny_taxonomy_dir, fasta_with_a_bad_record, tmp_path, caplog, capsys
):
    fasta, bad_id = fasta_with_a_bad_record
    model = tiny_lm_dir if command == "embed" else tiny_taxonomy_dir
    out = tmp_path / ("e.npy" if command == "embed" else "c.tsv")
    with caplog.at_level(logging.INFO):
        assert main([command, str(model), str(fasta), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    mentions = [r.getMessage() for r in caplog.records if bad_id in r.getMessage()]
    mentions += [line for line in (printed.out + printed.err).splitlines() if bad_id in line]
    assert len(mentions) == 1, mentions
    assert "invalid_character 1" in mentions[0]
    assert printed.out.strip().splitlines()[-1].endswith("; skipped 1 bad records")
