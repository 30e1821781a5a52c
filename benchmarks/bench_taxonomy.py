"""Benchmark 2: per-rank accuracy of BarcodeMamba+ on fungal ITS (CBS ITS2, MycoAI test1) next
to SINTAX, BLAST and 6-mer 1-NN top hits.

BarcodeMamba+ (SPEC 4): a BPE tokenizer trained on the training records, a small next-token
pretraining (train + train_singleton), then a multi-rank taxonomy fine-tune from that same
pretrained model twice, with and without hierarchical label smoothing (HLS), for the same CPU
budget each; the class-weighted loss is on in both. Scored on the test split (seen species),
per rank, on the records whose label at that rank is known; a SINTAX call below its 0.8
bootstrap cutoff counts as wrong, as does a BLAST query without a hit.
"""

from __future__ import annotations

import json
import logging
import re
import time

import numpy as np
import torch
from bench_common import BenchContext, data_label, fmt, markdown_table, write_markdown
from bench_data import load_bench_data, merged
from bench_training import ModelSpec, finetune, pretrain
from tqdm.auto import tqdm

logger = logging.getLogger("benchmarks")

NAME = "taxonomy"
TITLE = "Per-rank accuracy on fungal ITS (seen species)"
ITS_TRAIN = ("train", "train_singleton")
BARCODEMAMBA_PLUS = ModelSpec("BarcodeMamba+", "barcodemamba-plus", "barcodemamba", "ntp", "bpe")


def hls_options(on: bool) -> dict:
    """Fine-tuning options of the taxonomy task with hierarchical label smoothing on or off."""
    return {"hls": on}


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def predict_ranks(model_dir, sequences, max_bases: int, batch_size: int = 64) -> tuple[dict[str, list], float]:
    """``({rank: predicted label per sequence}, seconds)`` from a saved taxonomic classifier."""
    from barcodefm.factory import load_model, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir, "AutoModel").eval()
    ranks = model.taxonomy_spec.ranks
    out = {rank: [] for rank in ranks}
    start = time.perf_counter()
    with torch.no_grad():
        for i in tqdm(range(0, len(sequences), batch_size), desc="classifying", unit="batch", leave=False):
            batch = [s[:max_bases] for s in sequences[i : i + batch_size]]
            enc = tokenizer(batch, padding=True, return_tensors="pt", return_token_type_ids=False)
            for call in model.predict_taxonomy(enc["input_ids"], enc["attention_mask"]):
                for rank in ranks:
                    out[rank].append(call["labels"][rank])
    return out, time.perf_counter() - start


def _rank_accuracy(truth: dict[str, list], predicted: dict[str, list], ranks) -> dict[str, float]:
    from barcodefm.evaluation import per_rank_metrics

    scores = per_rank_metrics({r: (truth[r], predicted.get(r, [None] * len(truth[r]))) for r in ranks})
    return {r: 100.0 * s["accuracy"] for r, s in scores.items()}


def _dataset_rows(ctx: BenchContext, label: str, source: str) -> dict:
    from barcodefm.data.taxonomy_labels import build_taxonomy_spec
    from barcodefm.evaluation.baselines import blast_top_hits, kmer_top_hits, sintax_classify

    size = ctx.size
    data = load_bench_data(
        ctx,
        source,
        _slug(label),
        train_splits=ITS_TRAIN,
        pretrain_splits=ITS_TRAIN,
        query_limits={"test": size.n_its_test_queries},
        label=label,
    )
    reference = merged(data, ITS_TRAIN)
    ranks = build_taxonomy_spec(reference, split_column=None).ranks
    truth = {r: data.labels("test", r) for r in ranks}
    queries = data.sequences("test")
    work = ctx.work_dir("its", _slug(label))
    rows = []

    pre = pretrain(ctx, BARCODEMAMBA_PLUS, data.path, ITS_TRAIN, size.its_pretrain_seconds, work / "pretrained")
    for variant, hls in (("BarcodeMamba+ (HLS)", True), ("BarcodeMamba+ (no HLS)", False)):
        tuned = finetune(
            ctx,
            pre.path,
            data.path,
            size.its_finetune_seconds,
            work / _slug(variant),
            variant,
            task="taxonomy",
            train_splits=ITS_TRAIN,
            test_splits=(),
            extra_options=hls_options(hls),
        )
        predicted, seconds = predict_ranks(tuned.path, queries, size.max_bases)
        rows.append(
            {
                "method": variant,
                "accuracy": _rank_accuracy(truth, predicted, ranks),
                "ms_per_query": 1000.0 * seconds / len(queries),
                "budget": f"{pre.steps:,} st, {pre.seconds:.0f} s / {tuned.steps:,} st, {tuned.seconds:.0f} s",
            }
        )

    ref_sequences = list(reference["sequence"])
    ref_labels = {r: list(reference[r]) for r in ranks}
    baselines = [("SINTAX (cutoff 0.8)", "vsearch"), ("BLAST (megablast top hit)", "blastn"), ("6-mer 1-NN", None)]
    for name, tool in tqdm(baselines, desc=f"{label}: baselines", unit="method"):
        if tool is not None and not ctx.aligners.get(tool, False):
            rows.append({"method": name, "not_run": f"{tool} not installed"})
            continue
        if name.startswith("SINTAX"):
            result = sintax_classify(ref_sequences, ref_labels, queries, cutoff=0.8, threads=1)
            predicted, index_seconds = result.predictions, result.index_seconds
        else:
            search = blast_top_hits if tool == "blastn" else kmer_top_hits
            kwargs = {"threads": ctx.threads} if tool == "blastn" else {}
            result = search(ref_sequences, queries, **kwargs)
            predicted = {r: result.labels(ref_labels[r]) for r in ranks}
            index_seconds = result.index_seconds
        rows.append(
            {
                "method": name,
                "accuracy": _rank_accuracy(truth, predicted, ranks),
                "ms_per_query": result.ms_per_query,
                "budget": f"index {index_seconds:.1f} s",
            }
        )
    return {
        "label": label,
        "source": source,
        "ranks": ranks,
        "rows": rows,
        "describe": f"{data.describe('test')}; reference {len(reference):,} ({' + '.join(data.describe(s) for s in ITS_TRAIN if s in data.parts)})",
    }


