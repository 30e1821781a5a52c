"""A wrong path (a folder as input, a missing or empty model folder, a file as model) ends in one
line on stderr naming the path and the problem, exit code 1, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from barcodefm.cli import main


@pytest.fixture
def paths(tmp_path):
    fasta = tmp_path / "x.fasta"
    fasta.write_text(">a\nAACATTATATTTTATTTTTGGTGCATGATCAGGAATAGTAGG\n")
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "empty_model").mkdir()
    (tmp_path / "no_config").mkdir()
    (tmp_path / "no_config" / "notes.txt").write_text("not a model")
    return tmp_path, fasta


def error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"barcodefm {command}: error: "), err
    return lines[0]


CASES = {
    # name: (model, input, words the one line must hold besides the path)
    "input is a directory": ("coi-insect", "a_dir", ("directory",)),
    "model folder missing": ("/no/such/folder", "x.fasta", ("not found",)),
    "model folder empty": ("empty_model", "x.fasta", ("empty folder",)),
    "model folder without config": ("no_config", "x.fasta", ("no config.json",)),
    "model is a file": ("x.fasta", "x.fasta", ("a file, not a model folder",)),
}


@pytest.mark.parametrize("command", ["classify", "embed"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_path_is_one_line(paths, capsys, command, case):
    root, _ = paths
    model, input_name, words = CASES[case]
    model = model if model.startswith("/") or model == "coi-insect" else str(root / model)
    input_path = str(root / input_name)
    if command == "classify":
        argv = ["classify", input_path, "--model", model, "-o", str(root / "out.tsv")]
    else:
        argv = ["embed", model, input_path, "-o", str(root / "out.npy")]
    assert main(argv) == 1
    line = error_line(capsys, command)
    named = input_path if case == "input is a directory" else model
    assert named in line and all(w in line for w in words), line
    assert not (root / "out.tsv").exists() and not (root / "out.npy").exists()


def test_directory_input_through_the_real_command_line(paths):
    """The installed entry point (fresh process, real logging set-up): still a single line."""
    root, _ = paths
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "barcodefm.cli",
            "classify",
            str(root / "a_dir"),
            "--model",
            "coi-insect",
            "-o",
            str(root / "out.tsv"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"barcodefm classify: error: expected a barcode file, got a directory: {root / 'a_dir'}"
    ]


def test_a_near_miss_of_a_bundled_name_is_answered_at_once(tmp_path, capsys):
    from barcodefm.cli import main

    fasta = tmp_path / "q.fa"
    fasta.write_text(">a\n" + "ACGT" * 50 + "\n")
    assert main(["classify", str(fasta), "--model", "coi-insects", "-o", str(tmp_path / "o.tsv")]) == 1
    err = capsys.readouterr().err
    assert "did you mean 'coi-insect'" in err and "Traceback" not in err
