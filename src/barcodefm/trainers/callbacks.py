"""Trainer callbacks: the run's ``train_log.jsonl`` and the epoch of the augmentation streams."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from transformers import TrainerCallback

# Names in the log that differ from the Trainer's.
_RENAMES = {"learning_rate": "lr"}


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf; a missing value is clearer than invalid JSON
    if hasattr(value, "item"):
        return _json_value(value.item())
    return value


class TrainLogCallback(TrainerCallback):
    """Appends one JSON line per Trainer log (step, epoch, wall time, process CPU seconds, loss, lr,
    grad_norm, eval metrics) to ``path`` and flushes it, so the log survives a killed run.

    ``session`` numbers the processes that worked on the run (0 = the first start, then one
    more per ``--resume``); a ``{"event": "start" | "resume"}`` line opens each session.
    Only the main process writes.
    """

    def __init__(self, path: str | Path, session: int = 0, info: dict | None = None):
        self.path = Path(path)
        self.session = int(session)
        self.info = dict(info or {})

    def append(self, record: dict) -> None:
        """Append one JSON line and flush it (main process only: the caller checks)."""
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=False) + "\n")
            f.flush()

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            event = "resume" if self.session else "start"
            self.append(
                {"event": event, "session": self.session, "step": state.global_step, "time": time.time(), **self.info}
            )

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        # Wall clock and this process's CPU seconds (all threads): learning curves against CPU time.
        record = {
            "step": state.global_step,
            "epoch": round(float(state.epoch or 0.0), 6),
            "session": self.session,
            "time": round(time.time(), 3),
            "cpu_s": round(time.process_time(), 2),
        }
        for key, value in logs.items():
            if key == "epoch":
                continue
            record[_RENAMES.get(key, key)] = _json_value(value)
        self.append(record)


class EpochCallback(TrainerCallback):
    """Tells the training collator which epoch starts, keying its per-example random streams.

    At an epoch start ``state.epoch`` is a whole number on a fresh run and ``epoch + done/steps``
    on a resumed one (the Trainer restores it from the checkpoint), so its floor is the epoch
    the Trainer is about to run in both cases.
    """

    def __init__(self, collator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = int(math.floor(float(state.epoch or 0.0) + 1e-9))
