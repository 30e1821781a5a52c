"""``barcodefm embed`` on several processes (``torchrun`` / ``accelerate launch``): each embeds its
own shards of the records (:mod:`.shards`), the first merges them into the output a single process
writes (same ids, same order, the same vectors).

The shards go to ``OUT.partial/`` with a ``plan.json``; a run killed mid-way is continued by the
same command with ``--resume`` (on any number of processes, one included): finished shards are
kept and the others embedded.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

import numpy as np

from .processes import barrier, finish_distributed, is_main_process, join_process_group, process_device, process_share
from .shards import PLAN_FILE, SHARD_SIZE, check_plan, embed_in_shards, iter_shards

logger = logging.getLogger(__name__)


def sharded_run(partial: Path, resume: bool) -> bool:
    """Whether ``embed`` runs in shards: launched on several processes, or resuming such a run."""
    return process_share()[1] > 1 or (resume and (Path(partial) / PLAN_FILE).is_file())


def shard_size_for(shard_size: int | None, batch_size: int) -> int:
    """The shard size rounded up to whole batches (so batches do not depend on the processes)."""
    size = shard_size or SHARD_SIZE
    return max(1, math.ceil(size / batch_size)) * batch_size


def embed_file_in_shards(
    model,
    tokenizer,
    model_dir,
    reader,
    output: Path,
    *,
    batch_size: int = 64,
    pooling: str | None = None,
    max_length: int | None = None,
    device: str | None = None,
    shard_size: int | None = None,
    overwrite: bool = False,
    strands=None,
) -> dict:
    """:func:`barcodefm.inference.embed.embed_file`'s work, split across the launched processes.

    Every process returns the summary; only the first (rank 0) writes the output."""
    from ..data.readers import no_records_error
    from ..inference.embed import output_paths, write_embeddings
    from ..inference.progress import Progress, reader_total
    from ..outputs import occupied
    from .model_identity import weights_sha256

    rank, world = process_share()
    join_process_group()
    partial, _ = output_paths(Path(output))
    shard_size = shard_size_for(shard_size, batch_size)
    # No try/finally around the collective steps: a process that fails exits, and the launcher
    # stops the others (a barrier on the way out would wait for them forever).
    if is_main_process():
        if overwrite and partial.exists():
            shutil.rmtree(partial)
        if occupied(partial) and not (partial / PLAN_FILE).is_file():
            raise ValueError(
                f"{partial} was written by a run on one process: continue it on one process (--resume), "
                "or pass --overwrite to start again"
            )
        plan = {
            "input": str(Path(reader.path).resolve()),
            "model_sha256": weights_sha256(model_dir),
            "shard_size": shard_size,
            "pooling": pooling,
            "max_length": max_length,
        }
        check_plan(partial, plan)
    barrier()  # every process has checked the output before any writes to it
    model.to(process_device(device))

    def embed(sequences: list[str]) -> np.ndarray:
        vectors = model.embed_sequences(
            strands(sequences) if strands is not None else sequences,
            tokenizer,
            batch_size=len(sequences),
            pooling=pooling,
            max_length=max_length,
        )
        return vectors.numpy()

    progress = Progress("embedding", "embedded", total=reader_total(reader)) if rank == 0 else None
    report = (lambda n: progress.update_to(reader.rejects.n_read, n)) if progress else None
    n = embed_in_shards(
        reader, partial, embed, shard_size=shard_size, batch_size=batch_size, rank=rank, world=world, on_records=report
    )
    if progress:
        progress.close()
    barrier()  # every shard is written
    dim = getattr(model.config, "hidden_size", None)
    if is_main_process():
        if not n:
            shutil.rmtree(partial, ignore_errors=True)
            raise no_records_error(reader)
        ids, pieces = [], []
        for shard_ids, _, vectors in iter_shards(partial, range(math.ceil(n / shard_size))):
            ids += shard_ids
            pieces.append(vectors)
        matrix = np.concatenate(pieces)
        dim = matrix.shape[1]
        write_embeddings(Path(output), ids, matrix)
        shutil.rmtree(partial)
    finish_distributed()
    return {"embedded": n, "skipped_records": reader.rejects.total, "dim": dim, "processes": world}
