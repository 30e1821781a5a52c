"""barcodefm convert {barcodemamba SRC_DIR, barcodemae CKPT} OUT"""

from __future__ import annotations

NAME = "convert"
HELP = "convert a published BarcodeMamba / BarcodeMAE checkpoint into a Hub-ready folder"


def add_arguments(p):
    sub = p.add_subparsers(dest="family", metavar="FAMILY", required=True)
    mamba = sub.add_parser(
        "barcodemamba",
        help="a Lightning last.ckpt + Hydra config.yaml folder",
        description="Convert a published BarcodeMamba pretraining run (SRC_DIR/.hydra/config.yaml + "
        "SRC_DIR/checkpoints/last.ckpt).",
    )
    mamba.add_argument("source", metavar="SRC_DIR", help="the published run folder")
    mamba.add_argument("output", metavar="OUT", help="new (or empty) output folder")
    mamba.add_argument("--config", default=None, help="the Hydra config.yaml (default: found in SRC_DIR)")
    mamba.add_argument("--checkpoint", default=None, help="the .ckpt file (default: found in SRC_DIR)")
    mamba.add_argument(
        "--head",
        choices=["causal-lm", "masked-lm"],
        default="causal-lm",
        help="the pretraining objective of the checkpoint: next-token (default) or the MLM variant",
    )
    mae = sub.add_parser(
        "barcodemae",
        help="a BarcodeMAE / BarcodeBERT encoder checkpoint (.pt)",
        description="Convert a published BarcodeMAE (or BarcodeBERT) checkpoint to a BarcodeMAEModel folder.",
    )
    mae.add_argument(
        "source", metavar="CKPT", help="the checkpoint file (weights under 'model', BertConfig under 'bert_config')"
    )
    mae.add_argument("output", metavar="OUT", help="new (or empty) output folder")
    mae.add_argument("--bert-config", default=None, help="BertConfig JSON, for a checkpoint without bert_config")
    mae.add_argument("--k", type=int, default=None, help="k of the k-mers (default: from the checkpoint)")
    mae.add_argument(
        "--vocab-layout",
        choices=["auto", "mask-unk", "mask-cls-unk"],
        default="auto",
        help="special tokens before the k-mers (default: from the vocabulary size)",
    )
    for parser in (mamba, mae):
        parser.add_argument(
            "--trust-checkpoint",
            action="store_true",
            help="allow full unpickling of the checkpoint (runs code from the file: only for trusted files)",
        )


# family -> the keywords of its converter, given by the flags of the same names
CONVERTER_OPTIONS = {
    "barcodemamba": ("trust_checkpoint", "head", "config", "checkpoint"),
    "barcodemae": ("trust_checkpoint", "bert_config", "k", "vocab_layout"),
}


def run(args) -> int:
    from ..release.convert_barcodemae import convert_barcodemae
    from ..release.convert_barcodemamba import convert_barcodemamba

    convert = convert_barcodemamba if args.family == "barcodemamba" else convert_barcodemae
    report = convert(args.source, args.output, **{name: getattr(args, name) for name in CONVERTER_OPTIONS[args.family]})
    print(report.summary())
    print(f"next: barcodefm release {args.output} --repo-id ORG/NAME --output HUB_DIR [--push]")
    return 0
