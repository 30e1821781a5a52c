"""``barcodefm release``: turn a saved model folder into a complete, checked Hub folder.

The output holds ``model.safetensors`` (a ``pytorch_model.bin`` is converted: no pickle is ever
published), ``config.json`` with every Auto class in ``auto_map``, the model and tokenizer code
those entries need, the tokenizer files, ``README.md`` (the model card) and
``eval_results.json``. It is written to a staging folder and moved into place only if it passes
the static audit (:mod:`.hub_folder`) and the load check (:mod:`.load_check`: a fresh process
without barcodefm reproduces the outputs on real barcodes); otherwise nothing is left behind.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cards import metrics_from_results, read_json, render_model_card
from .hub_folder import audit_hub_folder, tidy_tokenizer_config
from .load_check import LoadCheckResult, check_folder
from .staging import check_output_folder, staged_folder

logger = logging.getLogger(__name__)

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
RESULTS_FILE = "eval_results.json"
RUN_OPTIONS_FILE = "run_options.json"


class ReleaseRefusedError(ValueError):
    """The folder would be broken on the Hub; the message lists every problem found."""

    def __init__(self, what: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"refusing to release {what}:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass
class CardOptions:
    """What the model card says beyond what the model folder records."""

    license: str = "mit"
    datasets: list[str] = field(default_factory=list)  # Hub dataset ids
    dataset_name: str | None = None  # the evaluation data, in words
    training_data: str | None = None  # a paragraph on the training data
    base_model: str | None = None  # the Hub id this model was fine-tuned from
    tags: list[str] = field(default_factory=list)
    template_dir: str | None = None
    example_sample: str | None = None  # "coi" or "its": the bundled sample the usage snippet quotes


@dataclass
class ReleaseReport:
    output: Path
    files: list[str]
    n_metrics: int
    load_check: LoadCheckResult | None


def validate_repo_id(repo_id: str) -> str:
    if not repo_id or not _REPO_ID.match(repo_id) or len(repo_id.split("/")[1]) > 96 or ".." in repo_id:
        raise ValueError(
            f"--repo-id {repo_id!r} is not a Hub model id of the form ORG/NAME (letters, digits, '-', '_', '.')"
        )
    return repo_id


def _barcodefm_class(name: str, what: str, folder: Path):
    import barcodefm

    cls = getattr(barcodefm, name or "", None)
    if cls is None:
        raise ValueError(f"{folder}: {what} {name!r} is not a barcodefm class: is this a barcodefm model folder?")
    return cls


def load_saved_model(model_dir: str | Path):
    """(model, tokenizer) of a saved barcodefm folder, with barcodefm's own classes; refuses a
    folder whose weights do not match its config exactly (missing, unexpected or mis-shaped)."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a saved model folder (no config.json)")
    if not (model_dir / "tokenizer_config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir} has no tokenizer (tokenizer_config.json): save the tokenizer next to the model"
        )
    config = read_json(model_dir / "config.json", "config")
    tokenizer_config = read_json(model_dir / "tokenizer_config.json", "tokenizer config")
    model_class = _barcodefm_class((config.get("architectures") or [None])[0], "architecture", model_dir)
    tokenizer_class = _barcodefm_class(tokenizer_config.get("tokenizer_class"), "tokenizer class", model_dir)
    model, info = model_class.from_pretrained(str(model_dir), output_loading_info=True)
    problems = [f"weight missing from the folder: {k}" for k in sorted(info.get("missing_keys") or [])]
    problems += [f"unexpected weight in the folder: {k}" for k in sorted(info.get("unexpected_keys") or [])]
    problems += [
        f"weight with the wrong shape: {k[0]} {tuple(k[1])} vs {tuple(k[2])}"
        for k in sorted(info.get("mismatched_keys") or [], key=str)
    ]
    if problems:
        raise ReleaseRefusedError(str(model_dir), problems)
    tokenizer = tokenizer_class.from_pretrained(str(model_dir))
    return model.eval(), tokenizer


def write_hub_folder(
    model, tokenizer, folder: Path, repo_id: str, results: dict | None, run_options: dict | None, card: CardOptions
) -> None:
    """Weights, config, code, tokenizer, README.md and eval_results.json into ``folder``."""
    model.save_pretrained(str(folder))  # safetensors + config.json (auto_map) + the model code
    tokenizer.save_pretrained(str(folder))  # tokenizer files + the tokenizer code
    tidy_tokenizer_config(folder)
    if results is not None:
        (folder / RESULTS_FILE).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    # CardOptions' fields are render_model_card's keywords, one to one.
    readme = render_model_card(model, tokenizer, repo_id, results=results, run_options=run_options, **asdict(card))
    (folder / "README.md").write_text(readme, encoding="utf-8")


# Files a taxonomy run writes beside the weights that the released model uses: the training
# references with their labels and rules (identification by nearest references and novelty; the
# rules file also records the trained --max-length). run_options.json stays behind: it holds the
# training machine's paths.
COMPANION_FILES = (
    "novelty_reference.safetensors",
    "novelty.json",
    "reference_labels.safetensors",
    "reference_sequences.fasta.gz",
    "identification.json",
)


def release_model(
    model_dir: str | Path,
    repo_id: str,
    output: str | Path,
    results_path: str | Path | None = None,
    card: CardOptions | None = None,
) -> ReleaseReport:
    """Write the checked Hub folder of the model saved in ``model_dir`` to ``output``.

    ``results_path``: evaluation results JSON for the card and ``eval_results.json``
    (default: ``model_dir/eval_results.json`` when present).
    """
    model_dir, output = Path(model_dir), Path(output)
    validate_repo_id(repo_id)
    check_output_folder(output)
    if output.resolve() == model_dir.resolve():
        raise ValueError("--output must be a new folder, not the model folder itself")
    card = card or CardOptions()
    if results_path is None and (model_dir / RESULTS_FILE).is_file():
        results_path = model_dir / RESULTS_FILE
    results = read_json(results_path, "results file") if results_path is not None else None
    novelty_file = model_dir / "novelty.json"
    if results is not None and isinstance(results.get("novelty"), dict) and novelty_file.is_file():
        # The novelty the folder ships, not the training run's: a reference rebuilt after training
        # (the bundled recipes' reference step) chooses its own score and threshold.
        results = results | {"novelty": {"saved": True, **read_json(novelty_file, "novelty file")}}
    run_options = (
        read_json(model_dir / RUN_OPTIONS_FILE, "run options") if (model_dir / RUN_OPTIONS_FILE).is_file() else None
    )
    model, tokenizer = load_saved_model(model_dir)
    with staged_folder(output) as staging:
        write_hub_folder(model, tokenizer, staging, repo_id, results, run_options, card)
        for name in COMPANION_FILES:
            if (model_dir / name).is_file():
                shutil.copyfile(model_dir / name, staging / name)
        problems = audit_hub_folder(staging)
        check = None
        if not problems:  # a folder that fails the audit is not worth loading
            check = check_folder(staging, model, tokenizer)
            problems = check.problems
        if problems:
            raise ReleaseRefusedError(str(model_dir), problems)
        files = sorted(p.name for p in staging.iterdir())
    if check is not None:
        check.folder = output
    return ReleaseReport(
        output=output, files=files, n_metrics=len(metrics_from_results(results or {})), load_check=check
    )
