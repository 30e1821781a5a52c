"""``barcodefm demo``: pretrain, fine-tune and classify on the real COI sample bundled with the
package, next to a k-mer baseline (about 5 minutes on 2 CPU cores)."""

from __future__ import annotations

NAME = "demo"
HELP = "pretrain + fine-tune a small BarcodeMamba on the bundled COI sample and classify a FASTA"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--output",
        "-o",
        default="barcodefm-demo",
        metavar="DIR",
        help="new or empty folder for the runs, DIR/model, DIR/query.fasta, DIR/predictions.tsv "
        "(default ./barcodefm-demo)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and a few steps: checks the workflow in seconds"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args) -> int:
    from ..trainers.demo import run_demo

    run_demo(args.output, quick=args.quick, seed=args.seed)
    return 0
