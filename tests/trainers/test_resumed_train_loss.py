"""After `pretrain --resume`, eval_results.json reports the whole run's train_loss, as an
uninterrupted run does (it used to report the mean of the steps after the resume only).

The interrupted run stops with an exception in step 7, after its checkpoint at step 4, in process
(a stand-in for a kill; tests/trainers/test_trainers_resume.py kills a real process). Logging
every 3 steps and saving every 4 puts the checkpoint between two logs: the loss is also logged at
every checkpoint, so the steps before it are all accounted for.
"""

from __future__ import annotations

import json

import pytest
from transformers import TrainerCallback

from barcodefm.cli import build_parser, main
from barcodefm.data import sample_path
from barcodefm.trainers.cli_options import options_from_args
from barcodefm.trainers.options import PretrainOptions
from barcodefm.trainers.pretraining import build_pretraining
from barcodefm.trainers.trainer import whole_run_train_loss

ARGS = [
    "pretrain",
    "--data",
    str(sample_path("coi")),
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
    "8",
    "--max-length",
    "120",
    "--max-steps",
    "10",
    "--save-steps",
    "4",
    "--logging-steps",
    "3",
    "--eval-split",
    "none",
    "--lr",
    "3e-3",
]


class Killed(Exception):
    pass


class KillAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed


def logged_losses(folder) -> dict[int, float]:
    records = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def test_resumed_pretraining_reports_the_whole_runs_train_loss(tmp_path):
    reference = tmp_path / "reference"
    assert main([*ARGS, "--output", str(reference)]) == 0
    expected = json.loads((reference / "eval_results.json").read_text())["train_loss"]
    assert sorted(logged_losses(reference)) == [1, 3, 4, 6, 8, 9, 10]  # every 3 steps and at each checkpoint

    run = tmp_path / "run"
    options = options_from_args(build_parser().parse_args([*ARGS, "--output", str(run)]), PretrainOptions)
    with pytest.raises(Killed):
        build_pretraining(options, callbacks=[KillAt(7)]).train()
    assert (run / "checkpoints" / "checkpoint-4").is_dir() and not (run / "eval_results.json").exists()
    assert main([*ARGS, "--output", str(run), "--resume"]) == 0

    results = json.loads((run / "eval_results.json").read_text())
    assert results["global_step"] == 10
    after_resume = logged_losses(run)
    assert after_resume == pytest.approx(logged_losses(reference), rel=1e-5)  # the same steps, the same losses
    assert results["train_loss"] == pytest.approx(expected, rel=1e-5)
    steps_6_to_10 = (after_resume[6] * 2 + after_resume[8] * 2 + after_resume[9] + after_resume[10]) / 6
    assert abs(results["train_loss"] - steps_6_to_10) > 1e-3  # what was reported before: a different number


def test_unlogged_steps_before_the_checkpoint_count_at_the_logged_mean():
    history = [{"loss": 4.0, "step": 1}, {"loss": 3.0, "step": 3}, {"train_loss": 9.0, "step": 3}]
    # steps 1..3 logged (4 + 2 x 3 = 10), step 4 unlogged (10/3), steps 5..8 mean 2.0 from the Trainer
    assert whole_run_train_loss(history, 4, 2.0, 8) == pytest.approx((10 * 4 / 3 + 8.0) / 8)
    assert whole_run_train_loss(history, 0, 2.0, 8) == 2.0  # not resumed: the Trainer's mean
