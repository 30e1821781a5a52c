"""The Hugging Face ``Trainer`` with a second collator for evaluation, and a resumed run's
``train_loss`` over the whole run.

Training batches are augmented (reverse complement, frame offset, epoch-keyed masking);
evaluation and prediction batches must not be, so they get their own collator.

The Trainer's ``train_loss`` is the mean over the steps of one ``train()`` call: after a resume,
only the steps after the checkpoint. :class:`BarcodeTrainer` reports the whole run's mean instead
(what an uninterrupted run reports), from the losses logged before the checkpoint; so that they
cover every step before it, the loss is also logged at every checkpoint step.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import TrainOutput, get_last_checkpoint

logger = logging.getLogger(__name__)


class LogAtCheckpoints(TrainerCallback):
    """Log the training loss at every checkpoint step (the log comes before the save), so a
    checkpoint's log history accounts for the loss of every step up to it."""

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save:
            control.should_log = True


def whole_run_train_loss(log_history: list[dict], start_step: int, session_loss: float, global_step: int) -> float:
    """Mean training loss over steps 1..``global_step`` of a run resumed at ``start_step``.

    ``session_loss``: the Trainer's mean over the steps after ``start_step``; the steps before it
    come from the logged ``loss`` values (each the mean since the previous log). Should the logs
    stop short of ``start_step`` (a checkpoint written without :class:`LogAtCheckpoints`), the
    unlogged steps count at the mean of the logged ones.
    """
    if start_step <= 0 or global_step <= start_step:
        return session_loss
    logged = {e["step"]: e["loss"] for e in log_history if "loss" in e and "step" in e and e["step"] <= start_step}
    total = last = 0
    for step in sorted(logged):
        total += logged[step] * (step - last)
        last = step
    if last == 0:
        return session_loss  # nothing known about the steps before the checkpoint
    if last < start_step:
        logger.info(
            "train_loss: steps %d-%d of the resumed run were not logged; counted at the mean of the others",
            last + 1,
            start_step,
        )
        total *= start_step / last
    return (total + session_loss * (global_step - start_step)) / global_step


def _checkpoint_step(checkpoint, output_dir) -> int:
    if checkpoint is True:
        checkpoint = get_last_checkpoint(output_dir)
    if not checkpoint:
        return 0
    try:
        with open(Path(checkpoint) / "trainer_state.json", encoding="utf-8") as f:
            return int(json.load(f).get("global_step", 0))
    except (OSError, ValueError):
        return 0  # the Trainer itself reports an unreadable checkpoint


class BarcodeTrainer(Trainer):
    def __init__(self, *args, eval_data_collator=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.eval_data_collator = eval_data_collator
        self._resumed_at = 0
        self.add_callback(LogAtCheckpoints())

    def train(self, resume_from_checkpoint=None, *args, **kwargs):
        """``Trainer.train``; after a resume, ``train_loss`` (returned and logged) is the whole run's mean."""
        self._resumed_at = _checkpoint_step(resume_from_checkpoint, self.args.output_dir)
        try:
            output = super().train(resume_from_checkpoint, *args, **kwargs)
        finally:
            resumed_at, self._resumed_at = self._resumed_at, 0
        if resumed_at and "train_loss" in output.metrics:  # log() below has made it the whole run's
            output = TrainOutput(output.global_step, output.metrics["train_loss"], output.metrics)
        return output

    def log(self, logs, *args, **kwargs):
        if self._resumed_at and "train_loss" in logs:  # the end-of-training metrics of a resumed run
            logs["train_loss"] = whole_run_train_loss(
                self.state.log_history, self._resumed_at, logs["train_loss"], self.state.global_step
            )
        return super().log(logs, *args, **kwargs)

    @contextlib.contextmanager
    def _evaluation_collator(self):
        # The DataLoader takes the collator when it is built, so swapping around the build is enough.
        if self.eval_data_collator is None:
            yield
            return
        training_collator = self.data_collator
        self.data_collator = self.eval_data_collator
        try:
            yield
        finally:
            self.data_collator = training_collator

    def get_eval_dataloader(self, eval_dataset=None):
        with self._evaluation_collator():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        with self._evaluation_collator():
            return super().get_test_dataloader(test_dataset)
