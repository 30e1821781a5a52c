"""barcodefm serve [--model coi-insect|its-fungi|FOLDER|HUB_ID] [--port 8000] [--host 127.0.0.1]"""

from __future__ import annotations

import logging

NAME = "serve"
HELP = (
    "identify barcodes on a local web page: paste or upload FASTA/TSV/CSV, get the per-rank table, the "
    "nearest training references, a map and a TSV download (needs the serve extra: pip install 'barcodefm[serve]')"
)

logger = logging.getLogger(__name__)


def add_arguments(p):
    from .common import add_trust_remote_code

    p.add_argument(
        "--model",
        default="coi-insect",
        help="a bundled model (coi-insect, the default, or its-fungi), a taxonomic classifier folder "
        "(barcodefm finetune --task taxonomy) or a Hub id; loaded once, at start-up",
    )
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only). Any other address lets other "
        "machines use the page, and run the model, without a password",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=20.0,
        help="largest upload, in MB of sequence text (a compressed file counts at its decompressed size; "
        "default 20, about 30,000 COI barcodes)",
    )
    p.add_argument(
        "--queue-size",
        type=int,
        default=8,
        help="uploads that may wait for the model while it names another (default 8); more are answered 'busy, retry'",
    )
    p.add_argument(
        "--upload-timeout",
        type=float,
        default=30.0,
        help="seconds an upload may send nothing before it is refused (default 30); it holds no queue place meanwhile",
    )
    p.add_argument("--marker", default="COI-5P", help="BOLD marker kept from tables (default COI-5P; 'all' keeps all)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_trust_remote_code(p)


def run(args) -> int:
    from ..cli import UserError

    try:  # the web libraries are an extra: the core install stays lean
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise UserError(f"serve needs the web extra ({exc.name} is missing): pip install 'barcodefm[serve]'") from None
    from ..registry import resolve_model
    from ..serve.app import create_app, is_loopback
    from ..serve.identifier import Identifier

    if args.max_upload_mb <= 0 or args.queue_size < 1:
        raise UserError("--max-upload-mb must be > 0 and --queue-size >= 1")
    if args.upload_timeout <= 0:
        raise UserError(f"--upload-timeout must be > 0 seconds, got {args.upload_timeout:g}")
    host = args.host.strip("[]")  # "[::1]" as in a URL is the address ::1
    try:
        resolve_model(args.model)  # a typo fails at once, before the libraries load
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    if not is_loopback(host):
        logger.warning(
            "listening on %s, not a loopback address: anyone who can reach this machine on port %d can use "
            "the page and run the model (there is no password); use --host 127.0.0.1 to keep it local",
            host,
            args.port,
        )
    logger.info("loading %s ...", args.model)
    identifier = Identifier(args.model, device=args.device, trust_remote_code=args.trust_remote_code)
    app = create_app(
        identifier,
        max_upload_mb=args.max_upload_mb,
        queue_size=args.queue_size,
        marker=None if args.marker == "all" else args.marker,
        bind_host=host,
        upload_timeout=args.upload_timeout,
    )
    print(f"barcodefm serve: {args.model} ready on {page_url(host, args.port)} (Ctrl+C stops)", flush=True)
    uvicorn.run(app, host=host, port=args.port, log_level="warning")
    return 0


def page_url(host: str, port: int) -> str:
    """The address to open for a server listening on ``host``: on every address, a loopback one;
    an IPv6 address in brackets."""
    shown = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"
