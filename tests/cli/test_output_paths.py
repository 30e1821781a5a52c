"""The output rule covers every path a run writes (-o, --rejects, OUT.ids.txt): never the input, never
another output of the same run, never an existing file without --overwrite; and --overwrite
replaces a file only once the run has succeeded (the old one stays intact until then, and an
interrupted replacement keeps its finished rows in OUT.partial for --resume)."""

from __future__ import annotations

import contextlib
import os

import pytest
from conftest import coi_sample_records

from barcodefm.cli import main


@pytest.fixture
def fasta(tmp_path):
    records = coi_sample_records(24)
    lines = [f">{r['id']}\n{r['sequence'][:150]}\n" for r in records]
    lines[5] = ">bad-one\nACGT!!ACGT\n"  # one rejected record, so a rejects file has a row
    path = tmp_path / "q.fasta"
    path.write_text("".join(lines))
    return path


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1]


@contextlib.contextmanager
def interrupted_after(n_batches: int):
    """Ctrl-C (KeyboardInterrupt) right after the ``n_batches``-th batch was written."""
    from barcodefm.inference.progress import Progress

    original, calls = Progress.update_to, []

    def update_to(self, *args, **kwargs):
        original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == n_batches:
            raise KeyboardInterrupt

    Progress.update_to = update_to
    try:
        yield
    finally:
        Progress.update_to = original


@pytest.mark.parametrize("command", ["classify", "embed", "split"])
def test_rejects_is_never_the_input(command, fasta, tiny_lm_dir, tiny_taxonomy_dir, tmp_path, capsys, monkeypatch):
    before = fasta.read_bytes()
    link = tmp_path / "link.fasta"
    link.symlink_to(fasta)
    monkeypatch.chdir(tmp_path)
    for same in (str(fasta), "./q.fasta", "sub/../q.fasta", str(link)):
        (tmp_path / "sub").mkdir(exist_ok=True)
        if command == "classify":
            argv = ["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", "out.tsv"]
        elif command == "embed":
            argv = ["embed", str(tiny_lm_dir), str(fasta), "-o", "out.npy"]
        else:
            argv = ["split", str(fasta), "-o", "out.tsv", "--marker", "all"]
        for flags in ([], ["--overwrite"]):
            assert main([*argv, "--rejects", same, *flags]) == 1, (same, flags)
            line = error_line(capsys)
            assert "--rejects" in line and "is the input" in line, line
            assert fasta.read_bytes() == before  # it used to become a one-line rejects header
    assert not (tmp_path / "out.tsv").exists() and not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("command", ["classify", "embed", "split"])
def test_the_output_is_never_the_input_even_with_overwrite(command, fasta, tiny_lm_dir, tiny_taxonomy_dir, capsys):
    before = fasta.read_bytes()
    if command == "classify":
        argv = ["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", str(fasta)]
    elif command == "embed":  # the ids file beside OUT.npy is an output too
        ids_input = fasta.with_name("x.ids.txt")
        ids_input.write_bytes(before)
        fasta = ids_input
        argv = ["embed", str(tiny_lm_dir), str(ids_input), "-o", str(fasta.with_name("x.npy"))]
    else:
        argv = ["split", str(fasta), "-o", str(fasta)]
    assert main([*argv, "--overwrite"]) == 1
    assert "the output is the input" in error_line(capsys)
    assert fasta.read_bytes() == before


