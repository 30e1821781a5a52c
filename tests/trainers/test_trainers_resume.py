"""A pretraining run killed with SIGKILL in its second epoch and resumed with --resume
ends exactly where an uninterrupted run ends, without redoing the steps before the checkpoint.

The run uses every source of randomness a resume must replay: reverse-complement augmentation
(p 0.5), the k-mer frame offset, MLM masking (all drawn per example from (seed, epoch, index)),
embedding dropout (the Trainer's saved RNG state) and the shuffled data order (seeded sampler),
and the epoch key of those streams (the kill falls in epoch 1: 1,270 pretraining barcodes / 64
per step = 20 steps per epoch; checkpoints every 5 steps).
Tolerance: 1e-5 relative on every logged loss and on every final weight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from barcodefm.data import sample_path

STEPS = 36
KILL_AFTER = 25  # the checkpoint whose appearance triggers the kill
ARGS = [
    "pretrain",
    "--data",
    str(sample_path("coi")),
    "--objective",
    "mlm",
    "--tokenizer",
    "kmer",
    "--k",
    "3",
    "--d-model",
    "32",
    "--n-layer",
    "1",
    "--headdim",
    "16",
    "--d-state",
    "16",
    "--d-intermediate",
    "32",
    "--batch-size",
    "64",
    "--max-length",
    "120",
    "--max-steps",
    str(STEPS),
    "--save-steps",
    "5",
    "--logging-steps",
    "1",
    "--eval-split",
    "none",
    "--lr",
    "3e-3",
]


def cli(output: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "barcodefm.cli", *ARGS, "--output", str(output), *extra]


def environment() -> dict:
    # One thread: the same float reduction order in every process.
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def losses(folder: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]
    assert len(steps) == len(set(steps)), f"a step was logged twice: {steps}"
    return {r["step"]: r["loss"] for r in records if "loss" in r}


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(cli(reference), env=environment(), check=True, capture_output=True, timeout=300)

    run = tmp_path / "killed"
    process = subprocess.Popen(cli(run), env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trigger = run / "checkpoints" / f"checkpoint-{KILL_AFTER}" / "trainer_state.json"  # written last
    deadline = time.monotonic() + 240
    while not trigger.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (run / "model.safetensors").exists()
    killed_at = max(losses(run))

    resumed = subprocess.run(cli(run, "--resume"), env=environment(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    records = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    resume_event = next(r for r in records if r.get("event") == "resume")
    checkpoint_step = resume_event["step"]
    assert checkpoint_step >= KILL_AFTER and checkpoint_step % 5 == 0
    # Steps up to the checkpoint were not re-run: the resumed process logged only later steps.
    resumed_steps = [r["step"] for r in records if "loss" in r and r["session"] == 1]
    assert resumed_steps == list(range(checkpoint_step + 1, STEPS + 1))
    first_steps = [r["step"] for r in records if "loss" in r and r["session"] == 0]
    assert first_steps == list(range(1, checkpoint_step + 1))
    assert killed_at >= checkpoint_step  # what the killed run did after its checkpoint was redone, once

    expected, got = losses(reference), losses(run)
    assert sorted(got) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert got[step] == pytest.approx(expected[step], rel=1e-5), step
    final_reference = load_file(str(reference / "model.safetensors"))
    final_resumed = load_file(str(run / "model.safetensors"))
    assert final_reference.keys() == final_resumed.keys()
    for name, tensor in final_reference.items():
        torch.testing.assert_close(final_resumed[name], tensor, rtol=1e-5, atol=1e-7, msg=name)
    assert json.loads((run / "eval_results.json").read_text())["global_step"] == STEPS
