"""An index's vote counts as much as its nearest reference is close (index/nearest_calls.py
``Closeness``): a library of one family does not name everything that family. Real barcodes: the
bundled COI sample, the bundled coi-insect identifier (its ``index_vote_weight``)."""

from __future__ import annotations

import csv

from barcodefm.cli import main
from barcodefm.data import iter_barcodes, sample_path
from barcodefm.index.nearest_calls import Closeness
from barcodefm.registry import bundled_model_path

RANKS = ("order", "family", "subfamily", "genus", "species")
FAMILY = "Erebidae"


def write_table(path, rows):
    lines = ["processid\t" + "\t".join(RANKS) + "\tnucleotides"]
    lines += [f"{r['id']}\t" + "\t".join(r[k] or "" for k in RANKS) + f"\t{r['sequence']}" for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_bundled_identifiers_weigh_an_index_vote_by_its_closeness():
    for name in ("coi-insect", "its-fungi"):
        closeness = Closeness.of(bundled_model_path(name))
        assert closeness.tables, name
        for rank in closeness.tables:
            # An identical reference counts far more than one at half the similarity; a far one hardly at all.
            assert closeness.weight(rank, 1.0) > closeness.weight(rank, 0.5)
            assert closeness.weight(rank, 0.3) < 0.1
    assert Closeness(None).weight("genus", 0.1) == 1.0  # a folder from before: every vote counts fully


def test_an_index_of_one_family_does_not_name_queries_far_from_it(tmp_path):
    records = list(iter_barcodes(sample_path("coi")))
    library = [r for r in records if r["family"] == FAMILY and r["split"] == "train"][:150]
    far = [r for r in records if r["order"] == "Coleoptera" and r["split"] == "test"][:40]
    near = [r for r in records if r["family"] == FAMILY and r["split"] == "test"][:20]
    index = tmp_path / "one-family"
    assert (
        main(
            [
                "index",
                "build",
                "--model",
                "coi-insect",
                str(write_table(tmp_path / "lib.tsv", library)),
                "-o",
                str(index),
            ]
        )
        == 0
    )
    queries = tmp_path / "q.fasta"
    queries.write_text("".join(f">{r['id']}\n{r['sequence']}\n" for r in far + near))
    out = tmp_path / "calls.tsv"
    assert main(["classify", str(queries), "--model", "coi-insect", "--index", str(index), "-o", str(out)]) == 0
    with open(out, newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f, delimiter="\t")}
    for r in far:  # beetles: the model's own call stands, the index's own vote says how far it is
        row = rows[r["id"]]
        assert row["combined_family"] == row["family"] != FAMILY
        assert row["combined_order"] == row["order"] == "Coleoptera"
        assert float(row["index_family_prob"] or 0) < 0.5
    for r in near:  # the family's own barcodes: the index agrees and stays sure
        row = rows[r["id"]]
        assert row["combined_family"] == FAMILY and float(row["combined_family_prob"]) > 0.9
