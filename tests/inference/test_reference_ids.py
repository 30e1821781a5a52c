"""A model folder's reference barcodes carry their training records' own ids (BOLD process ids,
CBS/MycoAI accessions) as FASTA record names, so BLAST or VSEARCH against the file, and
`classify`'s nearest_reference column, report real ids; folders written before keep `ref<i>`."""

from __future__ import annotations

import csv
import gzip
import json
import re

import numpy as np
import pytest
from conftest import SHARED_DATA, skip_without_shared_data

from barcodefm.inference.kmer_reference import (
    SEQUENCES_FILE,
    KmerReference,
    read_reference_records,
    read_reference_sequences,
    write_reference_sequences,
)
from barcodefm.models.dna import normalize_sequence
from barcodefm.registry import bundled_model_path

SEQUENCES = ["ACGTACGTAAGGCT", "TTGACCAGTAGGCA", "GGGTACCATTAGCA"]


def test_saved_ids_read_back_and_old_folders_report_their_rows(tmp_path):
    KmerReference(SEQUENCES).save(tmp_path, ids=["GBDP1-19", "cbs:KY101633", "X_3"])
    first = (tmp_path / SEQUENCES_FILE).read_bytes()
    assert gzip.decompress(first).decode().splitlines()[::2] == [">GBDP1-19", ">cbs:KY101633", ">X_3"]
    assert first[4:8] == b"\0\0\0\0"  # no timestamp: the same input gives the same bytes
    KmerReference(SEQUENCES).save(tmp_path, ids=["GBDP1-19", "cbs:KY101633", "X_3"])
    assert (tmp_path / SEQUENCES_FILE).read_bytes() == first
    assert read_reference_records(tmp_path) == (["GBDP1-19", "cbs:KY101633", "X_3"], SEQUENCES)
    assert read_reference_sequences(tmp_path) == SEQUENCES
    assert KmerReference.load(tmp_path).ids == ["GBDP1-19", "cbs:KY101633", "X_3"]
    KmerReference(SEQUENCES).save(tmp_path)  # no ids: the rows, as before
    assert read_reference_records(tmp_path) == (["ref0", "ref1", "ref2"], SEQUENCES)
    assert read_reference_records(tmp_path / "none") is None


@pytest.mark.parametrize(
    "ids, words",
    [(["a", "b"], "2 reference ids for 3"), (["a", "b", "a"], "more than one"), (["a", "b c", "d"], "one printable")],
)
def test_ids_that_cannot_name_the_records_are_refused(tmp_path, ids, words):
    with pytest.raises(ValueError, match=words):
        write_reference_sequences(tmp_path, SEQUENCES, ids)
    assert not (tmp_path / SEQUENCES_FILE).exists()


def _folder(tmp_path, sequences, genus_codes):
    from safetensors.numpy import save_file

    tmp_path.mkdir()
    (tmp_path / "config.json").write_text(json.dumps({"taxonomy": {"labels": {"genus": ["A", "B"]}}}))
    save_file({"labels.genus": np.array(genus_codes, dtype=np.int32)}, str(tmp_path / "reference_labels.safetensors"))
    write_reference_sequences(tmp_path, sequences)
    return tmp_path


def test_ids_are_restored_from_the_training_table_only_where_every_row_matches(tmp_path):
    import datasets

    from barcodefm.recipes.bundled import store_reference_ids

    # Training records in table order; r2 repeats r1's sequence and label: stored once, as r1.
    records = datasets.Dataset.from_dict(
        {
            "id": ["r1", "v1", "r2", "r3", "r4"],
            "sequence": [SEQUENCES[0], SEQUENCES[1], SEQUENCES[0], SEQUENCES[1], SEQUENCES[2]],
            "genus": ["A", "A", "A", "B", "C"],  # C: not a label of the model (-1)
            "split": ["train", "val", "train", "train", "train"],
        }
    )
    folder = _folder(tmp_path / "ok", SEQUENCES, [0, 1, -1])
    store_reference_ids(folder, records, ["genus"], ["train"])
    assert read_reference_records(folder) == (["r1", "r3", "r4"], SEQUENCES)
    for codes, words in (([0, 0, -1], "genus"), ([0, 1], "2 references stored")):
        wrong = _folder(tmp_path / f"wrong{len(codes)}", SEQUENCES[: len(codes)], codes)
        before = (wrong / SEQUENCES_FILE).read_bytes()
        with pytest.raises(ValueError, match=words):
            store_reference_ids(wrong, records, ["genus"], ["train"])
        assert (wrong / SEQUENCES_FILE).read_bytes() == before


def test_the_bundled_references_are_named_by_their_records():
    coi, _ = read_reference_records(bundled_model_path("coi-insect"))
    its, _ = read_reference_records(bundled_model_path("its-fungi"))
    assert all(re.fullmatch(r"[A-Z0-9]+-\d{2}", i) for i in coi)  # BOLD process ids
    assert all(re.fullmatch(r"(cbs|mycoai):\S+", i) for i in its)  # accessions of the joined ITS table
    assert len(set(coi)) == len(coi) and len(set(its)) == len(its)


def test_each_bundled_coi_reference_is_the_training_record_it_is_named_by():
    path = SHARED_DATA / "insect_coi" / "bold_insect_coi5p_degobbi.tsv.gz"
    skip_without_shared_data(path)
    ids, sequences = read_reference_records(bundled_model_path("coi-insect"))
    wanted = dict(zip(ids, sequences))
    found = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["processid"] in wanted:
                found[row["processid"]] = (row["split"], row["dna"])
    assert found.keys() == wanted.keys()
    # The record as barcodefm reads it (IUPAC codes and gaps -> N, end Ns trimmed), from the train split.
    assert all(found[i][0] == "train" for i in wanted)
    assert all(normalize_sequence(found[i][1])[0].strip("N") == seq for i, seq in wanted.items())
