"""Broken inputs and interruptions end in one line (no traceback, a non-zero exit code) naming the
file and the problem: a gzip cut short (after the records before the cut were written), a
truncated or hostile model.safetensors, a pickle where a safetensors file should be (never
unpickled), and Ctrl-C during classify or embed (exit code 130, with how to continue)."""

from __future__ import annotations

import gzip
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import coi_sample_records, write_fasta

from barcodefm.cli import main


def error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith(f"barcodefm {command}: "), err[-3000:]
    return lines[-1]


@pytest.fixture(scope="module")
def truncated_gzip(tmp_path_factory) -> tuple[Path, list[str]]:
    """A gzipped TSV of random barcodes, cut after its first 64 KiB; the ids of its records in
    order, and how many of them the cut file holds whole."""
    rng = random.Random(0)
    ids = [f"rec{i:05d}" for i in range(3000)]
    text = "id\tsequence\n" + "".join(f"{i}\t{''.join(rng.choice('ACGT') for _ in range(160))}\n" for i in ids)
    data = gzip.compress(text.encode())
    assert len(data) > 2 * 65536
    path = tmp_path_factory.mktemp("cut") / "cut.tsv.gz"
    path.write_bytes(data[:65536])
    import zlib

    readable = zlib.decompressobj(31).decompress(data[:65536]).decode()
    n_whole = readable.count("\n") - 1  # complete lines, less the header
    return path, ids[:n_whole]


@pytest.mark.parametrize("command", ["classify", "embed"])
def test_a_truncated_gzip_keeps_the_records_before_the_cut(
    command, truncated_gzip, tiny_taxonomy_dir, tiny_lm_dir, tmp_path, capsys
):
    path, whole = truncated_gzip
    assert len(whole) % 64  # the cut falls inside a batch: those records must be written too
    if command == "classify":
        out = tmp_path / "calls.tsv"
        argv = ["classify", str(path), "--model", str(tiny_taxonomy_dir), "-o", str(out)]
    else:
        out = tmp_path / "emb.npy"
        argv = ["embed", str(tiny_lm_dir), str(path), "-o", str(out)]
    assert main([*argv, "--batch-size", "64"]) == 1
    line = error_line(capsys, command)
    assert str(path) in line and "truncated" in line and f"{len(whole):,} records" in line, line
    if command == "classify":
        written = [row.split("\t")[0] for row in out.read_text().splitlines()[1:]]
    else:
        written = (tmp_path / "emb.npy.partial" / "ids.txt").read_text().splitlines()
    assert written == whole


@pytest.fixture
def copy_of(tmp_path):
    def copy(folder: Path) -> Path:
        target = tmp_path / "model"
        shutil.copytree(folder, target)
        return target

    return copy


class _Hostile:
    """Unpickling this creates the marker file: proof that something ran pickle.load."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _run(command: str, model: Path, tmp_path: Path) -> list[str]:
    fasta = write_fasta(tmp_path / "q.fasta", coi_sample_records(3))
    if command == "classify":
        return ["classify", str(fasta), "--model", str(model), "-o", str(tmp_path / "out.tsv")]
    return ["embed", str(model), str(fasta), "-o", str(tmp_path / "out.npy")]


@pytest.mark.parametrize("command", ["classify", "embed"])
@pytest.mark.parametrize("damage", ["truncated", "pickle", "hostile_header"])
def test_a_broken_model_safetensors_is_one_line(
    command, damage, tiny_taxonomy_dir, tiny_lm_dir, copy_of, tmp_path, capsys
):
    model = copy_of(tiny_taxonomy_dir if command == "classify" else tiny_lm_dir)
    weights = model / "model.safetensors"
    marker = tmp_path / "unpickled"
    if damage == "truncated":
        os.truncate(weights, weights.stat().st_size // 2)
    elif damage == "pickle":
        weights.write_bytes(pickle.dumps(_Hostile(marker)))
    else:  # a header that claims a tensor far larger than the file
        import json
        import struct

        header = json.dumps({"w": {"dtype": "F32", "shape": [1 << 40], "data_offsets": [0, 4 << 40]}}).encode()
        weights.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    assert main(_run(command, model, tmp_path)) == 1
    line = error_line(capsys, command)
    assert str(weights) in line and "safetensors" in line, line
    assert not marker.exists()
    assert not (tmp_path / "out.tsv").exists() and not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("damage", ["truncated", "pickle"])
def test_a_broken_novelty_reference_is_one_line(damage, tiny_taxonomy_dir, copy_of, tmp_path, capsys):
    import torch

    from barcodefm.inference.novelty import REFERENCE_FILE, save_novelty_reference

    model = copy_of(tiny_taxonomy_dir)
    save_novelty_reference(model, torch.randn(50, 32), {"threshold": 0.5})
    reference = model / REFERENCE_FILE
    marker = tmp_path / "unpickled"
    if damage == "truncated":
        os.truncate(reference, reference.stat().st_size - 100)
    else:
        reference.write_bytes(pickle.dumps(_Hostile(marker)))
    assert main(_run("classify", model, tmp_path)) == 1
    line = error_line(capsys, "classify")
    assert str(reference) in line and "safetensors" in line, line
    assert not marker.exists()


def test_a_weights_pickle_without_safetensors_is_refused(tiny_lm_dir, copy_of, tmp_path, capsys):
    """A folder with pytorch_model.bin (a pickle) instead of model.safetensors: never unpickled."""
    model = copy_of(tiny_lm_dir)
    marker = tmp_path / "unpickled"
    (model / "model.safetensors").unlink()
    (model / "pytorch_model.bin").write_bytes(pickle.dumps(_Hostile(marker)))
    assert main(_run("embed", model, tmp_path)) == 1
    line = error_line(capsys, "embed")
    assert str(model) in line and "model.safetensors" in line, line
    assert not marker.exists()


def test_ctrl_c_during_classify_is_one_line_with_exit_130(tiny_taxonomy_dir, tmp_path):
    """A real SIGINT to the installed command while it writes rows."""
    records = coi_sample_records(400)
    fasta = write_fasta(tmp_path / "q.fasta", records, length=600)
    out = tmp_path / "calls.tsv"
    command = [sys.executable, "-m", "barcodefm.cli", "classify", str(fasta), "--model", str(tiny_taxonomy_dir)]
    proc = subprocess.Popen(
        [*command, "-o", str(out), "--batch-size", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 3:  # the header and two rows
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    n_rows = out.read_text().count("\n") - 1
    assert err.strip().splitlines()[-1] == (
        f"barcodefm classify: interrupted: {n_rows} records written to {out}; rerun with --resume"
    )
    assert 2 <= n_rows < len(records)
