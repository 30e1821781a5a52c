"""One output rule for every command that writes a result (classify, embed, split, probe,
train-tokenizer): an existing output is refused with one line naming --resume / --overwrite,
missing parent folders are created, and a run that fails before writing anything (missing, empty
or all-bad input) leaves nothing behind, so the same command simply runs again."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import coi_sample_records, write_fasta

from barcodefm.cli import main
from barcodefm.data import sample_path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    good = write_fasta(folder / "q.fasta", coi_sample_records(6))
    empty = folder / "empty.fasta"
    empty.write_text("")
    all_bad = folder / "bad.fasta"
    all_bad.write_text(">a\nNNNNNNNN\n>b\nACGT!!ACGT\n")
    return {"good": good, "empty": empty, "bad": all_bad, "missing": folder / "no-such.fasta"}


def last_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_classify(tiny_taxonomy_dir, inputs, tmp_path, capsys):
    out = tmp_path / "new" / "sub" / "calls.tsv"  # a folder that does not exist yet
    classify = ["classify", str(tiny_taxonomy_dir), str(inputs["good"]), "-o", str(out)]
    assert main(classify) == 0
    first = out.read_text()
    assert main(classify) == 1
    assert last_error(capsys).endswith(
        f"{out} exists: pass --resume to continue it or --overwrite to replace it (or choose another output)"
    )
    out.write_text("id\tstale\n")
    assert main([*classify, "--overwrite"]) == 0 and out.read_text() == first
    assert main([*classify, "--overwrite", "--resume"]) == 1
    assert "give one of them" in last_error(capsys)
    for name in ("missing", "empty", "bad"):
        folder = tmp_path / name
        assert main(["classify", str(tiny_taxonomy_dir), str(inputs[name]), "-o", str(folder / "c.tsv")]) == 1
        assert "c.tsv" not in leftovers(folder), name  # nothing blocks the rerun
    assert "no usable barcode records" in last_error(capsys)


def test_embed(tiny_lm_dir, inputs, tmp_path, capsys):
    out = tmp_path / "new" / "emb.npy"
    embed = ["embed", str(tiny_lm_dir), str(inputs["good"]), "-o", str(out)]
    assert main(embed) == 0
    first = np.load(out)
    assert main(embed) == 1  # it used to overwrite silently
    assert last_error(capsys).endswith(
        f"{out} exists: pass --resume to continue it or --overwrite to replace it (or choose another output)"
    )
    out.unlink()  # half a result counts too: the ids file alone is refused
    assert main(embed) == 1 and "emb.ids.txt exists" in last_error(capsys)
    assert main([*embed, "--overwrite"]) == 0
    np.testing.assert_array_equal(np.load(out), first)
    assert main([*embed, "--resume"]) == 1  # nothing to resume: the output is complete
    assert "is complete (no emb.npy.partial/ to resume): pass --overwrite" in last_error(capsys)
    for name in ("missing", "empty", "bad"):
        for suffix in (".npy", ".parquet"):
            folder = tmp_path / f"{name}{suffix}"
            target = folder / f"e{suffix}"
            assert main(["embed", str(tiny_lm_dir), str(inputs[name]), "-o", str(target)]) == 1
            assert leftovers(folder) == [], (name, suffix)  # no e.npy.partial/ left behind
            assert main(["embed", str(tiny_lm_dir), str(inputs["good"]), "-o", str(target)]) == 0  # the rerun works


def test_split(tmp_path, capsys):
    out = tmp_path / "new" / "splits.tsv"
    split = ["split", str(sample_path("coi")), "-o", str(out)]
    assert main(split) == 0
    first = out.read_text()
    assert main(split) == 1  # it used to overwrite silently
    assert last_error(capsys).endswith(f"{out} exists: pass --overwrite to replace it (or choose another output)")
    assert main([*split, "--overwrite"]) == 0 and out.read_text() == first
    assert leftovers(out.parent) == ["splits.tsv"]
    assert main(["split", str(tmp_path / "missing.tsv"), "-o", str(tmp_path / "x" / "s.tsv")]) == 1
    assert leftovers(tmp_path / "x") == []


def test_probe_and_train_tokenizer_refuse_before_working(tiny_lm_dir, tmp_path, capsys):
    results = tmp_path / "probes.json"
    results.write_text("{}")
    assert (
        main(["probe", str(tiny_lm_dir), "--data", str(sample_path("coi")), "--probe", "knn", "-o", str(results)]) == 1
    )
    assert last_error(capsys).endswith("pass --overwrite to replace it (or choose another output)")
    assert results.read_text() == "{}"
    assert (
        main(["train-tokenizer", "--data", str(sample_path("its")), "--vocab-size", "64", "-o", str(tiny_lm_dir)]) == 1
    )  # a model folder's tokenizer is not replaced silently
    assert "exists: pass --overwrite" in last_error(capsys)
