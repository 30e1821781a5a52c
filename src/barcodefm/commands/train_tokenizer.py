"""barcodefm train-tokenizer --data FILE --vocab-size N -o DIR"""

from __future__ import annotations

NAME = "train-tokenizer"
HELP = "train a BPE barcode tokenizer (BarcodeMamba+) on the sequences of a barcode file"


def add_arguments(p):
    p.add_argument("--data", required=True, nargs="+", help="barcode file(s) (FASTA/TSV/CSV, .gz fine)")
    p.add_argument("--vocab-size", type=int, default=768, help="including specials and A C G T N (MycoAI used 768 for ITS)")
    p.add_argument("--min-frequency", type=int, default=2)
    p.add_argument("--splits", default=None, help="comma-separated split names to train on (e.g. train,train_singleton)")
    p.add_argument("--marker", default="COI-5P", help="BOLD marker to keep ('all' keeps every marker)")
    p.add_argument("-o", "--output", required=True, help="folder for the saved tokenizer")


def run(args) -> int:
    from ..data import iter_barcodes
    from ..tokenization_barcode_bpe import BarcodeBPETokenizer

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
    tokenizer.save_pretrained(args.output)
    if not used[0]:
        raise ValueError(f"no barcodes to train on in {', '.join(args.data)}" + (f" with splits {args.splits}" if splits else ""))
    print(f"trained a {len(tokenizer)}-token BPE vocabulary on {used[0]} barcodes -> {args.output}")
    for reader in readers:
        if reader.rejects.total:
            print(f"{reader.path}: skipped {reader.rejects.summary()}")
    return 0
