"""What another web site, a stalled client or a failing model can do to the page: nothing.

- DNS rebinding: the ``Host`` header must name this machine (a loopback address, ``localhost``) or
  the exact ``--host`` address; ``127.0.0.1.evil.example`` is not ``127.0.0.1``.
- Cross-site requests: a state-changing request from another origin (``Origin``, ``Sec-Fetch-Site``)
  is refused, and uploads must be the raw bytes the page sends (a form cannot send those).
- Every response forbids framing and MIME sniffing.
- An upload that stalls is answered 408 and holds no queue place meanwhile.
- Errors reach the client as one line, never a traceback.
- ``--host ::1`` serves the page at ``http://[::1]:PORT``.

A stand-in model (no weights) serves them all.
"""

from __future__ import annotations

import socket
import time

import pytest
from serve_helpers import GOOD, SlowIdentifier, httpx, start_server, upload, wait_for_job


def _serve(listen: str = "127.0.0.1", **options):
    """The page with a stand-in model, listening on ``listen`` (``bind_host`` is what it checks)."""
    from barcodefm.serve.app import create_app

    identifier = SlowIdentifier()
    identifier.open.set()
    served = start_server(create_app(identifier, **options), host=listen)
    served.identifier = identifier
    return served


@pytest.fixture(scope="module")
def served():
    served = _serve(queue_size=4)
    with httpx.Client(timeout=30) as client:
        served.client = client
        yield served
    served.stop()


def _jobs(served) -> int:
    return len(served.app.state.queue.jobs)


def _info_status(served, host: str) -> int:
    return served.client.get(f"{served.url}/api/info", headers={"Host": host}).status_code


# --- DNS rebinding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1.evil.example",
        "127.0.0.1.evil.example:8000",
        "127.1.2.3.nip.io",
        "localhost.evil.example",
        "evil.example:80",
        "[::1].evil.example",
        "[::1",
        "::1",  # an IPv6 address must be in brackets
        "127.0.0.1:8000:8000",
        "127.0.0.1:port",
        "192.0.2.7:8000",
        "",
    ],
)
def test_a_host_header_naming_another_machine_is_refused(served, host):
    answer = served.client.get(f"{served.url}/api/info", headers={"Host": host})
    assert answer.status_code == 400
    assert "host" in answer.json()["error"].lower() and "\n" not in answer.text


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8000", "127.5.6.7:1234", "localhost", "LocalHost:8000", "[::1]", "[::1]:8000"]
)
def test_loopback_hosts_are_served(served, host):
    assert _info_status(served, host) == 200


def test_the_exact_host_address_is_served_and_no_other():
    served = _serve(bind_host="192.0.2.7")  # the Host header is checked, whatever socket it came to
    try:
        with httpx.Client(timeout=30) as client:
            served.client = client
            assert _info_status(served, "192.0.2.7:8000") == 200
            assert _info_status(served, "127.0.0.1:8000") == 200
            assert _info_status(served, "192.0.2.8:8000") == 400
            assert _info_status(served, "192.0.2.7.evil.example") == 400
    finally:
        served.stop()


def test_listening_on_every_address_serves_addresses_but_not_foreign_names():
    served = _serve(bind_host="0.0.0.0")
    try:
        with httpx.Client(timeout=30) as client:
            served.client = client
            assert _info_status(served, "192.0.2.7:8000") == 200  # any address of this machine
            assert _info_status(served, "[2001:db8::7]:8000") == 200
            assert _info_status(served, f"{socket.gethostname()}:8000") == 200
            assert _info_status(served, "evil.example:8000") == 400  # a name: DNS rebinding
    finally:
        served.stop()


# --- cross-site requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:1"},  # another port is another origin
        {"Origin": "https://127.0.0.1"},
        {"Origin": "null"},  # a sandboxed frame or a file: page
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port of this machine
    ],
)
def test_a_cross_site_upload_is_refused_and_starts_no_job(served, headers):
    before = _jobs(served)
    answer = upload(served.client, served.url, GOOD, headers=headers)
    assert answer.status_code == 403 and "cross-site" in answer.json()["error"]
    assert _jobs(served) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
def test_an_upload_a_form_could_send_is_refused(served, content_type):
    before = _jobs(served)
    headers = {} if content_type is None else {"Content-Type": content_type}
    request = served.client.build_request("POST", f"{served.url}/api/jobs", content=GOOD.encode(), headers=headers)
    if content_type is None:
        request.headers.pop("Content-Type", None)  # httpx sends none for raw bytes anyway
    answer = served.client.send(request)
    assert answer.status_code == 415 and "application/octet-stream" in answer.json()["error"]
    assert _jobs(served) == before


def test_the_page_own_origin_may_upload_and_cancel(served):
    own = {"Origin": served.url, "Sec-Fetch-Site": "same-origin"}
    answer = upload(served.client, served.url, GOOD, headers=own)
    assert answer.status_code == 202, answer.text
    assert upload(served.client, served.url, GOOD, headers={"Sec-Fetch-Site": "none"}).status_code == 202
    job_id = answer.json()["id"]
    assert served.client.delete(f"{served.url}/api/jobs/{job_id}", headers=own).status_code == 200


