"""barcodefm index build|add|info: a reference index of labelled barcodes for ``classify --index``."""

from __future__ import annotations

NAME = "index"
HELP = "build, extend or describe a reference index (labelled barcodes embedded by a model, searched with FAISS)"


def _add_embedding_options(p) -> None:
    from .common import add_trust_remote_code

    p.add_argument("--batch-size", type=int, default=64, help="barcodes per forward pass (default 64)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: each process's GPU, else cpu)")
    p.add_argument("--format", default="auto", help="reference file format (default: sniffed)")
    p.add_argument("--marker", default="COI-5P", help="BOLD marker to keep ('all' keeps every marker)")
    p.add_argument("--resume", action="store_true", help="continue a killed run after its finished shards")
    p.add_argument(
        "--overwrite", action="store_true", help="start again (build: replace the folder; add: drop a killed add)"
    )
    p.add_argument(
        "--allow-unlabelled",
        action="store_true",
        help="index files without taxonomic labels too (refused by default: their references are found as "
        "neighbours but cannot vote, so they give no per-rank calls)",
    )
    add_trust_remote_code(p)
    p.set_defaults(rejects=None)


def add_arguments(p):
    from ..index.shards import SHARD_SIZE
    from ..index.vector_search import EXACT_BELOW, KINDS

    sub = p.add_subparsers(dest="index_command", metavar="SUBCOMMAND")
    build = sub.add_parser(
        "build",
        help="embed labelled references into a new index folder",
        description="Embed labelled references (FASTA, BOLD TSV, BIOSCAN CSV, shared TSV) with a model into an "
        "index folder. Resumable (--resume); under torchrun / accelerate launch each process embeds its own shards.",
    )
    build.add_argument(
        "--model", required=True, help="a bundled model (coi-insect, its-fungi), a model folder or a Hub id"
    )
    build.add_argument("references", nargs="+", metavar="REFERENCES", help="labelled barcode files")
    build.add_argument("-o", "--output", required=True, help="the index folder to write")
    build.add_argument(
        "--kind",
        choices=KINDS,
        default="auto",
        help="search: flat (exact), hnsw or ivf (approximate); auto (default): exact below --exact-below references, hnsw beyond",
    )
    build.add_argument("--exact-below", type=int, default=EXACT_BELOW, help=f"see --kind (default {EXACT_BELOW:,})")
    build.add_argument(
        "--shard-size", type=int, default=SHARD_SIZE, help=f"records per finished shard (default {SHARD_SIZE})"
    )
    _add_embedding_options(build)
    add = sub.add_parser(
        "add",
        help="append labelled references to an index",
        description="Append labelled references to an index (embedded with its model).",
    )
    add.add_argument("index", help="the index folder")
    add.add_argument("references", nargs="+", metavar="REFERENCES", help="labelled barcode files")
    add.add_argument(
        "--model", default=None, help="the index's model from elsewhere (same weights; default: the one it names)"
    )
    _add_embedding_options(add)
    info = sub.add_parser(
        "info", help="describe an index", description="Describe an index: model, references, ranks, search."
    )
    info.add_argument("index", help="the index folder")
    info.add_argument("--json", action="store_true", help="print index.json as it is")
    p.set_defaults(_parser=p)


def _command_line() -> str:
    import shlex
    import sys

    return shlex.join(["barcodefm", *sys.argv[1:]])


def describe(info: dict) -> str:
    from ..index.card import bases

    search = info["search"]
    params = ", ".join(f"{k}={v}" for k, v in search.items() if k not in ("kind", "metric", "exact_below"))
    lines = [
        f"model: {info['model']} (weights sha256 {info['model_sha256'][:16]}...), {bases(info)}, "
        f"{info['pooling']} pooling",
        f"references: {info['n_references']:,} in {info['n_shards']} shards",
        _ranks_line(info),
        f"search: {search['kind']}" + (f" ({params})" if params else "") + ", cosine similarity",
    ]
    unlabelled = info.get("unlabelled_references")  # absent from indexes built before it was counted
    if unlabelled:
        lines.insert(2, f"unlabelled: {unlabelled:,} references have no label at any rank (found, but do not vote)")
    lines += [f"built by: {c}" for c in info.get("commands", [])]
    return "\n".join(lines)


def _ranks_line(info: dict) -> str:
    if not info["ranks"]:
        return "ranks: none (no labels: nearest references and similarities only, no per-rank calls)"
    n, labelled = info["n_references"], info.get("labelled_per_rank", {})
    return "ranks: " + ", ".join(
        f"{r} ({info['labels_per_rank'][r]:,} labels"
        + (f", {labelled[r]:,} of {n:,} labelled)" if r in labelled else ")")
        for r in info["ranks"]
    )


def run(args) -> int:
    import json

    from ..cli import UserError
    from ..index.processes import process_share
    from ..index.vector_search import require_faiss
    from .common import file_run_options

    common = {}
    if args.index_command in ("build", "add"):  # the options of classify/embed, but no rejects file
        try:  # before any embedding: a missing extra found after an hour of it would cost that hour
            require_faiss()
        except ImportError as exc:
            raise UserError(str(exc)) from None
        common = {k: v for k, v in file_run_options(args).items() if k != "rejects_path"}
        common.update(command=_command_line(), allow_unlabelled=args.allow_unlabelled)
    if args.index_command == "build":
        from ..index import build_index

        info = build_index(
            args.model,
            args.references,
            args.output,
            shard_size=args.shard_size,
            kind=args.kind,
            exact_below=args.exact_below,
            **common,
        )
        where = args.output
    elif args.index_command == "add":
        from ..index import add_to_index

        info = add_to_index(args.index, args.references, model=args.model, **common)
        where = args.index
    elif args.index_command == "info":
        from ..index import load_info

        info = load_info(args.index)
        print(json.dumps(info, indent=1) if args.json else describe(info))
        return 0
    else:
        args._parser.print_help()
        return 2
    if process_share()[0] == 0:
        print(f"index {where}: {info['n_references']:,} references, {info['search']['kind']} search")
    return 0
