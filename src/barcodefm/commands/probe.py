"""barcodefm probe MODEL_DIR --data FILE --probe linear|knn|zsc|perplexity|all"""

from __future__ import annotations

NAME = "probe"
HELP = "evaluate a saved model with the published probes (linear, 1-NN genus, zero-shot clustering, perplexity)"


def add_arguments(p):
    from ..trainers.options import POOLINGS
    from .common import add_trust_remote_code

    p.add_argument("model_dir")
    p.add_argument("--data", required=True, help="labelled barcodes with a split column (see `barcodefm split`)")
    p.add_argument("--probe", default="all", help="comma-separated: linear,knn,zsc,perplexity or 'all'")
    p.add_argument("--train-split", default="train")
    p.add_argument("--test-split", default="test")
    p.add_argument("--query-split", default="unseen_query")
    p.add_argument("--species-column", default="species")
    p.add_argument("--genus-column", default="genus")
    p.add_argument("--cluster-column", default=None, help="labels for ZSC (default species; 'bin' for BINs)")
    p.add_argument("--pooling", choices=POOLINGS, default=None)
    p.add_argument(
        "--linear-method",
        choices=["sgd", "sklearn"],
        default="sgd",
        help="sgd: as published (200 epochs); sklearn: fast logistic regression",
    )
    p.add_argument("--max-records", type=int, default=None, help="sample at most this many records per split")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("-o", "--output", default=None, help="write the results as JSON here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    add_trust_remote_code(p)


def run(args) -> int:
    from ..evaluation.probe_runner import PROBES, run_probes, write_results
    from ..outputs import claim_output

    if args.output:
        claim_output(args.output, overwrite=args.overwrite, inputs=[args.data])  # before the probes run, not after
    probes = PROBES if args.probe == "all" else tuple(p.strip() for p in args.probe.split(","))
    if args.probe == "all":
        from ..factory import load_model

        try:  # perplexity only for language-model folders
            load_model(args.model_dir, "AutoModelForCausalLM", trust_remote_code=args.trust_remote_code)
        except (ValueError, KeyError, OSError):
            probes = tuple(p for p in probes if p != "perplexity")
    results = run_probes(
        args.model_dir,
        args.data,
        probes=probes,
        train_split=args.train_split,
        test_split=args.test_split,
        query_split=args.query_split,
        species_column=args.species_column,
        genus_column=args.genus_column,
        cluster_column=args.cluster_column,
        pooling=args.pooling,
        batch_size=args.batch_size,
        max_records=args.max_records,
        linear_method=args.linear_method,
        seed=args.seed,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
    )
    for name in PROBES:
        if name in results:
            r = results[name]
            key = {"linear": "accuracy", "knn": "accuracy", "zsc": "ami", "perplexity": "perplexity"}[name]
            print(f"{name:10s} {key} = {r[key]:.2f}")
    if "harmonic_mean" in results:
        print(f"harmonic mean (1-NN, ZSC) = {results['harmonic_mean']:.2f}")
    if args.output:
        write_results(results, args.output)
    return 0
