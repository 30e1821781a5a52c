"""Benchmark 5: how the pretrained models lay out species they never saw.

The ``unseen_query`` records (whole split, not the probes' subsample) of the genera with the
most such records are embedded by each COI model of the accuracy table and, for comparison,
as 6-mer frequency vectors; a 2-D UMAP (cosine, 15 neighbours, seed 42) of each is plotted,
coloured by genus, one panel per representation. Each panel also gets a number: the
leave-one-out 1-NN genus accuracy among the plotted records (cosine, in the full embedding
space, not in the 2-D picture).
"""

from __future__ import annotations

import json
import logging
from collections import Counter

import numpy as np
from bench_coi import coi_data, pretrained_coi_models
from bench_common import BenchContext, data_label, fmt, markdown_table, write_markdown
from bench_embed import Embedder

logger = logging.getLogger("benchmarks")

NAME = "umap_unseen_genera"
TITLE = "UMAP of unseen-species embeddings, coloured by genus"


def leave_one_out_accuracy(x: np.ndarray, labels: list) -> float:
    """1-NN label accuracy where each record's own row is excluded from its neighbours."""
    from barcodefm.evaluation import nearest_neighbors

    indices, _ = nearest_neighbors(x, x, k=2, progress=False)
    rows = np.arange(len(x))
    # The record itself is normally the first hit; an identical twin can come first instead.
    nearest = np.where(indices[:, 0] == rows, indices[:, 1], indices[:, 0])
    return 100.0 * float(np.mean([labels[j] == labels[i] for i, j in enumerate(nearest)]))


def _plot(panels: list[dict], genera: list[str], genus_of: list[str], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.2 * rows), squeeze=False)
    colours = plt.get_cmap("tab10" if len(genera) <= 10 else "tab20")
    codes = np.array([genera.index(g) for g in genus_of])
    for ax, panel in zip(axes.flat, panels):
        xy = panel["xy"]
        for c, genus in enumerate(genera):
            sel = codes == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=8, color=colours(c % colours.N), label=genus, alpha=0.8)
        ax.set_title(f"{panel['name']}\nLOO 1-NN genus {panel['loo']:.1f}%", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(genera)), fontsize=8, markerscale=2, frameon=False)
    fig.tight_layout(rect=(0, 0.08 if len(genera) > 5 else 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(ctx: BenchContext) -> dict:
    from barcodefm.evaluation import umap_reduce
    from barcodefm.evaluation.baselines import kmer_count_matrix

    size = ctx.size
    data = coi_data(ctx)
    unseen = data.full["unseen_query"]
    counts = Counter(g for g in unseen["genus"] if g)
    genera = [g for g, _ in counts.most_common(size.umap_genera)]
    keep = [i for i, g in enumerate(unseen["genus"]) if g in genera]
    records = unseen.select(keep)
    sequences, genus_of = list(records["sequence"]), list(records["genus"])
    logger.info("UMAP: %d unseen_query records of %d genera", len(records), len(genera))

    panels = []
    for model in pretrained_coi_models(ctx):
        x, _ = Embedder(model.record.path, size.max_bases)(sequences, desc=f"{model.spec.name}: unseen genera")
        panels.append({"name": model.spec.name, "x": x})
    kmer = kmer_count_matrix(sequences, k=6, progress=False).toarray()
    panels.append({"name": "6-mer frequencies", "x": kmer / np.maximum(kmer.sum(axis=1, keepdims=True), 1)})
    for panel in panels:
        panel["xy"] = umap_reduce(panel["x"], n_components=2, n_neighbors=15, metric="cosine", random_state=42)
        panel["loo"] = leave_one_out_accuracy(panel["x"], genus_of)
    _plot(panels, genera, genus_of, ctx.path(f"{NAME}.png"))

    summary = [{"representation": p["name"], "loo_genus_accuracy": p["loo"]} for p in panels]
    ctx.path(f"{NAME}.json").write_text(
        json.dumps({"genera": {g: counts[g] for g in genera}, "n_records": len(records), "panels": summary}, indent=1)
    )
    caption = [
        f"Data: {data_label(size.coi_data)}, all `unseen_query` records of the {len(genera)} genera with the most",
        f"such records ({len(records):,} records; species never seen in training, genera seen):",
        ", ".join(f"*{g}* ({counts[g]})" for g in genera) + ".",
        f"Models: the accuracy table's pretrained backbones (width {size.d_model}, depth {size.n_layer}, each pretrained",
        f"for {size.pretrain_seconds:.0f} s of CPU; mean-pooled embeddings of the first {size.max_bases} bases);",
        "6-mer: overlapping 6-mer frequency vectors. UMAP to 2-D: cosine, 15 neighbours, min_dist 0.1, seed 42.",
        "LOO 1-NN genus: each record's genus predicted by its nearest other plotted record (cosine, in the",
        "full embedding space), in %.",
    ]
    table = markdown_table(
        ["representation", "LOO 1-NN genus accuracy (%)"], [[p["name"], fmt(p["loo"])] for p in panels]
    )
    write_markdown(ctx, NAME, TITLE, caption, table, images=(f"{NAME}.png",))
    return {"panels": summary}
