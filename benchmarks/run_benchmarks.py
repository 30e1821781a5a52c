"""The barcodefm benchmark report: accuracy, per-rank taxonomy, identification cost, sequence
length scaling, UMAP of unseen genera, Mamba-2 speed and the BarcodeMAE w/MASK acceptance, as
Markdown tables and PNG plots.

    python benchmarks/run_benchmarks.py --size ci                 # everything, ~35 min on 2 CPU cores
    python benchmarks/run_benchmarks.py --size smoke --output /tmp/bench   # bundled samples, < 2 min
    python benchmarks/run_benchmarks.py --only accuracy,umap      # some benchmarks (prefixes work)
    python benchmarks/run_benchmarks.py --update-readme           # summary.md -> README.md Results

Writes ``<output>/<name>.md`` (caption with the command and device), ``<name>.png``,
``<name>.json`` and ``summary.md`` (all tables). Models and derived data go to the work folder
(``runs/benchmarks/<size>/``) and are reused by later runs with the same settings.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (  # noqa: E402
    DEFAULT_WORK_DIR,
    PRESETS,
    REPO_ROOT,
    RESULTS_DIR,
    BenchContext,
    ensure_aligners,
    offline_environment,
)

offline_environment()  # before any Hugging Face import

logger = logging.getLogger("benchmarks")

# name -> (module, function); the order of the report
BENCHMARKS = {
    "accuracy": ("bench_accuracy", "run"),
    "taxonomy": ("bench_taxonomy", "run"),
    "cost_vs_reference_size": ("bench_cost", "run"),
    "index_scaling": ("index_scaling", "run"),
    "seq_length_scaling": ("bench_scripts", "run_seq_length"),
    "umap_unseen_genera": ("bench_umap", "run"),
    "mamba2_cpu_vs_hf": ("bench_scripts", "run_mamba2"),
    "mae_acceptance": ("mae_acceptance", "run"),
}
NEEDS_ALIGNERS = {"accuracy", "taxonomy", "cost_vs_reference_size", "index_scaling"}


def resolve_names(only: str | None) -> list[str]:
    """Benchmark names from ``--only`` (comma-separated names or unique prefixes), in report order."""
    if not only:
        return list(BENCHMARKS)
    chosen = set()
    for item in filter(None, (x.strip() for x in only.split(","))):
        matches = [n for n in BENCHMARKS if n == item] or [n for n in BENCHMARKS if n.startswith(item)]
        if len(matches) != 1:
            what = "matches several" if matches else "is not"
            raise SystemExit(f"--only: {item!r} {what} a benchmark name; choose from {', '.join(BENCHMARKS)}")
        chosen.add(matches[0])
    return [n for n in BENCHMARKS if n in chosen]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument(
        "--size",
        choices=list(PRESETS),
        default="ci",
        help="smoke: bundled samples, toy models; ci: shared data, tiny models, ~35 min on 2 cores; "
        "full: larger models and budgets (default ci)",
    )
    parser.add_argument("--only", metavar="NAME,...", help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--output", type=Path, default=RESULTS_DIR, help="folder of the tables and plots (default benchmarks/results)"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="models and derived data (default runs/benchmarks)"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads for every method")
    parser.add_argument("--fresh", action="store_true", help="retrain models even if the work folder holds them")
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="copy summary.md into README.md between the results markers (without --only: runs no benchmark)",
    )
    parser.add_argument("--readme", type=Path, default=REPO_ROOT / "README.md", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def reproducing_arguments(args, argv) -> list[str]:
    """The runner arguments that shape the numbers (for table captions): not --only, not paths
    that default, not --update-readme."""
    out = ["--size", args.size]
    if args.threads != (os.cpu_count() or 1):
        out += ["--threads", str(args.threads)]
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    from bench_report import update_readme, write_summary

    if args.update_readme and not args.only:
        update_readme(args.readme, args.output / "summary.md")
        logger.info("README results section updated from %s", args.output / "summary.md")
        return 0

    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_warning()
    names = resolve_names(args.only)
    ctx = BenchContext(
        size=PRESETS[args.size],
        output=args.output,
        work=args.work_dir,
        threads=args.threads,
        fresh=args.fresh,
        base_command=reproducing_arguments(args, argv),
    )
    ctx.output.mkdir(parents=True, exist_ok=True)
    if NEEDS_ALIGNERS & set(names):
        ctx.aligners = ensure_aligners()
    logger.info(
        "benchmarks %s at %s size, %d threads; output %s, work %s",
        ", ".join(names),
        args.size,
        args.threads,
        ctx.output,
        ctx.work,
    )

    import importlib

    started = time.perf_counter()
    for name in names:
        module_name, function = BENCHMARKS[name]
        logger.info("=== %s ===", name)
        start = time.perf_counter()
        getattr(importlib.import_module(module_name), function)(ctx)
        ctx.timings[name] = time.perf_counter() - start
        logger.info("=== %s done in %.1f min ===", name, ctx.timings[name] / 60)
        write_summary(ctx.output, list(BENCHMARKS), {name: ctx.timings[name]}, args.size)
    summary = write_summary(ctx.output, list(BENCHMARKS), {}, args.size)
    logger.info("all done in %.1f min: %s", (time.perf_counter() - started) / 60, summary)
    if args.update_readme:
        update_readme(args.readme, summary)
        logger.info("README results section updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
