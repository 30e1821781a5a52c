"""``barcodefm split``: seen/unseen splits of a labelled barcode file (recipe in
:mod:`barcodefm.data.splits`), written as a shared-layout TSV that ``load_barcodes`` reads back."""

from __future__ import annotations

NAME = "split"
HELP = "assign train/val/test and unseen_key/unseen_query splits to a labelled barcode file"


def add_arguments(parser) -> None:
    parser.add_argument(
        "input", metavar="INPUT", help="labelled barcodes: FASTA (UNITE/BOLD headers), BOLD TSV, CSV or TSV"
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT.tsv", help="output TSV (gzipped if it ends in .gz)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed (default 0); same seed + same records = same splits"
    )
    parser.add_argument("--rank", default="species", help="label column whose classes are held out (default species)")
    parser.add_argument(
        "--genus-rank", default="genus", help="parent column: unseen species are drawn per genus (default genus)"
    )
    parser.add_argument(
        "--min-per-species",
        type=int,
        default=2,
        help="species with fewer records go to --rare-split (default 2, the ITS recipe; the COI recipe uses 4)",
    )
    parser.add_argument(
        "--unseen-fraction",
        type=float,
        default=1 / 3,
        help="per genus, floor(n_species * this) species are held out as unseen (default 1/3: ~20%% of species)",
    )
    parser.add_argument(
        "--rare-split",
        choices=("train_singleton", "pretrain_only"),
        default="train_singleton",
        help="split of rare species' records (default train_singleton; the COI recipe uses pretrain_only)",
    )
    parser.add_argument(
        "--dedup",
        action="store_true",
        help="add a dup_in_train column: True where a held-out record's exact sequence is in a training split",
    )
    parser.add_argument("--format", default="auto", help="input format (default: sniffed from the content)")
    parser.add_argument(
        "--marker", default="COI-5P", help="BOLD marker to keep (default COI-5P; 'all' keeps every marker)"
    )
    parser.add_argument(
        "--rejects",
        metavar="REJECTS.tsv",
        help="write the skipped input records here (never the input or the output; an existing file needs --overwrite)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output (and rejects file): the old one stays until the new one is whole",
    )


def run(args) -> int:
    from ..cli import UserError
    from ..data import load_barcodes, split_dataset, split_summary, write_barcodes_tsv
    from ..data.splits import SplitRecipe
    from ..outputs import claim_outputs, replacing

    # Before the (long) read: neither path is the input, nor each other, nor an existing file.
    output, rejects_path = claim_outputs(args.output, args.input, args.rejects, overwrite=args.overwrite)
    marker = None if str(args.marker).lower() in ("all", "none", "") else args.marker
    try:  # validate the options before spending time on reading
        SplitRecipe(
            seed=args.seed,
            min_per_species=args.min_per_species,
            unseen_fraction=args.unseen_fraction,
            rare_split=args.rare_split,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    dataset, rejects = load_barcodes(
        args.input, format=args.format, marker=marker, rejects_path=rejects_path, return_rejects=True
    )
    if args.rank not in dataset.column_names:
        raise UserError(
            f"{args.input} has no {args.rank!r} labels to split on (columns: {', '.join(dataset.column_names)})"
        )
    dataset = split_dataset(
        dataset,
        seed=args.seed,
        rank=args.rank,
        genus_rank=args.genus_rank,
        min_per_species=args.min_per_species,
        unseen_fraction=args.unseen_fraction,
        rare_split=args.rare_split,
        dedup=args.dedup,
    )
    with replacing(output) as tmp:  # a failed write leaves no half table, and an old one intact
        n = write_barcodes_tsv(dataset, tmp)
    duplicates = dataset["dup_in_train"][:] if args.dedup else None
    print(split_summary(dataset["split"][:], dataset[args.rank][:], duplicates))
    if rejects.total:
        print(f"skipped input records: {rejects.summary()}")
    print(f"wrote {n:,} records to {args.output}")
    return 0
