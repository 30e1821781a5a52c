"""Streaming a barcode file in batches, shared by the embed and classify commands."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from ..data.formats import BarcodeFileError


class ResumeMismatchError(ValueError):
    """An output being resumed was not written from this input (its rows name other records)."""


def iter_batches(
    records: Iterable[dict], batch_size: int, done: Sequence[str] = (), output: object = "the output"
) -> Iterator[list[dict]]:
    """Group records into lists of ``batch_size``, after the first ``len(done)`` records (resume).

    ``done`` are the ids of the rows an interrupted run wrote, in order. Resume is keyed by
    position, not by id (a file can repeat an id: each record still gets its own row): record i
    must carry ``done[i]``, else the output was written from another input or with other options
    and :class:`ResumeMismatchError` names the first difference. A read error after some records
    (:class:`~barcodefm.data.formats.BarcodeFileError`) comes after the batch of the records read
    before it.
    """
    records = iter(records)
    for i, expected in enumerate(done):
        record = next(records, None)
        if record is None:
            raise ResumeMismatchError(
                f"{output} holds {len(done):,} rows but the input has only {i:,} records: it was written from "
                "another input or with other options; pass --overwrite to start it again"
            )
        if record["id"] != expected:
            raise ResumeMismatchError(
                f"{output} does not continue this input: its row {i + 1:,} is {expected!r}, the input's record "
                f"{i + 1:,} is {record['id']!r} (another input or other options?); pass --overwrite to start it "
                "again"
            )
    batch = []
    try:
        for record in records:
            batch.append(record)
            if len(batch) == batch_size:
                yield batch
                batch = []
    except BarcodeFileError:
        # A file cut short (a truncated gzip): the records read before the cut are processed and
        # written first, then the error ends the run.
        if batch:
            yield batch
        raise
    if batch:
        yield batch
