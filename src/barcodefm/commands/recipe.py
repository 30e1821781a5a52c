"""``barcodefm recipe NAME``: regenerate a bundled model (``coi-insect``, ``its-fungi``) from the
project's shared data folder with its fixed recipe (see ``barcodefm.recipes.bundled``): fine-tune,
then store the training references and choose the identification rule per rank
(:mod:`barcodefm.inference.reference_vote`). Run again on a finished run folder, it repeats only
the reference step."""

from __future__ import annotations

NAME = "recipe"
HELP = "retrain a bundled model (coi-insect, its-fungi) from the shared data with its published recipe"


def add_arguments(parser) -> None:
    from ..recipes.bundled import RECIPES

    parser.add_argument("name", choices=sorted(RECIPES), help="which bundled model")
    parser.add_argument("--data-dir", required=True, metavar="DIR", help="the shared data folder (../shared/data)")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="run folder (the model lands here)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    parser.add_argument(
        "--bundle",
        metavar="DIR",
        default=None,
        help="also write the finished model as a checked model folder to DIR (the package's own: "
        "src/barcodefm/bundled_models/NAME)",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="override the recipe's step count (a shorter try; the result is then not the recipe)",
    )


def run(args) -> int:
    import json
    from pathlib import Path

    from ..recipes.bundled import RECIPES, build_identification_reference, bundle, card_section
    from ..trainers.distributed import barrier, finish_distributed, is_main_process
    from ..trainers.finetuning import run_finetuning
    from ..trainers.options import FinetuneOptions

    recipe = RECIPES[args.name]
    output = Path(args.output)
    trained = (output / "eval_results.json").is_file() and (output / "model.safetensors").is_file()
    results = {}
    try:
        if not trained:  # a finished training run is not repeated: only the reference step runs again
            if is_main_process():
                recipe.prepare(args.data_dir, output)
            barrier()  # every process reads the table the first one wrote
            options = FinetuneOptions(
                **recipe.options,
                data=str(recipe.table_path(args.data_dir, output)),
                output=str(output),
                resume=args.resume,
            )
            if args.max_steps:
                options.max_steps = args.max_steps
            results = run_finetuning(options)
        main = is_main_process()
    finally:
        finish_distributed()
    if main:
        if trained:  # the fine-tuning export built the reference; a finished run rebuilds it (current rules code)
            results["identification"] = build_identification_reference(recipe, args.data_dir, output)
        if args.bundle:
            results["bundled"] = str(bundle(recipe, output, args.bundle, extra_card=card_section(recipe, output)))
        ident = json.loads((output / "identification.json").read_text())
        print(
            "identification per rank: "
            + ", ".join(f"{rank} {rule}" for rank, rule in ident["rules"].items())
            + f" (k-mer size {ident.get('kmer_k', '-')}, {ident['n_references']:,} reference barcodes)"
        )
        if "bundled" in results:
            print(f"bundled model folder: {results['bundled']}")
        print(
            f"model saved to {output}; every metric in {output / 'eval_results.json'} and "
            f"{output / 'identification.json'}"
        )
    return 0
