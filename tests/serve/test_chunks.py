"""The bundled model names an upload in small chunks, shortest records first: a cancel takes effect
after the chunk being named (a few records, about a second), and a long record is named alone, last,
so it never holds the records around it (nor a cancel) behind it."""

from __future__ import annotations

import time

import pytest
from serve_helpers import all_sample_records, bundled_server, fasta, httpx, upload, wait_for_job

from barcodefm.serve.identifier import Cancelled


@pytest.fixture(scope="module")
def identifier():
    return bundled_server().identifier


@pytest.fixture
def chunks_named(identifier, monkeypatch):
    """The ids of each chunk the model is given, in order."""
    named: list[list[str]] = []
    real = identifier._identify_batch

    def spy(batch):
        named.append([r["id"] for r in batch])
        return real(batch)

    monkeypatch.setattr(identifier, "_identify_batch", spy)
    return named


def _long_record() -> dict:
    """20,000 bases: 30 barcodes end to end (a whole mitogenome is about 16,000)."""
    sequence = "".join(r["sequence"] for r in all_sample_records()[-40:])[:20_000]
    return {"id": "long_record", "sequence": sequence}


def test_a_cancel_is_seen_after_a_few_records_and_before_a_long_one(identifier, chunks_named):
    records = all_sample_records()[:40]
    cancel = []

    def on_chunk(n_done):
        cancel.append(n_done)  # the user presses Cancel as soon as there is progress

    with pytest.raises(Cancelled):
        identifier.identify(
            [_long_record(), *records], batch_size=64, on_batch=on_chunk, cancelled=lambda: bool(cancel)
        )
    assert len(chunks_named) == 1 and len(chunks_named[0]) <= 8, chunks_named
    assert "long_record" not in chunks_named[0]


def test_rows_come_back_in_the_upload_order_and_a_long_record_is_named_alone(identifier, chunks_named):
    records = all_sample_records()[:20]
    long = _long_record()
    upload_order = [records[0], long, *records[1:]]
    progress = []
    rows = identifier.identify(upload_order, batch_size=64, on_batch=progress.append)
    assert [row["id"] for row in rows] == [r["id"] for r in upload_order]
    assert chunks_named[-1] == ["long_record"]  # the longest, alone and last
    assert sorted(i for chunk in chunks_named for i in chunk) == sorted(r["id"] for r in upload_order)
    assert progress == sorted(progress) and progress[-1] == len(upload_order)
    # The calls of one batch in the upload's order: grouping and padding change no call.
    one_batch = type(identifier)._identify_batch(identifier, records)
    chunked = [row for row in rows if row["id"] != "long_record"]
    assert [r["labels"] for r in chunked] == [r["labels"] for r in one_batch]
    for row, expected in zip(chunked, one_batch):
        assert row["probs"] == pytest.approx(expected["probs"], abs=1e-4)


def test_cancelling_a_job_of_many_records_stops_it_early():
    served = bundled_server()
    records = all_sample_records()[:600]
    with httpx.Client(timeout=60) as client:
        answer = upload(client, served.url, fasta(records), name="many.fasta")
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        deadline = time.monotonic() + 120
        while (job := client.get(f"{served.url}/api/jobs/{job_id}").json())["done"] == 0:
            assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.05)
        asked = time.monotonic()
        assert client.delete(f"{served.url}/api/jobs/{job_id}").status_code == 200
        job = wait_for_job(client, served.url, job_id)
        assert job["state"] == "cancelled"
        assert time.monotonic() - asked < 10
        assert job["done"] < len(records) / 2
