"""``barcodefm demo``: pretrain, fine-tune and classify on the real COI sample bundled with the
package, next to a k-mer baseline (about 5 minutes on 2 CPU cores).

The run itself is :func:`barcodefm.trainers.demo.run_demo`; this module prints what it reports:
each numbered step line as the step starts, the species tables after step 4, the per-rank tables
after step 5, then where the models and calls are."""

from __future__ import annotations

from pathlib import Path

NAME = "demo"
HELP = "pretrain + fine-tune a small BarcodeMamba on the bundled COI sample and classify a FASTA"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--output",
        "-o",
        default="barcodefm-demo",
        metavar="DIR",
        help="new or empty folder for the runs, DIR/model, DIR/query.fasta, DIR/predictions.tsv "
        "(default ./barcodefm-demo)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and a few steps: checks the workflow in seconds"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args) -> int:
    from ..trainers.demo import run_demo

    summary = run_demo(args.output, quick=args.quick, seed=args.seed, report=print_report)
    print(closing_lines(summary))
    return 0


def print_report(event: str, value) -> None:
    """The ``report`` of :func:`~barcodefm.trainers.demo.run_demo`: prints each event as it comes."""
    from ..trainers.demo import SPECIES_RESULTS, STEP, TAXONOMY_RESULTS

    if event == STEP:
        print(value)
    elif event == SPECIES_RESULTS:
        print(species_report(value))
    elif event == TAXONOMY_RESULTS:
        print(taxonomy_report(value))


def table(headers, rows) -> str:
    """A plain-text table: columns padded to their widest cell, a dashed line under the header."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def species_report(summary: dict) -> str:
    """Steps 1-4: the query calls, species accuracy next to the k-mer baseline, the perplexity."""
    rows = summary["queries"]
    model, kmer = summary["barcodemamba"], summary["kmer_1nn"]
    ppl = summary["pretrain_val_perplexity"]
    lines = [
        "",
        table(
            ["query", "predicted species", "p", "true species"],
            [[r["id"], r["predicted_species"], f"{r['probability']:.3f}", r["true_species"]] for r in rows],
        ),
        "",
        f"species accuracy on the held-out test split ({summary['n_test']} barcodes, {summary['n_species']} species "
        f"in train; dedup = {summary['n_test_dedup']} whose sequence is not in train):",
        table(
            ["method", "test", "test dedup"],
            [
                [
                    "BarcodeMamba-2 (pretrained + fine-tuned here)",
                    f"{100 * model['all']:.1f}%",
                    f"{100 * model['dedup']:.1f}%",
                ],
                ["6-mer frequency 1-NN", f"{100 * kmer['all']:.1f}%", f"{100 * kmer['dedup']:.1f}%"],
            ],
        ),
        f"pretraining: next-token perplexity on val {ppl:.1f} per token" if ppl else "",
        "",
    ]
    return "\n".join(lines)


def taxonomy_report(taxonomy: dict) -> str:
    """Step 5: the per-rank calls of the ITS queries, per-rank accuracy, the novelty threshold."""
    from ..data.labels import normalize_label
    from ..inference.novelty import NoveltyScore

    ranks, truth, calls = taxonomy["ranks"], taxonomy["true_records"], taxonomy["queries"]

    def cell(call, rank):
        # "*" marks a call that differs from the true label.
        wrong = "*" if call[rank] != (normalize_label(rank, truth[call["id"]][rank]) or "") else ""
        probability = call[rank + "_prob"]
        return f"{call[rank] or '-'}{wrong} {float(probability):.2f}" if probability else "-"

    lines = [
        table(
            ["query", "split", *ranks, "novelty", "likely novel", "true species"],
            [
                [
                    c["id"],
                    truth[c["id"]]["split"],
                    *(cell(c, r) for r in ranks),
                    c.get("novelty", ""),
                    c.get("likely_novel", ""),
                    truth[c["id"]]["species"],
                ]
                for c in calls
            ],
        ),
        "(* = differs from the true label; test species were seen in training, unseen_query species were not)",
        "",
        f"per-rank accuracy on the held-out ITS test split ({taxonomy['n_test']} barcodes; "
        f"dedup = sequence not in train) and on species absent from training (unseen_query):",
        table(
            ["rank", "classes", "test", "test dedup", "unseen species"],
            [
                [
                    r,
                    taxonomy["n_labels"][r],
                    f"{100 * taxonomy['test'][r]:.1f}%",
                    f"{100 * taxonomy['test_dedup'][r]:.1f}%",
                    f"{100 * taxonomy['unseen_query'][r]:.1f}%",
                ]
                for r in ranks
            ],
        ),
    ]
    novelty = taxonomy["novelty"]
    if novelty.get("saved"):
        lines.append(
            f"novelty threshold {novelty['threshold']:.4f} (novelty score: {NoveltyScore.from_info(novelty).describe()}): "
            f"flags {100 * novelty.get('detection_rate', float('nan')):.0f}% of unseen_key barcodes, "
            f"{100 * novelty['false_alarm_rate']:.0f}% of seen-species val barcodes"
        )
    model_dir = taxonomy["output"]
    lines.append(f"model folder {model_dir} (try: barcodefm classify {model_dir} YOUR.fasta -o calls.tsv)")
    return "\n".join(lines)


def closing_lines(summary: dict) -> str:
    """Time per step and where the models and calls are, with the commands to use them."""
    out, timings = Path(summary["output"]), summary["timings"]
    return "\n".join(
        [
            "",
            f"time: pretrain {timings['pretrain_s']:.0f} s, fine-tune {timings['finetune_s']:.0f} s, "
            f"taxonomy {timings['taxonomy_s']:.0f} s; model folders {out / 'model'} and {out / 'taxonomy-model'}, "
            f"calls in {out / 'predictions.tsv'} and {out / 'taxonomy_predictions.tsv'}",
            f"classify your own barcodes: barcodefm classify {out / 'model'} YOUR.fasta -o species.tsv "
            f"(species), barcodefm classify {out / 'taxonomy-model'} YOUR.fasta -o taxonomy.tsv (every rank)",
        ]
    )
