"""Benchmark: the reference index (``barcodefm index``) from 10,000 to 1,000,000 references.

Per size: per-query search time of the exact index (FAISS ``IndexFlatIP``) and of the approximate
one ``barcodefm index build`` picks beyond its threshold (HNSW, the parameters of
``barcodefm.index.vector_search``), recall@1 of the approximate search against the exact one,
build time and memory of each, and VSEARCH (``--usearch_global``, as the cost benchmark) on the
same number of reference sequences.

How the reference sets are made (embedding a million barcodes on a 2-core CPU takes days):
- real: the bundled ``coi-insect`` identifier's own reference, 30,358 distinct training barcodes
  of the shared COI table with the embeddings that model computed for them
  (``novelty_reference.safetensors``, float16) and their sequences;
- mutated (real model embeddings of replicated records): copies of random references with 1% random
  point substitutions, embedded by the model in this run;
- synthetic (beyond those): a real reference's embedding moved in a random direction by a cosine
  distance drawn from the measured distances between the mutated copies and their originals, so a
  synthetic reference sits where a mutated copy would. VSEARCH searches real + mutated sequences
  (1% substitutions) at every size.
Queries are random ``test`` records of the same table (not in the references), embedded by the model.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import resource
import time

import numpy as np
from bench_common import BenchContext, data_label, data_path, fmt, markdown_table, subsample, write_markdown

logger = logging.getLogger("benchmarks")

NAME = "index_scaling"
TITLE = "Reference index: search cost, recall and memory against the number of references"
SIZES = {"smoke": (1_000, 3_000, 10_000)}
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
VSEARCH_BUDGET_S = 900  # a VSEARCH run expected to take longer is extrapolated (marked) instead
EF_SEARCH_SWEEP = (32, 64, 128, 256)
EMBED_REPEATS = 3  # the query embedding's time: the best of a few passes, as the searches
# Searches time one thread (VSEARCH too): on a shared, oversubscribed CPU, OpenMP threads that
# wait for each other make multi-threaded timings erratic. Index builds use every thread.
SEARCH_THREADS = 1


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _model_references():
    """(embeddings float32, sequences) of the bundled COI identifier's reference set."""
    from safetensors.numpy import load_file

    from barcodefm.registry import resolve_model

    folder = resolve_model("coi-insect")
    x = load_file(f"{folder}/novelty_reference.safetensors")["embeddings"].astype(np.float32)
    with gzip.open(f"{folder}/reference_sequences.fasta.gz", "rt") as f:
        sequences = [line.strip() for line in f if not line.startswith(">")]
    assert len(sequences) == len(x)
    return folder, x, sequences


def _mutant_embeddings(ctx: BenchContext, folder, sequences, n_mutants: int) -> dict:
    """Mutated copies of random references and their embeddings by the model (cached in the work folder)."""
    from bench_cost import mutated_copy
    from bench_embed import Embedder

    cache = ctx.work_dir("index_scaling") / f"mutants_{n_mutants}.npz"
    if cache.is_file() and not ctx.fresh:
        return dict(np.load(cache))
    rng = np.random.default_rng(0)
    sources = rng.choice(len(sequences), n_mutants, replace=False)
    mutants = [mutated_copy(sequences[i], rng) for i in sources]
    mx, _ = Embedder(folder, max_bases=660)(mutants, desc="mutated-copy embeddings")
    out = {"mutants": mx, "mutant_sources": sources}
    np.savez(cache, **out)
    return out


