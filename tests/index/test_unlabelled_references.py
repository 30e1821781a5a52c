"""References without taxonomic labels: a file with none is refused before anything is embedded
(unless --allow-unlabelled), and an index counts and names the references it cannot vote with."""

from __future__ import annotations

import json
import logging

import pytest

pytest.importorskip("faiss", reason='the reference index needs faiss-cpu (pip install "barcodefm[index]")')
from index_fixtures import RANKS, sample_records, write_table  # noqa: F401

from barcodefm.index import build_index


def _plain_fasta(path, records):
    path.write_text("".join(f">{r['id']}\n{r['sequence'][:150]}\n" for r in records))
    return path


def test_a_file_without_labels_is_refused_before_the_model_loads(tmp_path, sample_records, capsys):  # noqa: F811
    from barcodefm.cli import main

    fasta = _plain_fasta(tmp_path / "plain.fasta", sample_records[:20])
    out = tmp_path / "idx"
    # a model that does not exist: the refusal must come first
    code = main(["index", "build", "--model", str(tmp_path / "no-model"), str(fasta), "-o", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "plain.fasta carries no taxonomic labels" in err and "--allow-unlabelled" in err
    assert not out.exists()


def test_allow_unlabelled_builds_and_says_so(tmp_path, tiny_taxonomy_dir, sample_records, caplog, capsys):  # noqa: F811
    from barcodefm.cli import main

    fasta = _plain_fasta(tmp_path / "plain.fasta", sample_records[:20])
    out = tmp_path / "idx"
    with caplog.at_level(logging.WARNING, logger="barcodefm.index.reference_index"):
        info = build_index(str(tiny_taxonomy_dir), [fasta], out, batch_size=8, allow_unlabelled=True)
    assert info["ranks"] == [] and info["unlabelled_references"] == 20
    assert "plain.fasta carries no taxonomic labels" in caplog.text
    assert "20 of 20 references have no label at any rank" in caplog.text
    assert main(["index", "info", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "ranks: none (no labels: nearest references and similarities only, no per-rank calls)" in shown
    assert "unlabelled: 20 references have no label at any rank" in shown
    # such an index still finds neighbours; the combined call is then the model's own
    from barcodefm.index import identify

    found = identify([sample_records[0]["sequence"][:150]], tiny_taxonomy_dir, out, k=3)[0]
    assert found["nearest"][0]["id"] == sample_records[0]["id"] and found["index_call"] == {}
    assert {r: found["combined_call"][r][0] for r in RANKS} == {r: found["model_call"][r][0] for r in RANKS}


def test_references_without_labels_are_counted(tmp_path, tiny_taxonomy_dir, sample_records, caplog, capsys):  # noqa: F811
    from barcodefm.cli import main

    records = [dict(r) for r in sample_records[:30]]
    for r in records[:7]:  # seven references identified at no rank
        r.update({rank: None for rank in RANKS})
    table = write_table(tmp_path / "refs.tsv", records)
    out = tmp_path / "idx"
    with caplog.at_level(logging.WARNING, logger="barcodefm.index.reference_index"):
        info = build_index(str(tiny_taxonomy_dir), [table], out, batch_size=8)
    assert info["unlabelled_references"] == 7
    assert info["labelled_per_rank"]["order"] == 23
    assert "7 of 30 references have no label at any rank" in caplog.text
    assert json.loads((out / "index.json").read_text())["unlabelled_references"] == 7
    assert main(["index", "info", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "unlabelled: 7 references" in shown and "order (" in shown and "23 of 30 labelled" in shown
    assert "30 DNA barcodes (7 without a label at any rank" in (out / "README.md").read_text()
