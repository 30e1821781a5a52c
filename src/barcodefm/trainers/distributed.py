"""The few collective steps a run needs around the Trainer (no-ops in a single process)."""

from __future__ import annotations

import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def is_main_process() -> bool:
    return not is_distributed() or dist.get_rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def finish_distributed() -> None:
    """Wait for every process, then tear the process group down: exiting with a live gloo
    group makes the launcher abort intermittently."""
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()
