"""Code carried by a model folder runs only when the user opts in (``--trust-remote-code``), and
never for barcodefm's own model types, which load with the installed classes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from barcodefm import BarcodeCharTokenizer, BarcodeMambaForCausalLM, config_from_tokenizer
from barcodefm.cli import main
from barcodefm.factory import RemoteCodeNotTrusted, load_model, load_tokenizer

SEQUENCES = [
    "AACATTATATTTTATTTTTGGTGCATGATCAGGAATAGTAGGAACTTCTTTAAGAATTTTAATTCGAGC",
    "GGAGTATGATCCGGAATAGTCGGAACTTCTCTAAGAATTTTAATTCGTGC",
]


def marker_code(marker: Path) -> str:
    """A line that, run on import, leaves a file behind (what hostile code could do instead)."""
    return f"\nimport pathlib as _pathlib\n_pathlib.Path({str(marker)!r}).write_text('code from the folder ran')\n"


def save_tiny_lm(folder: Path) -> Path:
    torch.manual_seed(0)
    tokenizer = BarcodeCharTokenizer()
    BarcodeMambaForCausalLM(
        config_from_tokenizer(tokenizer, d_model=32, n_layer=1, headdim=16, d_state=16)
    ).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def foreign_folder(folder: Path, marker: Path) -> Path:
    """A folder of another model type ('evilmamba') whose auto_map points at copied modules that
    write ``marker`` on import: loading it needs its own code."""
    save_tiny_lm(folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "evilmamba"
    (folder / "config.json").write_text(json.dumps(config))
    module = folder / "configuration_barcodemamba.py"
    text = module.read_text().replace('model_type = "barcodemamba"', 'model_type = "evilmamba"')
    assert 'model_type = "evilmamba"' in text
    module.write_text(text + marker_code(marker))
    return folder


def tampered_folder(folder: Path, marker: Path) -> Path:
    """A barcodefm folder whose copied model, config and tokenizer code was edited to write ``marker``."""
    save_tiny_lm(folder)
    for name in ("modeling_barcodemamba.py", "configuration_barcodemamba.py", "tokenization_barcode_char.py"):
        (folder / name).write_text((folder / name).read_text() + marker_code(marker))
    return folder


@pytest.fixture
def fasta(tmp_path) -> Path:
    path = tmp_path / "q.fasta"
    path.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(SEQUENCES)))
    return path


def one_error_line(stderr: str, command: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"barcodefm {command}: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_foreign_folder_is_refused_without_the_flag_and_its_code_never_runs(tmp_path, fasta, capsys):
    marker = tmp_path / "ran.txt"
    folder = foreign_folder(tmp_path / "foreign", marker)
    for command in (
        ["embed", str(folder), str(fasta), "-o", str(tmp_path / "e.npy")],
        ["classify", str(fasta), "--model", str(folder), "-o", str(tmp_path / "c.tsv")],
        ["probe", str(folder), "--data", str(fasta), "--probe", "linear"],
    ):
        assert main(command) == 1
        line = one_error_line(capsys.readouterr().err, command[0])
        assert str(folder) in line and "pass --trust-remote-code if you trust it" in line
    with pytest.raises(RemoteCodeNotTrusted, match="pass --trust-remote-code if you trust"):
        load_model(folder, "AutoModelForCausalLM")
    with pytest.raises(RemoteCodeNotTrusted):
        load_model(folder, "AutoModel", trust_remote_code=False)
    assert not marker.exists()


def test_finetuning_from_a_foreign_folder_is_refused_without_the_flag(tmp_path):
    from barcodefm.cli import build_parser
    from barcodefm.trainers.cli_options import options_from_args
    from barcodefm.trainers.options import FinetuneOptions
    from barcodefm.trainers.tasks import make_task

    marker = tmp_path / "ran.txt"
    folder = foreign_folder(tmp_path / "foreign", marker)
    task = make_task("species", "species")
    task.fit({"species": ["a", "b"]})
    with pytest.raises(RemoteCodeNotTrusted, match="--trust-remote-code"):
        task.load_pretrained(folder)
    with pytest.raises(ValueError, match="no taxonomic classifier"):  # read as JSON: nothing to run
        make_task("taxonomy", "species").load_pretrained(folder, trust_remote_code=True)
    assert not marker.exists()
    for command in ("finetune", "pretrain"):
        argv = [command, *([str(folder)] if command == "finetune" else []), "--data", "x", "-o", "y"]
        args = build_parser().parse_args([*argv, "--trust-remote-code"])
        assert args.trust_remote_code is True
        assert build_parser().parse_args(argv).trust_remote_code is False
    assert options_from_args(
        build_parser().parse_args(["finetune", str(folder), "--data", "x", "-o", "y", "--trust-remote-code"]),
        FinetuneOptions,
    ).trust_remote_code


def test_foreign_folder_runs_with_the_flag(tmp_path, fasta):
    """In a fresh process with its own modules cache: the copied code runs, the command works."""
    marker = tmp_path / "ran.txt"
    folder = foreign_folder(tmp_path / "foreign", marker)
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "e.npy"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "barcodefm.cli",
            "embed",
            str(folder),
            str(fasta),
            "-o",
            str(out),
            "--trust-remote-code",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert marker.exists()
    assert out.exists() and out.with_suffix(".ids.txt").read_text().split() == ["r0", "r1"]


def test_tampered_barcodefm_folder_loads_with_the_installed_code(tmp_path, fasta, capsys):
    marker = tmp_path / "ran.txt"
    folder = tampered_folder(tmp_path / "tampered", marker)
    for flag in ([], ["--trust-remote-code"]):  # our own model type: the flag changes nothing
        out = tmp_path / f"e{len(flag)}.npy"
        assert main(["embed", str(folder), str(fasta), "-o", str(out), *flag]) == 0, capsys.readouterr().err
        assert out.exists()
    for trust in (False, True):
        model = load_model(folder, "AutoModelForCausalLM", trust_remote_code=trust)
        tokenizer = load_tokenizer(folder, trust_remote_code=trust)
        assert type(model) is BarcodeMambaForCausalLM and type(tokenizer) is BarcodeCharTokenizer
    assert not marker.exists()
