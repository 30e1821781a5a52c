"""The processes of a run started by ``torchrun`` or ``accelerate launch`` (one process otherwise).

Each process embeds its own shards of the records; they meet twice, through a gloo barrier: after
checking the output (before anything is written) and after the last shard (before the first
process merges them). Every process reads the same folder, so on several machines the output must
lie on a filesystem they share.
"""

from __future__ import annotations

import os
from datetime import timedelta

from ..trainers.distributed import barrier, finish_distributed, is_distributed, is_main_process

__all__ = ["barrier", "finish_distributed", "is_main_process", "join_process_group", "process_device", "process_share"]


def process_share() -> tuple[int, int]:
    """(this process's rank, number of processes), from the launcher's environment."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def join_process_group() -> None:
    """Start the process group of a launched run (no-op in one process, or when already started).

    gloo, even on GPUs: the processes only wait for each other. The timeout is long because one
    process may wait at the last barrier while another embeds its last shard."""
    import torch.distributed as dist

    if process_share()[1] > 1 and dist.is_available() and not is_distributed():
        dist.init_process_group("gloo", timeout=timedelta(hours=12))


def process_device(device: str | None) -> str:
    """The device a process embeds on: the one asked for, else its own GPU (``LOCAL_RANK``), else CPU."""
    import torch

    if device:
        return device
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"
