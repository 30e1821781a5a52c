"""Model cards (the Hub ``README.md``) for released barcodefm models.

One template per family lives in the repository's ``model_cards/`` folder
(``barcodemamba.md``, ``barcodemamba-plus.md``, ``barcodemae.md``), written with
:class:`string.Template` placeholders. This module fills them: the Hub YAML metadata (built
with ``huggingface_hub.ModelCardData``, whose ``eval_results`` become the ``model-index``), the
architecture table, the training recipe (from ``run_options.json`` when the folder came from
``barcodefm pretrain``/``finetune``), the evaluation table (from an ``eval_results.json`` or a
probe-results JSON) and a loading snippet that the tests run.

Placeholders every template may use: ``card_data`` (the YAML), ``model_name``, ``repo_id``,
``model_details``, ``tokenizer_description``, ``training``, ``results``, ``usage`` (write a
literal ``$`` as ``$$``).
"""

from __future__ import annotations

import json
import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path

# result key -> (model-index metric type, display name); other numbers (counts, steps, losses) are not metrics
METRICS = {
    "accuracy": ("accuracy", "Accuracy"),
    "balanced_accuracy": ("balanced_accuracy", "Balanced accuracy"),
    "macro_f1": ("f1", "Macro F1"),
    "f1": ("f1", "F1"),
    "mcc": ("matthews_correlation", "MCC"),
    "perplexity": ("perplexity", "Perplexity"),
    "ami": ("ami", "AMI"),
    "harmonic_mean": ("harmonic_mean", "Harmonic mean"),
}
_SPLIT_PREFIXES = ("eval_", "test_", "predict_", "validation_")
_QUALIFIER_NAMES = {"dedup": "de-duplicated"}
CLASSIFIERS = ("ForSequenceClassification", "ForTaxonomicClassification")


def default_template_dir() -> Path:
    """``model_cards/`` at the top of the barcodefm source tree (src/barcodefm/release -> repo),
    else where a wheel installs it as data files (``<prefix>/share/barcodefm/model_cards``)."""
    candidates = [
        Path(__file__).resolve().parents[3] / "model_cards",
        Path(sys.prefix) / "share" / "barcodefm" / "model_cards",
    ]
    return next((path for path in candidates if path.is_dir()), candidates[0])


def card_family(config) -> str:
    """``barcodemamba``, ``barcodemamba-plus`` (a BarcodeMamba with taxonomy heads) or ``barcodemae``."""
    model_type = getattr(config, "model_type", None)
    if model_type == "barcodemamba":
        return "barcodemamba-plus" if getattr(config, "taxonomy", None) else "barcodemamba"
    if model_type == "barcodemae":
        return "barcodemae"
    raise ValueError(
        f"no model card template for model_type {model_type!r} (barcodefm families: barcodemamba, barcodemae)"
    )


@dataclass
class Metric:
    split: str
    key: str  # accuracy, macro_f1, ...
    value: float
    qualifiers: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        name = METRICS[self.key][1]
        if self.qualifiers:
            name += f" ({', '.join(_QUALIFIER_NAMES.get(q, q) for q in self.qualifiers)})"
        return name


def metrics_from_results(results: dict) -> list[Metric]:
    """The metrics in a results JSON, whatever its nesting.

    Reads the flat Trainer layout (``{"eval_accuracy": 0.97}``), barcodefm's fine-tuning layout
    (``{"test": {"all": {"accuracy": ..}, "dedup": {..}}}``), per-rank dicts and probe results
    (``{"knn_genus": {"accuracy": ..}}``): the first key on the path is the split (or the
    prefix of a flat key), later keys qualify the metric; counts, steps and losses are skipped.
    """
    found = []

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, path + [str(key)])
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not path:
            return
        name, split = path[-1], None
        for prefix in _SPLIT_PREFIXES:
            if name.startswith(prefix):
                split, name = prefix[:-1], name[len(prefix) :]
                break
        if name not in METRICS:
            return
        parents = [p for p in path[:-1] if p not in ("all", "metrics", "results")]
        if len(parents) > 1 and parents[0] == "eval":  # barcodefm pretrain: {"eval": {split: {...}}}
            parents = parents[1:]
        if split is None:
            split, parents = (parents[0], parents[1:]) if parents else ("eval", parents)
        found.append(Metric(split=split, key=name, value=float(value), qualifiers=tuple(parents)))

    walk(results, [])
    return found


def read_json(path: str | Path, what: str) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except ValueError as exc:
        raise ValueError(f"{what} {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path} must hold a JSON object, got {type(data).__name__}")
    return data


def _format_number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e4 else f"{value:.4g}"


