"""`barcodefm demo` for a newcomer (issue 13): a crashed run can be rerun into the same folder, the
output is the demo's own lines (no library chatter, real paths), and its species model works with
`barcodefm classify`."""

from __future__ import annotations

import csv

import pytest

import barcodefm.trainers.demo as demo
from barcodefm.cli import main
from barcodefm.commands.demo import print_report


def test_a_crashed_demo_reruns_into_its_folder_quietly_and_its_model_classifies(tmp_path, monkeypatch, capfd):
    out = tmp_path / "demo"

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:  # dies in step 4, after both models of steps 1-2 were written
        patch.setattr(demo, "_query_records", crash)
        with pytest.raises(RuntimeError, match="killed"):
            demo.run_demo(out, quick=True)
    assert (out / demo.INCOMPLETE).is_file() and (out / "model").is_dir()
    capfd.readouterr()

    # the same folder: started again, not refused; printed as `barcodefm demo` prints it
    summary = demo.run_demo(out, quick=True, report=print_report)
    printed = "".join(capfd.readouterr())
    assert not (out / demo.INCOMPLETE).exists()
    assert summary["output"] == str(out) and (out / "taxonomy_predictions.tsv").is_file()
    for step in range(1, 6):
        assert f"[{step}/5]" in printed
    assert f"reloading {out / 'model'} " in printed and "DIR/" not in printed
    for chatter in (
        "{'loss'",
        "'train_runtime'",
        "LOAD REPORT",
        "Flattening the indices",
        "selecting train",
        "Loading weights",
    ):
        assert chatter not in printed, chatter

    # A finished demo folder is not taken again.
    with pytest.raises(ValueError, match="is not an empty folder"):
        demo.run_demo(out, quick=True)

    # Its species model (DIR/model) is accepted by `barcodefm classify`.
    calls = tmp_path / "calls.tsv"
    assert main(["classify", str(out / "model"), str(out / "query.fasta"), "-o", str(calls)]) == 0
    with open(calls, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    with open(out / "predictions.tsv", newline="") as f:
        demo_rows = list(csv.DictReader(f, delimiter="\t"))
    assert list(rows[0]) == ["id", "species", "species_prob"]
    assert [(r["id"], r["species"]) for r in rows] == [(r["id"], r["predicted_species"]) for r in demo_rows]
