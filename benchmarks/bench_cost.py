"""Benchmark 3: per-query identification cost against the size of the reference set.

Methods, each answering "which reference is closest to this query?":
- a pretrained model (the COI accuracy table's, ``size.cost_model``): embed the query, then an
  exact blocked cosine 1-NN over the reference embeddings (``barcodefm.evaluation``);
- ``blastn`` (megablast) against a ``makeblastdb`` database; ``vsearch --usearch_global``;
- 6-mer count vectors + the same blocked cosine 1-NN.
One-off index costs are reported apart from per-query costs: reference embeddings for the
model (like ``makeblastdb`` for BLAST, and the reference 6-mer counts for the k-mer search).

References are the full COI table's ``train`` records, shuffled (seed 0) and cut to each size.
A size beyond the training records is filled with copies of random training records carrying
1% random point substitutions (seed 0), which keeps the search realistic (near-duplicates,
as in a real reference library) without inventing new taxa. Queries are ``unseen_query``
records (the hard case for alignment heuristics). All methods use the same threads.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
from bench_coi import pretrained_coi_models
from bench_common import BenchContext, data_label, data_path, fmt, markdown_table, subsample, write_markdown
from bench_embed import Embedder
from tqdm.auto import tqdm

logger = logging.getLogger("benchmarks")

NAME = "cost_vs_reference_size"
TITLE = "Per-query identification cost vs reference size"
MUTATION_RATE = 0.01
_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)


def mutated_copy(sequence: str, rng: np.random.Generator, rate: float = MUTATION_RATE) -> str:
    """``sequence`` with about ``rate`` of its positions substituted by a different base."""
    seq = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8).copy()
    positions = np.flatnonzero(rng.random(seq.size) < rate)
    for p in positions:
        choices = _BASES[_BASES != seq[p]]
        seq[p] = choices[rng.integers(len(choices))]
    return seq.tobytes().decode("ascii")


def reference_set(train_sequences: list[str], n: int, seed: int = 0) -> tuple[list[str], int]:
    """``n`` references: shuffled training records, then mutated copies; returns (sequences, n_copies)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train_sequences))
    refs = [train_sequences[i] for i in order[:n]]
    n_copies = max(0, n - len(refs))
    for i in rng.integers(0, len(train_sequences), size=n_copies):
        refs.append(mutated_copy(train_sequences[i], rng))
    return refs, n_copies


def _model_costs(
    ctx: BenchContext, model_dir, references: list[str], queries: list[str], sizes, embed_limit: int | None
) -> dict:
    """Per size: reference embedding (index) seconds, query embedding and 1-NN ms per query.

    At most ``embed_limit`` references are embedded (timed per size slice); a larger set's
    1-NN search runs over those embeddings repeated to its size (exact search costs the same
    whatever the vectors hold) and its index time is extrapolated from the measured rate.
    """
    from barcodefm.evaluation import nearest_neighbors

    embedder = Embedder(model_dir, ctx.size.max_bases)
    n_embedded = min(sizes[-1], embed_limit or sizes[-1])
    pieces, measured, elapsed, start = [], {}, 0.0, 0
    for n in sorted({n for n in sizes if n <= n_embedded} | {n_embedded}):
        x, seconds = embedder(references[start:n], desc=f"reference embeddings {start:,}-{n:,}")
        pieces.append(x)
        elapsed += seconds
        measured[n] = elapsed
        start = n
    embedded = np.concatenate(pieces)
    reference_x = embedded[np.arange(sizes[-1]) % n_embedded]
    query_x, query_seconds = embedder(queries, desc="query embeddings")
    nearest_neighbors(query_x[:2], reference_x[:10], k=1, progress=False)  # warm-up: not timed
    out = {}
    for n in sizes:
        start = time.perf_counter()
        nearest_neighbors(query_x, reference_x[:n], k=1, progress=False)
        search = time.perf_counter() - start
        extrapolated = n not in measured
        out[n] = {
            "embed_ms": 1000.0 * query_seconds / len(queries),
            "search_ms": 1000.0 * search / len(queries),
            "index_s": elapsed / n_embedded * n if extrapolated else measured[n],
            "index_extrapolated": extrapolated,
            "n_embedded": min(n, n_embedded),
        }
        out[n]["ms_per_query"] = out[n]["embed_ms"] + out[n]["search_ms"]
    return out


