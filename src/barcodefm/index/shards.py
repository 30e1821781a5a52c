"""Embeddings written in finished shards, so a long job survives a kill and splits across processes.

The records (in file order) are cut into shards of ``shard_size`` consecutive records; shard ``s``
is embedded by process ``s % world_size`` and written as one ``shard-<s>.safetensors`` file:
``embeddings`` (float32, one row per record) and, in the header's metadata, the records' ``ids``
and ``labels`` (rank -> label or null, JSON). A shard is written under a temporary name and renamed
when complete, so a file with a shard's name is always whole: a restarted run checks that its ids
are the records at those positions and skips it. ``plan.json`` holds what the shards depend on
(the model's weights, the shard size, the inputs): a restart with other settings is refused.

With the shard size a multiple of the batch size, every batch holds the records it would hold in
one process: the merged vectors are the same whatever the number of processes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SHARD_SIZE = 4096
PLAN_FILE = "plan.json"
# A testing aid: a process exits at once (exit status STOP_EXIT_CODE, like a kill) after writing
# this many shards, so tests can check that a restarted run continues where a killed one stopped.
STOP_AFTER_SHARDS = "BARCODEFM_STOP_AFTER_SHARDS"
STOP_EXIT_CODE = 75


def shard_path(folder: Path, number: int) -> Path:
    return Path(folder) / f"shard-{number:06d}.safetensors"


def shard_numbers(folder: Path) -> list[int]:
    """The numbers of the finished shards in ``folder``, in order."""
    if not Path(folder).is_dir():
        return []
    return sorted(int(p.name[6:-12]) for p in Path(folder).glob("shard-*.safetensors") if p.name[6:-12].isdigit())


def write_shard(path: Path, ids: list[str], vectors: np.ndarray, labels: dict[str, list] | None = None) -> None:
    """One finished shard, renamed into place only once complete (a kill leaves no torn shard)."""
    from safetensors.numpy import save_file

    metadata = {"ids": json.dumps(ids), "labels": json.dumps(labels or {})}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({"embeddings": np.ascontiguousarray(vectors, dtype=np.float32)}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def _metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return f.metadata() or {}


def read_shard_ids(path: Path) -> list[str]:
    return json.loads(_metadata(path)["ids"])


def read_shard(path: Path) -> tuple[list[str], dict[str, list], np.ndarray]:
    """(ids, labels per rank, float32 vectors) of one shard."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
        vectors = f.get_tensor("embeddings")
    return json.loads(meta["ids"]), json.loads(meta.get("labels", "{}")), vectors


def iter_shards(folder: Path, numbers: Iterable[int]) -> Iterator[tuple[list[str], dict[str, list], np.ndarray]]:
    """The shards ``numbers`` of ``folder`` in order; a missing one is an error (a process died?)."""
    for number in numbers:
        path = shard_path(folder, number)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: a process stopped before finishing it; rerun with --resume")
        yield read_shard(path)


def check_plan(folder: Path, plan: dict) -> None:
    """Write ``plan.json`` into ``folder``, or check that the one there matches ``plan``."""
    path = Path(folder) / PLAN_FILE
    if path.is_file():
        old = json.loads(path.read_text())
        changed = [key for key in plan if old.get(key) != plan[key]]
        if changed:
            key = changed[0]
            raise ValueError(
                f"{folder} was started with {key}={old.get(key)!r}, this run has {plan[key]!r}: continue it with the "
                "same settings, or pass --overwrite to start again"
            )
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{PLAN_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(plan, indent=1))
    os.replace(tmp, path)


def embed_in_shards(
    records: Iterable[dict],
    folder: Path,
    embed: Callable[[list[str]], np.ndarray],
    *,
    shard_size: int = SHARD_SIZE,
    batch_size: int = 64,
    first_shard: int = 0,
    label_ranks: Sequence[str] = (),
    rank: int = 0,
    world: int = 1,
    on_records: Callable[[int], None] | None = None,
) -> int:
    """Embed this process's shards of ``records`` into ``folder``; return the number of records.

    ``embed(sequences)`` gives one float32 row per sequence and is called with ``batch_size``
    sequences at a time. Every process reads all records (they are cheap to read) and embeds the
    shards ``first_shard + i`` with ``(first_shard + i) % world == rank``; shards already in
    ``folder`` are checked (same ids) and skipped. ``on_records(n)`` reports progress.
    """
    from ..inference.batching import ResumeMismatchError, iter_batches

    if shard_size < 1 or batch_size < 1:
        raise ValueError(f"shard size and batch size must be >= 1, got {shard_size} and {batch_size}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stop_after = int(os.environ.get(STOP_AFTER_SHARDS, "0") or 0)
    n_records = n_written = 0
    for number, chunk in enumerate(iter_batches(records, shard_size), start=first_shard):
        n_records += len(chunk)
        path = shard_path(folder, number)
        if number % world != rank:
            if on_records:
                on_records(len(chunk))
            continue
        ids = [r["id"] for r in chunk]
        if path.is_file():
            if read_shard_ids(path) != ids:
                raise ResumeMismatchError(
                    f"{path} holds other records than the input's records {n_records - len(chunk) + 1:,}-"
                    f"{n_records:,} (another input or other options?): pass --overwrite to start again"
                )
            if on_records:
                on_records(len(chunk))
            continue
        pieces = []
        for start in range(0, len(chunk), batch_size):
            batch = chunk[start : start + batch_size]
            pieces.append(np.asarray(embed([r["sequence"] for r in batch]), dtype=np.float32))
            if on_records:
                on_records(len(batch))
        labels = {r: [record.get(r) for record in chunk] for r in label_ranks}
        write_shard(path, ids, np.concatenate(pieces), labels)
        n_written += 1
        if stop_after and n_written >= stop_after:
            logger.warning("%s=%d: process %d stops after its shard %d", STOP_AFTER_SHARDS, stop_after, rank, number)
            os._exit(STOP_EXIT_CODE)
    return n_records


def read_shard_metadata(path: Path) -> tuple[list[str], dict[str, list]]:
    """(ids, labels per rank) of one shard, without reading its vectors."""
    meta = _metadata(path)
    return json.loads(meta["ids"]), json.loads(meta.get("labels", "{}"))
