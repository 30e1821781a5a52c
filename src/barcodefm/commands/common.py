"""What several commands share (not a command itself: ``cli.COMMAND_MODULES`` does not list it):
the run of a training command, the ``--trust-remote-code`` flag of the commands that load a model,
and the options and report line of the commands that read a barcode file batch by batch."""

from __future__ import annotations

TRUST_REMOTE_CODE_HELP = (
    "let a model folder (or Hub id) that is not a barcodefm model run the Python code it carries: "
    "only for folders you trust (barcodefm's own always load with the installed code)"
)


def add_trust_remote_code(parser) -> None:
    """``--trust-remote-code`` of ``classify``, ``embed`` and ``probe``."""
    parser.add_argument("--trust-remote-code", action="store_true", help=TRUST_REMOTE_CODE_HELP)


def add_input_file_flags(parser) -> None:
    """``--format``, ``--marker`` and ``--rejects``: how ``classify`` and ``embed`` read a barcode file."""
    parser.add_argument(
        "--format",
        default="auto",
        help="input format: auto (default: sniffed from the first lines), fasta, tsv (BOLD, BCDM, the "
        "shared tables) or csv (BIOSCAN)",
    )
    parser.add_argument(
        "--marker", default="COI-5P", help="BOLD marker to keep (default COI-5P; 'all' keeps every marker)"
    )
    parser.add_argument(
        "--rejects",
        default=None,
        help="write the skipped records (id, reason, record number, detail) to this TSV; like the output it is "
        "never the input or another output, and an existing file needs --overwrite, or --resume (the resumed run "
        "reads the input from its start again and rewrites the file whole); an existing file is replaced only "
        "when the input has been read to its end",
    )


def run_training(args, options_class, train, summarize) -> int:
    """``pretrain`` / ``finetune``: ``train(options)`` on every process (one, or those of a
    ``torchrun`` / ``accelerate launch``); the main process prints ``summarize(results, output)``."""
    from ..trainers.cli_options import options_from_args
    from ..trainers.distributed import finish_distributed, is_main_process

    options = options_from_args(args, options_class)
    try:  # bad options/data raise ValueError: the CLI prints them as one line
        results = train(options)
        main = is_main_process()
    finally:
        finish_distributed()
    if main:  # a few lines; every metric is in the run folder's eval_results.json
        print(summarize(results, options.output))
    return 0


def file_run_options(args) -> dict:
    """The keywords of ``classify_file`` / ``embed_file`` that ``classify`` and ``embed`` fill
    from flags of the same names."""
    return dict(
        batch_size=args.batch_size,
        resume=args.resume,
        overwrite=args.overwrite,
        device=args.device,
        format=args.format,
        marker=None if args.marker == "all" else args.marker,
        rejects_path=args.rejects,
        trust_remote_code=args.trust_remote_code,
    )


def skipped_records_note(summary: dict) -> str:
    """``"; skipped N bad records"`` for a run that skipped some input records, else ``""``."""
    n = summary["skipped_records"]
    return f"; skipped {n} bad records" if n else ""
