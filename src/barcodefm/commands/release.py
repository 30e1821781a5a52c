"""barcodefm release MODEL_DIR --repo-id ORG/NAME --output OUT_DIR [--push] [--private]"""

from __future__ import annotations

NAME = "release"
HELP = "write a checked Hugging Face Hub folder (weights, code, tokenizer, model card) and optionally upload it"


def add_arguments(p):
    p.add_argument("model_dir", help="a saved barcodefm model folder (e.g. the --output of pretrain/finetune/convert)")
    p.add_argument("--repo-id", required=True, help="the Hub model id, ORG/NAME")
    p.add_argument("--output", required=True, help="new (or empty) folder for the Hub files")
    p.add_argument(
        "--push", action="store_true", help="upload the folder to the Hub (token: HF_TOKEN or `hf auth login`)"
    )
    p.add_argument("--private", action="store_true", help="create the Hub repository as private (with --push)")
    p.add_argument(
        "--results",
        default=None,
        help="evaluation results JSON for the card (default: MODEL_DIR/eval_results.json if present)",
    )
    p.add_argument("--license", default="mit", help="license id for the card metadata (default: mit)")
    p.add_argument("--dataset", action="append", default=[], help="Hub dataset id used in training (repeatable)")
    p.add_argument("--dataset-name", default=None, help="the evaluation data, in words (card and model-index)")
    p.add_argument("--training-data", default=None, help="a sentence or two on the training data, for the card")
    p.add_argument("--base-model", default=None, help="Hub id of the model this one was fine-tuned from")
    p.add_argument("--tag", action="append", default=[], help="extra Hub tag (repeatable)")
    p.add_argument("--card-templates", default=None, help="folder of model card templates (default: model_cards/)")


def run(args) -> int:
    from ..cli import UserError
    from ..release import CardOptions, HubUploadError, push_folder, release_model

    if args.private and not args.push:
        raise UserError("--private only applies with --push")
    card = CardOptions(
        license=args.license,
        datasets=args.dataset,
        dataset_name=args.dataset_name,
        training_data=args.training_data,
        base_model=args.base_model,
        tags=args.tag,
        template_dir=args.card_templates,
    )
    report = release_model(args.model_dir, args.repo_id, args.output, results_path=args.results, card=card)
    check = report.load_check
    print(
        f"wrote {len(report.files)} files to {report.output} ({report.n_metrics} metrics in the card); "
        f"loads without barcodefm via {check.auto_class}, max abs difference {check.max_abs_diff:.2g}"
    )
    if args.push:
        try:
            url = push_folder(report.output, args.repo_id, private=args.private)
        except HubUploadError as exc:
            raise UserError(str(exc)) from None
        print(f"uploaded to https://huggingface.co/{args.repo_id} ({url})")
    return 0
