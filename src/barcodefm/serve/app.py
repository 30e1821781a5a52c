"""The web application of ``barcodefm serve``: a page and a small JSON API (Starlette).

Routes (none takes a path on the machine; ``{job}`` is a random job id):

- ``GET /``, ``/static/app.js``, ``/static/style.css``: the page (package data, fixed names);
- ``GET /api/info``: the model, its ranks, the upload limit, how the map is made;
- ``GET /api/reference-map``: the reference points of the map (computed once, at start-up);
- ``POST /api/jobs?name=&source=file|paste&format=&marker=``: the body is the file (or the pasted
  text) itself; answers 202 ``{"id"}``, or an error ``{"error", "rejects"}``: 400 (empty, corrupt),
  413 (over the limit), 422 (not barcodes: nothing usable), 503 (the queue is full: retry);
- ``GET /api/jobs/{job}``: state, progress, rejected records, and the rows once done;
- ``DELETE /api/jobs/{job}``: cancel;
- ``GET /api/jobs/{job}/table.tsv?min_prob=``: the table, as ``barcodefm classify`` writes it.

Served on a loopback address, requests must name a loopback host (``localhost``, ``127.0.0.1``,
``[::1]``): another web site cannot reach the page through a name of its own (DNS rebinding).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
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
    pasted_as_fasta,
    read_upload,
)

logger = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
PAGE_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
PAGE_HEADERS = {
    # Everything the page needs is its own: no other origin can run code in it or be called by it.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to bind) is this machine only."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LoopbackHostsOnly:
    """Answer 400 to requests whose ``Host`` header names anything but this machine."""

    def __init__(self, app):
        self.app = app
        self.state = app.state  # the queue and temporary folder, as on the application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            name = host if host.endswith("]") or host.count(":") > 1 else host.rsplit(":", 1)[0]
            if name.strip("[]") not in LOOPBACK_NAMES and not name.startswith("127."):
                await PlainTextResponse("invalid host: open the page at http://127.0.0.1", 400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _page_file(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def create_app(
    identifier,
    max_upload_mb: float = 20.0,
    queue_size: int = 8,
    marker: str | None = "COI-5P",
    loopback: bool = True,
    batch_size: int = 64,
):
    """The application around a loaded :class:`.identifier.Identifier` (or an object with its
    ``describe``, ``reference_map``, ``identify``, ``ranks`` and ``has_novelty``)."""
    if max_upload_mb <= 0:
        raise ValueError(f"--max-upload-mb must be > 0, got {max_upload_mb}")
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
            return PlainTextResponse("not found", 404)
        return Response(_page_file(name), media_type=PAGE_FILES[name], headers=PAGE_HEADERS)

    async def get_info(request: Request) -> Response:
        return JSONResponse(info)

    async def get_reference_map(request: Request) -> Response:
        return JSONResponse(reference_map)

    async def receive(request: Request, path: Path) -> None:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit():
            check_size(int(declared), limit)  # at once, before reading a byte
        n = 0
        with open(path, "wb") as f:
            async for chunk in request.stream():
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

    async def submit(request: Request) -> Response:
        params = request.query_params
        pasted = params.get("source") == "paste"
        display = (params.get("name") or "").strip()[:200] or ("pasted sequences" if pasted else "upload")
        wanted_marker = (params.get("marker") or info["marker"]).strip()
        try:
            queue.reserve()  # before reading the body: a full queue costs no memory
        except Busy as exc:
            return JSONResponse({"error": str(exc)}, 503, headers={"Retry-After": "30"})
        try:
            with UploadFolder(temp_root) as folder:
                path = folder.path / clean_name(display, "pasted.fasta" if pasted else "upload")
                await receive(request, path)
                records, rejects, summary = await run_in_threadpool(
                    prepare,
                    path,
                    display,
                    pasted,
                    params.get("format", "auto"),
                    None if wanted_marker.lower() == "all" else wanted_marker,
                )
        except UploadError as exc:
            queue.release()
            return JSONResponse({"error": str(exc), "rejects": exc.rejects}, exc.status)
        except ClientDisconnect:  # the user cancelled the upload
            queue.release()
            return Response(status_code=400)
        except BaseException:
            queue.release()
            raise
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
            return JSONResponse({"error": f"min_prob: {exc}"}, 400)
        if job.state != DONE:
            return JSONResponse({"error": f"the job is {job.state}: no table"}, 409)
        text = results.table_tsv(job.rows, identifier.ranks, min_prob, identifier.has_novelty)
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
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.queue = queue
    app.state.temp_root = temp_root
    return LoopbackHostsOnly(app) if loopback else app
