"""``barcodefm finetune``: species classification (or, with ``--task taxonomy``, BarcodeMamba+
multi-rank taxonomy) from a pretrained barcode model (or from scratch), optionally with LoRA
adapters, on the Hugging Face Trainer."""

from __future__ import annotations

NAME = "finetune"
HELP = "fine-tune a pretrained barcode model to classify species or every taxonomic rank (labels from the train split)"


def add_arguments(parser) -> None:
    import argparse

    from ..trainers.cli_options import add_training_flags, comma_floats, comma_list
    from ..trainers.options import TASK_NAMES, FinetuneOptions

    d = FinetuneOptions()
    parser.add_argument(
        "model",
        nargs="?",
        metavar="MODEL_DIR",
        help="pretrained model folder (from `barcodefm pretrain`, `convert` or the Hub)",
    )
    parser.add_argument(
        "--from-scratch", action="store_true", help="no pretrained model: a new one of the size flags' size"
    )
    parser.add_argument("--task", default=d.task, choices=TASK_NAMES, help=f"what to predict (default {d.task})")
    parser.add_argument(
        "--label-column", default=d.label_column, help=f"label column of the data (default {d.label_column})"
    )
    parser.add_argument(
        "--pooling",
        choices=("mean", "last", "mean_all"),
        default=d.pooling,
        help="how token states become the classifier's input (default: the model's, mean); "
        "'last' (the causal model's final state) learned species faster from char tokens here",
    )
    parser.add_argument(
        "--train-split",
        dest="train_splits",
        type=comma_list,
        default=d.train_splits,
        metavar="S1,S2",
        help="splits trained on; the label map comes from these only (default train)",
    )
    parser.add_argument(
        "--eval-split",
        dest="eval_splits",
        type=comma_list,
        default=d.eval_splits,
        metavar="S1,S2",
        help="splits evaluated during and after training (default val; 'none')",
    )
    parser.add_argument(
        "--test-split",
        dest="test_splits",
        type=comma_list,
        default=d.test_splits,
        metavar="S1,S2",
        help="splits evaluated after training (default test; 'none')",
    )
    parser.add_argument(
        "--no-predictions", dest="save_predictions", action="store_false", help="do not write predictions_<split>.tsv"
    )
    taxonomy = parser.add_argument_group(
        "taxonomy (--task taxonomy: BarcodeMamba+, one head per rank; tip: train on "
        "--train-split train,train_singleton,train_no_species, singletons help the higher ranks)"
    )
    taxonomy.add_argument(
        "--ranks",
        type=comma_list,
        default=d.ranks,
        metavar="R1,R2",
        help="rank columns to predict, e.g. phylum,class,order,family,genus,species "
        "(default: every rank with at least 2 labels in the training split)",
    )
    taxonomy.add_argument(
        "--hls",
        action=argparse.BooleanOptionalAction,
        default=d.hls,
        help="hierarchical label smoothing, 0.02 per rank above the last (default on)",
    )
    taxonomy.add_argument(
        "--class-weight-strength",
        type=float,
        default=d.class_weight_strength,
        metavar="A",
        help=f"class weights n_c^-A in the loss; 0 = unweighted (default {d.class_weight_strength:g})",
    )
    taxonomy.add_argument(
        "--rank-weights",
        type=comma_floats,
        default=d.rank_weights,
        metavar="W1,W2",
        help="one factor per rank in the total loss (default 1 each)",
    )
    lora = parser.add_argument_group("LoRA (PEFT)")
    lora.add_argument(
        "--lora",
        action="store_true",
        help="train LoRA adapters + the classifier head only; the saved model has them merged",
    )
    lora.add_argument("--lora-r", type=int, default=d.lora_r, help=f"adapter rank (default {d.lora_r})")
    lora.add_argument("--lora-alpha", type=int, default=d.lora_alpha, help=f"(default {d.lora_alpha})")
    lora.add_argument("--lora-dropout", type=float, default=d.lora_dropout, help=f"(default {d.lora_dropout:g})")
    lora.add_argument(
        "--lora-targets",
        type=comma_list,
        default=d.lora_targets,
        metavar="M1,M2",
        help="layer names to adapt (default: in_proj and the MLP's fc1,fc2); out_proj/conv1d are refused",
    )
    add_training_flags(parser, d)


def run(args) -> int:
    from ..trainers.cli_options import options_from_args
    from ..trainers.distributed import finish_distributed, is_main_process
    from ..trainers.finetuning import run_finetuning
    from ..trainers.options import FinetuneOptions
    from ..trainers.summary import finetune_summary

    options = options_from_args(args, FinetuneOptions)
    try:  # bad options/data raise ValueError: the CLI prints them as one line
        results = run_finetuning(options)
        main = is_main_process()
    finally:
        finish_distributed()
    if main:  # a few lines; every metric is in the run folder's eval_results.json
        print(finetune_summary(results, options.output))
    return 0
