"""``barcodefm pretrain``: self-supervised pretraining on the Hugging Face Trainer.

Runs unchanged in one process or data-parallel under ``torchrun --nproc_per_node N`` /
``accelerate launch`` (see README, "Training on several GPUs or machines").
"""

from __future__ import annotations

NAME = "pretrain"
HELP = "pretrain a barcode model (next-token or masked prediction) on unlabelled barcodes"


def add_arguments(parser) -> None:
    from ..trainers.cli_options import add_field_flag, add_list_flag, add_training_flags
    from ..trainers.options import PretrainOptions

    d = PretrainOptions()
    parser.add_argument(
        "--objective",
        default=d.objective,
        help="BarcodeMamba: ntp (next-token, published) or mlm (published 50%% masking); "
        "default: the family's first (ntp)",
    )
    add_field_flag(parser, "--mlm-probability", d, "share of positions masked by --objective mlm")
    add_list_flag(
        parser, "--splits", d, "splits to pretrain on when the data has a split column (default train,pretrain_only)"
    )
    add_list_flag(
        parser,
        "--eval-split",
        d,
        "splits evaluated (loss; perplexity for ntp); 'none' for no evaluation (default val)",
        dest="eval_splits",
    )
    add_training_flags(parser, d)


def run(args) -> int:
    from ..trainers.options import PretrainOptions
    from ..trainers.pretraining import run_pretraining
    from ..trainers.summary import pretrain_summary
    from .common import run_training

    return run_training(args, PretrainOptions, run_pretraining, pretrain_summary)
