"""The page's API with the bundled coi-insect model: uploads in, the table of `barcodefm classify` out,
the bad records listed with their reasons, and every bad upload answered with a message while the
server keeps running."""

from __future__ import annotations

import gzip
import re

import pytest
from serve_helpers import BAD_RECORDS, bundled_server, fasta, httpx, sample_records, upload, wait_for_job


@pytest.fixture(scope="module")
def served():
    return bundled_server()


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def finished(served, client):
    """One upload of 16 real barcodes and 3 bad records (gzipped FASTA), identified."""
    records = sample_records()
    answer = upload(client, served.url, gzip.compress(fasta(records, BAD_RECORDS).encode()), name="queries.fasta.gz")
    assert answer.status_code == 202, answer.text
    return records, wait_for_job(client, served.url, answer.json()["id"])


def test_good_records_are_identified_and_bad_ones_listed_with_their_reason(finished):
    records, job = finished
    assert job["state"] == "done", job
    assert [r["id"] for r in job["rows"]] == [r["id"] for r in records]
    assert {(r["id"], r["reason"]) for r in job["rejects"]} == {(k, v[1]) for k, v in BAD_RECORDS.items()}
    assert "kept 16 of 19 records" in job["summary"]
    for row, record in zip(job["rows"], records):
        assert len(row["labels"]) == 5 and all(0.0 <= p <= 1.0 for p in row["probs"])
        assert len(row["neighbours"]) == 5 and len(row["xy"]) == 2
        assert 0.0 <= row["neighbours"][0]["identity"] <= 1.0
        # References by their own ids (BOLD process ids), the nearest by alignment identity.
        assert all(re.fullmatch(r"[A-Z0-9]+-\d{2}", n["ref"]) for n in row["neighbours"])
        assert re.fullmatch(r"[A-Z0-9]+-\d{2}", row["nearest_reference"]) and row["nearest_by"] == "alignment"
        assert 0.0 <= row["nearest_identity"] <= 1.0
        if record["split"] == "test":  # species the model was trained on: the order is right
            assert row["labels"][0] == record["order"]
    # Species never seen in training lie farther from every reference than the seen ones.
    seen = [r["novelty"] for r, rec in zip(job["rows"], records) if rec["split"] == "test"]
    unseen = [r["novelty"] for r, rec in zip(job["rows"], records) if rec["split"] == "unseen_query"]
    assert sum(unseen) / len(unseen) > sum(seen) / len(seen)


@pytest.mark.parametrize("min_prob", [None, 0.9])
def test_download_is_the_table_barcodefm_classify_writes(served, client, finished, tmp_path, monkeypatch, min_prob):
    from barcodefm.inference import classify as classify_module
    from barcodefm.inference.reference_vote import ReferenceSet

    records, job = finished
    query = {} if min_prob is None else {"min_prob": min_prob}
    download = client.get(f"{served.url}/api/jobs/{job['id']}/table.tsv", params=query)
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    # The CLI on the same file (its reference set is the one already loaded: same files, no second load).
    monkeypatch.setattr(ReferenceSet, "load", classmethod(lambda cls, model_dir: served.identifier.reference))
    source = tmp_path / "queries.fasta"
    source.write_text(fasta(records, BAD_RECORDS))
    out = tmp_path / "calls.tsv"
    classify_module.classify_file(served.identifier.model_dir, source, out, min_prob=min_prob, device="cpu")
    assert download.text == out.read_text()
    assert "\tconsistent\tnearest_reference\tnearest_identity\tnearest_by\tnovelty\t" in download.text.splitlines()[0]


def test_pasted_sequences_one_per_line(served, client):
    records = sample_records()[:2]
    text = "\n".join(r["sequence"] for r in records) + "\n"
    job = wait_for_job(client, served.url, upload(client, served.url, text, name="", source="paste").json()["id"])
    assert job["state"] == "done" and [r["id"] for r in job["rows"]] == ["seq1", "seq2"]
    assert job["name"] == "pasted sequences"


def test_iupac_codes_are_normalised_not_rejected(served, client):
    record = dict(sample_records()[0])
    seq = record["sequence"]
    record["sequence"] = seq[:100] + "RYK" + seq[103:300].lower() + "-" + seq[301:]
    job = wait_for_job(client, served.url, upload(client, served.url, fasta([record])).json()["id"])
    assert job["state"] == "done" and not job["rejects"]
    assert "4 IUPAC code(s)/gap(s) became N in 1 record(s)" in job["summary"]


def _still_serving(served, client) -> None:
    assert client.get(f"{served.url}/api/info").json()["model"] == "coi-insect"


BAD_UPLOADS = {
    "empty": (b"", 400, "empty"),
    "binary": (bytes(range(256)) * 40, 422, "not a text barcode file"),
    "not DNA": (
        b">p1\nMKVLAAGIVALLLAAGCSSQEEPQRRHH\n>p2\nMSTNPKPQRKTKRNTNRRPQDVKFPGGQIVGG\n",
        422,
        "no usable barcode",
    ),
    "FASTQ": (b"@read1\nACGT\n+\nIIII\n", 422, "FASTQ"),
    "truncated gzip": (gzip.compress(fasta(sample_records()).encode())[:600], 400, "corrupt or truncated"),
    "oversize": (b">big\n" + b"ACGT" * (5 * 2**20 + 1), 413, "larger than this server's limit of 20 MB"),
    "oversize once decompressed": (gzip.compress(b">big\n" + b"A" * (21 * 2**20)), 413, "once decompressed"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_get_a_clear_message_and_the_server_keeps_running(served, client, case):
    body, status, words = BAD_UPLOADS[case]
    answer = upload(client, served.url, body, name=f"{case}.fa")
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert str(served.app.state.temp_root) not in answer.text  # never the server's own paths
    if case == "not DNA":  # every record is listed with its reason
        assert [r["reason"] for r in answer.json()["rejects"]] == ["invalid_character"] * 2
    _still_serving(served, client)


def test_the_queue_is_free_again_after_bad_uploads(served, client):
    queue = served.app.state.queue
    assert queue._reserved == 0 and not queue._waiting


def test_unknown_job_bad_cutoff_foreign_host_and_paths_are_refused(served, client, finished):
    _, job = finished
    assert client.get(f"{served.url}/api/jobs/nope").status_code == 404
    assert client.get(f"{served.url}/api/jobs/{job['id']}/table.tsv", params={"min_prob": "2"}).status_code == 400
    assert client.get(f"{served.url}/api/jobs/{job['id']}/table.tsv", params={"min_prob": "x"}).status_code == 400
    # DNS rebinding: a page of another site that resolves its name to 127.0.0.1 gets nothing.
    assert client.get(f"{served.url}/api/info", headers={"Host": "evil.example:80"}).status_code == 400
    assert client.get(f"{served.url}/api/info", headers={"Host": "localhost:8000"}).status_code == 200
    for path in ("/static/app.py", "/static/..%2F..%2Fcli.py", "/static/%2e%2e/app.py", "/etc/passwd"):
        answer = client.get(served.url + path)
        assert answer.status_code == 404, path
    page = client.get(served.url + "/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
