"""barcodefm embed MODEL_DIR INPUT -o OUT.{npy,parquet}"""

from __future__ import annotations

NAME = "embed"
HELP = "embed the barcodes of a FASTA/TSV/CSV file with a saved model (ids + vectors out)"


def add_arguments(p):
    from ..trainers.options import POOLINGS
    from .common import add_input_file_flags, add_trust_remote_code

    p.add_argument(
        "model_dir",
        help="a bundled model (coi-insect, its-fungi), a saved barcodefm model folder "
        "(or an embedding backbone) or a Hub id",
    )
    p.add_argument("input", help="FASTA, BOLD TSV, BIOSCAN CSV or shared TSV (.gz fine)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="OUT.npy (+ OUT.ids.txt, ids spreadsheet-safe) or OUT.parquet (ids as read); never the input",
    )
    p.add_argument("--pooling", choices=POOLINGS, default=None, help="default: the model's")
    p.add_argument(
        "--batch-size", type=int, default=64, help="barcodes per forward pass (default 64; results do not depend on it)"
    )
    p.add_argument("--max-length", type=int, default=None, help="truncate to this many tokens")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (Ctrl-C, a kill, a read error) from OUT.partial/, after the records it wrote",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output (and drop an OUT.partial/): the old files stay until the new ones are "
        "whole, and are then renamed over",
    )
    add_input_file_flags(p)
    p.add_argument(
        "--shard-size",
        type=int,
        default=None,
        help="under torchrun / accelerate launch: records per finished shard, each process embedding its own "
        "(default 4096; a killed run continues with --resume)",
    )
    add_trust_remote_code(p)


def run(args) -> int:
    import os

    from ..inference import embed_file
    from ..registry import resolve_model
    from .common import file_run_options, skipped_records_note

    summary = embed_file(
        resolve_model(args.model_dir),
        args.input,
        args.output,
        pooling=args.pooling,
        max_length=args.max_length,
        shard_size=args.shard_size,
        **file_run_options(args),
    )
    if summary.get("processes", 1) > 1 and os.environ.get("RANK", "0") != "0":
        return 0  # one line for the run, from its first process
    print(
        f"embedded {summary['embedded']} barcodes ({summary['dim']} dims) -> {args.output}"
        + skipped_records_note(summary)
    )
    return 0
