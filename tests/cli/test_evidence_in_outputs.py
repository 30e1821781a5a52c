"""`barcodefm classify` writes evidence a scientist can check and cite: each query's nearest training
reference by its real id (a BOLD process id for coi-insect) with its alignment identity, and a
provenance record beside the table (model, weights hash, versions, thresholds, options, counts) that
follows the output rule and guards `--resume`. Real barcodes: the package's bundled COI sample."""

from __future__ import annotations

import csv
import hashlib
import json
import re

import pytest

from barcodefm.cli import main
from barcodefm.data import iter_barcodes, sample_path
from barcodefm.inference.kmer_reference import read_reference_records
from barcodefm.registry import bundled_model_path

BOLD_PROCESS_ID = re.compile(r"^[A-Z0-9]+-\d{2}$")
N_EACH = 12


@pytest.fixture(scope="module")
def references():
    ids, sequences = read_reference_records(bundled_model_path("coi-insect"))
    return dict(zip(ids, sequences))


@pytest.fixture(scope="module")
def queries(references):
    """12 sample records that are coi-insect training references (their id names one in the
    folder's reference_sequences.fasta.gz) and 12 of species it never saw."""
    records = list(iter_barcodes(sample_path("coi")))
    trained = [r for r in records if r["id"] in references][:N_EACH]
    unseen = [r for r in records if r["split"] == "unseen_query" and r["id"] not in references][:N_EACH]
    assert len(trained) == len(unseen) == N_EACH
    return trained + unseen


@pytest.fixture(scope="module")
def classified(tmp_path_factory, queries):
    folder = tmp_path_factory.mktemp("evidence")
    fasta = folder / "queries.fasta"
    fasta.write_text("".join(f">{r['id']}\n{r['sequence']}\n" for r in queries))
    out = folder / "calls.tsv"
    assert main(["classify", str(fasta), "--model", "coi-insect", "-o", str(out)]) == 0
    return fasta, out


def read_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_each_row_names_its_nearest_training_reference_by_its_bold_process_id(classified, queries, references):
    rows = read_rows(classified[1])
    columns = list(rows[0])
    assert columns.index("consistent") + 1 == columns.index("nearest_reference")
    assert columns[columns.index("nearest_reference") :][:4] == [
        "nearest_reference",
        "nearest_identity",
        "nearest_by",
        "novelty",
    ]
    for row in rows:
        assert BOLD_PROCESS_ID.match(row["nearest_reference"]), row["nearest_reference"]
        assert row["nearest_reference"] in references  # a record of the model's reference set
        assert re.fullmatch(r"[01]\.\d{4}", row["nearest_identity"]) and 0.0 <= float(row["nearest_identity"]) <= 1
        assert row["nearest_by"] == "alignment"
    trained, unseen = rows[:N_EACH], rows[N_EACH:]
    # A training barcode is its own nearest reference, identical (or an identical copy of it).
    for row, record in zip(trained, queries):
        assert row["nearest_identity"] == "1.0000"
        assert references[row["nearest_reference"]] == record["sequence"]
    assert sum(row["nearest_reference"] == record["id"] for row, record in zip(trained, queries)) >= N_EACH - 2
    # A species never seen: a congener, never the record itself, and less than identical.
    assert all(row["nearest_reference"] != row["id"] for row in unseen)
    assert sum(float(row["nearest_identity"]) for row in unseen) / N_EACH < 0.99


def test_a_provenance_record_names_the_model_its_weights_and_the_run(classified):
    fasta, out = classified
    sidecar = out.with_name("calls.provenance.json")
    record = json.loads(sidecar.read_text())
    model_dir = bundled_model_path("coi-insect")
    from barcodefm.index.model_identity import weights_sha256

    assert record["model"]["name"] == "coi-insect"
    assert record["model"]["weights_sha256"] == weights_sha256(model_dir)
    plain = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert record["model"]["weight_files_sha256"] == {"model.safetensors": plain}  # what sha256sum prints
    assert record["input"]["path"] == str(fasta.resolve())
    assert record["input"]["sha256"] == hashlib.sha256(fasta.read_bytes()).hexdigest()
    assert {"barcodefm", "transformers", "torch"} <= set(record["versions"])
    assert record["thresholds"]["novelty_threshold"] > 0 and record["thresholds"]["max_length"] == 660
    assert record["thresholds"]["marker_check"]["marker"] == "COI-5P"
    assert record["options"]["min_prob"] is None and record["started"] <= record["finished"]
    assert record["counts"] == {"classified": 2 * N_EACH, "rejected": 0, "reverse_strand": 0, "other_marker": 0}