@pytest.mark.parametrize("command", ["classify", "embed", "split"])
def test_rejects_is_never_another_output(command, fasta, tiny_lm_dir, tiny_taxonomy_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if command == "classify":
        argv, clashes = ["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", "out.tsv"], ["./out.tsv"]
    elif command == "embed":
        argv, clashes = ["embed", str(tiny_lm_dir), str(fasta), "-o", "out.npy"], ["out.npy", "./out.ids.txt"]
    else:
        argv, clashes = ["split", str(fasta), "-o", "out.tsv", "--marker", "all"], ["out.tsv"]
    for clash in clashes:
        assert main([*argv, "--rejects", clash]) == 1  # it used to interleave both, exit 0
        line = error_line(capsys)
        assert "--rejects" in line and "another output of this run" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.fasta"]


@pytest.mark.parametrize("command", ["classify", "embed"])
def test_an_existing_rejects_file_needs_overwrite(command, fasta, tiny_lm_dir, tiny_taxonomy_dir, tmp_path, capsys):
    rejects = tmp_path / "rejects.tsv"
    rejects.write_text("my notes\n")
    out = tmp_path / ("out.tsv" if command == "classify" else "out.npy")
    if command == "classify":
        argv = ["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", str(out)]
    else:
        argv = ["embed", str(tiny_lm_dir), str(fasta), "-o", str(out)]
    assert main([*argv, "--rejects", str(rejects)]) == 1
    assert error_line(capsys).endswith(
        f"{rejects} exists: pass --resume to continue it or --overwrite to replace it (or choose another output)"
    )
    assert rejects.read_text() == "my notes\n" and not out.exists()
    assert main([*argv, "--rejects", str(rejects), "--overwrite"]) == 0
    assert rejects.read_text().splitlines()[1].startswith("bad-one\tinvalid_character\t6\t")


def test_overwrite_keeps_the_old_output_until_the_run_succeeds(fasta, tiny_taxonomy_dir, tmp_path, capsys):
    out, rejects = tmp_path / "calls.tsv", tmp_path / "rejects.tsv"
    argv = ["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", str(out), "--batch-size", "4"]
    assert main([*argv, "--rejects", str(rejects)]) == 0
    expected, expected_rejects = out.read_text(), rejects.read_text()
    out.write_text("id\told\nA\tkeep me\n")
    rejects.write_text("old rejects\n")
    with interrupted_after(2):  # Ctrl-C half-way through the replacement
        assert main([*argv, "--rejects", str(rejects), "--overwrite"]) == 130
    assert out.read_text() == "id\told\nA\tkeep me\n"  # the old output is untouched
    assert rejects.read_text() == "old rejects\n"
    partial = tmp_path / "calls.tsv.partial"
    assert partial.read_text() == "".join(expected.splitlines(keepends=True)[:9])  # header + 2 batches of 4
    assert error_line(capsys) == f"barcodefm classify: interrupted: 8 records written to {partial}; rerun with --resume"
    assert main(argv) == 1  # the partial replacement is not silently dropped either
    assert f"{partial} exists: pass --resume" in error_line(capsys)
    assert main([*argv, "--rejects", str(rejects), "--resume"]) == 0  # continues the replacement
    assert out.read_text() == expected and rejects.read_text() == expected_rejects
    # the run's provenance record beside it, none of the replacement's
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "calls.provenance.json",
        "calls.tsv",
        "q.fasta",
        "rejects.tsv",
    ]


def test_a_failed_overwrite_leaves_the_old_output(fasta, tiny_taxonomy_dir, tmp_path, capsys):
    out = tmp_path / "calls.tsv"
    out.write_text("id\told\n")
    bad = tmp_path / "all_bad.fasta"
    bad.write_text(">a\nNNNNNNNN\n")
    argv = ["classify", str(bad), "--model", str(tiny_taxonomy_dir), "-o", str(out), "--overwrite"]
    assert main(argv) == 1 and "no usable barcode records" in error_line(capsys)
    assert out.read_text() == "id\told\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all_bad.fasta", "calls.tsv", "q.fasta"]


def test_an_interrupted_overwrite_of_an_embedding_keeps_the_old_one(fasta, tiny_lm_dir, tmp_path, capsys):
    import numpy as np

    out = tmp_path / "emb.npy"
    argv = ["embed", str(tiny_lm_dir), str(fasta), "-o", str(out), "--batch-size", "4"]
    assert main(argv) == 0
    expected = np.load(out)
    np.save(out, np.zeros((1, 1), np.float32))
    old_ids = out.with_suffix(".ids.txt").read_text()
    with interrupted_after(3):
        assert main([*argv, "--overwrite"]) == 130
    assert np.load(out).shape == (1, 1) and out.with_suffix(".ids.txt").read_text() == old_ids
    partial = tmp_path / "emb.npy.partial"
    assert error_line(capsys) == f"barcodefm embed: interrupted: 12 records written to {partial}; rerun with --resume"
    assert main([*argv, "--resume"]) == 0
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-6, atol=1e-6)
    assert not partial.exists()


def test_write_order_leaves_no_temporary_file(fasta, tiny_taxonomy_dir, tmp_path):
    """A successful --overwrite leaves only its result (the temporary file was renamed over it)."""
    out = tmp_path / "calls.tsv"
    out.write_text("old\n")
    inode = os.stat(out).st_ino
    assert main(["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", str(out), "--overwrite"]) == 0
    assert os.stat(out).st_ino != inode  # renamed into place, not truncated and rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.provenance.json", "calls.tsv", "q.fasta"]


def test_an_interrupted_new_output_is_continued_by_resume(fasta, tiny_taxonomy_dir, tmp_path, capsys):
    out = tmp_path / "calls.tsv"
    argv = ["classify", str(fasta), "--model", str(tiny_taxonomy_dir), "-o", str(out), "--batch-size", "4"]
    with interrupted_after(1):
        assert main(argv) == 130
    assert error_line(capsys) == f"barcodefm classify: interrupted: 4 records written to {out}; rerun with --resume"
    assert len(out.read_text().splitlines()) == 5
    assert main([*argv, "--resume"]) == 0
    assert len(out.read_text().splitlines()) == 24  # 23 kept records + header
