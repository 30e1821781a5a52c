"""The bundled identifiers (``coi-insect``, ``its-fungi``) against BLAST, VSEARCH, SINTAX and 6-mer
1-NN on the FULL test splits, with reference = the training records the model saw.

    python benchmarks/bundled_models.py                      # both models, all tools
    python benchmarks/bundled_models.py --baselines-only     # fill the classic tools' cache first
    python benchmarks/bundled_models.py --model coi-insect=runs/coi-insect   # a folder instead

Writes ``benchmarks/results/bundled_models.{md,json}`` and one learning-curve plot per model
(validation accuracy per rank against the training run's CPU minutes, the classic tools' validation
accuracy as flat lines). The classic tools' results do not depend on the model: they are cached in
``runs/benchmarks/bundled_baselines/`` (delete it to rerun them).

What is measured (per query set): accuracy per rank over the records whose true label at that rank
is known (a label the reference never holds counts as wrong for every method); the model's
per-query time (batch 64, 2 threads, heads + nearest references, the way `barcodefm classify`
runs); expected calibration error of the per-rank probabilities (15 equal-width bins); precision
and share of records assigned at ``--min-prob 0.8`` (SINTAX's convention, SINTAX beside it); and
the AUROC of the model's novelty score (its ``novelty.json``: the evidence it reads, and its
weights) separating ``unseen_query`` (species never seen) from ``test`` (seen species).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from barcodefm.evaluation.metrics import expected_calibration_error
from barcodefm.inference.novelty import NoveltyScore

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
CACHE = REPO / "runs" / "benchmarks" / "bundled_baselines"
logger = logging.getLogger("bundled_models")

MIN_PROB = 0.8
SINTAX_RANKS = ("domain", "kingdom", "phylum", "class", "order", "family", "genus", "species")
ECE_BINS = 15


def dataset_query_sets(name: str, records) -> list[tuple[str, list[int]]]:
    split = records["split"]
    if name == "coi-insect":
        return [(f"COI {s}", [i for i, x in enumerate(split) if x == s]) for s in ("val", "test", "unseen_query")]
    source = records["dataset"]
    label = {"cbs": "CBS ITS2", "mycoai": "MycoAI test1"}
    return [
        (f"{label[d]} {s}", [i for i, (x, y) in enumerate(zip(split, source)) if x == s and y == d])
        for d in ("cbs", "mycoai")
        for s in ("val", "test", "unseen_query")
    ]


def accuracy(pred: list, truth: list) -> tuple[float, int]:
    known = [i for i, t in enumerate(truth) if t not in (None, "")]
    if not known or all(p is None for p in pred):  # no call at this rank at all (SINTAX's subfamily)
        return float("nan"), 0
    return float(np.mean([pred[i] == truth[i] for i in known])), len(known)


# --------------------------------------------------------------------------------------------- tools


def run_baselines(name: str, records, ranks, ref_idx, sets, threads: int, blast_sample: int | None) -> dict:
    """{set: {tool: {"labels": {rank: [...]}, "ms_per_query": float, "n": int, ...}}}, cached."""
    from barcodefm.evaluation.baselines.blast import blast_top_hits
    from barcodefm.evaluation.baselines.kmer import kmer_top_hits
    from barcodefm.evaluation.baselines.vsearch import sintax_classify, vsearch_top_hits

    CACHE.mkdir(parents=True, exist_ok=True)
    seqs = records["sequence"]
    ref_seqs = [seqs[i] for i in ref_idx]
    ref_ids = [f"ref{i}" for i in ref_idx]
    ref_labels = {r: [records[r][i] for i in ref_idx] for r in ranks}
    out = {}
    rng = np.random.default_rng(0)
    for set_name, idx in sets:
        path = CACHE / f"{name}__{set_name.replace(' ', '_')}.json"
        if path.is_file():
            out[set_name] = json.loads(path.read_text())
            continue
        q_seqs, q_ids = [seqs[i] for i in idx], [f"q{i}" for i in idx]
        result = {}
        for tool, fn, kwargs in (
            ("6-mer 1-NN", kmer_top_hits, dict(progress=False)),
            ("VSEARCH", vsearch_top_hits, dict(threads=threads)),
        ):
            t0 = time.perf_counter()
            hits = fn(ref_seqs, q_seqs, ref_ids, q_ids, **kwargs)
            logger.info("%s %s: %d queries in %.0f s", set_name, tool, len(q_seqs), time.perf_counter() - t0)
            result[tool] = {
                "labels": {r: hits.labels(ref_labels[r]) for r in ranks},
                "ms_per_query": hits.ms_per_query,
                "rows": list(range(len(idx))),
            }
        if not set_name.endswith(" val"):
            t0 = time.perf_counter()
            # SINTAX knows a fixed set of rank names (no subfamily): those ranks get no call.
            sintax_ranks = [r for r in ranks if r in SINTAX_RANKS]
            sintax = sintax_classify(
                ref_seqs, {r: ref_labels[r] for r in sintax_ranks}, q_seqs, q_ids, cutoff=MIN_PROB, threads=1
            )
            logger.info("%s SINTAX: %.0f s", set_name, time.perf_counter() - t0)
            none = [None] * len(idx)
            result["SINTAX (cutoff 0.8)"] = {
                "labels": {r: sintax.predictions[r] if r in sintax_ranks else none for r in ranks},
                "best": {r: sintax.best[r] if r in sintax_ranks else none for r in ranks},
                "confidence": {
                    r: [float(c) if c is not None else 0.0 for c in sintax.confidences[r]]
                    if r in sintax_ranks
                    else [0.0] * len(idx)
                    for r in ranks
                },
                "ms_per_query": sintax.ms_per_query,
                "rows": list(range(len(idx))),
            }
            rows = list(range(len(idx)))
            if blast_sample and len(rows) > blast_sample:
                rows = sorted(rng.choice(len(rows), blast_sample, replace=False).tolist())
            t0 = time.perf_counter()
            hits = blast_top_hits(
                ref_seqs, [q_seqs[j] for j in rows], ref_ids, [q_ids[j] for j in rows], threads=threads
            )
            logger.info("%s BLAST: %d queries in %.0f s", set_name, len(rows), time.perf_counter() - t0)
            result["BLAST"] = {
                "labels": {r: hits.labels(ref_labels[r]) for r in ranks},
                "ms_per_query": hits.ms_per_query,
                "rows": rows,
            }
        path.write_text(json.dumps(result))
        out[set_name] = result
    return out


def novelty_baselines(name: str, records, ref_idx, sets, threads: int) -> dict:
    """{set: {tool: [novelty per query]}} for the test and unseen_query sets, cached: how a user of
    a classic tool flags a possibly new species, by how far the top hit is (1 - VSEARCH identity,
    1 - 6-mer cosine; a query VSEARCH finds no hit for at 50% identity is as novel as it gets)."""
    from barcodefm.evaluation.baselines.kmer import kmer_top_hits
    from barcodefm.evaluation.baselines.vsearch import vsearch_top_hits

    seqs = records["sequence"]
    ref_seqs, ref_ids = [seqs[i] for i in ref_idx], [f"ref{i}" for i in ref_idx]
    out = {}
    for set_name, idx in sets:
        if set_name.endswith(" val"):
            continue
        path = CACHE / f"{name}__{set_name.replace(' ', '_')}__top_similarity.json"
        if not path.is_file():
            q_seqs, q_ids = [seqs[i] for i in idx], [f"q{i}" for i in idx]
            vsearch = vsearch_top_hits(ref_seqs, q_seqs, ref_ids, q_ids, threads=threads)
            kmer = kmer_top_hits(ref_seqs, q_seqs, ref_ids, q_ids, progress=False)
            found = {
                "VSEARCH": [x / 100 if np.isfinite(x) else 0.0 for x in np.asarray(vsearch.identities, float)],
                "6-mer 1-NN": [x if np.isfinite(x) else 0.0 for x in np.asarray(kmer.scores, float)],
            }
            path.write_text(json.dumps(found))
        out[set_name] = {tool: [1.0 - x for x in sims] for tool, sims in json.loads(path.read_text()).items()}
    return out


# --------------------------------------------------------------------------------------------- model


# The model's rows in the tables: the identifier, the network without the sequence-space votes, and
# each part.
VARIANTS = (
    "model",
    "network only",
    "heads only",
    "embedding neighbours only",
    "k-mer neighbours only",
    "alignment neighbours only",
)


def network_choice(model_dir: Path) -> dict[str, tuple[str, dict]]:
    """Per rank, the best rule WITHOUT the sequence-space votes (k-mer, alignment) on the selection
    records (from the model's identification.json): what the network alone would have been chosen
    to say."""
    from barcodefm.inference.reference_vote import RULES_FILE, SEQUENCE_VOTES, parse_choice

    scores = json.loads((model_dir / RULES_FILE).read_text())["selection_accuracy"]
    out = {}
    for rank, by_name in scores.items():
        names = [n for n in by_name if not set(parse_choice(n)[0].split("+")) & set(SEQUENCE_VOTES)]
        out[rank] = parse_choice(max(names, key=lambda n: (round(by_name[n], 6), -names.index(n))))
    return out


def run_model(model_dir: Path, records, ranks, sets, max_bases: int) -> dict:
    from barcodefm.factory import load_model, load_tokenizer
    from barcodefm.inference.kmer_reference import KmerReference
    from barcodefm.inference.reference_vote import ReferenceSet, combine_rule
    from barcodefm.inference.reference_vote import run_model as forward

    model = load_model(model_dir, "AutoModel").eval()
    tokenizer = load_tokenizer(model_dir)
    reference = ReferenceSet.load(model_dir)
    spec = model.taxonomy.spec
    out = {}
    for set_name, idx in sets:
        whole = [records["sequence"][i] for i in idx]  # the sequence-space votes read whole barcodes
        seqs = [s[:max_bases] for s in whole]  # the network reads what it was trained on
        t0 = time.perf_counter()
        heads, emb = forward(model, tokenizer, seqs, batch_size=64, progress=False)
        combined, evidence = reference.identify(heads, emb, whole)
        novelty = reference.novelty(evidence)
        seconds = time.perf_counter() - t0
        # The parts alone (not timed): each rank's own vote temperatures, as in the model's rule.
        num_classes = {r: p.shape[1] for r, p in heads.items()}
        reference.kmer = reference.kmer or KmerReference.load(model_dir)
        voted = [s[: reference.sequence_max_length] for s in whole]
        found = reference.find(emb, voted, sources=("kmer", "align"))
        sims, nn_idx = found["reference"]
        ksims, kidx = found["kmer"]
        emb_vote = {
            r: reference.distributions(sims, nn_idx, {r: num_classes[r]}, reference.temperature_of(r, "reference"))[r]
            for r in heads
        }
        kmer_vote = {
            r: reference.distributions(ksims, kidx, {r: num_classes[r]}, reference.temperature_of(r, "kmer"))[r]
            for r in heads
        }
        asims, aidx = found["align"]  # ranked by the model's alignment identity
        align_vote = {
            r: reference.distributions(asims, aidx, {r: num_classes[r]}, reference.temperature_of(r, "align"))[r]
            for r in heads
        }
        network = {}
        for r, (rule, temps) in network_choice(model_dir).items():
            vote = reference.distributions(sims, nn_idx, {r: num_classes[r]}, temps.get("reference"))[r]
            network[r] = combine_rule(rule, heads[r], vote)
        variants = {
            "model": combined,
            "network only": network,
            "heads only": heads,
            "embedding neighbours only": {r: combine_rule("reference", heads[r], emb_vote[r]) for r in heads},
            "k-mer neighbours only": {r: combine_rule("kmer", heads[r], kmer=kmer_vote[r]) for r in heads},
            "alignment neighbours only": {r: combine_rule("align", heads[r], align=align_vote[r]) for r in heads},
        }
        result = {"ms_per_query": 1000 * seconds / max(len(seqs), 1), "novelty": novelty.tolist()}
        for variant, probs in variants.items():
            labels, conf = {}, {}
            for r in ranks:
                p, k = probs[r].max(dim=1)
                labels[r] = [spec.labels[r][j] for j in k.tolist()]
                conf[r] = p.tolist()
            result[variant] = {"labels": labels, "confidence": conf}
        out[set_name] = result
        logger.info("%s model: %d queries, %.2f ms/query", set_name, len(seqs), result["ms_per_query"])
    return out


# --------------------------------------------------------------------------------------------- report


def folder_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def evaluate(
    name: str, model_dir: Path, data_dir: Path, threads: int, blast_sample: int | None, baselines_only: bool
) -> dict:
    from barcodefm.recipes.bundled import RECIPES
    from barcodefm.trainers.data_selection import read_barcodes

    recipe = RECIPES[name]
    work = REPO / "runs" / "benchmarks" / f"bundled-{name}"
    work.mkdir(parents=True, exist_ok=True)
    table = recipe.prepare(data_dir, work)
    ds = read_barcodes(table)
    ranks = list(recipe.options["ranks"])
    records = {c: ds[c] for c in ["sequence", "split", *ranks]}
    records["dataset"] = [i.split(":", 1)[0] if ":" in i else "" for i in ds["id"]]  # its-fungi: "cbs:KY101633"
    records["id"] = list(range(len(ds)))
    ref_idx = [i for i, s in enumerate(records["split"]) if s in set(recipe.options["train_splits"])]
    sets = dataset_query_sets(name, records)
    baselines = run_baselines(name, records, ranks, ref_idx, sets, threads, blast_sample)
    if baselines_only:
        return {}
    model = run_model(model_dir, records, ranks, sets, recipe.options["max_length"])
    train_seqs = {records["sequence"][i] for i in ref_idx}
    report = {
        "model_dir": str(model_dir),
        "size_mb": folder_size_mb(model_dir),
        "n_references": len(ref_idx),
        "sets": {},
    }
    for set_name, idx in sets:
        truth = {r: [records[r][i] for i in idx] for r in ranks}
        dedup = [j for j, i in enumerate(idx) if records["sequence"][i] not in train_seqs]
        rows = {}
        methods = {f"{name} ({v})": model[set_name][v] for v in VARIANTS}
        methods.update(baselines[set_name])
        for method, res in methods.items():
            picked = res.get("rows", list(range(len(idx))))
            accs = {}
            for r in ranks:
                pred = res["labels"][r]
                accs[r], _ = accuracy(pred, [truth[r][j] for j in picked])
            picked_set = set(picked)
            dd = [j for j in dedup if j in picked_set]
            pos = {j: n for n, j in enumerate(picked)}
            sp = ranks[-1]
            accs["species_dedup"], _ = accuracy([res["labels"][sp][pos[j]] for j in dd], [truth[sp][j] for j in dd])
            rows[method] = {
                "accuracy": accs,
                "n": len(picked),
                "ms_per_query": res.get("ms_per_query", model[set_name]["ms_per_query"]),
            }
            if "rows" in res:  # a sampled tool (BLAST): the model on the same records, for a fair comparison
                ours = methods[f"{name} (model)"]["labels"]
                rows[method]["model_on_same_rows"] = {
                    r: accuracy([ours[r][j] for j in picked], [truth[r][j] for j in picked])[0] for r in ranks
                }
            if "confidence" in res:
                cal = {}
                for r in ranks:
                    known = [n for n, j in enumerate(picked) if truth[r][j] not in (None, "")]
                    conf = np.array([res["confidence"][r][n] for n in known])
                    pred_r = res.get("best", res["labels"])[r]
                    correct = np.array([pred_r[n] == truth[r][picked[n]] for n in known], dtype=float)
                    assigned = conf >= MIN_PROB
                    cal[r] = {
                        "ece": expected_calibration_error(conf, correct, ECE_BINS) if len(conf) else float("nan"),
                        "share_at_0.8": float(assigned.mean()) if len(conf) else float("nan"),
                        "precision_at_0.8": float(correct[assigned].mean()) if assigned.any() else float("nan"),
                    }
                rows[method]["calibration"] = cal
        report["sets"][set_name] = {"n": len(idx), "n_dedup": len(dedup), "methods": rows}
    # Novelty: unseen_query (positives) against test (negatives).
    from sklearn.metrics import roc_auc_score

    tools = novelty_baselines(name, records, ref_idx, sets, threads)
    for prefix in sorted({s.rsplit(" ", 1)[0] for s, _ in sets}):
        neg, pos = model.get(f"{prefix} test"), model.get(f"{prefix} unseen_query")
        if neg and pos:
            y = np.array([0] * len(neg["novelty"]) + [1] * len(pos["novelty"]))
            report.setdefault("novelty_auroc", {})[prefix] = float(
                roc_auc_score(y, np.array(neg["novelty"] + pos["novelty"]))
            )
            for tool, by_set in ((t, {s: v[t] for s, v in tools.items()}) for t in ("VSEARCH", "6-mer 1-NN")):
                scores = np.array(by_set[f"{prefix} test"] + by_set[f"{prefix} unseen_query"])
                report.setdefault("novelty_auroc_tools", {}).setdefault(prefix, {})[tool] = float(
                    roc_auc_score(y, scores)
                )
    return report


def val_accuracy(report: dict, val_sets: list[str], method: str, rank: str) -> float:
    """Accuracy over all validation records (the sets pooled, as the training run's eval pools them)."""
    total = sum(report["sets"][s]["n"] for s in val_sets)
    return (
        sum(report["sets"][s]["methods"][method]["accuracy"][rank] * report["sets"][s]["n"] for s in val_sets) / total
    )


def learning_curve_plot(name: str, report: dict, ranks: list[str], log_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.strip()]
    evals = [x for x in lines if "eval_loss" in x and "cpu_s" in x]
    val_sets = [s for s in report["sets"] if s.endswith(" val")]
    fig, axes = plt.subplots(1, len(ranks), figsize=(3.2 * len(ranks), 3.2), sharey=True)
    for ax, rank in zip(np.atleast_1d(axes), ranks):
        minutes = [x["cpu_s"] / 60 for x in evals]
        ax.plot(minutes, [100 * x.get(f"eval_{rank}_accuracy", np.nan) for x in evals], "o-", label="heads (val)")
        if minutes:
            final = val_accuracy(report, val_sets, f"{name} (model)", rank)
            ax.plot([minutes[-1]], [100 * final], "*", ms=12, color="C3", label="heads + references (val)")
        for i, tool in enumerate(("6-mer 1-NN", "VSEARCH")):
            ax.axhline(
                100 * val_accuracy(report, val_sets, tool, rank), ls="--", color=f"C{i + 4}", label=f"{tool} (val)"
            )
        ax.set_title(rank)
        ax.set_xlabel("training CPU-minutes")
    np.atleast_1d(axes)[0].set_ylabel("validation accuracy (%)")
    np.atleast_1d(axes)[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{name}: validation accuracy per rank during training")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def call_confidence_words(ident: dict) -> str:
    """How the species call's probability is set, from identification.json."""
    report = ident.get("call_confidence_selection")
    if not report or report.get("ece_before") is None:
        return ""
    verdict = "refitted given novelty" if ident.get("call_confidence") else "left at its temperature"
    return (
        f"; species call probability {verdict} (val ECE {report['ece_before']:.3f} as calibrated per rank, "
        f"{report['ece_after_cv']:.3f} refitted, 5-fold held out; {report['wrong']} of {report['n']} calls wrong)"
    )


def novelty_score_words(model_dir: Path) -> str:
    """The model's novelty score in words, from its novelty.json."""
    path = model_dir / "novelty.json"
    return NoveltyScore.from_info(json.loads(path.read_text()) if path.is_file() else None).describe()


def fmt(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}"


CLASSIC_TOOLS = ("6-mer 1-NN", "VSEARCH", "SINTAX (cutoff 0.8)", "BLAST")


def standing(name: str, test: dict, unseen: dict, ranks: list[str]) -> list[str]:
    """Per column: the model against the classic tool it trails most (or leads least) and against
    6-mer 1-NN, in points; a sampled tool (BLAST) is compared on the records of its sample."""
    columns = [(f"{r} (test)", test, r) for r in ranks] + [("genus, unseen_query", unseen, "genus")]
    cells, behind = [], []
    for label, part, rank in columns:
        model = part["methods"][f"{name} (model)"]["accuracy"][rank]
        # Each tool against the model on the records the tool ran on (BLAST: its sample).
        gaps, tools = {}, {}
        for t in CLASSIC_TOOLS:
            row = part["methods"].get(t)
            if row is None or row["accuracy"][rank] is None or np.isnan(row["accuracy"][rank]):
                continue
            tools[t] = row["accuracy"][rank]
            gaps[t] = (row.get("model_on_same_rows") or {}).get(rank, model) - row["accuracy"][rank]
        best = min(gaps, key=gaps.get)  # the tool the model trails most (or leads least)
        gap = 100 * gaps[best]
        kmer = 100 * gaps["6-mer 1-NN"]
        sample = " (on its sample)" if part["methods"][best]["n"] < part["n"] else ""
        cells.append(f"| {label} | {fmt(model)} | {best} {fmt(tools[best])}{sample} | {gap:+.1f} | {kmer:+.1f} |")
        if gap < -0.05:
            behind.append(f"{label} ({gap:+.1f} vs {best})")
    verdict = (
        "Ahead of or level with every classic tool in every column."
        if not behind
        else "Behind the best classic tool in: " + "; ".join(behind) + "."
    )
    return (
        [
            "Where the model stands (points; + = the model is ahead):",
            "",
            "| column | model | closest classic tool | model - that tool | model - 6-mer 1-NN |",
            "|---|---|---|---|---|",
        ]
        + cells
        + ["", verdict, ""]
    )


def markdown(reports: dict, command: str, threads: int, blast_sample: int | None) -> str:
    import platform

    from barcodefm.recipes.bundled import RECIPES

    lines = [
        "# Bundled identifiers vs the classic tools",
        "",
        f"Command: `{command}`. CPU: {platform.processor() or platform.machine()}, {threads} threads, "
        f"torch {torch.__version__}. Reference of every method = the training records the model saw "
        "(every method reads whole barcodes except the network, which reads the first 660 bases). "
        f"BLAST runs on a random {blast_sample}-query sample of each large split (seed 0), marked n; "
        "every other number is on the full split. Accuracy in %, per rank over the records whose label "
        "at that rank is known. '(model)' is what `barcodefm classify --model NAME` reports: per rank the "
        "head, the vote of the nearest training barcodes in the network's embedding space, the vote of the "
        "nearest training barcodes in k-mer space (k = 6 or 8, chosen with the rules), the vote of the same "
        "k-mer candidates re-ranked by alignment identity, or the mean of several, chosen on the mean of the "
        "`val` accuracy (seen species) and the `unseen_key` accuracy (novel species), its probabilities "
        "calibrated per rank on the same records (a power 1/T that never changes the call) and, at the "
        "species rank, refitted from the call's probability and the novelty score where that lowered the "
        "held-out calibration error on `val` (a species the training never held counting as a wrong call). "
        "'(network only)' is the best choice without the sequence-space votes (what the "
        "trained network says on its own); the last four model rows show each part alone. The k-mer vote "
        "differs from the 6-mer 1-NN baseline in its k and in weighing its 10 nearest references.",
        "",
    ]
    for name, rep in reports.items():
        ranks = list(RECIPES[name].options["ranks"])
        ident = json.loads((Path(rep["model_dir"]) / "identification.json").read_text())
        rules = ", ".join(f"{rank} {rule}" for rank, rule in ident["rules"].items())
        lines += [
            f"## {name}",
            "",
            f"Model folder {rep['size_mb']:.1f} MB; {rep['n_references']:,} reference records (the model stores "
            f"the {ident['n_references']:,} distinct barcode-and-label pairs among them). "
            f"Identification rule per rank: {rules}; k-mer vote with k = {ident.get('kmer_k', 6)}; alignment "
            f"identity relative to the {ident.get('align_identity', 'shorter')} sequence"
            + (
                "; calibration T per rank: " + ", ".join(f"{r} {t:g}" for r, t in ident["calibration"].items())
                if ident.get("calibration")
                else ""
            )
            + call_confidence_words(ident)
            + ".",
            "",
        ]
        prefixes = sorted({s.rsplit(" ", 1)[0] for s in rep["sets"]})
        for prefix in prefixes:
            test, unseen = rep["sets"].get(f"{prefix} test"), rep["sets"].get(f"{prefix} unseen_query")
            lines += [
                f"### {prefix}: test ({test['n']:,} records, {test['n_dedup']:,} not in train) and "
                f"unseen_query ({unseen['n']:,} records of species never seen)",
                "",
            ]
            head = (
                "| method | "
                + " | ".join(f"{r} (test)" for r in ranks)
                + " | species, test dedup | genus, unseen_query | n (test / unseen) | ms / query |"
            )
            lines += [head, "|" + "---|" * (len(ranks) + 5)]
            for method, row in test["methods"].items():
                u = unseen["methods"].get(method)
                cells = [fmt(row["accuracy"][r]) for r in ranks] + [
                    fmt(row["accuracy"]["species_dedup"]),
                    fmt(u["accuracy"]["genus"]) if u else "–",
                ]
                bold = "**" if method.endswith("(model)") else ""
                lines.append(
                    f"| {bold}{method}{bold} | "
                    + " | ".join(cells)
                    + f" | {row['n']:,} / {u['n'] if u else 0:,} | {row['ms_per_query']:.2f} |"
                )
            lines.append("")
            lines += standing(name, test, unseen, ranks)
        lines += [
            "Calibration (test: species; unseen_query: genus): expected calibration error (ECE, 15 bins), and "
            "at probability >= 0.8 the share of records assigned and the precision of those assignments.",
            "",
            "| query set | method | rank | ECE | share assigned @0.8 | precision @0.8 |",
            "|---|---|---|---|---|---|",
        ]
        for prefix in prefixes:
            for split, rank in (("test", ranks[-1]), ("unseen_query", "genus")):
                for method, row in rep["sets"][f"{prefix} {split}"]["methods"].items():
                    if "calibration" in row and (method.endswith("(model)") or method.startswith("SINTAX")):
                        c = row["calibration"][rank]
                        lines.append(
                            f"| {prefix} {split} | {method} | {rank} | {c['ece']:.3f} | {fmt(c['share_at_0.8'])} | "
                            f"{fmt(c['precision_at_0.8'])} |"
                        )
        lines += [
            "",
            "Novelty: AUROC separating unseen_query records (species never seen) from test records (seen "
            f"species), by the model's novelty score ({novelty_score_words(Path(rep['model_dir']))}) and by how "
            "a classic tool's user flags a new species (1 - identity of the VSEARCH top hit; 1 - cosine of the "
            "6-mer top hit):",
            "",
            "| query sets | model | VSEARCH top-hit identity | 6-mer top-hit cosine |",
            "|---|---|---|---|",
        ]
        for prefix, auroc in rep.get("novelty_auroc", {}).items():
            tools = rep.get("novelty_auroc_tools", {}).get(prefix, {})
            lines.append(
                f"| {prefix} | {auroc:.3f} | {tools.get('VSEARCH', float('nan')):.3f} | "
                f"{tools.get('6-mer 1-NN', float('nan')):.3f} |"
            )
        lines += [
            "",
            f"![{name} learning curve]({name}_learning_curve.png)",
            "",
        ]
    return "\n".join(lines)


CARD_HEADING = "## Measured against the classic tools"


README_START, README_END = "<!-- bundled:start -->", "<!-- bundled:end -->"


def update_readme(readme: Path, text: str, start: str = README_START, end: str = README_END) -> None:
    """Replace the README's block between the ``start`` and ``end`` markers with ``text`` (without
    its title; headings one level down, plot paths relative to the README)."""
    body = text.split("\n", 2)[2].strip()  # without the title
    body = body.replace("\n### ", "\n#### ").replace("\n## ", "\n### ")
    body = body.replace("](", "](benchmarks/results/").replace("](benchmarks/results/http", "](http")
    old = readme.read_text()
    if start not in old:
        raise ValueError(f"{readme} has no {start} ... {end} markers")
    before, rest = old.split(start, 1)
    readme.write_text(f"{before}{start}\n{body}\n{end}{rest.split(end, 1)[1]}")


def update_card(card: Path, name: str, text: str) -> None:
    """Replace (or add) the card's section holding this model's benchmark tables."""
    intro = text.split("\n## ", 1)[0].split("\n", 2)[2].strip()  # the paragraph after the title
    section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0].strip()
    # The plot lives in the barcodefm repository, not in the model folder.
    section = section.replace(
        f"![{name} learning curve]({name}_learning_curve.png)",
        f"Learning curve: `benchmarks/results/{name}_learning_curve.png` in the barcodefm source.",
    )
    body = card.read_text(encoding="utf-8")
    if CARD_HEADING in body:
        before, rest = body.split(CARD_HEADING, 1)
        after = rest.split("\n## ", 1)[1] if "\n## " in rest else ""
        body = before.rstrip() + "\n\n" + ("## " + after if after else "")
    body = body.rstrip() + f"\n\n{CARD_HEADING}\n\n{intro}\n\n{section}\n"
    card.write_text(body, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="coi-insect,its-fungi")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=DIR", help="evaluate DIR as NAME")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--blast-sample", type=int, default=1000)
    parser.add_argument("--baselines-only", action="store_true")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument(
        "--update-readme", action="store_true", help="put the tables at the head of the README's Results"
    )
    parser.add_argument(
        "--update-cards", action="store_true", help="put each model's tables into its bundled model card (README.md)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    from barcodefm.registry import bundled_model_path

    dirs = dict(item.split("=", 1) for item in args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reports = {}
    for name in args.models.split(","):
        model_dir = Path(dirs[name]) if name in dirs else (None if args.baselines_only else bundled_model_path(name))
        rep = evaluate(name, model_dir, Path(args.data_dir), args.threads, args.blast_sample, args.baselines_only)
        if rep:
            reports[name] = rep
            from barcodefm.recipes.bundled import RECIPES

            log = HERE / "results" / f"{name}_train_log.jsonl"
            if log.is_file():
                learning_curve_plot(
                    name, rep, list(RECIPES[name].options["ranks"]), log, out / f"{name}_learning_curve.png"
                )
    if reports:
        command = "python benchmarks/bundled_models.py " + " ".join(argv if argv is not None else sys.argv[1:])
        (out / "bundled_models.json").write_text(json.dumps(reports, indent=1))
        text = markdown(reports, command.strip(), args.threads, args.blast_sample)
        (out / "bundled_models.md").write_text(text)
        print(text)
        if args.update_readme:
            update_readme(REPO / "README.md", text)
        if args.update_cards:
            for name in reports:
                update_card(bundled_model_path(name) / "README.md", name, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
