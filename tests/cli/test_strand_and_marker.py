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
    evidence = ("nearest_reference", "nearest_identity", "nearest_by")  # what it resembles, still said
    named = [k for k in rows[0] if k not in ("id", *ORIENTATION, "novelty", *evidence)]
    assert all(r[k] == "" for r in rows for k in named)
    assert all(float(r["marker_kmers"]) < 0.2 for r in rows)
    assert all(r["nearest_reference"] and 0.0 <= float(r["nearest_identity"]) < 0.9 for r in rows)


def test_embed_turns_reverse_reads_to_the_model_strand(tmp_path):
    import numpy as np

    rows = records("coi", 12)
    outputs = []
    for name, flip in (("forward", lambda i: False), ("mixed", lambda i: i % 2 == 1)):
        out = tmp_path / f"{name}.npy"
        fasta = write_fasta(tmp_path / f"{name}.fasta", rows, flip)
        assert main(["embed", "coi-insect", str(fasta), "-o", str(out)]) == 0
        outputs.append(np.load(out))
    assert np.array_equal(outputs[0], outputs[1])


def test_an_index_built_and_searched_from_reverse_reads_gives_the_forward_calls(tmp_path):
    from barcodefm.index import build_index
    from barcodefm.index.nearest_calls import identify

    rows = records("coi", 60)
    references, queries = rows[:50], [r["sequence"] for r in rows[50:]]

    def table(path, flip):
        ranks = ("order", "family", "genus", "species")
        lines = ["processid\t" + "\t".join(ranks) + "\tnucleotides"]
        for i, r in enumerate(references):
            seq = reverse_complement(r["sequence"]) if flip(i) else r["sequence"]
            lines.append(f"{r['id']}\t" + "\t".join(r[k] or "" for k in ranks) + f"\t{seq}")
        path.write_text("\n".join(lines) + "\n")
        return path

    forward = tmp_path / "forward-index"
    mixed = tmp_path / "mixed-index"
    build_index("coi-insect", [table(tmp_path / "forward.tsv", lambda i: False)], forward)
    build_index("coi-insect", [table(tmp_path / "mixed.tsv", lambda i: i % 3 == 0)], mixed)
    expected = identify(queries, "coi-insect", forward)
    assert identify([reverse_complement(q) for q in queries], "coi-insect", mixed) == expected


@pytest.mark.parametrize("model", ["coi-insect", "its-fungi"])
def test_a_marker_neither_model_knows_is_refused(tmp_path, model):
    from pathlib import Path

    plant = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "plant_markers.fasta"
    if not plant.is_file():
        pytest.skip(f"{plant} is not here (the benchmarks folder of a source checkout holds it)")
    rows = classify(tmp_path, model, plant)
    assert len(rows) == 101 and {r["status"] for r in rows} == {"other_marker"}
