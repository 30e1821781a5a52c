"""Data parallelism on CPU (gloo) with 2 processes, under torchrun and under accelerate launch.

Proof that it is real data parallelism: at every step the two ranks see disjoint halves of the
batch the single-process run sees with the same global batch, their parameters stay identical,
and the logged loss equals the single-process run's (dropout off; every barcode is cut to 120
bases so both halves hold the same number of tokens, making the mean of the ranks' mean losses
the single-process mean). Tolerance 1e-5 relative on the losses, 1e-4 on the final weights.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from barcodefm.data import sample_path

HERE = Path(__file__).resolve().parent
STEPS = 6
SIZES = dict(d_model=32, n_layer=1, headdim=16, d_state=16, d_intermediate=32)


def options(output: Path, batch_size: int) -> dict:
    return dict(
        data=str(sample_path("coi")),
        output=str(output),
        tokenizer="char",
        max_length=120,
        dropout=0.0,
        batch_size=batch_size,
        max_steps=STEPS,
        logging_steps=1,
        save_steps=0,
        eval_splits=(),
        lr=3e-3,
        **SIZES,
    )


def environment() -> dict:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "ACCELERATE_USE_CPU": "1",
    }


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def run(command: list[str], timeout: int = 300) -> None:
    done = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def logged_losses(folder: Path) -> tuple[dict, list[float]]:
    records = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    return records[0], [r["loss"] for r in records if "loss" in r]


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    """The single-process reference: global batch 8."""
    root = tmp_path_factory.mktemp("single")
    run([sys.executable, str(HERE / "ddp_probe.py"), json.dumps(options(root / "run", 8)), str(root / "records")])
    return root


@pytest.mark.slow
def test_torchrun_two_processes_split_every_batch_and_stay_in_sync(single, tmp_path):
    run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            free_port(),
            str(HERE / "ddp_probe.py"),
            json.dumps(options(tmp_path / "run", 4)),
            str(tmp_path / "records"),
        ]
    )
    ranks = [json.loads((tmp_path / "records" / f"rank{r}.json").read_text()) for r in (0, 1)]
    reference = json.loads((single / "records" / "rank0.json").read_text())
    assert [r["world_size"] for r in ranks] == [2, 2] and all(r["distributed"] for r in ranks)
    assert ranks[0]["backend"] == "gloo" and reference["distributed"] is False
    # The data loader may build one batch ahead of the last step: compare the steps that ran.
    batches = [r["batches"][:STEPS] for r in (*ranks, reference)]
    assert all(len(b) == STEPS for b in batches)
    for step, (half0, half1, whole) in enumerate(zip(*batches)):
        assert len(half0) == len(half1) == 4
        assert not set(half0) & set(half1), f"step {step}: the ranks saw the same barcodes"
        assert half0 + half1 == whole, f"step {step}: the ranks together must see the single run's batch"
    assert ranks[0]["param_digest"] == ranks[1]["param_digest"], "parameters diverged between ranks"

    start, distributed_losses = logged_losses(tmp_path / "run")
    assert start["world_size"] == 2 and start["global_batch_size"] == 8
    _, single_losses = logged_losses(single / "run")
    assert distributed_losses == pytest.approx(single_losses, rel=1e-5)
    final_single = load_file(str(single / "run" / "model.safetensors"))
    final_distributed = load_file(str(tmp_path / "run" / "model.safetensors"))
    for name, tensor in final_single.items():
        torch.testing.assert_close(final_distributed[name], tensor, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.slow
def test_accelerate_launch_runs_the_cli_data_parallel(single, tmp_path):
    opts = options(tmp_path / "run", 4)
    flags = []
    for key in (
        "data",
        "output",
        "tokenizer",
        "max_length",
        "dropout",
        "batch_size",
        "max_steps",
        "logging_steps",
        "save_steps",
        "lr",
        *SIZES,
    ):
        flags += ["--" + key.replace("_", "-"), str(opts[key])]
    run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            free_port(),
            "-m",
            "barcodefm.cli",
            "pretrain",
            *flags,
            "--eval-split",
            "none",
        ]
    )
    start, losses = logged_losses(tmp_path / "run")
    assert start["world_size"] == 2 and start["global_batch_size"] == 8
    _, single_losses = logged_losses(single / "run")
    assert losses == pytest.approx(single_losses, rel=1e-5)
    assert (tmp_path / "run" / "model.safetensors").is_file()