def _tokenizer_description(tokenizer) -> str:
    name = type(tokenizer).__name__
    vocab = len(tokenizer)
    if "Kmer" in name:
        k = getattr(tokenizer, "k", None)
        bases = getattr(tokenizer, "max_bases", None)
        cut = f"; barcodes are cut to {bases} bases first" if bases else ""
        return f"non-overlapping {k}-mers (stride {k}, {vocab} tokens: the {4**k} k-mers plus specials{cut})"
    if "Char" in name:
        return f"one token per base (A, C, G, T, N; {vocab} tokens with the specials), up to {tokenizer.model_max_length} bases"
    if "BPE" in name:
        return f"byte-pair encoding trained on barcodes ({vocab} tokens)"
    return f"{name} ({vocab} tokens)"


def _model_details(model, tokenizer, family: str) -> str:
    config = model.config
    rows = [("Architecture", type(model).__name__), ("Parameters", f"{model.num_parameters() / 1e6:.2f} M")]
    if config.model_type == "barcodemamba":
        mixer = f"Mamba-{config.mamba_version}"
        rows += [
            (
                "Backbone",
                f"{config.n_layer} {mixer} blocks, d_model {config.d_model}, d_state {config.d_state}"
                + (f", head dim {config.headdim}" if config.mamba_version == 2 else ""),
            ),
            ("MLP per block", f"{config.d_intermediate} hidden units" if config.d_intermediate else "none"),
        ]
    else:
        rows += [
            (
                "Encoder",
                f"BERT, {config.num_hidden_layers} layers, {config.num_attention_heads} heads, "
                f"hidden {config.hidden_size}, intermediate {config.intermediate_size}",
            ),
            ("Max positions", str(config.max_position_embeddings)),
        ]
    rows.append(("Tokenizer", _tokenizer_description(tokenizer)))
    rows.append(("Default pooling", getattr(config, "pooling", "mean")))
    taxonomy = getattr(config, "taxonomy", None)
    if taxonomy:
        ranks = taxonomy.get("ranks", [])
        labels = taxonomy.get("labels", {})
        rows.append(("Ranks predicted", ", ".join(f"{r} ({len(labels.get(r, []))})" for r in ranks)))
    elif getattr(config, "id2label", None) and any(c in type(model).__name__ for c in CLASSIFIERS):
        rows.append(("Classes", str(len(config.id2label))))
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


_RECIPE_FIELDS = (
    ("objective", "Objective"),
    ("task", "Task"),
    ("label_column", "Label column"),
    ("data", "Training data file"),
    ("epochs", "Epochs"),
    ("max_steps", "Max steps"),
    ("batch_size", "Batch size (per device)"),
    ("grad_accum", "Gradient accumulation"),
    ("lr", "Peak learning rate"),
    ("weight_decay", "Weight decay"),
    ("warmup", "Warm-up"),
    ("max_length", "Bases per barcode"),
    ("rc_prob", "Reverse-complement probability"),
    ("mlm_probability", "Masking probability"),
    ("lora", "LoRA"),
    ("seed", "Seed"),
)


def _training_section(run_options: dict | None, training_data: str | None) -> str:
    parts = []
    if training_data:
        parts.append(training_data.strip())
    if run_options:
        rows = []
        for key, label in _RECIPE_FIELDS:
            value = run_options.get(key)
            if value is None or (key == "max_steps" and not value):
                continue
            if key == "data":
                value = Path(str(value)).name  # never the path of the machine it was trained on
            rows.append(f"| {label} | {value} |")
        if rows:
            parts.append(
                "Recipe (from the run's `run_options.json`; AdamW, cosine schedule):\n\n| | |\n|---|---|\n"
                + "\n".join(rows)
            )
    return "\n\n".join(parts) if parts else "The training data and recipe of this checkpoint were not recorded with it."


def _results_section(metrics: list[Metric], dataset_name: str) -> str:
    if not metrics:
        return "No evaluation results were supplied with this release."
    rows = "\n".join(f"| {dataset_name} | {m.split} | {m.display_name} | {_format_number(m.value)} |" for m in metrics)
    return "| Data | Split | Metric | Value |\n|---|---|---|---|\n" + rows


def example_barcodes(sample: str, n: int = 2) -> list[str]:
    """``n`` real barcodes from the bundled sample (``"coi"`` or ``"its"``) for the usage snippet."""
    from itertools import islice

    from ..data import iter_barcodes, sample_path

    return [record["sequence"] for record in islice(iter_barcodes(sample_path(sample)), n)]


