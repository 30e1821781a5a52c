"""``barcodefm pretrain``: self-supervised pretraining on the Hugging Face Trainer.

Runs unchanged in one process or data-parallel under ``torchrun --nproc_per_node N`` /
``accelerate launch`` (see README, "Training on several GPUs or machines").
"""

from __future__ import annotations

NAME = "pretrain"
HELP = "pretrain a barcode model (next-token or masked prediction) on unlabelled barcodes"


def add_arguments(parser) -> None:
    from ..trainers.cli_options import add_training_flags, comma_list
    from ..trainers.options import PretrainOptions

    d = PretrainOptions()
    parser.add_argument(
        "--objective",
        default=d.objective,
        help="BarcodeMamba: ntp (next-token, published) or mlm (published 50%% masking); "
        "default: the family's first (ntp)",
    )
    parser.add_argument(
        "--mlm-probability",
        type=float,
        default=d.mlm_probability,
        help=f"share of positions masked by --objective mlm (default {d.mlm_probability:g})",
    )
    parser.add_argument(
        "--splits",
        type=comma_list,
        default=d.splits,
        metavar="S1,S2",
        help="splits to pretrain on when the data has a split column (default train,pretrain_only)",
    )
    parser.add_argument(
        "--eval-split",
        dest="eval_splits",
        type=comma_list,
        default=d.eval_splits,
        metavar="S1,S2",
        help="splits evaluated (loss; perplexity for ntp); 'none' for no evaluation (default val)",
    )
    add_training_flags(parser, d)


def run(args) -> int:
    from ..trainers.cli_options import options_from_args
    from ..trainers.distributed import finish_distributed, is_main_process
    from ..trainers.options import PretrainOptions
    from ..trainers.pretraining import run_pretraining
    from ..trainers.summary import pretrain_summary

    options = options_from_args(args, PretrainOptions)
    try:  # bad options/data raise ValueError: the CLI prints them as one line
        results = run_pretraining(options)
        main = is_main_process()
    finally:
        finish_distributed()
    if main:  # a few lines; every metric is in the run folder's eval_results.json
        print(pretrain_summary(results, options.output))
    return 0
