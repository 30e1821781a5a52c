"""The folder of one training run, and what ``--resume`` needs from it.

Layout of ``--output DIR``::

    DIR/config.json, model.safetensors, *.py    the Hub-ready model (written at the end)
    DIR/tokenizer files                         (written at the start, so a resume reuses them)
    DIR/run_options.json                        the options the run was started with
    DIR/train_log.jsonl                         one JSON line per logging step
    DIR/eval_results.json                       final evaluation
    DIR/checkpoints/checkpoint-N/               Trainer checkpoints (removed at the end unless kept)
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from .options import RESUMABLE_CHANGES

logger = logging.getLogger(__name__)

OPTIONS_FILE = "run_options.json"
LOG_FILE = "train_log.jsonl"
RESULTS_FILE = "eval_results.json"
CHECKPOINTS = "checkpoints"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class RunDirectory:
    def __init__(self, path):
        self.path = Path(path)
        self.checkpoints = self.path / CHECKPOINTS
        self.log_path = self.path / LOG_FILE
        self.options_path = self.path / OPTIONS_FILE
        self.results_path = self.path / RESULTS_FILE

    # ---- checks (read only: every process of a distributed run makes them) ----
    def is_finished(self) -> bool:
        return (self.path / "config.json").is_file() and any(self.path.glob("*.safetensors"))

    def saved_options(self) -> dict | None:
        if not self.options_path.is_file():
            return None
        with open(self.options_path, encoding="utf-8") as f:
            return json.load(f)

    def check_new_run(self) -> None:
        """A new run needs an empty or absent folder (runs are never overwritten silently)."""
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"--output {self.path} is a file, not a folder")
        if self.path.is_dir() and any(self.path.iterdir()):
            hint = (
                "pass --resume to continue the run there" if self.options_path.is_file() else "choose an empty folder"
            )
            raise ValueError(f"--output {self.path} is not empty: {hint}, or choose another --output")

    def check_resume(self, options: dict) -> Path | None:
        """The checkpoint to resume from (None: nothing saved yet, start at step 0).

        The run must have been started with the same options (those that change what is
        computed); a finished run cannot be resumed.
        """
        saved = self.saved_options()
        if saved is None:
            if self.path.is_dir() and any(self.path.iterdir()):
                raise ValueError(f"--resume: {self.path} is not a barcodefm training run (no {OPTIONS_FILE})")
            logger.info("--resume: no run in %s yet, starting one", self.path)
            return None
        if self.is_finished():
            raise ValueError(f"--resume: the run in {self.path} already finished (its model is saved there)")
        changed = [
            f"--{key.replace('_', '-')} {saved.get(key)!r} -> {options.get(key)!r}"
            for key in sorted(set(saved) | set(options))
            if key not in RESUMABLE_CHANGES and saved.get(key) != options.get(key)
        ]
        if changed:
            raise ValueError(
                f"--resume: the run in {self.path} was started with other options ({'; '.join(changed)}); "
                "resume it with the same options"
            )
        checkpoint = self.last_checkpoint()
        if checkpoint is None:
            logger.warning("--resume: no complete checkpoint in %s: restarting the run from step 0", self.checkpoints)
        return checkpoint

    def last_checkpoint(self) -> Path | None:
        """The newest COMPLETE checkpoint: a process killed while saving leaves one without a
        readable ``trainer_state.json`` (written last), which is skipped."""
        if not self.checkpoints.is_dir():
            return None
        found = []
        for child in self.checkpoints.iterdir():
            match = _CHECKPOINT.match(child.name)
            if match and child.is_dir():
                found.append((int(match.group(1)), child))
        for _step, child in sorted(found, reverse=True):
            try:
                with open(child / "trainer_state.json", encoding="utf-8") as f:
                    json.load(f)
                return child
            except (OSError, ValueError):
                logger.warning("skipping incomplete checkpoint %s", child)
        return None

    def session(self) -> int:
        """How many processes started on this run before (0 for a new run)."""
        if not self.log_path.is_file():
            return 0
        sessions = [r.get("session", 0) for r in self._log_records() if "event" in r]
        return max(sessions) + 1 if sessions else 0

    # ---- writes (main process only) ----
    def start(self, options: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.options_path.is_file():
            with open(self.options_path, "w", encoding="utf-8") as f:
                json.dump(options, f, indent=1)

    def truncate_log(self, step: int) -> int:
        """Forget log lines of steps after ``step`` (the checkpoint resumed from): the resumed
        run logs them again. Returns how many lines were dropped."""
        if not self.log_path.is_file():
            return 0
        records = self._log_records()
        kept = [r for r in records if r.get("step", 0) <= step]
        if len(kept) < len(records):
            tmp = self.log_path.with_suffix(".jsonl.tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                for record in kept:
                    f.write(json.dumps(record) + "\n")
            tmp.replace(self.log_path)
        return len(records) - len(kept)

    def _log_records(self) -> list[dict]:
        records = []
        with open(self.log_path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    records.append(json.loads(line))
                except ValueError:
                    break  # a line cut by a kill: everything after it is unreliable
        return records

    def write_results(self, results: dict) -> None:
        with open(self.results_path, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)

    def remove_checkpoints(self) -> None:
        if self.checkpoints.is_dir():
            shutil.rmtree(self.checkpoints)
