"""One worker, a bounded queue: a full queue answers "busy, retry", cancelled and failed jobs free the
worker for the next, and the server keeps answering throughout. A stand-in model makes the timing
deterministic (no weights are loaded here)."""

from __future__ import annotations

import pytest
from serve_helpers import GOOD, SlowIdentifier, httpx, start_server, upload, wait_for_job


@pytest.fixture
def slow():
    from barcodefm.serve.app import create_app

    identifier = SlowIdentifier()
    served = start_server(create_app(identifier, queue_size=2, batch_size=1))
    served.identifier = identifier
    with httpx.Client(timeout=30) as client:
        served.client = client
        yield served
    identifier.open.set()
    served.stop()


def _state(served, job_id):
    return served.client.get(f"{served.url}/api/jobs/{job_id}").json()


def _wait_state(served, job_id, wanted):
    import time

    for _ in range(300):
        job = _state(served, job_id)
        if job["state"] == wanted:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job never {wanted}: {job}")


def test_a_full_queue_answers_busy_and_the_queued_jobs_then_finish(slow):
    c, url = slow.client, slow.url
    ids = [upload(c, url, GOOD).json()["id"]]
    _wait_state(slow, ids[0], "running")  # the worker holds it; two more may wait
    ids += [upload(c, url, GOOD).json()["id"] for _ in range(2)]
    assert _state(slow, ids[2])["position"] == 2
    busy = upload(c, url, GOOD)
    assert busy.status_code == 503 and "busy" in busy.json()["error"] and busy.headers["retry-after"]
    assert c.get(f"{url}/api/info").status_code == 200  # the page still answers
    slow.identifier.open.set()
    for job_id in ids:
        job = wait_for_job(c, url, job_id)
        assert job["state"] == "done" and [r["id"] for r in job["rows"]] == ["a", "b"]
    assert upload(c, url, GOOD).status_code == 202  # room again


def test_cancel_a_running_and_a_queued_job(slow):
    c, url = slow.client, slow.url
    running = upload(c, url, GOOD).json()["id"]
    queued = upload(c, url, GOOD).json()["id"]
    slow.identifier.step.release()  # one of two records done
    assert _wait_state(slow, running, "running")["total"] == 2
    assert c.delete(f"{url}/api/jobs/{queued}").json()["state"] == "cancelled"
    c.delete(f"{url}/api/jobs/{running}")
    assert wait_for_job(c, url, running)["state"] == "cancelled"
    assert c.get(f"{url}/api/jobs/{running}/table.tsv").status_code == 409
    slow.identifier.open.set()
    assert wait_for_job(c, url, upload(c, url, GOOD).json()["id"])["state"] == "done"  # the worker goes on


def test_a_failing_job_reports_and_the_worker_goes_on(slow):
    c, url = slow.client, slow.url
    slow.identifier.open.set()
    slow.identifier.fail_next = "out of memory (simulated)"
    failed = wait_for_job(c, url, upload(c, url, GOOD).json()["id"])
    assert failed["state"] == "failed" and "out of memory (simulated)" in failed["error"]
    assert wait_for_job(c, url, upload(c, url, GOOD).json()["id"])["state"] == "done"


def test_download_applies_the_cutoff_like_classify(slow):
    c, url = slow.client, slow.url
    slow.identifier.open.set()
    job = wait_for_job(c, url, upload(c, url, GOOD).json()["id"])
    lines = c.get(f"{url}/api/jobs/{job['id']}/table.tsv", params={"min_prob": 0.8}).text.splitlines()
    assert lines[0] == "id\tgenus\tgenus_prob\tspecies\tspecies_prob\tconsistent"
    assert lines[1] == "a\tX\t1.0000\t\t\ttrue"  # species below 0.8: blank, as classify --min-prob
    lines = c.get(f"{url}/api/jobs/{job['id']}/table.tsv").text.splitlines()
    assert lines[1] == "a\tX\t1.0000\tX y\t0.5000\ttrue"


def test_cut_at_and_consistency_follow_predict():
    import torch

    from barcodefm.models.taxonomy import predict
    from barcodefm.serve.results import cut_at, row_cells

    spec = {
        "ranks": ["genus", "species"],
        "labels": {"genus": ["A", "B"], "species": ["A a", "B b"]},
        "parents": {"species": {"A a": "A", "B b": "B"}},
    }
    # genus B (p 0.9) with species A a (p 0.7): inconsistent unless the species is cut.
    logits = [torch.log(torch.tensor([[0.1, 0.9]])), torch.log(torch.tensor([[0.7, 0.3]]))]
    for min_prob in (None, 0.5, 0.8, 0.95):
        pred = predict(logits, spec, min_prob=min_prob)[0]
        full = predict(logits, spec)[0]
        probs = [full["probs"]["genus"], full["probs"]["species"]]
        row = {
            "id": "q",
            "labels": ["B", "A a"],
            "probs": probs,
            "inconsistent": [1] if full["inconsistent_ranks"] else [],
        }
        reported = cut_at(probs, min_prob)
        assert [pred["labels"][r] for r in ("genus", "species")] == [
            lab if j < reported else None for j, lab in enumerate(["B", "A a"])
        ]
        assert row_cells(row, min_prob, novelty=False)[-1] == str(pred["consistent"]).lower()


def test_finished_results_are_bounded_in_rows(slow, monkeypatch):
    from barcodefm.serve import jobs

    monkeypatch.setattr(jobs, "KEEP_ROWS", 3)
    c, url = slow.client, slow.url
    slow.identifier.open.set()
    first, second = (wait_for_job(c, url, upload(c, url, GOOD).json()["id"])["id"] for _ in range(2))
    wait_for_job(c, url, upload(c, url, GOOD).json()["id"])  # 4 rows kept > 3: the oldest job goes
    assert c.get(f"{url}/api/jobs/{first}").status_code == 404
    assert c.get(f"{url}/api/jobs/{second}").json()["state"] == "done"


def test_download_neutralises_spreadsheet_formulas(slow):
    import csv
    import io

    c, url = slow.client, slow.url
    slow.identifier.open.set()
    ids = ['=HYPERLINK("http://evil.example","click")', "+1+2", "-2+3", "@SUM(A1:A9)", "plain_id"]
    job = wait_for_job(c, url, upload(c, url, "".join(f">{i}\n{'ACGT' * 40}\n" for i in ids)).json()["id"])
    assert [row["id"] for row in job["rows"]] == ids  # the page shows them as they are
    table = c.get(f"{url}/api/jobs/{job['id']}/table.tsv").text
    cells = [row[0] for row in csv.reader(io.StringIO(table), delimiter="\t")][1:]
    assert cells == ["'" + i for i in ids[:4]] + ["plain_id"]
