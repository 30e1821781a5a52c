"""What the serve tests share: the page served with the bundled coi-insect model (started once per
test process, whichever test module asks first), real barcodes to upload, and a job poller."""

from __future__ import annotations

import atexit
import socket
import threading
import time
from types import SimpleNamespace

import pytest

pytest.importorskip("starlette", reason="barcodefm serve needs the serve extra: pip install -e '.[serve]'")
pytest.importorskip("uvicorn", reason="barcodefm serve needs the serve extra: pip install -e '.[serve]'")
httpx = pytest.importorskip("httpx", reason="the serve tests talk to the server with httpx (dev extra)")

_bundled = None


def start_server(app, host: str = "127.0.0.1") -> SimpleNamespace:
    """Run ``app`` with uvicorn in a thread, on a free port of ``host`` (an IPv4 or IPv6 loopback
    address); ``.url``, ``.port``, ``.stop()``."""
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(15)
        sock.close()

    shown = f"[{host}]" if ":" in host else host
    return SimpleNamespace(url=f"http://{shown}:{port}", port=port, app=app, server=server, thread=thread, stop=stop)


def bundled_server() -> SimpleNamespace:
    """The page with the bundled coi-insect model and the default limits (loaded once per process)."""
    global _bundled
    if _bundled is None:
        from barcodefm.serve.app import create_app
        from barcodefm.serve.identifier import Identifier

        identifier = Identifier("coi-insect", device="cpu")
        _bundled = start_server(create_app(identifier))
        _bundled.identifier = identifier
        atexit.register(_bundled.stop)
    return _bundled


def sample_records() -> list[dict]:
    """Real COI barcodes of the bundled sample: 3 test-split records of each order and one of a species
    never seen in training per order (they should come out as likely novel)."""
    from barcodefm.data import iter_barcodes, sample_path

    picked, counts = [], {}
    for record in iter_barcodes(sample_path("coi")):
        key = (record["split"], record["order"])
        wanted = {"test": 3, "unseen_query": 1}.get(record["split"], 0)
        if counts.get(key, 0) < wanted:
            counts[key] = counts.get(key, 0) + 1
            picked.append(record)
    return picked


def all_sample_records() -> list[dict]:
    from barcodefm.data import iter_barcodes, sample_path

    return list(iter_barcodes(sample_path("coi")))


# Records the readers reject (with these reasons); the good ones around them are still identified.
BAD_RECORDS = {
    "too_short_read": ("ACGTACGTAC", "too_short"),
    "a_protein": ("MKVLAAGIVALLLAAGCSSQEEPQRRHHLLE", "invalid_character"),
    "all_n": ("NNNNNNNNNNNNNNNNNNNNNNNNNNNNNN", "no_bases"),
}


def fasta(records, bad: dict | None = None) -> str:
    """FASTA of ``records`` (whole sequences, their ids), then the ``bad`` ones."""
    text = "".join(f">{r['id']}\n{r['sequence']}\n" for r in records)
    return text + "".join(f">{name}\n{seq}\n" for name, (seq, _) in (bad or {}).items())


def wait_for_job(client, url: str, job_id: str, timeout: float = 120.0) -> dict:
    """Poll a job until it is no longer queued or running; its last status."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"{url}/api/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['state']} after {timeout} s")
        time.sleep(0.1)


def upload(client, url: str, body: bytes | str, name: str = "queries.fasta", headers: dict | None = None, **params):
    """POST ``body`` as the page does (raw bytes, ``application/octet-stream``)."""
    data = body.encode() if isinstance(body, str) else body
    headers = {"Content-Type": "application/octet-stream", **(headers or {})}
    return client.post(f"{url}/api/jobs", params={"name": name, **params}, content=data, headers=headers)


GOOD = ">a\n" + "ACGT" * 40 + "\n>b\n" + "TTGCA" * 40 + "\n"


class SlowIdentifier:
    """A stand-in model (no weights): names every record "X" at each rank, one batch per ``step``
    release (or at once, once ``open`` is set); ``fail_next`` (a message) makes the next job fail."""

    ranks = ["genus", "species"]
    has_novelty = False
    profile = None  # no reference barcodes: no strand or marker columns

    def __init__(self):
        self.step = threading.Semaphore(0)
        self.open = threading.Event()
        self.fail_next: str | None = None

    def describe(self):
        return {"model": "stand-in", "ranks": self.ranks, "references": 0, "map_method": None}

    def reference_map(self):
        return None

    def identify(self, records, batch_size=64, on_batch=None, cancelled=None):
        from barcodefm.serve.identifier import Cancelled

        if self.fail_next:
            message, self.fail_next = self.fail_next, None
            raise RuntimeError(message)
        rows = []
        for start in range(0, len(records), batch_size):
            while not self.open.is_set() and not self.step.acquire(timeout=0.02):
                if cancelled():
                    raise Cancelled
            if cancelled():
                raise Cancelled
            for r in records[start : start + batch_size]:
                rows.append({"id": r["id"], "labels": ["X", "X y"], "probs": [1.0, 0.5], "inconsistent": []})
            on_batch(len(rows))
        return rows
