"""The web application of ``barcodefm serve``: a page and a small JSON API (Starlette).

Routes (none takes a path on the machine; ``{job}`` is a random job id):

- ``GET /``, ``/static/app.js``, ``/static/style.css``: the page (package data, fixed names);
- ``GET /api/info``: the model, its ranks, the upload limit, how the map is made;
- ``GET /api/reference-map``: the reference points of the map (computed once, at start-up);
- ``POST /api/jobs?name=&source=file|paste&format=&marker=``: the body is the file (or the pasted
  text) itself, sent as ``application/octet-stream``; answers 202 ``{"id"}``, or an error
  ``{"error", "rejects"}``: 400 (empty, corrupt), 408 (the upload stalled), 413 (over the limit),
  422 (not barcodes: nothing usable), 503 (the queue is full: retry);
- ``GET /api/jobs/{job}``: state, progress, rejected records, and the rows once done;
- ``DELETE /api/jobs/{job}``: cancel;
- ``GET /api/jobs/{job}/table.tsv?min_prob=``: the table, as ``barcodefm classify`` writes it.

Every error is ``{"error": one line}``. Every request passes :class:`RequestGuard` first:

- its ``Host`` header must name this machine (a loopback address or ``localhost``) or the exact
  ``--host`` address, so another web site cannot reach the page through a name of its own (DNS
  rebinding);
- a request that changes something (POST, PUT, PATCH, DELETE) must come from the page itself: an
  ``Origin`` other than the page's own, or a ``Sec-Fetch-Site`` other than ``same-origin``/``none``,
  is refused (403); and a body must be ``application/octet-stream``, which a form or a no-cors fetch
  of another site cannot send without the browser asking this server first (which it refuses);
- every response forbids framing (``frame-ancestors 'none'``) and MIME sniffing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import shutil
import socket
import tempfile
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import results
from .jobs import DONE, Busy, Job, JobQueue
from .uploads import (
    FORMATS,
    UploadError,
    UploadFolder,
    check_decompressed_size,
    check_size,
    clean_name,
    one_line,
    pasted_as_fasta,
    read_upload,
)

logger = logging.getLogger(__name__)

PAGE_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
UPLOAD_CONTENT_TYPE = "application/octet-stream"  # what static/app.js sends (not a form's type)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EVERY_ADDRESS = frozenset({"", "0.0.0.0", "::"})  # --host values that listen on all of them
SECURITY_HEADERS = [
    # Everything the page needs is its own (no inline script or style attribute, the icon a data:
    # URL): no other origin can run code in it, be called by it, or frame it (clickjacking).
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
    (b"x-content-type-options", b"nosniff"),
]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to bind) is this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_host(value: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a ``Host`` header (``name``, ``name:port``, ``[v6]``, ``[v6]:port``), the
    host lower-cased without brackets; None when the header is none of these."""
    value = value.strip().lower()
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket:
            return None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    elif value.count(":") <= 1:  # a bare IPv6 address has more: its port could not be told apart
        host, colon, port = value.partition(":")
        rest = colon + port
    else:
        return None
    if not host:
        return None
    if not rest:
        return host, None
    port = rest[1:]
    if rest[0] != ":" or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        return None
    return host, int(port)


class AllowedHosts:
    """The hosts a request may name: loopback addresses, ``localhost`` and the ``--host`` address;
    listening on every address (``0.0.0.0``, ``::``), any IP address and this machine's name too.
    Never any other name: DNS rebinding needs a name of the attacker's."""

    def __init__(self, bind_host: str):
        bind = bind_host.strip("[]").lower()
        self.every_address = bind in EVERY_ADDRESS
        self.names = {"localhost", bind} - {""}
        if self.every_address:
            self.names.add(socket.gethostname().lower())
        self.addresses = set()
        with contextlib.suppress(ValueError):
            self.addresses.add(ipaddress.ip_address(bind))

    def __contains__(self, host: str) -> bool:
        if host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return address.is_loopback or self.every_address or address in self.addresses


def is_same_origin(origin: str, scheme: str, host: str, port: int | None) -> bool:
    """Whether an ``Origin`` header names the origin a request came to (``scheme://host:port``)."""
    default_port = {"http": 80, "https": 443}.get(scheme)
    try:
        parts = urlsplit(origin)
        origin_port = parts.port
    except ValueError:  # "null", or a malformed port
        return False
    return (
        parts.scheme == scheme
        and (parts.hostname or "") == host
        and (origin_port or default_port) == (port or default_port)
    )


