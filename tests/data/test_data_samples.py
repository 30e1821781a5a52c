"""The bundled real samples: present, small, loadable, every split, consistent with the source."""

from __future__ import annotations

import gzip

import pytest

from barcodefm.data import load_barcodes, sample_path


def test_coi_sample_has_every_split_and_seen_species_for_unseen_genera():
    path = sample_path("coi")
    assert path.name == "coi_sample.tsv.gz" and path.stat().st_size < 600 * 1024
    with gzip.open(path, "rt") as handle:
        assert handle.readline().rstrip("\n").split("\t") == [
            "processid",
            "bin_uri",
            "order",
            "family",
            "subfamily",
            "genus",
            "species",
            "split",
            "dna",
        ]
    data = load_barcodes(path)
    splits, species, genera = data["split"][:], data["species"][:], data["genus"][:]
    assert set(splits) == {"train", "val", "test", "unseen_key", "unseen_query", "pretrain_only"}
    assert 2000 <= len(data) <= 3500
    assert 100 <= len(set(species)) <= 160 and 30 <= len(set(genera)) <= 60
    train_species = {s for s, sp in zip(species, splits) if sp == "train"}
    unseen_species = {s for s, sp in zip(species, splits) if sp.startswith("unseen")}
    assert not train_species & unseen_species
    train_genera = {g for g, sp in zip(genera, splits) if sp == "train"}
    assert {g for g, sp in zip(genera, splits) if sp.startswith("unseen")} <= train_genera


def test_its_sample_has_full_ranks_and_its_splits():
    data = load_barcodes(sample_path("its"))
    ranks = ["kingdom", "phylum", "class", "order", "family", "genus", "species"]
    assert data.column_names == ["id", "sequence", *ranks, "split"]
    assert 1200 <= len(data) <= 2000
    for rank in ranks:
        assert None not in set(data[rank][:]), rank
    assert {"train", "val", "test", "unseen_key", "unseen_query", "train_singleton"} <= set(data["split"][:])


def test_samples_are_verbatim_rows_of_the_shared_files(shared_data):
    for name, source, key in (
        ("coi", shared_data / "insect_coi" / "bold_insect_coi5p_degobbi.cap20.tsv.gz", "id"),
        ("its", shared_data / "fungal_its" / "cbs_its2_labelled.tsv.gz", "id"),
    ):
        sample = load_barcodes(sample_path(name))
        wanted = set(sample[key][:])
        full = load_barcodes(source)
        subset = full.filter(lambda i, wanted=wanted: i in wanted, input_columns=key)
        columns = sample.column_names
        assert sorted(map(tuple, (r.values() for r in subset.select_columns(columns).to_list()))) == sorted(
            map(tuple, (r.values() for r in sample.to_list()))
        )


def test_attribution_file_cites_the_sources():
    text = (sample_path("coi").parent / "ATTRIBUTION.md").read_text(encoding="utf-8")
    for needle in ("BOLD Systems", "processid", "Vu", "2016", "2019", "GenBank", "make_sample_data.py", "--seed 0"):
        assert needle in text


def test_unknown_sample_name():
    with pytest.raises(ValueError, match="coi"):
        sample_path("16s")
