"""Helper of test_trainers_distributed.py, run alone or under torchrun: pretrains through the
public API (``build_pretraining``) and records, per process, which examples every step saw and
a digest of the final parameters, in ``RECORD_DIR/rank<R>.json``.

Usage: python ddp_probe.py OPTIONS_JSON RECORD_DIR
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from barcodefm.trainers import PretrainOptions, build_pretraining
from barcodefm.trainers.distributed import finish_distributed


class RecordingCollator:
    """Wraps the training collator to note the example indices of every batch it builds."""

    def __init__(self, inner):
        self.inner = inner
        self.batches = []

    def __call__(self, examples):
        self.batches.append([int(e["index"]) for e in examples])
        return self.inner(examples)


def main() -> None:
    options = PretrainOptions(**json.loads(sys.argv[1]))
    record_dir = Path(sys.argv[2])
    run = build_pretraining(options)
    recorder = RecordingCollator(run.trainer.data_collator)
    run.trainer.data_collator = recorder
    run.train()
    model = run.trainer.accelerator.unwrap_model(run.trainer.model)
    flat = torch.cat([p.detach().float().reshape(-1) for p in model.parameters()])
    rank = int(os.environ.get("RANK", "0"))
    record = {
        "rank": rank,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "distributed": torch.distributed.is_initialized(),
        "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        "batches": recorder.batches,
        "param_digest": hashlib.sha256(flat.numpy().tobytes()).hexdigest(),
    }
    record_dir.mkdir(parents=True, exist_ok=True)
    (record_dir / f"rank{rank}.json").write_text(json.dumps(record))
    finish_distributed()


if __name__ == "__main__":
    main()