class RequestGuard:
    """Refuse requests that another web site could make through the user's browser (see the
    module's docstring), and add :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app, bind_host: str = "127.0.0.1"):
        self.app = app
        self.state = app.state  # the queue and temporary folder, as on the application
        self.allowed_hosts = AllowedHosts(bind_host)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send_with_headers)
            return
        status, reason, log_detail = refusal
        logger.warning("refused %s %s: %s", scope["method"], scope["path"], log_detail)
        await JSONResponse({"error": reason}, status)(scope, receive, send_with_headers)

    def refusal(self, scope) -> tuple[int, str, str] | None:
        """(status, message for the client, detail for the log) of a refused request; None if fine."""
        headers = Headers(scope=scope)
        host_header = headers.get("host", "")
        host = parse_host(host_header)
        if host is None or host[0] not in self.allowed_hosts:
            return (
                400,
                "invalid Host header: open the page at http://127.0.0.1 (or localhost, or the --host address)",
                f"Host {host_header[:100]!r} names another machine (DNS rebinding?)",
            )
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and not is_same_origin(origin, scope["scheme"], *host):
            return 403, "cross-site request refused: use the page itself", f"Origin {origin[:100]!r}"
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return 403, "cross-site request refused: use the page itself", f"Sec-Fetch-Site {fetch_site[:30]!r}"
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if scope["method"] != "DELETE" and content_type != UPLOAD_CONTENT_TYPE:
            return (
                415,
                f"send the upload as {UPLOAD_CONTENT_TYPE}, as the page does (got {content_type[:60] or 'no type'})",
                f"Content-Type {content_type[:60]!r}",
            )
        return None


async def _http_error(request: Request, exc: HTTPException) -> Response:
    messages = {404: "not found", 405: "method not allowed"}
    message = messages.get(exc.status_code) or one_line(str(exc.detail))
    return JSONResponse({"error": message}, exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the server's log (uvicorn writes it), never to the client.
    return JSONResponse({"error": "the server failed on this request (its log says why)"}, 500)


def _page_file(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def create_app(
    identifier,
    max_upload_mb: float = 20.0,
    queue_size: int = 8,
    marker: str | None = "COI-5P",
    bind_host: str = "127.0.0.1",
    batch_size: int = 64,
    upload_timeout: float = 30.0,
):
    """The application around a loaded :class:`.identifier.Identifier` (or an object with its
    ``describe``, ``reference_map``, ``identify``, ``ranks``, ``has_novelty`` and, optionally,
    ``has_nearest``), guarded by
    :class:`RequestGuard` for requests to ``bind_host`` (the ``--host`` address). An upload that
    sends no byte for ``upload_timeout`` seconds is answered 408."""
    if max_upload_mb <= 0:
        raise ValueError(f"--max-upload-mb must be > 0, got {max_upload_mb}")
    if upload_timeout <= 0:
        raise ValueError(f"--upload-timeout must be > 0, got {upload_timeout}")
    limit = int(max_upload_mb * 2**20)
    temp_root = Path(tempfile.mkdtemp(prefix="barcodefm-serve-"))  # this user's only (mode 0700)
    queue = JobQueue(identifier, max_waiting=queue_size, batch_size=batch_size)
    reference_map = identifier.reference_map()
    info = identifier.describe() | {
        "max_upload_mb": max_upload_mb,
        "queue_size": queue_size,
        "marker": marker or "all",
        "formats": list(FORMATS),
        "novelty": identifier.has_novelty,
    }

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in PAGE_FILES:
            return JSONResponse({"error": "not found"}, 404)
        return Response(_page_file(name), media_type=PAGE_FILES[name], headers={"Cache-Control": "no-cache"})

    async def get_info(request: Request) -> Response:
        return JSONResponse(info)

    async def get_reference_map(request: Request) -> Response:
        return JSONResponse(reference_map)

    async def receive(request: Request, path: Path) -> None:
        """The body into ``path``, under the size limit; 408 when it stalls for ``upload_timeout``."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit():
            check_size(int(declared), limit)  # at once, before reading a byte
        n = 0
        chunks = request.stream()
        with open(path, "wb") as f:
            while True:
                try:
                    chunk = await asyncio.wait_for(anext(chunks), upload_timeout)
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
                    raise UploadError(
                        f"the upload stalled: nothing arrived for {upload_timeout:g} s (send it again)", 408
                    ) from None
                n += len(chunk)
                check_size(n, limit)
                f.write(chunk)
        if n == 0:
            raise UploadError("the upload is empty: no file content or pasted text was received", 400)

    def prepare(path: Path, display: str, pasted: bool, format: str, marker: str | None):
        if pasted:
            text = path.read_bytes().decode("utf-8", errors="replace")
            path.write_text(pasted_as_fasta(text), encoding="utf-8")
        check_decompressed_size(path, limit, display)
        return read_upload(path, display, format=format, marker=marker)

    def busy(exc: Busy) -> Response:
        return JSONResponse({"error": str(exc)}, 503, headers={"Retry-After": "30"})

    async def submit(request: Request) -> Response:
        params = request.query_params
        pasted = params.get("source") == "paste"
        display = (params.get("name") or "").strip()[:200] or ("pasted sequences" if pasted else "upload")
        wanted_marker = (params.get("marker") or info["marker"]).strip()
        try:
            queue.check_room()  # a full queue answers at once, before the body is read
        except Busy as exc:
            return busy(exc)
        try:
            with UploadFolder(temp_root) as folder:
                path = folder.path / clean_name(display, "pasted.fasta" if pasted else "upload")
                await receive(request, path)
                # The place is taken only now: an upload still arriving (or stalled) holds none.
                try:
                    queue.reserve()
                except Busy as exc:
                    return busy(exc)
                try:
                    records, rejects, summary = await run_in_threadpool(
                        prepare,
                        path,
                        display,
                        pasted,
                        params.get("format", "auto"),
                        None if wanted_marker.lower() == "all" else wanted_marker,
                    )
                except BaseException:
                    queue.release()
                    raise
        except UploadError as exc:
            # A stalled client gets its answer and the connection closes (else it would be kept
            # open for a body that never comes). Other refusals let the server read the rest of the
            # body and discard it: closing with unread bytes would reset the connection and lose
            # the answer.
            headers = {"Connection": "close"} if exc.status == 408 else {}
            return JSONResponse({"error": str(exc), "rejects": exc.rejects}, exc.status, headers=headers)
        except ClientDisconnect:  # the user cancelled the upload: nobody reads this answer
            return JSONResponse({"error": "the upload was cut off"}, 400)
        job = queue.submit(Job(name=display, records=records, rejects=rejects, summary=summary))
        logger.info("job %s: %s, %d records queued", job.id[:6], display, job.total)
        return JSONResponse({"id": job.id, "total": job.total}, 202)

    def find(request: Request) -> Job:
        job = queue.get(request.path_params["job"])
        if job is None:
            raise UploadError("no such job: it was never submitted, or it finished over an hour ago", 404)
        return job

    async def status(request: Request) -> Response:
        try:
            job = find(request)
        except UploadError as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        body = {
            "id": job.id,
            "name": job.name,
            "state": job.state,
            "done": job.done,
            "total": job.total,
            "position": queue.position(job),
            "summary": job.summary,
            "rejects": job.rejects,
            "error": job.error,
        }
        if job.state == DONE:
            body |= {"rows": job.rows, "seconds": job.seconds}
        return JSONResponse(body)

    async def cancel(request: Request) -> Response:
        job = queue.cancel(request.path_params["job"])
        if job is None:
            return JSONResponse({"error": "no such job"}, 404)
        return JSONResponse({"id": job.id, "state": job.state})

    async def table(request: Request) -> Response:
        try:
            job = find(request)
            min_prob = results.parse_min_prob(request.query_params.get("min_prob"))
        except UploadError as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        except ValueError as exc:
            return JSONResponse({"error": one_line(f"min_prob: {exc}")}, 400)
        if job.state != DONE:
            return JSONResponse({"error": f"the job is {job.state}: no table"}, 409)
        text = results.table_tsv(
            job.rows,
            identifier.ranks,
            min_prob,
            identifier.has_novelty,
            identifier.profile is not None,
            getattr(identifier, "has_nearest", False),  # a stand-in without a reference set has none
        )
        stem = clean_name(job.name, "barcodes").split(".")[0] or "barcodes"
        return Response(
            text,
            media_type="text/tab-separated-values; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}_calls.tsv"'},
        )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        queue.close()
        shutil.rmtree(temp_root, ignore_errors=True)

    routes = [
        Route("/", page),
        Route("/static/{name}", page),
        Route("/api/info", get_info),
        Route("/api/reference-map", get_reference_map),
        Route("/api/jobs", submit, methods=["POST"]),
        Route("/api/jobs/{job}", status, methods=["GET"]),
        Route("/api/jobs/{job}", cancel, methods=["DELETE"]),
        Route("/api/jobs/{job}/table.tsv", table),
    ]
    errors = {HTTPException: _http_error, Exception: _server_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=errors)
    app.state.queue = queue
    app.state.temp_root = temp_root
    return RequestGuard(app, bind_host)
