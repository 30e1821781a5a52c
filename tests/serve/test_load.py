"""A small, bounded version of ``benchmarks/serve_load.py``: concurrent uploads against 127.0.0.1 each
get every one of their rows back, in order (the benchmark runs 8 x 200 barcodes)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from serve_helpers import all_sample_records, bundled_server, fasta, httpx, upload, wait_for_job

CLIENTS, BARCODES = 4, 25


def test_concurrent_uploads_all_get_every_row():
    served = bundled_server()
    records = all_sample_records()
    batches = [records[i * BARCODES : (i + 1) * BARCODES] for i in range(CLIENTS)]

    def one_client(batch):
        with httpx.Client(timeout=60) as client:
            answer = upload(client, served.url, fasta(batch), name="load.fasta")
            assert answer.status_code == 202, answer.text
            return wait_for_job(client, served.url, answer.json()["id"], timeout=300)

    with ThreadPoolExecutor(CLIENTS) as pool:
        jobs = list(pool.map(one_client, batches))
    for job, batch in zip(jobs, batches):
        assert job["state"] == "done"
        assert [row["id"] for row in job["rows"]] == [r["id"] for r in batch]