def _query_embeddings(folder, queries: list[str], threads: int) -> tuple[np.ndarray, dict]:
    """The queries' embeddings and their cost per query, measured in every run as ``barcodefm index
    build`` and ``classify --index`` embed: their default batch size (``Reading().batch_size``
    barcodes per forward pass) in record order; the best of a few passes (wall clock, and this
    process's CPU time over all its threads). Three settings: batches on all ``threads`` (a user's
    run), batches on one thread (the footing of the one-thread searches and VSEARCH, and little
    moved by other jobs on a shared CPU), one query per forward pass on one thread."""
    import torch

    from barcodefm.index.reference_index import Reading, _Embedder

    batch = Reading().batch_size
    embedder = _Embedder(folder, Reading())

    def cost(size: int, n_threads: int) -> tuple[np.ndarray, dict]:
        torch.set_num_threads(n_threads)
        embedder(queries[:size])  # warm-up: the first forward of a shape allocates
        wall = cpu = float("inf")
        for _ in range(EMBED_REPEATS):
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            x = np.concatenate([embedder(queries[i : i + size]) for i in range(0, len(queries), size)])
            wall = min(wall, time.perf_counter() - start_wall)
            cpu = min(cpu, time.process_time() - start_cpu)
        return x, {
            "batch_size": size,
            "threads": n_threads,
            "ms_per_query": 1000.0 * wall / len(queries),
            "cpu_ms_per_query": 1000.0 * cpu / len(queries),
        }

    load_before = os.getloadavg()[0]
    x, all_threads = cost(batch, threads)
    _, one_thread = cost(batch, 1)
    _, one_query = cost(1, 1)
    torch.set_num_threads(threads)
    measured = {
        "order": "record order (as the commands read their input)",
        "repeats": EMBED_REPEATS,
        "batched_all_threads": all_threads,
        "batched_one_thread": one_thread,
        "one_query_per_pass_one_thread": one_query,
        "load_average_1min": [load_before, os.getloadavg()[0]],
    }
    logger.info("query embedding: %s", measured)
    return x, measured


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _synthetic(real: np.ndarray, shifts: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` vectors, each a random real one moved by a cosine distance drawn from ``shifts``."""
    d = real.shape[1]
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        base = real[rng.integers(0, len(real), m)]
        delta = rng.choice(shifts, m)
        sigma = np.sqrt((1.0 / (1.0 - delta) ** 2 - 1.0) / d)  # |g|^2 ~ d: cos(base, base + sigma g) ~ 1 - delta
        out[start : start + m] = _unit(base + sigma[:, None] * rng.standard_normal((m, d)).astype(np.float32))
    return out


def _timed_search(index, queries: np.ndarray, k: int = 10, repeats: int = 3, cpu: dict | None = None):
    """(ms per query, result): the best of ``repeats`` searches; ``cpu`` gets their best CPU time."""
    best, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):  # the best of a few: the CPU is shared
        start, start_cpu = time.perf_counter(), time.process_time()
        result = index.search(queries, k)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    if cpu is not None:
        cpu["cpu_ms_per_query"] = 1000.0 * best_cpu / len(queries)
    return 1000.0 * best / len(queries), result


def _index_costs(x: np.ndarray, queries: np.ndarray, settings: dict, threads: int) -> dict:
    """Build time, memory and per-query search time of one FAISS index over ``x``."""
    import faiss

    from barcodefm.index import vector_search

    rss = _rss_mb()
    start = time.perf_counter()
    index = vector_search.new_index(x.shape[1], settings, x if settings["kind"] == "ivf" else None)
    index.add(x)
    build_s = time.perf_counter() - start
    size_mb = faiss.serialize_index(index).nbytes / 2**20
    faiss.omp_set_num_threads(SEARCH_THREADS)
    cpu = {}
    ms, (sims, rows) = _timed_search(index, queries, cpu=cpu)
    faiss.omp_set_num_threads(threads)
    return {
        "build_s": build_s,
        "index_mb": size_mb,
        "rss_growth_mb": _rss_mb() - rss,
        "ms_per_query": ms,
        **cpu,
        "sims": sims,
        "rows": rows,
        "index": index,
    }


def _vsearch(references: list[str], queries: list[str]) -> dict:
    """VSEARCH's time per query of a run over all ``queries`` (reading the database included: VSEARCH
    keeps no index between runs), and without it: minus a one-query run's time (noisy when small)."""
    from barcodefm.evaluation.baselines import vsearch_top_hits

    one = vsearch_top_hits(references, queries[:1], threads=SEARCH_THREADS).ms_per_query / 1000.0
    cpu_before = _children_cpu_s()
    run_s = vsearch_top_hits(references, queries, threads=SEARCH_THREADS).ms_per_query * len(queries) / 1000.0
    cpu_s = _children_cpu_s() - cpu_before
    marginal = (run_s - one) / max(len(queries) - 1, 1)
    return {
        "ms_per_query": 1000.0 * run_s / len(queries),
        "cpu_ms_per_query": 1000.0 * cpu_s / len(queries),
        "marginal_ms": 1000.0 * marginal,
        "database_s": one,
        "run_s": run_s,
    }


def _children_cpu_s() -> float:
    """CPU seconds of the finished child processes (VSEARCH): unlike wall time, little moved by other jobs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _mutated_sequences(sequences: list[str], n: int, rng) -> list[str]:
    from bench_cost import mutated_copy

    return [mutated_copy(sequences[i], rng) for i in rng.integers(0, len(sequences), n)]


def _plot(sizes, series: dict[str, list], recall: dict[str, list], memory: dict[str, list], path, title) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, values in series.items():
        style = "--" if "extrapolated" in name else "-"
        axes[0].plot(sizes, values, style, marker="o", label=name)
    for name, values in recall.items():
        axes[1].plot(sizes, values, marker="o", label=name)
    for name, values in memory.items():
        axes[2].plot(sizes, values, marker="s", label=name)
    axes[0].set(xscale="log", yscale="log", ylabel="ms per query", title="per-query cost")
    axes[1].set(xscale="log", ylabel="recall@1 vs exact", title="approximate search recall")
    axes[2].set(xscale="log", yscale="log", ylabel="MB", title="index memory")
    for ax in axes:
        ax.set_xlabel("references")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(ctx: BenchContext) -> dict:
    import faiss

    from barcodefm.index import vector_search

    faiss.omp_set_num_threads(ctx.threads)
    smoke = ctx.size.name == "smoke"
    sizes = SIZES.get(ctx.size.name, DEFAULT_SIZES)
    n_queries, n_mutants, n_vsearch = (20, 20, 20) if smoke else (300, 300, 200)
    load = {"start": os.getloadavg()[0]}
    folder, real, sequences = _model_references()
    query_x, embedding = _query_embeddings(folder, load_query_sequences(ctx, n_queries), ctx.threads)
    emb = _mutant_embeddings(ctx, folder, sequences, n_mutants)
    queries = _unit(query_x.astype(np.float32))
    mutants = _unit(emb["mutants"].astype(np.float32))
    real = _unit(real)
    shifts = 1.0 - np.sum(mutants * real[emb["mutant_sources"]], axis=1)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(real))
    n_real = min(len(real), sizes[-1])
    n_synthetic = max(0, sizes[-1] - n_real - len(mutants))
    logger.info("%d real, %d mutated, %d synthetic references", n_real, len(mutants), n_synthetic)
    pool = np.concatenate([real[order[:n_real]], mutants, _synthetic(real, shifts, n_synthetic, rng)])
    kinds = np.array(["real"] * n_real + ["mutated"] * len(mutants) + ["synthetic"] * n_synthetic)

    results = {}
    for n in sizes:
        # a size below the real set is real references only; above, every real one and then the rest
        x = pool[:n]
        exact = _index_costs(x, queries, vector_search.search_settings(n, "flat"), ctx.threads)
        approx_settings = vector_search.search_settings(n, "hnsw")
        approx = _index_costs(x, queries, approx_settings, ctx.threads)
        best = exact["sims"][:, 0]
        sweep = {}
        faiss.omp_set_num_threads(SEARCH_THREADS)
        for ef in EF_SEARCH_SWEEP:
            approx["index"].hnsw.efSearch = ef
            ms, (sims, rows) = _timed_search(approx["index"], queries)
            sweep[ef] = {
                "ms_per_query": ms,
                "recall_at_1": float(np.mean(sims[:, 0] >= best - 1e-5)),  # a tie with the exact best counts
                "same_id_at_1": float(np.mean(rows[:, 0] == exact["rows"][:, 0])),
            }
        faiss.omp_set_num_threads(ctx.threads)
        counts = {kind: int((kinds[:n] == kind).sum()) for kind in ("real", "mutated", "synthetic")}
        results[n] = {
            "references": counts,
            "exact": {k: v for k, v in exact.items() if k not in ("sims", "rows", "index")},
            "approx": {k: v for k, v in approx.items() if k not in ("sims", "rows", "index")}
            | sweep[approx_settings["ef_search"]],
            "approx_settings": approx_settings,
            "ef_search_sweep": sweep,
            "auto_kind": vector_search.search_settings(n)["kind"],
        }
        del exact, approx
        logger.info("%d references: %s", n, json.dumps(results[n], default=str)[:400])

    # VSEARCH on sequences: real references, then mutated copies; largest sizes extrapolated when too slow.
    query_table = load_query_sequences(ctx, n_vsearch)
    vsearch, seq_pool = {}, list(sequences)
    for n in sizes:
        if len(vsearch) >= 1:
            last = max(vsearch)
            expected = vsearch[last]["run_s"] * n / last
            if expected > VSEARCH_BUDGET_S:
                vsearch[n] = {
                    "ms_per_query": vsearch[last]["ms_per_query"] * n / last,
                    "cpu_ms_per_query": vsearch[last]["cpu_ms_per_query"] * n / last,
                    "marginal_ms": vsearch[last]["marginal_ms"] * n / last,
                    "extrapolated_from": last,
                }
                continue
        if len(seq_pool) < n:
            seq_pool += _mutated_sequences(sequences, n - len(seq_pool), rng)
        shuffled = [seq_pool[i] for i in order[: min(n, len(order))]] + seq_pool[len(order) : n]
        vsearch[n] = _vsearch(shuffled, query_table)

    load["end"] = os.getloadavg()[0]
    return _report(ctx, sizes, results, vsearch, embedding, load, shifts, n_real, len(mutants), n_queries, n_vsearch)


def load_query_sequences(ctx: BenchContext, n: int) -> list[str]:
    from barcodefm.data import load_barcodes

    table = load_barcodes(data_path(ctx.size.cost_data))
    test = [s for s, split in zip(table["sequence"], table["split"]) if split == "test"]
    return [test[i] for i in subsample(len(test), n, seed=0)]


def _marginal(ms: float) -> str:
    """VSEARCH's time per query without the database read; below the run-to-run noise of reading
    the database (the one-query run took as long as the full one) it is not resolved."""
    return fmt(ms, 1) if ms > 0 else "below the noise"


def _ratio(ms: float, index_ms: float) -> str:
    return f"{ms / index_ms:,.0f}x" if ms > 0 else "–"


def _report(ctx, sizes, results, vsearch, embedding, load, shifts, n_real, n_mutants, n_queries, n_vsearch) -> dict:
    small, large = sizes[0], sizes[-1]
    # The per-query cost's embedding: batches on one thread, the footing of the searches and VSEARCH.
    one_thread, all_threads = embedding["batched_one_thread"], embedding["batched_all_threads"]
    single = embedding["one_query_per_pass_one_thread"]
    embed_ms, user_ms, single_ms = one_thread["ms_per_query"], all_threads["ms_per_query"], single["ms_per_query"]
    rows = []
    for n in sizes:
        r, v = results[n], vsearch[n]
        auto = r["exact"] if r["auto_kind"] == "flat" else r["approx"]
        refs = r["references"]
        rows.append(
            [
                f"{n:,}",
                f"{refs['real']:,} / {refs['mutated']:,} / {refs['synthetic']:,}",
                fmt(r["exact"]["ms_per_query"], 3),
                fmt(r["approx"]["ms_per_query"], 3),
                f"{r['approx']['recall_at_1']:.3f}",
                f"{fmt(r['exact']['build_s'], 2)} / {fmt(r['approx']['build_s'], 1)}",
                f"{fmt(r['exact']['index_mb'], 0)} / {fmt(r['approx']['index_mb'], 0)}",
                fmt(v["ms_per_query"], 1) + (" (extrapolated)" if "extrapolated_from" in v else ""),
                _marginal(v["marginal_ms"]),
                f"{v['ms_per_query'] / auto['ms_per_query']:,.0f}x / {_ratio(v['marginal_ms'], auto['ms_per_query'])}",
                f"{v['ms_per_query'] / (embed_ms + auto['ms_per_query']):,.1f}x",
            ]
        )
    headers = [
        "references",
        "real / mutated / synthetic",
        "exact search (ms/query)",
        "HNSW search (ms/query)",
        "HNSW recall@1",
        "build s (exact / HNSW)",
        "index MB (exact / HNSW)",
        "VSEARCH (ms/query)",
        "VSEARCH without reading the database (ms/query)",
        "VSEARCH / index search (with / without the database read)",
        "VSEARCH / (query embedding + search), one thread each",
    ]
    sweep_rows = [
        [
            f"{ef}",
            *(
                f"{results[n]['ef_search_sweep'][ef]['recall_at_1']:.3f} / {fmt(results[n]['ef_search_sweep'][ef]['ms_per_query'], 3)}"
                for n in sizes
            ),
        ]
        for ef in EF_SEARCH_SWEEP
    ]
    auto = {n: results[n]["exact"] if results[n]["auto_kind"] == "flat" else results[n]["approx"] for n in sizes}
    ratios = {
        "hnsw_search_large_over_small": results[large]["approx"]["ms_per_query"]
        / results[small]["approx"]["ms_per_query"],
        "auto_search_large_over_small": auto[large]["ms_per_query"] / auto[small]["ms_per_query"],
        "auto_cost_large_over_small": (embed_ms + auto[large]["ms_per_query"])
        / (embed_ms + auto[small]["ms_per_query"]),
        "exact_search_large_over_small": results[large]["exact"]["ms_per_query"]
        / results[small]["exact"]["ms_per_query"],
        "vsearch_over_index_search_at_large": vsearch[large]["ms_per_query"] / auto[large]["ms_per_query"],
        "vsearch_marginal_over_index_search_at_large": vsearch[large]["marginal_ms"] / auto[large]["ms_per_query"],
        "vsearch_over_index_cost_at_large": vsearch[large]["ms_per_query"] / (embed_ms + auto[large]["ms_per_query"]),
        "vsearch_marginal_over_index_cost_at_large": vsearch[large]["marginal_ms"]
        / (embed_ms + auto[large]["ms_per_query"]),
        "vsearch_over_index_cost_cpu_time_at_large": vsearch[large]["cpu_ms_per_query"]
        / (one_thread["cpu_ms_per_query"] + auto[large]["cpu_ms_per_query"]),
        "vsearch_over_index_cost_all_threads_embedding_at_large": vsearch[large]["ms_per_query"]
        / (user_ms + auto[large]["ms_per_query"]),
        "vsearch_over_index_cost_one_query_per_pass_at_large": vsearch[large]["ms_per_query"]
        / (single_ms + auto[large]["ms_per_query"]),
        "hnsw_recall_at_1_at_large": results[large]["approx"]["recall_at_1"],
    }
    ratio_rows = [
        [f"HNSW search, {large:,} / {small:,}", f"{ratios['hnsw_search_large_over_small']:.2f}x"],
        [
            f"search of the kind `index build` picks (exact below 100k, HNSW beyond), {large:,} / {small:,}",
            f"{ratios['auto_search_large_over_small']:.2f}x",
        ],
        [
            f"per-query cost with the query's embedding, {large:,} / {small:,}",
            f"{ratios['auto_cost_large_over_small']:.2f}x",
        ],
        [f"exact search, {large:,} / {small:,}", f"{ratios['exact_search_large_over_small']:.1f}x"],
        [f"VSEARCH / index search at {large:,}", f"{ratios['vsearch_over_index_search_at_large']:,.0f}x"],
        [
            f"VSEARCH without reading the database / index search at {large:,}",
            _ratio(vsearch[large]["marginal_ms"], auto[large]["ms_per_query"]),
        ],
        [
            f"VSEARCH / (query embedding + index search) at {large:,}, one thread each",
            f"{ratios['vsearch_over_index_cost_at_large']:,.1f}x",
        ],
        [
            f"VSEARCH without reading the database / (query embedding + index search) at {large:,}, one thread each "
            f"(VSEARCH with its database read spread over many more queries than {n_vsearch})",
            f"{ratios['vsearch_marginal_over_index_cost_at_large']:,.1f}x"
            if vsearch[large]["marginal_ms"] > 0
            else "–",
        ],
        [
            f"VSEARCH / (query embedding + index search) in CPU time (little moved by other jobs) at {large:,}",
            f"{ratios['vsearch_over_index_cost_cpu_time_at_large']:,.1f}x",
        ],
        [
            f"VSEARCH / (query embedding on {all_threads['threads']} threads + index search) at {large:,}",
            f"{ratios['vsearch_over_index_cost_all_threads_embedding_at_large']:,.1f}x",
        ],
        [
            f"VSEARCH / (query embedding one query per forward pass + index search) at {large:,}, one thread each",
            f"{ratios['vsearch_over_index_cost_one_query_per_pass_at_large']:,.1f}x",
        ],
    ]
    ctx.path(f"{NAME}.json").write_text(
        json.dumps(
            {
                "sizes": sizes,
                "n_queries": n_queries,
                "n_vsearch_queries": n_vsearch,
                "query_embedding_ms": embed_ms,
                "query_embedding": embedding,
                "load_average_1min": load,
                "mutation_cosine_shift": {"mean": float(shifts.mean()), "median": float(np.median(shifts))},
                "results": {str(n): r for n, r in results.items()},
                "vsearch": {str(n): v for n, v in vsearch.items()},
                "ratios": ratios,
            },
            indent=1,
            default=str,
        )
    )
    series = {
        "exact (FlatIP) search": [results[n]["exact"]["ms_per_query"] for n in sizes],
        "HNSW search": [results[n]["approx"]["ms_per_query"] for n in sizes],
        f"query embedding (batches of {one_thread['batch_size']}, one thread)": [embed_ms] * len(sizes),
        "VSEARCH" + (" (largest extrapolated)" if any("extrapolated_from" in vsearch[n] for n in sizes) else ""): [
            vsearch[n]["ms_per_query"] for n in sizes
        ],
    }
    _plot(
        sizes,
        series,
        {"HNSW recall@1": [results[n]["approx"]["recall_at_1"] for n in sizes]},
        {
            "exact index": [results[n]["exact"]["index_mb"] for n in sizes],
            "HNSW index": [results[n]["approx"]["index_mb"] for n in sizes],
        },
        ctx.path(f"{NAME}.png"),
        f"{TITLE} ({n_queries} queries, {ctx.threads} threads)",
    )
    caption = [
        f"References: the bundled coi-insect identifier's {n_real:,} real training barcodes (embeddings the model computed),",
        f"{n_mutants} mutated copies (1% point substitutions) embedded here, and synthetic embeddings beyond them: a real",
        "embedding moved in a random direction by a cosine distance drawn from the measured mutated-copy shifts (median",
        f"{np.median(shifts):.4f}); counts per size in the table. Queries: {n_queries} random `test` records of",
        f"{data_label(ctx.size.cost_data)}, embedded by the model as `index build` and `classify --index` embed:",
        f"batches of {one_thread['batch_size']} (their default) in record order, best of {embedding['repeats']} passes;",
        f"{embed_ms:.2f} ms per query on one thread (the per-query cost below: one thread, as the searches and",
        f"VSEARCH), {user_ms:.2f} ms on all {all_threads['threads']} threads (a user's run; {all_threads['cpu_ms_per_query']:.2f} ms",
        "of CPU time over the threads"
        + (
            "; slower than one thread: with other jobs on the cores the threads wait for each other"
            if user_ms > embed_ms
            else ""
        )
        + f"), {single_ms:.2f} ms one query per forward pass on one thread. Search = top-10, the",
        "queries in one call, best of 3. HNSW: M=32, efConstruction=80, efSearch=128 (the defaults of `barcodefm index`).",
        "recall@1: share of queries whose approximate top hit is as similar as the exact one (ties count). Index MB:",
        "the serialised FAISS index. VSEARCH: `--usearch_global --id 0.5` on real + mutated sequences (no synthetic ones),",
        f"{n_vsearch} queries: a run's time per query (reading the database included, as VSEARCH keeps no index",
        "between runs), and without it (minus a one-query run; 'below the noise' where the one-query run took as long",
        "as the full one: the queries cost less than the database read varies). Searches (FAISS and VSEARCH) time one thread;",
        "builds use all. CPU time: the searching process's (VSEARCH's: the child process's, its database read",
        "included). The CPU is shared with other jobs: 1-minute load average",
        f"{load['start']:.1f} at the start, {embedding['load_average_1min'][0]:.1f}-{embedding['load_average_1min'][1]:.1f}",
        f"while the queries were embedded, {load['end']:.1f} at the end ({os.cpu_count()} cores); absolute times vary with it, read the ratios.",
    ]
    body = (
        markdown_table(headers, rows)
        + "\n\nRatios:\n\n"
        + markdown_table(["ratio", "value"], ratio_rows)
        + "\n\nHNSW efSearch (recall@1 / ms per query) per size:\n\n"
        + markdown_table(["efSearch", *(f"{n:,}" for n in sizes)], sweep_rows)
    )
    write_markdown(ctx, NAME, TITLE, caption, body, images=(f"{NAME}.png",))
    return {"results": results, "vsearch": vsearch, "ratios": ratios}
