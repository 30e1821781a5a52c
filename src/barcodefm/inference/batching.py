"""Streaming a barcode file in batches, shared by the embed and classify commands."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def iter_batches(records: Iterable[dict], batch_size: int, skip_ids: set[str] | None = None) -> Iterator[list[dict]]:
    """Group records into lists of ``batch_size``, leaving out ids already done (resume)."""
    batch = []
    for record in records:
        if skip_ids and record["id"] in skip_ids:
            continue
        batch.append(record)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