def _baseline_costs(ctx: BenchContext, name: str, references, queries) -> dict:
    from barcodefm.evaluation.baselines import blast_top_hits, kmer_top_hits, vsearch_top_hits

    if name == "BLAST":
        result = blast_top_hits(references, queries, threads=ctx.threads)
    elif name == "VSEARCH":
        result = vsearch_top_hits(references, queries, threads=ctx.threads)
    else:
        result = kmer_top_hits(references, queries, k=6, progress=False)
    return {
        "ms_per_query": result.ms_per_query,
        "index_s": result.index_seconds,
        "hit_rate": float(np.mean(result.hit_indices >= 0)),
    }


def _slope(sizes, values) -> float:
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0]) if len(sizes) > 1 else float("nan")


def _plot(sizes, series: dict[str, list[float]], index: dict[str, list[float]], path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, values in series.items():
        axes[0].plot(sizes, values, marker="o", label=f"{name} (slope {_slope(sizes, values):.2f})")
    for name, values in index.items():
        axes[1].plot(sizes, [max(v, 1e-3) for v in values], marker="s", label=name)
    for ax, ylabel, sub in ((axes[0], "ms per query", "per-query search"), (axes[1], "seconds (one-off)", "index")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("reference sequences")
        ax.set_ylabel(ylabel)
        ax.set_title(sub, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(ctx: BenchContext) -> dict:
    from barcodefm.data import load_barcodes

    size = ctx.size
    logger.info("reading %s", data_path(size.cost_data))
    dataset = load_barcodes(data_path(size.cost_data))
    splits = dataset["split"]
    train = [s for s, split in zip(dataset["sequence"], splits) if split == "train"]
    unseen = [s for s, split in zip(dataset["sequence"], splits) if split == "unseen_query"]
    queries = [unseen[i] for i in subsample(len(unseen), size.cost_queries, seed=0)]
    sizes = sorted(size.cost_reference_sizes)
    references, n_copies = reference_set(train, sizes[-1])
    logger.info("%d references (%d mutated copies), %d queries", len(references), n_copies, len(queries))

    model = pretrained_coi_models(ctx, [size.cost_model])[0]
    results = {"model": _model_costs(ctx, model.record.path, references, queries, sizes, size.cost_embed_limit)}
    methods = [("BLAST", "blastn"), ("VSEARCH", "vsearch"), ("6-mer 1-NN", None)]
    _baseline_costs(ctx, "6-mer 1-NN", references[:10], queries[:2])  # warm-up (first numpy/scipy calls)
    for name, tool in methods:
        if tool is not None and not ctx.aligners.get(tool, False):
            logger.error("%s not installed: %s left out of the cost benchmark", tool, name)
            continue
        results[name] = {
            n: _baseline_costs(ctx, name, references[:n], queries)
            for n in tqdm(sizes, desc=f"{name} cost", unit="size")
        }

    model_name = f"{size.cost_model} embed + 1-NN"
    names = [m for m, _ in methods if m in results]
    headers = [
        "references",
        f"{model_name} (ms/query)",
        *(f"{m} (ms/query)" for m in names),
        *(f"{m} / model" for m in names),
        "model index: embed references (s)",
        "makeblastdb (s)",
        "6-mer reference counts (s)",
    ]
    body = []
    for n in sizes:
        m = results["model"][n]["ms_per_query"]
        body.append(
            [
                f"{n:,}",
                f"{fmt(m, 2)} ({fmt(results['model'][n]['embed_ms'], 2)} embed + "
                f"{fmt(results['model'][n]['search_ms'], 3)} 1-NN)",
                *(fmt(results[k][n]["ms_per_query"], 2) for k in names),
                *(f"**{results[k][n]['ms_per_query'] / m:.2f}x**" for k in names),
                fmt(results["model"][n]["index_s"], 1) + (" *" if results["model"][n]["index_extrapolated"] else ""),
                fmt(results["BLAST"][n]["index_s"], 1) if "BLAST" in results else "–",
                fmt(results["6-mer 1-NN"][n]["index_s"], 1) if "6-mer 1-NN" in results else "–",
            ]
        )
    series = {
        model_name: [results["model"][n]["ms_per_query"] for n in sizes],
        f"{size.cost_model} 1-NN search only": [results["model"][n]["search_ms"] for n in sizes],
        **{k: [results[k][n]["ms_per_query"] for n in sizes] for k in names},
    }
    growth_rows = [[k, f"{v[-1] / v[0]:.1f}x", f"{_slope(sizes, v):.2f}"] for k, v in series.items()]
    extrapolated = [n for n in sizes if results["model"][n]["index_extrapolated"]]
    embed_label = f"{size.cost_model} reference embeddings" + (
        f" (extrapolated above {max(r['n_embedded'] for r in results['model'].values()):,})" if extrapolated else ""
    )
    index = {embed_label: [results["model"][n]["index_s"] for n in sizes]}
    if "BLAST" in results:
        index["makeblastdb"] = [results["BLAST"][n]["index_s"] for n in sizes]
    if "6-mer 1-NN" in results:
        index["6-mer reference counts"] = [results["6-mer 1-NN"][n]["index_s"] for n in sizes]
    ctx.path(f"{NAME}.json").write_text(
        json.dumps(
            {
                "sizes": sizes,
                "n_queries": len(queries),
                "n_mutated_copies": n_copies,
                "results": {k: {str(n): v for n, v in r.items()} for k, r in results.items()},
            },
            indent=1,
        )
    )
    _plot(sizes, series, index, ctx.path(f"{NAME}.png"), f"{TITLE} ({len(queries)} queries, {ctx.threads} threads)")

    copies = (
        f" The {sizes[-1]:,} set holds all {len(train):,} training records plus {n_copies:,} copies of random "
        f"training records with {MUTATION_RATE:.0%} random point substitutions (replicated, not real records)."
        if n_copies
        else ""
    )
    n_embedded = max(r["n_embedded"] for r in results["model"].values())
    reuse = (
        f" The model embeds {n_embedded:,} references (timed); for a larger set its 1-NN search runs over those "
        "embeddings repeated to the set's size (an exact search costs the same whatever the vectors hold) and "
        "its index time, marked *, is extrapolated linearly from the measured rate."
        if any(r["index_extrapolated"] for r in results["model"].values())
        else ""
    )
    caption = [
        f"Data: {data_label(size.cost_data)}; references = shuffled `train` records (seed 0) cut to each size.{copies}",
        f"Queries: {len(queries):,} random `unseen_query` records, all searched in one call per method,",
        f"{ctx.threads} threads each. Model: the accuracy table's {size.cost_model} (width {size.d_model},",
        f"depth {size.n_layer}), first {size.max_bases} bases, batch 64; its per-query cost = query embedding + exact blocked",
        "cosine 1-NN. BLAST: megablast, best-bitscore hit; VSEARCH: `--usearch_global --id 0.5`, best of 32 accepts;",
        "6-mer: cosine 1-NN on overlapping 6-mer counts (query counting included). 'X / model' = that method's",
        f"per-query time divided by the model's (above 1: the model is cheaper). Index costs are one-off.{reuse}",
    ]
    body_md = (
        markdown_table(headers, body) + "\n\nGrowth of the per-query cost from "
        f"{sizes[0]:,} to {sizes[-1]:,} references (log-log slope: 1 = linear in the reference size):\n\n"
        + markdown_table(["method", f"{sizes[-1]:,} / {sizes[0]:,}", "slope"], growth_rows)
    )
    write_markdown(ctx, NAME, TITLE, caption, body_md, images=(f"{NAME}.png",))
    return results
