"""barcodefm train-tokenizer --data FILE --vocab-size N -o DIR"""

from __future__ import annotations

NAME = "train-tokenizer"
HELP = "train a BPE barcode tokenizer (BarcodeMamba+) on the sequences of a barcode file"


def add_arguments(p):
    p.add_argument("--data", required=True, nargs="+", help="barcode file(s) (FASTA/TSV/CSV, .gz fine)")
    p.add_argument(
        "--vocab-size", type=int, default=768, help="including specials and A C G T N (MycoAI used 768 for ITS)"
    )
    p.add_argument("--min-frequency", type=int, default=2)
    p.add_argument(
        "--splits", default=None, help="comma-separated split names to train on (e.g. train,train_singleton)"
    )
    p.add_argument("--marker", default="COI-5P", help="BOLD marker to keep ('all' keeps every marker)")
    p.add_argument("-o", "--output", required=True, help="folder for the saved tokenizer")
    p.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")


def run(args) -> int:
    from ..data import iter_barcodes
    from ..models.tokenization_barcode_bpe import BarcodeBPETokenizer
    from ..outputs import claim_output

    claim_output(args.output, overwrite=args.overwrite)  # a folder with files (a model's?) is not overwritten silently
    splits = set(args.splits.split(",")) if args.splits else None
    marker = None if args.marker == "all" else args.marker
    readers = [iter_barcodes(path, marker=marker) for path in args.data]
    used = [0]

    def sequences():
        for reader in readers:
            for record in reader:
                if splits is None or record.get("split") in splits:
                    used[0] += 1
                    yield record["sequence"]

    tokenizer = BarcodeBPETokenizer.train(
        sequences(), vocab_size=args.vocab_size, min_frequency=args.min_frequency, show_progress=True
    )
    if not used[0]:  # before saving: a failed run leaves no tokenizer behind
        raise ValueError(
            f"no barcodes to train on in {', '.join(args.data)}" + (f" with splits {args.splits}" if splits else "")
        )
    tokenizer.save_pretrained(args.output)
    skipped = sum(reader.rejects.total for reader in readers)  # each reader has logged its skips, once
    print(
        f"trained a {len(tokenizer)}-token BPE vocabulary on {used[0]} barcodes -> {args.output}"
        + (f"; skipped {skipped} bad records" if skipped else "")
    )
    return 0