def usage_snippet(model, repo_id: str, barcodes: list[str]) -> str:
    """Python that loads the released model from the Hub without barcodefm and uses it."""
    architecture = type(model).__name__
    if architecture.endswith("ForTaxonomicClassification"):
        imports, auto_class = "from transformers import AutoModel, AutoTokenizer", "AutoModel"
        use = (
            'batch = tokenizer(barcodes, padding=True, return_tensors="pt")\n'
            'for prediction in model.predict_taxonomy(batch["input_ids"], batch["attention_mask"]):\n'
            "    print(prediction)  # per rank: label, probability, consistency with the parent rank\n"
        )
    elif architecture.endswith("ForSequenceClassification"):
        imports = "import torch\nfrom transformers import AutoModelForSequenceClassification, AutoTokenizer"
        auto_class = "AutoModelForSequenceClassification"
        use = (
            'batch = tokenizer(barcodes, padding=True, return_tensors="pt")\n'
            "with torch.no_grad():\n    probabilities = model(**batch).logits.softmax(-1)\n"
            "for p in probabilities:\n    print(model.config.id2label[int(p.argmax())], float(p.max()))\n"
        )
    else:
        imports, auto_class = "from transformers import AutoModel, AutoTokenizer", "AutoModel"
        use = (
            "# One vector per barcode (mean over its tokens); IUPAC codes and gaps are read as N.\n"
            "embeddings = model.embed_sequences(barcodes, tokenizer)\n"
            "print(embeddings.shape)\n"
        )
    listing = "barcodes = [\n" + "".join(f'    "{seq}",\n' for seq in barcodes) + "]"
    return (
        f"{imports}\n\n"
        f'repo_id = "{repo_id}"\n'
        "tokenizer = AutoTokenizer.from_pretrained(repo_id, trust_remote_code=True)\n"
        f"model = {auto_class}.from_pretrained(repo_id, trust_remote_code=True).eval()\n\n"
        f"{listing}\n{use}"
    )


def _card_data(
    model,
    family: str,
    repo_id: str,
    metrics: list[Metric],
    license: str,
    datasets: list[str],
    dataset_name: str,
    base_model: str | None,
    tags: list[str],
):
    from huggingface_hub import EvalResult, ModelCardData

    config = model.config
    classifier = any(c in type(model).__name__ for c in CLASSIFIERS)
    pipeline_tag = "text-classification" if classifier else "feature-extraction"
    if config.model_type == "barcodemamba":
        arch_tags = ["mamba", f"mamba{config.mamba_version}", "state-space-model"]
    else:
        arch_tags = ["bert", "masked-autoencoder"]
    all_tags = ["biology", "dna", "dna-barcoding", "biodiversity", "genomics", family, *arch_tags, "custom_code", *tags]
    dataset_type = datasets[0] if datasets else re.sub(r"[^a-z0-9]+", "-", dataset_name.lower()).strip("-") or "custom"
    eval_results = [
        EvalResult(
            task_type="text-generation" if m.key == "perplexity" else pipeline_tag,
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            dataset_split=m.split,
            metric_type=METRICS[m.key][0],
            metric_name=m.display_name,
            metric_value=round(m.value, 6),
        )
        for m in metrics
    ]
    return ModelCardData(
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        license=license,
        tags=list(dict.fromkeys(all_tags)),
        datasets=datasets or None,
        metrics=sorted({METRICS[m.key][0] for m in metrics}) or None,
        base_model=base_model,
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results or None,
    )


# The transformers releases the model code (what travels in a model folder) runs on: pyproject.toml
# declares the same range, and CI loads folders under its lowest release and the newest.
HUB_CODE_TRANSFORMERS = ">=5.0,<6"


def render_model_card(
    model,
    tokenizer,
    repo_id: str,
    results: dict | None = None,
    run_options: dict | None = None,
    license: str = "mit",
    datasets: list[str] | None = None,
    dataset_name: str | None = None,
    training_data: str | None = None,
    base_model: str | None = None,
    tags: list[str] | None = None,
    template_dir: str | Path | None = None,
    example_sample: str | None = None,
) -> str:
    """The README.md text of a release of ``model`` (a barcodefm model object) as ``repo_id``."""
    family = card_family(model.config)
    template_path = Path(template_dir or default_template_dir()) / f"{family}.md"
    if not template_path.is_file():
        raise FileNotFoundError(
            f"model card template {template_path.name} not found in {template_path.parent} (the templates are the "
            "model_cards/ folder of the barcodefm source: pass its location with --card-templates)"
        )
    metrics = metrics_from_results(results or {})
    dataset_name = dataset_name or (datasets[0] if datasets else "held-out barcodes")
    card_data = _card_data(
        model, family, repo_id, metrics, license, list(datasets or []), dataset_name, base_model, list(tags or [])
    )
    sample = example_sample or ("its" if family == "barcodemamba-plus" else "coi")
    values = {
        "card_data": card_data.to_yaml(),
        "model_name": repo_id.split("/")[-1],
        "repo_id": repo_id,
        "model_details": _model_details(model, tokenizer, family),
        "tokenizer_description": _tokenizer_description(tokenizer),
        "training": _training_section(run_options, training_data),
        "results": _results_section(metrics, dataset_name),
        "usage": usage_snippet(model, repo_id, example_barcodes(sample)).rstrip("\n"),
        "transformers_range": HUB_CODE_TRANSFORMERS,
    }
    try:
        return string.Template(template_path.read_text(encoding="utf-8")).substitute(values)
    except KeyError as exc:
        raise ValueError(
            f"model card template {template_path}: unknown placeholder ${{{exc.args[0]}}} "
            f"(known: {', '.join(sorted(values))})"
        ) from None
    except ValueError as exc:
        raise ValueError(f"model card template {template_path}: {exc} (write a literal $ as $$)") from None