def test_a_cross_site_cancel_is_refused(served):
    served.identifier.open.clear()  # the job waits: a cancel would show
    try:
        job_id = upload(served.client, served.url, GOOD).json()["id"]
        answer = served.client.delete(f"{served.url}/api/jobs/{job_id}", headers={"Origin": "http://evil.example"})
        assert answer.status_code == 403
        assert served.client.get(f"{served.url}/api/jobs/{job_id}").json()["state"] in ("queued", "running")
    finally:
        served.identifier.open.set()
    assert wait_for_job(served.client, served.url, job_id)["state"] == "done"


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, host",
    [
        ("GET", "/", None),
        ("GET", "/static/app.js", None),
        ("GET", "/api/info", None),
        ("GET", "/api/jobs/nope", None),
        ("GET", "/nowhere", None),
        ("GET", "/api/info", "evil.example"),
        ("POST", "/api/jobs", None),
    ],
)
def test_every_response_forbids_framing_and_sniffing(served, method, path, host):
    headers = {"Host": host} if host else {}
    answer = served.client.request(method, served.url + path, headers=headers)
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"


# --- stalled uploads -----------------------------------------------------------------------------


def _stalled_upload(served) -> socket.socket:
    """An upload that sends its headers and a few bytes of a 100 kB body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=15)
    sock.sendall(
        b"POST /api/jobs?name=stalled.fasta HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{served.port}\r\n".encode()
        + b"Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n>a\nACGTACGT"
    )
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    return received


def test_stalled_uploads_time_out_and_hold_no_queue_place():
    served = _serve(queue_size=2, upload_timeout=1.0)
    try:
        stalled = [_stalled_upload(served) for _ in range(3)]  # more than the queue holds
        time.sleep(0.3)  # their headers are in
        with httpx.Client(timeout=30) as client:
            answer = upload(client, served.url, GOOD)
            assert answer.status_code == 202, answer.text  # the stalled ones hold no place
            start = time.monotonic()
            for sock in stalled:
                reply = _answer(sock)
                assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
                assert b"stalled" in reply
            assert time.monotonic() - start < 10
            assert wait_for_job(client, served.url, answer.json()["id"])["state"] == "done"
        queue = served.app.state.queue
        assert queue._reserved == 0 and not queue._waiting
    finally:
        served.stop()


# --- one-line errors -----------------------------------------------------------------------------


def test_a_failing_model_reports_one_line(served):
    served.identifier.fail_next = (
        'CUDA out of memory.\nTraceback (most recent call last):\n  File "/secret/model.py", line 3'
    )
    failed = wait_for_job(served.client, served.url, upload(served.client, served.url, GOOD).json()["id"])
    assert failed["state"] == "failed"
    assert "CUDA out of memory" in failed["error"] and "\n" not in failed["error"]
    assert "Traceback" not in failed["error"] and "/secret" not in failed["error"]


def test_a_server_error_is_one_line_without_a_traceback(served, monkeypatch):
    from barcodefm.serve import results

    def broken(*args, **kwargs):
        raise RuntimeError('line one\nFile "/secret/results.py", line 2')

    job_id = upload(served.client, served.url, GOOD).json()["id"]
    assert wait_for_job(served.client, served.url, job_id)["state"] == "done"
    monkeypatch.setattr(results, "table_tsv", broken)
    answer = served.client.get(f"{served.url}/api/jobs/{job_id}/table.tsv")
    assert answer.status_code == 500
    assert answer.json()["error"] and "\n" not in answer.text.strip()
    assert "Traceback" not in answer.text and "/secret" not in answer.text


@pytest.mark.parametrize("method, path, status", [("GET", "/nowhere", 404), ("PUT", "/api/jobs", 405)])
def test_unknown_routes_answer_one_line(served, method, path, status):
    headers = {"Content-Type": "application/octet-stream"}
    answer = served.client.request(method, served.url + path, headers=headers, content=b"x")
    assert answer.status_code == status
    assert answer.json()["error"] and "\n" not in answer.text.strip()


# --- IPv6 loopback -------------------------------------------------------------------------------


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_the_page_works_on_the_ipv6_loopback():
    served = _serve(listen="::1", bind_host="::1")
    try:
        assert served.url.startswith("http://[::1]:")
        with httpx.Client(timeout=30) as client:
            assert client.get(served.url + "/").status_code == 200  # Host: [::1]:PORT
            own = {"Origin": served.url, "Sec-Fetch-Site": "same-origin"}
            answer = upload(client, served.url, GOOD, headers=own)
            assert answer.status_code == 202, answer.text
            assert wait_for_job(client, served.url, answer.json()["id"])["state"] == "done"
    finally:
        served.stop()