def _table(result: dict) -> str:
    ranks = result["ranks"]
    headers = [
        "method",
        *ranks,
        "ms / query",
        "time / BarcodeMamba+ time",
        "train budget: pretrain / fine-tune (steps, s)",
    ]
    model_ms = next((r["ms_per_query"] for r in result["rows"] if r["method"].startswith("BarcodeMamba+")), None)
    body = []
    for r in result["rows"]:
        if "not_run" in r:
            body.append([r["method"], *(["–"] * len(ranks)), f"not run: {r['not_run']}", "–", "–"])
        else:
            ratio = f"**{r['ms_per_query'] / model_ms:.2f}x**" if model_ms else "–"
            body.append(
                [
                    r["method"],
                    *(fmt(r["accuracy"].get(k)) for k in ranks),
                    fmt(r["ms_per_query"], 2),
                    ratio,
                    r["budget"],
                ]
            )
    return markdown_table(headers, body)


def _plot(results: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2), squeeze=False)
    for ax, result in zip(axes[0], results):
        ranks = result["ranks"]
        shown = [r for r in result["rows"] if "not_run" not in r]
        for r in shown:
            ax.plot(
                ranks,
                [r["accuracy"].get(k, np.nan) for k in ranks],
                marker="o",
                label=r["method"],
                linestyle="-" if r["method"].startswith("BarcodeMamba") else "--",
            )
        ax.set_ylim(0, 100)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(result["label"], fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(ctx: BenchContext) -> dict:
    size = ctx.size
    results = [_dataset_rows(ctx, label, source) for label, source in size.its_data]
    ctx.path(f"{NAME}.json").write_text(json.dumps(results, indent=1, default=float))
    _plot(results, ctx.path(f"{NAME}.png"))
    body = []
    for result in results:
        body += [
            f"**{result['label']}**: data {data_label(result['source'])}; queries {result['describe']}.",
            "",
            _table(result),
            "",
        ]
    caption = [
        f"BarcodeMamba+: BPE tokenizer ({size.bpe_vocab_size} tokens) trained on train + train_singleton, Mamba-2",
        f"width {size.d_model}, depth {size.n_layer}, batch {size.batch_size}, first {size.max_bases} bases, AdamW lr {size.lr:g};",
        f"next-token pretraining for {size.its_pretrain_seconds:.0f} s, then one taxonomy fine-tune per variant",
        f"from that model for {size.its_finetune_seconds:.0f} s each (runs end by the clock), class-weighted",
        "loss in both; HLS = hierarchical label smoothing 0.02 per rank above species. References of the",
        "baselines = train + train_singleton; SINTAX: `vsearch --sintax --sintax_cutoff 0.8`, one thread",
        f"(calls below the cutoff count as wrong); BLAST/VSEARCH use {ctx.threads} threads. Accuracy in % per rank,",
        "on test records whose label at that rank is known; ms / query: classification or search time per",
        "query, batch 64 for the model (index building excluded, shown in the last column); time / BarcodeMamba+",
        "time: per-query time relative to BarcodeMamba+ (HLS) on the same CPU.",
    ]
    write_markdown(ctx, NAME, TITLE, caption, "\n".join(body), images=(f"{NAME}.png",))
    return {"datasets": results}
