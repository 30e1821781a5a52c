"""Honest confidence far from the references: calibration of the bundled identifiers on records of
species, genera, families ... they never saw, beside VSEARCH's top-hit identity and SINTAX's
bootstrap confidence.

    python benchmarks/calibration_far.py                    # both models
    python benchmarks/calibration_far.py --models its-fungi --sample 500

Groups of query records (a seeded sample of each):
- ``seen``: ``test`` records (species the model was trained on), the identifier as shipped;
- ``novel species``: ``unseen_query`` records (species held out of training entirely);
- ``novel <rank>``: ``test`` and ``unseen_query`` records whose taxon at that rank is taken out of
  the identifier, from its references and from its heads (:mod:`barcodefm.inference.leave_out`:
  the network's classes of the taxon removed and the rest renormalised), in 5 folds of taxa.

Per group and rank: accuracy, expected calibration error (15 bins) of the call probability, the
share of calls at p >= 0.9 and their precision; for the identifier with and without its distance
calibration (:mod:`barcodefm.inference.distance_calibration`), VSEARCH (the top hit's label, its
identity read as the probability, as a VSEARCH user reads it) and SINTAX (cutoff 0, its bootstrap
confidence per rank), both against the same (reduced) references. Writes
``benchmarks/results/calibration_far.{md,json}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
logger = logging.getLogger("calibration_far")
BINS = 15
HIGH = 0.9


def metrics(p: np.ndarray, right: np.ndarray) -> dict:
    from barcodefm.evaluation.metrics import expected_calibration_error

    if not len(p):
        return {}
    high = p >= HIGH
    return {
        "n": int(len(p)),
        "accuracy": float(right.mean()),
        "ece": float(expected_calibration_error(p, right, BINS)),
        "share_at_0.9": float(high.mean()),
        "precision_at_0.9": float(right[high].mean()) if high.any() else float("nan"),
    }


def classic_tools(references, spec, ranks, queries, threads: int) -> dict:
    """VSEARCH top hit (identity as probability) and SINTAX confidences of ``queries`` against
    ``references`` (a ReferenceSet: its sequences and labels)."""
    from barcodefm.evaluation.baselines.vsearch import sintax_classify, vsearch_top_hits

    seqs = references.kmer.sequences
    names = {r: [spec.labels[r][c] if c >= 0 else None for c in references.labels[r].tolist()] for r in ranks}
    ids = [f"r{i}" for i in range(len(seqs))]
    q_ids = [f"q{i}" for i in range(len(queries))]
    hits = vsearch_top_hits(seqs, queries, ids, q_ids, threads=threads)
    identity = np.nan_to_num(np.asarray(hits.identities, float) / 100.0, nan=0.0)
    out = {"VSEARCH identity": {r: (hits.labels(names[r]), identity) for r in ranks}}
    from bundled_models import SINTAX_RANKS

    known = [r for r in ranks if r in SINTAX_RANKS]
    sintax = sintax_classify(seqs, {r: names[r] for r in known}, queries, q_ids, cutoff=0.0, threads=threads)
    out["SINTAX"] = {
        r: (sintax.best[r], np.array([float(c) if c is not None else 0.0 for c in sintax.confidences[r]]))
        for r in known
    }
    return out


def evaluate(name: str, data_dir: Path, n: int, threads: int, seed: int) -> dict:
    from real_input import recipe_records, sample

    from barcodefm.factory import load_model, load_tokenizer
    from barcodefm.inference.leave_out import leave_out
    from barcodefm.inference.reference_vote import ReferenceSet, encode_labels, run_model
    from barcodefm.models.taxonomy_spec import is_missing_label
    from barcodefm.registry import bundled_model_path

    folder = bundled_model_path(name)
    records = recipe_records(name, data_dir)
    model = load_model(folder, "AutoModel").eval()
    tokenizer = load_tokenizer(folder)
    spec = model.taxonomy.spec
    ranks = list(spec.ranks)
    shipped = ReferenceSet.load(folder)
    plain = ReferenceSet.load(folder)
    plain.distance_calibration = None
    max_bases = json.loads((folder / "identification.json").read_text()).get("max_length")
    idx = {s: sample(records, s, n, seed) for s in ("test", "unseen_query")}
    pooled = idx["test"] + idx["unseen_query"]
    seqs = [records["sequence"][i] for i in pooled]
    table = {r: [records[r][i] for i in pooled] for r in ranks}
    truth = encode_labels(spec, ranks, table)
    labelled = {r: np.array([not is_missing_label(v) for v in table[r]]) for r in ranks}
    heads, emb = run_model(model, tokenizer, [s[:max_bases] for s in seqs], 64, progress=False)
    groups = {
        "seen": np.arange(len(idx["test"])),
        "novel species": len(idx["test"]) + np.arange(len(idx["unseen_query"])),
    }
    calls = {}  # group -> method -> rank -> (records, p, right)

    def add(group, method, rank, records, p, right):
        entry = calls.setdefault(group, {}).setdefault(method, {}).setdefault(rank, ([], [], []))
        keep = labelled[rank][records]
        entry[0].append(records[keep])
        entry[1].append(np.asarray(p)[keep])
        entry[2].append(np.asarray(right)[keep])

    def score(group, references, records, probs_by_method):
        for method, probs in probs_by_method.items():
            for rank in ranks:
                p, call = probs[rank].max(dim=1)
                add(group, method, rank, records, p.numpy(), call.numpy() == truth[rank][records])
        tools = classic_tools(references, spec, ranks, [seqs[i] for i in records], threads)
        for method, by_rank in tools.items():
            for rank, (labels, conf) in by_rank.items():
                right = np.array([label == table[rank][i] for label, i in zip(labels, records)])
                add(group, method, rank, records, conf, right)

    for group, records in groups.items():
        rows = torch.as_tensor(records)
        sub = [seqs[i] for i in records]
        found = shipped.find(emb[rows], sub)
        by_method = {
            f"{name} (shipped)": shipped.identify({r: h[rows] for r, h in heads.items()}, emb[rows], sub, found=found)[
                0
            ],
            f"{name} (without distance calibration)": plain.identify(
                {r: h[rows] for r, h in heads.items()}, emb[rows], sub, found=found
            )[0],
        }
        score(group, shipped, records, by_method)
        logger.info("%s %s done", name, group)
    for level in ranks[:-1]:
        for records, combined, found, without, fold_heads in leave_out(
            shipped, spec, heads, emb, seqs, truth, level, seed=seed
        ):
            rows = torch.as_tensor(records)
            plain_out = dataclasses.replace(without, distance_calibration=None).identify(
                fold_heads, emb[rows], [seqs[i] for i in records], found=found
            )[0]
            by_method = {f"{name} (shipped)": combined, f"{name} (without distance calibration)": plain_out}
            score(f"novel {level}", without, records, by_method)
        logger.info("%s novel %s done", name, level)
    report = {"ranks": ranks, "groups": {}}
    for group, by_method in calls.items():
        report["groups"][group] = {
            method: {rank: metrics(np.concatenate(p), np.concatenate(right)) for rank, (_, p, right) in by_rank.items()}
            for method, by_rank in by_method.items()
        }
    return report


def fmt(x) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def markdown(reports: dict, command: str) -> str:
    lines = [
        "# Calibration far from the references",
        "",
        f"Command: `{command}`. {__doc__.split(chr(10) + chr(10))[2]}",
        "",
        "Each cell: ECE / precision of the calls at p >= 0.9 (share of records called at p >= 0.9); "
        "accuracy is the same for both identifier rows (the calibration never changes a call).",
    ]
    for name, rep in reports.items():
        lines += ["", f"## {name}", ""]
        ranks = rep["ranks"]
        lines += ["| group | method | " + " | ".join(ranks) + " |", "|---|---|" + "---|" * len(ranks)]
        for group, by_method in rep["groups"].items():
            for method, by_rank in by_method.items():
                cells = []
                for r in ranks:
                    m = by_rank.get(r)
                    cells.append(
                        "–"
                        if not m
                        else f"{fmt(m['ece'])} / {fmt(m['precision_at_0.9'])} ({100 * m['share_at_0.9']:.0f}%) acc {100 * m['accuracy']:.0f}"
                    )
                lines.append(f"| {group} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="coi-insect,its-fungi")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--sample", type=int, default=1000, help="records per split (test, unseen_query)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    sys.path.insert(0, str(HERE))
    torch.set_num_threads(args.threads)
    reports = {
        name: evaluate(name, Path(args.data_dir), args.sample, args.threads, args.seed)
        for name in args.models.split(",")
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/calibration_far.py " + " ".join(argv if argv is not None else sys.argv[1:])
    (out / "calibration_far.json").write_text(json.dumps(reports, indent=1))
    text = markdown(reports, command.strip())
    (out / "calibration_far.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
