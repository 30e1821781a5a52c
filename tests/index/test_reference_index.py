"""`barcodefm index build|add|info`, nearest-reference calls and `classify --index` (tiny model,
real COI barcodes from the bundled sample)."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

pytest.importorskip("faiss", reason='the reference index needs faiss-cpu (pip install "barcodefm[index]")')
from index_fixtures import RANKS, built_index, more_references, references, sample_records  # noqa: F401

from barcodefm.index import ReferenceIndex, add_to_index, identify, lineage_call
from barcodefm.index.shards import shard_numbers


def test_build_writes_a_described_index(built_index, tiny_taxonomy_dir, capsys):  # noqa: F811
    from barcodefm.cli import main

    info = json.loads((built_index / "index.json").read_text())
    assert info["n_references"] == 160 and info["ranks"] == list(RANKS)
    assert info["search"]["kind"] == "flat" and info["model"] == str(tiny_taxonomy_dir)
    assert len(info["model_sha256"]) == 64 and info["shard_size"] == 64
    assert shard_numbers(built_index / "embeddings") == [0, 1, 2]
    card = (built_index / "README.md").read_text()
    assert "160 labelled DNA barcodes" in card and "barcodefm index build" in card and "| species |" in card
    assert main(["index", "info", str(built_index)]) == 0
    out = capsys.readouterr().out
    assert "references: 160 in 3 shards" in out and "search: flat" in out


def test_each_reference_finds_itself(built_index, tiny_taxonomy_dir, sample_records):  # noqa: F811
    # The index embeds as classify does: a reference as a query is its own nearest neighbour.
    records = sample_records[:6]
    found = identify([r["sequence"][:150] for r in records], tiny_taxonomy_dir, built_index, k=3)
    for record, result in zip(records, found):
        top = result["nearest"][0]
        assert top["similarity"] == pytest.approx(1.0, abs=1e-4)
        assert top["labels"]["species"] == record["species"]
        # (an untrained model's neighbours are all alike: the vote's winner is one of them)
        assert result["index_call"]["species"][0] in {n["labels"]["species"] for n in result["nearest"]}
        assert set(result["combined_call"]) >= set(RANKS)


def test_another_model_is_refused(built_index, tmp_path):  # noqa: F811
    import torch

    from barcodefm import BarcodeCharTokenizer, BarcodeMambaModel, config_from_tokenizer

    torch.manual_seed(1)
    tok = BarcodeCharTokenizer()
    BarcodeMambaModel(config_from_tokenizer(tok, d_model=32, n_layer=1, headdim=16, d_state=16)).save_pretrained(
        tmp_path
    )
    tok.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="was built with the model"):
        ReferenceIndex.load(built_index).check_model(tmp_path)


def test_add_appends_and_keeps_codes(built_index, more_references, tmp_path):  # noqa: F811
    folder = tmp_path / "idx"
    shutil.copytree(built_index, folder)
    before = ReferenceIndex.load(folder)
    info = add_to_index(folder, [more_references], batch_size=32)
    after = ReferenceIndex.load(folder)
    assert info["n_references"] == len(after) == 240 and after.ids[:160] == before.ids
    for rank in RANKS:  # the references already there keep their codes
        assert np.array_equal(after.codes[rank][:160], before.codes[rank])
    assert len(info["commands"]) == 2 and info["commands"][1].startswith("barcodefm index add")


def test_classify_with_index(built_index, tiny_taxonomy_dir, sample_records, tmp_path):  # noqa: F811
    from conftest import write_fasta

    from barcodefm.inference.classify import classify_file

    queries = write_fasta(tmp_path / "q.fasta", sample_records[:5])
    classify_file(tiny_taxonomy_dir, queries, tmp_path / "out.tsv", index=built_index, index_k=4)
    classify_file(tiny_taxonomy_dir, queries, tmp_path / "cut.tsv", index=built_index, min_prob=1.01)
    with open(tmp_path / "out.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    with open(tmp_path / "cut.tsv", newline="") as f:
        cut = list(csv.DictReader(f, delimiter="\t"))
    for record, row, row_cut in zip(sample_records, rows, cut):
        assert record["id"] in row["nearest_ids"].split(";") and len(row["nearest_ids"].split(";")) == 4
        assert float(row["nearest_similarities"].split(";")[0]) == pytest.approx(1.0, abs=1e-3)
        assert row["index_species"] and row["combined_order"]
        assert row_cut["combined_order"] == "" and row_cut["order"]  # min_prob cuts the combined call only


class _Labels:
    """Just what lineage_call reads of an index."""

    def __init__(self, labels: dict[str, list]):
        self.codes = {r: None for r in labels}
        self.labels = labels

    def label(self, rank, row):
        return self.labels[rank][row]


def test_vote_walks_down_one_lineage():
    index = _Labels({"genus": ["A", "B", "B"], "species": ["A x", "B y", "B z"]})
    sims, rows = np.array([0.99, 0.989, 0.988]), np.array([0, 1, 2])
    call = lineage_call(index, ["genus", "species"], sims, rows)
    assert call["genus"][0] == "B"  # two close neighbours outvote the nearest one
    assert call["species"][0] == "B y" and call["species"][1] > 0.5  # only B's neighbours vote below it
    model = {"genus": ("A", 0.9), "species": ("A x", 0.9)}
    combined = lineage_call(index, ["genus", "species"], sims, rows, model)
    assert combined["genus"][0] == "A"  # mean of the model's 0.9 and the index's ~0.37


def test_build_without_faiss_fails_at_once_in_one_line(tmp_path, monkeypatch, capsys):
    # A missing extra must be found before any embedding, and leave no half-built folder behind.
    from barcodefm.cli import main
    from barcodefm.index import vector_search

    def missing():
        raise ImportError('the reference index needs FAISS: pip install "barcodefm[index]" (or pip install faiss-cpu)')

    monkeypatch.setattr(vector_search, "require_faiss", missing)
    out = tmp_path / "idx"
    code = main(["index", "build", "--model", "coi-insect", "sample:coi", "-o", str(out)])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("barcodefm index: error: the reference index needs FAISS")
    assert not out.exists()


@pytest.mark.parametrize("model_label", ["A", "B"])
def test_a_tie_goes_to_the_nearest_reference(model_label):
    # The index is sure of one genus and the model of another: 0.5 / 0.5. The nearest reference's
    # label wins, whichever the model says and in whatever order the neighbours come.
    nearest = "B" if model_label == "A" else "A"
    index = _Labels({"genus": [nearest, nearest]})
    sims, rows = np.array([0.95, 0.90]), np.array([0, 1])
    index_call = lineage_call(index, ["genus"], sims, rows)
    assert index_call["genus"] == (nearest, pytest.approx(1.0))
    model = {"genus": (model_label, 1.0)}
    for order in ([0, 1], [1, 0]):
        call = lineage_call(index, ["genus"], sims[order], rows[order], model)
        assert call["genus"] == (nearest, pytest.approx(0.5))


def test_a_tie_inside_the_vote_goes_to_the_nearer_reference():
    # One near reference against two farther ones, each of half its weight: 0.5 / 0.5. The nearer
    # reference's label wins although a farther one is listed first.
    from barcodefm.index.nearest_calls import TEMPERATURE

    far = 0.91 + TEMPERATURE * np.log(0.5)
    index = _Labels({"genus": ["far", "near", "far"]})
    call = lineage_call(index, ["genus"], np.array([far, 0.91, far]), np.array([0, 1, 2]))
    assert call["genus"] == ("near", pytest.approx(0.5))


def test_a_tie_with_no_neighbour_label_goes_to_the_model():
    # Neighbours unlabelled at the rank and a model unsure between nothing else: the model's call.
    index = _Labels({"genus": [None, None]})
    call = lineage_call(index, ["genus"], np.array([0.9, 0.8]), np.array([0, 1]), {"genus": ("M", 0.4)})
    assert call["genus"] == ("M", pytest.approx(0.4))


def test_a_barcode_close_to_an_index_reference_is_not_likely_novel(
    built_index,
    tiny_taxonomy_dir,
    sample_records,
    tmp_path,  # noqa: F811
):
    # As classify --help says: with --index, likely_novel also needs the barcode to be new to the index.
    from conftest import write_fasta

    from barcodefm.factory import load_model, load_tokenizer
    from barcodefm.inference.classify import classify_file
    from barcodefm.inference.novelty import build_novelty_reference, save_novelty_reference

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_taxonomy_dir, model_dir)
    model, tok = load_model(model_dir, "AutoModel").eval(), load_tokenizer(model_dir)
    seqs = [r["sequence"][:150] for r in sample_records[:40]]
    reference, info = build_novelty_reference(model, tok, seqs[:30], seqs[30:])
    # Every query is novel to the model; an index reference within 1e-4 makes it known
    # (this untrained model puts different barcodes 3e-4 apart).
    save_novelty_reference(model_dir, reference, info | {"threshold": -1.0, "embedding_threshold": 1e-4})
    in_index, not_in_index = sample_records[:4], sample_records[200:204]  # the index holds the first 160
    queries = write_fasta(tmp_path / "q.fasta", in_index + not_in_index)
    classify_file(model_dir, queries, tmp_path / "alone.tsv")
    classify_file(model_dir, queries, tmp_path / "indexed.tsv", index=built_index)
    alone, indexed = (list(csv.DictReader(open(tmp_path / n), delimiter="\t")) for n in ("alone.tsv", "indexed.tsv"))
    assert [r["likely_novel"] for r in alone] == ["true"] * 8
    assert [r["likely_novel"] for r in indexed] == ["false"] * 4 + ["true"] * 4
    assert [r["novelty"] for r in indexed] == [r["novelty"] for r in alone]  # the model's own score


def test_the_index_threshold_of_a_novelty_file():
    from barcodefm.inference.novelty import NoveltyScore, index_distance_threshold

    assert index_distance_threshold({"threshold": 0.2}) == 0.2  # the score is the embedding distance
    fitted = {"threshold": 0.6, "score": NoveltyScore(("kmer", "call"), (1.0, 1.0), 0.0).to_info()}
    assert index_distance_threshold(fitted) is None
    assert index_distance_threshold(fitted | {"embedding_threshold": 0.05}) == 0.05
