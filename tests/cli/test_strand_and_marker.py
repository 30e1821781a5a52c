"""`barcodefm classify` with the bundled identifiers on reads as a lab gets them: reverse-complemented
or mixed-orientation files give the forward file's calls (with the strand said in a column), and a
record of another marker gets no name at any rank. Real barcodes: the package's bundled samples."""

from __future__ import annotations

import csv

import pytest

from barcodefm.cli import main
from barcodefm.data import iter_barcodes, sample_path
from barcodefm.models.dna import reverse_complement

N = 40
ORIENTATION = ("strand", "marker_kmers", "status")


def records(sample: str, n: int = N) -> list[dict]:
    return [r for _, r in zip(range(n), iter_barcodes(sample_path(sample)))]


def write_fasta(path, rows, flip=lambda i: False):
    with open(path, "w") as f:
        for i, r in enumerate(rows):
            f.write(f">{r['id']}\n{reverse_complement(r['sequence']) if flip(i) else r['sequence']}\n")
    return path


def classify(tmp_path, model: str, fasta) -> list[dict]:
    out = tmp_path / f"{fasta.stem}.tsv"
    assert main(["classify", str(fasta), "--model", model, "-o", str(out)]) == 0
    with open(out, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def calls(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ORIENTATION} for r in rows]


@pytest.mark.parametrize("model, sample", [("coi-insect", "coi"), ("its-fungi", "its")])
def test_reverse_complemented_and_mixed_files_get_the_forward_calls(tmp_path, model, sample):
    rows = records(sample)
    forward = classify(tmp_path, model, write_fasta(tmp_path / "forward.fasta", rows))
    reverse = classify(tmp_path, model, write_fasta(tmp_path / "reverse.fasta", rows, lambda i: True))
    mixed = classify(tmp_path, model, write_fasta(tmp_path / "mixed.fasta", rows, lambda i: i % 2 == 1))
    assert calls(reverse) == calls(forward) and calls(mixed) == calls(forward)
    assert [r["strand"] for r in forward] == ["forward"] * N
    assert [r["strand"] for r in reverse] == ["reverse"] * N
    assert [r["strand"] for r in mixed] == ["forward", "reverse"] * (N // 2)
    assert {r["status"] for r in forward} == {"identified"}
    assert all(r[list(r)[4]] for r in forward)  # every record named at the first rank


@pytest.mark.parametrize("model, other", [("coi-insect", "its"), ("its-fungi", "coi")])
def test_another_marker_gets_no_name_at_any_rank(tmp_path, model, other):
    rows = classify(tmp_path, model, write_fasta(tmp_path / "other.fasta", records(other)))
    assert {r["status"] for r in rows} == {"other_marker"}
    named = [k for k in rows[0] if k not in ("id", *ORIENTATION, "novelty")]
    assert all(r[k] == "" for r in rows for k in named)
    assert all(float(r["marker_kmers"]) < 0.2 for r in rows)