def test_resume_with_another_min_prob_is_refused_in_one_line(classified, capsys):
    fasta, out = classified
    before = out.read_bytes(), out.with_name("calls.provenance.json").read_bytes()
    capsys.readouterr()
    assert main(["classify", str(fasta), "--model", "coi-insect", "-o", str(out), "--resume", "--min-prob", "0.9"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--min-prob" in err and "calls.provenance.json" in err and "--overwrite" in err
    assert (out.read_bytes(), out.with_name("calls.provenance.json").read_bytes()) == before


def test_a_resumed_run_continues_the_same_table_and_records_it(classified, tmp_path):
    fasta, out = classified
    resumed = tmp_path / "calls.tsv"
    lines = out.read_text().splitlines(keepends=True)
    resumed.write_text("".join(lines[:6]))  # killed after 5 rows
    (tmp_path / "calls.provenance.json").write_text(out.with_name("calls.provenance.json").read_text())
    assert main(["classify", str(fasta), "--model", "coi-insect", "-o", str(resumed), "--resume"]) == 0
    assert resumed.read_text() == out.read_text()
    record = json.loads((tmp_path / "calls.provenance.json").read_text())
    assert len(record["resumed"]) == 1 and record["counts"]["classified"] == 2 * N_EACH


def test_an_existing_provenance_record_is_refused_without_overwrite_before_any_work(
    classified, tmp_path, capsys, monkeypatch
):
    from barcodefm.inference import classify as classify_module

    def no_work(*args, **kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr(classify_module, "classify_file", no_work)
    (tmp_path / "calls.provenance.json").write_text("{}")
    out = tmp_path / "calls.tsv"
    assert main(["classify", str(classified[0]), "--model", "coi-insect", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "calls.provenance.json exists" in err and "--overwrite" in err
    assert not out.exists() and (tmp_path / "calls.provenance.json").read_text() == "{}"


def _interrupt_after_first_batch(monkeypatch):
    from barcodefm.inference.progress import Progress

    original = Progress.update_to

    def update_to(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "update_to", update_to)
    return lambda: monkeypatch.setattr(Progress, "update_to", original)


@pytest.mark.parametrize("replacing", [False, True])
def test_an_interrupted_run_records_its_options_for_resume(classified, tmp_path, capsys, monkeypatch, replacing):
    """Killed half-way, a run has recorded what its rows were made with (beside OUT, or beside
    OUT.partial while it replaces an older OUT): --resume reads it back and refuses other options."""
    fasta, done = classified
    out, sidecar = tmp_path / "calls.tsv", tmp_path / "calls.provenance.json"
    argv = ["classify", str(fasta), "--model", "coi-insect", "-o", str(out), "--batch-size", "8"]
    if replacing:
        out.write_text("id\told\n")
        sidecar.write_text("{}")
    restore = _interrupt_after_first_batch(monkeypatch)
    assert main([*argv, "--overwrite"] if replacing else argv) == 130
    restore()
    unfinished = tmp_path / ("calls.provenance.json.partial" if replacing else "calls.provenance.json")
    record = json.loads(unfinished.read_text())
    assert record["finished"] is None and record["model"]["name"] == "coi-insect"
    if replacing:
        assert out.read_text() == "id\told\n" and sidecar.read_text() == "{}"  # the old ones, until it succeeds
    capsys.readouterr()
    assert main([*argv, "--resume", "--min-prob", "0.9"]) == 1
    assert "--min-prob" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    cells = ("id", "nearest_reference", "nearest_identity", "nearest_by")
    assert [[r[c] for c in cells] for r in read_rows(out)] == [[r[c] for c in cells] for r in read_rows(done)]
    record = json.loads(sidecar.read_text())
    assert record["finished"] and len(record["resumed"]) == 1 and record["counts"]["classified"] == 2 * N_EACH
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.provenance.json", "calls.tsv"]


def test_resume_after_the_calibration_changed_is_refused(classified, tmp_path, capsys):
    # A barcodefm update can change identification.json (a new calibration) with the weights as they were:
    # the rows written before must not be continued with the new probabilities.
    fasta, out = classified
    resumed = tmp_path / "calls.tsv"
    resumed.write_text("".join(out.read_text().splitlines(keepends=True)[:6]))
    record = json.loads(out.with_name("calls.provenance.json").read_text())
    assert record["model"]["identification_sha256"]
    record["model"]["identification_sha256"] = "0" * 64  # as written by the folder before the update
    (tmp_path / "calls.provenance.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["classify", str(fasta), "--model", "coi-insect", "-o", str(resumed), "--resume"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "identification files" in err and "--overwrite" in err
