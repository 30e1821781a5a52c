"""``barcodefm finetune``: species classification (or, with ``--task taxonomy``, BarcodeMamba+
multi-rank taxonomy) from a pretrained barcode model (or from scratch), optionally with LoRA
adapters, on the Hugging Face Trainer."""

from __future__ import annotations

NAME = "finetune"
HELP = "fine-tune a pretrained barcode model to classify species or every taxonomic rank (labels from the train split)"


def add_arguments(parser) -> None:
    import argparse

    from ..trainers.cli_options import add_field_flag, add_list_flag, add_training_flags, comma_floats
    from ..trainers.options import POOLINGS, TASK_NAMES, FinetuneOptions

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
    add_field_flag(parser, "--task", d, "what to predict", choices=TASK_NAMES)
    add_field_flag(parser, "--label-column", d, "label column of the data")
    parser.add_argument(
        "--pooling",
        choices=POOLINGS,
        default=d.pooling,
        help="how token states become the classifier's input (default: the model's, mean); "
        "'last' (the causal model's final state) learned species faster from char tokens here",
    )
    add_list_flag(
        parser,
        "--train-split",
        d,
        "splits trained on; the label map comes from these only (default train)",
        dest="train_splits",
    )
    add_list_flag(
        parser,
        "--eval-split",
        d,
        "splits evaluated during and after training (default val; 'none')",
        dest="eval_splits",
    )
    add_list_flag(
        parser, "--test-split", d, "splits evaluated after training (default test; 'none')", dest="test_splits"
    )
    parser.add_argument(
        "--no-predictions", dest="save_predictions", action="store_false", help="do not write predictions_<split>.tsv"
    )
    taxonomy = parser.add_argument_group(
        "taxonomy (--task taxonomy: BarcodeMamba+, one head per rank; tip: train on "
        "--train-split train,train_singleton,train_no_species, singletons help the higher ranks)"
    )
    add_list_flag(
        taxonomy,
        "--ranks",
        d,
        "rank columns to predict, e.g. phylum,class,order,family,genus,species "
        "(default: every rank with at least 2 labels in the training split)",
        metavar="R1,R2",
    )
    taxonomy.add_argument(
        "--hls",
        action=argparse.BooleanOptionalAction,
        default=d.hls,
        help="hierarchical label smoothing, 0.02 per rank above the last (default on)",
    )
    add_field_flag(
        taxonomy, "--class-weight-strength", d, "class weights n_c^-A in the loss; 0 = unweighted", metavar="A"
    )
    add_list_flag(
        taxonomy,
        "--rank-weights",
        d,
        "one factor per rank in the total loss (default 1 each)",
        metavar="W1,W2",
        parse=comma_floats,
    )
    lora = parser.add_argument_group("LoRA (PEFT)")
    lora.add_argument(
        "--lora",
        action="store_true",
        help="train LoRA adapters + the classifier head only; the saved model has them merged",
    )
    add_field_flag(lora, "--lora-r", d, "adapter rank")
    add_field_flag(lora, "--lora-alpha", d, "")
    add_field_flag(lora, "--lora-dropout", d, "")
    add_list_flag(
        lora,
        "--lora-targets",
        d,
        "layer names to adapt (default: in_proj and the MLP's fc1,fc2); out_proj/conv1d are refused",
        metavar="M1,M2",
    )
    add_training_flags(parser, d)


def run(args) -> int:
    from ..trainers.finetuning import run_finetuning
    from ..trainers.options import FinetuneOptions
    from ..trainers.summary import finetune_summary
    from .common import run_training

    return run_training(args, FinetuneOptions, run_finetuning, finetune_summary)
