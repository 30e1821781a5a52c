"""barcodefm classify INPUT --model NAME|DIR|HUB_ID -o OUT.tsv (or: barcodefm classify MODEL INPUT -o OUT.tsv)"""

from __future__ import annotations

NAME = "classify"
HELP = (
    "assign a name at every taxonomic rank (with probabilities, consistency and novelty) to each barcode; "
    "with a species classifier, its species (and probability)"
)


def add_arguments(p):
    from .common import add_input_file_flags, add_trust_remote_code

    # The positional takes one path, or two in the older `classify MODEL INPUT` form: say so plainly.
    p.usage = "barcodefm classify INPUT --model MODEL -o OUTPUT [options]"
    p.add_argument(
        "paths",
        nargs="+",
        metavar="INPUT",
        help="the barcode file (FASTA, BOLD TSV, BIOSCAN CSV or shared TSV, .gz fine; sample:coi and "
        "sample:its are the real samples bundled with barcodefm). The older form `classify MODEL INPUT` "
        "(the model first, without --model) still works",
    )
    p.add_argument(
        "--model",
        default=None,
        help="a bundled model (coi-insect, its-fungi), a taxonomic classifier folder "
        "(barcodefm finetune --task taxonomy), a species classifier folder (barcodefm finetune, "
        "the demo's DIR/model: columns id, species, species_prob) or a Hub id",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output TSV: per record id; strand (forward, or reverse: the record was read as its reverse "
        "complement, the strand sharing more 12-mers with the model's references), marker_kmers and status "
        "(other_marker: too few 12-mers shared, no name at any rank); per rank the name and probability; "
        "consistent; nearest_reference, nearest_identity, nearest_by; novelty, likely_novel. Never the input; "
        "text cells spreadsheet-safe (a cell a spreadsheet would read as a formula starts with '); beside it "
        "OUTPUT.provenance.json (calls.tsv -> calls.provenance.json) records the model, its weights and "
        "identification hashes, versions, thresholds, options, times and counts",
    )
    p.add_argument(
        "--min-prob",
        type=float,
        default=None,
        help="SINTAX-style cutoff: stop the assignment at the first rank below this probability",
    )
    p.add_argument(
        "--batch-size", type=int, default=64, help="barcodes per forward pass (default 64; results do not depend on it)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (after Ctrl-C, a kill or a read error): keep the rows of OUTPUT, or of "
        "OUTPUT.partial that an interrupted --overwrite left, and classify the records after them (a torn last "
        "row is redone); refused when OUTPUT.provenance.json says its rows were made with other weights or "
        "another --min-prob, --max-length, --index or --index-k",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output: the new table is written to OUTPUT.partial and renamed over OUTPUT "
        "once every record is classified, so a failed or interrupted run leaves the old OUTPUT as it was "
        "(--resume continues OUTPUT.partial)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    add_input_file_flags(p)
    p.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="cut barcodes to this many bases (default: the fine-tuning run's --max-length, from "
        "MODEL_DIR/run_options.json; no cut for a folder without it)",
    )
    p.add_argument(
        "--index",
        default=None,
        help="a reference index built with this model (barcodefm index build): adds the nearest references, "
        "their per-rank vote and a call combining it with the model's (--min-prob then cuts the combined call; "
        "a tie goes to the nearest reference's label); likely_novel then also needs the barcode to be new to the "
        "index (no index reference within the model's embedding-distance threshold): a barcode close to an index "
        "reference is not novel; novelty stays the model's own score",
    )
    p.add_argument("--index-k", type=int, default=10, help="nearest references per query from --index (default 10)")
    add_trust_remote_code(p)


def model_and_input(args, parser_name: str = "classify") -> tuple[str, str]:
    from ..cli import UserError
    from ..registry import resolve_model

    if args.model is not None and len(args.paths) == 1:
        model, input_path = args.model, args.paths[0]
    elif args.model is None and len(args.paths) == 2:
        model, input_path = args.paths
    else:
        raise UserError(
            f"{parser_name}: give the input and --model NAME|DIR (bundled: coi-insect, its-fungi), or MODEL INPUT"
        )
    try:
        if input_path.startswith("sample:"):  # the real barcodes bundled with barcodefm: sample:coi, sample:its
            from ..data import sample_path

            input_path = str(sample_path(input_path.split(":", 1)[1]))
        return resolve_model(model), input_path
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None


def run(args) -> int:
    from ..inputs import require_barcode_file
    from ..outputs import claim_outputs
    from ..provenance import provenance_path
    from .common import file_run_options, skipped_records_note

    model_dir, input_path = model_and_input(args)
    # Before importing torch and transformers (seconds): a typo or a clash of outputs fails at once.
    require_barcode_file(input_path)
    claim_outputs(
        args.output,
        input_path,
        args.rejects,
        overwrite=args.overwrite,
        resume=args.resume,
        also=[provenance_path(args.output)],
    )
    from ..inference.classify import classify_file

    summary = classify_file(
        model_dir,
        input_path,
        args.output,
        min_prob=args.min_prob,
        max_length=args.max_length,
        index=args.index,
        index_k=args.index_k,
        model_name=args.model if args.model is not None else args.paths[0],
        **file_run_options(args),
    )
    n = summary["classified"]
    print(f"classified {n} barcode{'' if n == 1 else 's'} -> {args.output}" + skipped_records_note(summary))
    return 0
