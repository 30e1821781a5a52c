"""Command-line flags of the training commands, mapped one to one onto the option dataclasses
(``--max-steps`` <-> ``max_steps``); defaults are read from the dataclass so they live in one place."""

from __future__ import annotations

import argparse
import dataclasses

from ..registry import PRESETS, preset_options
from .families import family_names
from .options import SIZE_OPTIONS, TrainingOptions


def comma_list(text: str) -> tuple[str, ...]:
    """``"train,pretrain_only"`` -> ``("train", "pretrain_only")``; ``"none"`` -> ``()``."""
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def comma_floats(text: str) -> tuple[float, ...]:
    """``"1,1,2"`` -> ``(1.0, 1.0, 2.0)``; a clear argparse error for anything else."""
    try:
        return tuple(float(part) for part in comma_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_field_flag(group, flag: str, defaults, help: str, **kwargs) -> None:
    """``flag`` (``--min-lr-rate``) for the options field of the same name (``min_lr_rate``): its type
    and default are that field's default in ``defaults``, which the help ends by naming."""
    default = getattr(defaults, flag.lstrip("-").replace("-", "_"))
    shown = f"(default {default:g})" if isinstance(default, float) else f"(default {default})"
    help = f"{help} {shown}" if help else shown
    group.add_argument(flag, type=type(default), default=default, help=help, **kwargs)


def add_list_flag(group, flag: str, defaults, help: str, metavar: str = "S1,S2", dest=None, parse=comma_list) -> None:
    """``flag`` taking a comma-separated list (``none``: an empty one) for the options field ``dest``
    (default: the flag's name, ``--ranks`` -> ``ranks``), whose default in ``defaults`` it has."""
    dest = dest or flag.lstrip("-").replace("-", "_")
    group.add_argument(flag, dest=dest, type=parse, default=getattr(defaults, dest), metavar=metavar, help=help)


# Size flags: None unless given, so a --preset fills only the ones left out.
SIZE_FLAGS = SIZE_OPTIONS


def add_training_flags(parser: argparse.ArgumentParser, defaults: TrainingOptions) -> None:
    d = defaults
    data = parser.add_argument_group("data and output")
    data.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="barcodes: FASTA, BOLD/BCDM TSV, BIOSCAN CSV or the shared TSV (gzip ok)",
    )
    data.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="DIR",
        help="run folder: the Hub-ready model, train_log.jsonl, eval_results.json, checkpoints/",
    )
    add_field_flag(data, "--max-length", d, "bases per barcode; longer ones are cut", metavar="BASES")

    tokens = parser.add_argument_group("tokenizer")
    tokens.add_argument(
        "--tokenizer",
        default=d.tokenizer,
        metavar="char|kmer|bpe|PATH",
        help="tokenizer of a new model (default: the family's, char for BarcodeMamba)",
    )
    add_field_flag(tokens, "--k", d, "k of --tokenizer kmer")
    add_field_flag(tokens, "--bpe-vocab-size", d, "vocabulary of --tokenizer bpe, trained on the training barcodes")
    tokens.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="let a model or tokenizer folder that is not a barcodefm one run the Python code it "
        "carries (only for folders you trust; barcodefm's own always load with the installed code)",
    )

    size = parser.add_argument_group("model (default: the family's published small model)")
    size.add_argument(
        "--preset",
        default=None,
        choices=sorted(PRESETS),
        metavar="NAME",
        help="a published size (family, tokenizer and sizes): "
        + ", ".join(sorted(PRESETS))
        + "; size flags given beside it override its sizes",
    )
    size.add_argument(
        "--model",
        "--family",
        dest="family",
        default=d.family,
        choices=family_names(),
        help=f"model family (default {d.family})",
    )
    size.add_argument("--d-model", type=int, help="hidden size (BarcodeMamba default 384)")
    size.add_argument("--n-layer", type=int, help="number of blocks (default 2)")
    size.add_argument("--headdim", type=int, help="Mamba-2 head size (default 48)")
    size.add_argument("--d-state", type=int, help="SSM state size (default 64 for Mamba-2, 16 for Mamba-1)")
    size.add_argument("--mamba-version", type=int, choices=(1, 2), help="mixer (default 2)")
    size.add_argument("--d-intermediate", type=int, help="MLP width; 0 = no MLP (default 4 x d-model)")
    size.add_argument("--dropout", type=float, help="embedding dropout (default 0.1)")

    train = parser.add_argument_group("optimisation")
    add_field_flag(train, "--epochs", d, "passes over the data")
    train.add_argument("--max-steps", type=int, default=d.max_steps, help="optimiser steps; overrides --epochs")
    train.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help=f"barcodes per process and step (default {d.batch_size}); global = x processes x --grad-accum",
    )
    train.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size, help="default: --batch-size")
    add_field_flag(train, "--grad-accum", d, "gradient accumulation steps")
    add_field_flag(train, "--lr", d, "peak learning rate of AdamW")
    add_field_flag(train, "--weight-decay", d, "")
    add_field_flag(train, "--warmup", d, "linear warm-up: a fraction of the steps (< 1) or a step count")
    add_field_flag(train, "--min-lr-rate", d, "the cosine decays to this fraction of the peak")
    add_field_flag(train, "--seed", d, "")
    add_field_flag(train, "--rc-prob", d, "reverse-complement augmentation probability in training")
    if d.random_offset:
        train.add_argument(
            "--no-random-offset",
            dest="random_offset",
            action="store_false",
            help="k-mer tokenizers: do not shift the reading frame by U{0..k-1} bases in training",
        )
    else:
        train.add_argument(
            "--random-offset",
            dest="random_offset",
            action="store_true",
            help="k-mer tokenizers: shift the reading frame by U{0..k-1} bases in training",
        )
    train.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision (GPU)")

    run = parser.add_argument_group("checkpoints, logging, resuming")
    add_field_flag(run, "--save-steps", d, "checkpoint every N steps, 0 = never")
    add_field_flag(run, "--save-total-limit", d, "checkpoints kept")
    run.add_argument("--keep-checkpoints", action="store_true", help="keep DIR/checkpoints after a finished run")
    run.add_argument(
        "--resume", action="store_true", help="continue the run in --output from its last checkpoint (same options)"
    )
    add_field_flag(run, "--logging-steps", d, "a train_log.jsonl line every N steps")
    run.add_argument(
        "--eval-steps", type=int, default=d.eval_steps, help="evaluate every N steps (default: at the end only)"
    )


def options_from_args(args: argparse.Namespace, options_class):
    """The ``options_class`` instance holding every flag that names one of its fields."""
    values = {}
    for f in dataclasses.fields(options_class):
        if hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
    if getattr(args, "preset", None):
        for key, value in preset_options(args.preset).items():
            if key in SIZE_FLAGS and values.get(key) is not None:
                continue  # an explicit size flag wins over the preset
            values[key] = value
    return options_class(**values)
