"""BarcodeMamba+ real-data acceptance (issue 5): do hierarchical label smoothing (HLS) and the
class-weighted loss help, at equal budget? Per-rank accuracy on the ``test`` split of fungal ITS.

    python benchmarks/taxonomy_acceptance.py                         # CBS ITS2 and MycoAI test1
    python benchmarks/taxonomy_acceptance.py --datasets cbs --pretrain-steps 10 --finetune-steps 20  # smoke

Per data set, with the ``barcodefm`` command line (the exact commands are printed in the table):

1. ``barcodefm train-tokenizer``: a BPE vocabulary (768 tokens, as MycoAI) on the ``train`` split;
2. ``barcodefm pretrain``: ONE small BarcodeMamba-2, next-token prediction on ``train`` +
   ``train_singleton``;
3. ``barcodefm finetune --task taxonomy`` three times from that same checkpoint, with the same
   steps, batch and learning rate (the same compute budget): HLS + weighted loss (SPEC 4
   defaults), ``--no-hls``, ``--class-weight-strength 0``. Fine-tuning uses every record with a
   label at some rank (``train``, ``train_singleton``, ``train_no_species``); the ranks are the
   default ones (every rank with >= 2 training labels: phylum .. species).

Scores: accuracy per rank on ``test`` (seen species; all records and the de-duplicated ones whose
exact sequence is not in training), genus accuracy on ``unseen_query`` (species absent from
training), and how well the saved novelty threshold separates seen (``val``) from unseen
(``unseen_key``) species. Every child process runs with ``--threads`` torch threads (default 1:
on the shared 2-core machine a second thread mostly waits for other jobs); the table reports
each run's CPU seconds (``getrusage`` of the child) and wall seconds.

Writes ``benchmarks/results/taxonomy_acceptance.md``; the runs live in ``--work-dir``
(default ``runs/taxonomy_acceptance/``, git-ignored). A finished step found there is reused
with its recorded timing, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data" / "fungal_its"
RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = {
    "cbs": ("CBS ITS2", SHARED / "cbs_its2_labelled.tsv.gz"),
    "mycoai": ("MycoAI test1 (full ITS)", SHARED / "mycoai_test1_full_its_labelled.tsv.gz"),
}
# (label, folder, extra finetune flags): the full recipe, then each switch off on its own.
VARIANTS = (
    ("HLS + weighted loss", "ft-hls-weighted", []),
    ("no HLS", "ft-no-hls", ["--no-hls"]),
    ("no weighted loss", "ft-unweighted", ["--class-weight-strength", "0"]),
)
TIMING_FILE = "acceptance_timing.json"


def shown(args: list[str]) -> str:
    """The command as a user types it (paths relative to the repository when inside it)."""

    def short(a: str) -> str:
        return os.path.relpath(Path(a).resolve(), ROOT.resolve()) if "/" in a else a

    return "barcodefm " + " ".join(shlex.quote(short(a)) for a in args)


def run_step(args: list[str], output: Path, finished_marker: str, threads: int) -> dict:
    """Run ``barcodefm ARGS`` in a child process (reusing a finished ``output``); returns the
    command and its CPU/wall seconds."""
    timing_path = output / TIMING_FILE
    if (output / finished_marker).is_file() and timing_path.is_file():
        timing = json.loads(timing_path.read_text())
        if timing.get("command") == shown(args):
            print(f"reusing {output} ({timing['cpu_s']:.0f} CPU s)", flush=True)
            return timing
    if output.exists():
        shutil.rmtree(output)  # an unfinished step of this benchmark: start it again
    output.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    print(f"$ {shown(args)}", flush=True)
    log = output.parent / f"{output.name}.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as f:
        code = subprocess.run(
            [sys.executable, "-m", "barcodefm.cli", *args], stdout=f, stderr=subprocess.STDOUT, env=env, check=False
        ).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        sys.exit(f"step failed (exit {code}): {shown(args)}\n" + "\n".join(tail))
    timing = {
        "command": shown(args),
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    }
    timing_path.write_text(json.dumps(timing, indent=1))
    print(f"  done in {wall:.0f} s wall, {timing['cpu_s']:.0f} CPU s", flush=True)
    return timing


def model_flags(args) -> list[str]:
    return [
        "--d-model",
        str(args.d_model),
        "--n-layer",
        str(args.n_layer),
        "--headdim",
        str(args.headdim),
        "--d-state",
        str(args.d_state),
        "--d-intermediate",
        str(2 * args.d_model),
    ]


def run_dataset(key: str, args) -> dict:
    label, data = DATASETS[key]
    work = args.work_dir / key
    common = [
        "--data",
        str(data),
        "--batch-size",
        str(args.batch_size),
        "--max-length",
        str(args.max_length[key]),
        "--save-steps",
        "0",
        "--logging-steps",
        "50",
        "--seed",
        str(args.seed),
    ]
    steps = {}
    steps["tokenizer"] = run_step(
        [
            "train-tokenizer",
            "--data",
            str(data),
            "--splits",
            "train",
            "--vocab-size",
            str(args.vocab_size),
            "-o",
            str(work / "tokenizer"),
        ],
        work / "tokenizer",
        "tokenizer_config.json",
        args.threads,
    )
    steps["pretrain"] = run_step(
        [
            "pretrain",
            *common,
            "--tokenizer",
            str(work / "tokenizer"),
            *model_flags(args),
            "--splits",
            "train,train_singleton",
            "--eval-split",
            "val",
            "--max-steps",
            str(args.pretrain_steps[key]),
            "--lr",
            str(args.pretrain_lr),
            "-o",
            str(work / "pretrained"),
        ],
        work / "pretrained",
        "model.safetensors",
        args.threads,
    )
    pretrain_results = json.loads((work / "pretrained" / "eval_results.json").read_text())
    rows = []
    for variant, folder, flags in VARIANTS:
        timing = run_step(
            [
                "finetune",
                str(work / "pretrained"),
                "--task",
                "taxonomy",
                *flags,
                *common,
                "--train-split",
                "train,train_singleton,train_no_species",
                "--eval-split",
                "val",
                "--test-split",
                "test,unseen_query",
                "--max-steps",
                str(args.finetune_steps[key]),
                "--lr",
                str(args.finetune_lr),
                "-o",
                str(work / folder),
            ],
            work / folder,
            "eval_results.json",
            args.threads,
        )
        results = json.loads((work / folder / "eval_results.json").read_text())
        rows.append({"variant": variant, "timing": timing, "results": results})
    return {"key": key, "label": label, "data": data, "steps": steps, "pretrain": pretrain_results, "rows": rows}


def pct(value) -> str:
    return "–" if value is None or value != value else f"{100 * value:.1f}"


def markdown(runs: list[dict], args, argv: list[str]) -> str:
    command = "python benchmarks/taxonomy_acceptance.py" + "".join(" " + shlex.quote(a) for a in argv)
    lines = [
        "# BarcodeMamba+ acceptance: HLS and the class-weighted loss at equal budget (fungal ITS)",
        "",
        f"Command: `{command}`. Model: BarcodeMamba-2, d_model {args.d_model}, {args.n_layer} layers, headdim "
        f"{args.headdim}, d_state {args.d_state}, MLP {2 * args.d_model}; BPE tokenizer ({args.vocab_size} tokens, "
        f"trained on `train`); batch {args.batch_size}; pretraining lr {args.pretrain_lr:g}, fine-tuning lr "
        f"{args.finetune_lr:g} (AdamW, cosine to 10%, 1% warm-up); {args.threads} torch thread(s) per run. "
        "Each data set: one next-token pretraining on train + train_singleton, then three fine-tunes from that "
        "same checkpoint with the same steps (the same compute budget) on train + train_singleton + "
        "train_no_species. Accuracy in % on `test` (seen species; dedup = sequence not in training), genus "
        "accuracy on `unseen_query` (species absent from training), balanced accuracy of the saved novelty "
        "threshold (seen `val` vs unseen-species `unseen_key`).",
        "",
    ]
    for run in runs:
        pre = run["steps"]["pretrain"]
        ppl = run["pretrain"].get("eval", {}).get("val", {}).get("perplexity")
        first = run["rows"][0]["results"]
        n_test = first["test"]["all"]["species"]["n"]
        lines += [
            f"## {run['label']} (`{Path(run['data']).name}`)",
            "",
            f"Budget: pretraining {args.pretrain_steps[run['key']]} steps ({pre['cpu_s']:.0f} CPU s, {pre['wall_s']:.0f} s "
            f"wall; val perplexity {ppl:.1f} per BPE token); each fine-tune {args.finetune_steps[run['key']]} steps of "
            f"{args.batch_size} barcodes, max {args.max_length[run['key']]} bases. Heads: "
            + ", ".join(f"{r} {n}" for r, n in first["n_labels"].items())
            + f". {first['n_train']} training barcodes, {n_test} test barcodes with a species label.",
            "",
            "| variant | CPU s | wall s | genus | species | genus dedup | species dedup | species macro F1 "
            "| family | order | genus, unseen species | novelty bal. acc. |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in run["rows"]:
            r, t = row["results"], row["timing"]
            test, dedup = r["test"]["all"], r["test"]["dedup"]
            lines.append(
                f"| {row['variant']} | {t['cpu_s']:.0f} | {t['wall_s']:.0f} | {pct(test['genus']['accuracy'])} | "
                f"{pct(test['species']['accuracy'])} | {pct(dedup['genus']['accuracy'])} | "
                f"{pct(dedup['species']['accuracy'])} | {pct(test['species']['macro_f1'])} | "
                f"{pct(test['family']['accuracy'])} | {pct(test['order']['accuracy'])} | "
                f"{pct(r['unseen_query']['all']['genus']['accuracy'])} | "
                f"{pct(r.get('novelty', {}).get('balanced_accuracy'))} |"
            )
        lines += ["", "Commands:", "", "```"]
        lines += [run["steps"][name]["command"] for name in ("tokenizer", "pretrain")]
        lines += [row["timing"]["command"] for row in run["rows"]]
        lines += ["```", ""]
    return "\n".join(lines)


def per_dataset(text: str, name: str) -> dict[str, int]:
    """``"cbs=2000,mycoai=600"`` or ``"800"`` (both) -> ``{"cbs": ..., "mycoai": ...}``."""
    if "=" not in text:
        return {key: int(text) for key in DATASETS}
    values = dict(part.split("=", 1) for part in text.split(","))
    unknown = set(values) - set(DATASETS)
    if unknown or set(values) != set(DATASETS):
        raise argparse.ArgumentTypeError(f"{name}: give a number, or one per data set ({', '.join(DATASETS)})")
    return {key: int(value) for key, value in values.items()}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="cbs,mycoai", help="comma-separated: cbs, mycoai")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "taxonomy_acceptance")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--headdim", type=int, default=32)
    parser.add_argument("--d-state", type=int, default=32)
    parser.add_argument("--vocab-size", type=int, default=768)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--max-length",
        type=lambda t: per_dataset(t, "--max-length"),
        default="cbs=700,mycoai=1000",
        help="bases per barcode (CBS ITS2 <= 689; MycoAI full ITS: 99%% <= 1,000)",
    )
    parser.add_argument(
        "--pretrain-steps", type=lambda t: per_dataset(t, "--pretrain-steps"), default="cbs=400,mycoai=300"
    )
    parser.add_argument(
        "--finetune-steps", type=lambda t: per_dataset(t, "--finetune-steps"), default="cbs=500,mycoai=400"
    )
    parser.add_argument("--pretrain-lr", type=float, default=2e-3)
    parser.add_argument("--finetune-lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.datasets.split(",") if k.strip()]
    unknown = [k for k in keys if k not in DATASETS]
    if unknown:
        parser.error(f"unknown data set(s) {', '.join(unknown)}: choose among {', '.join(DATASETS)}")
    missing = [str(DATASETS[k][1]) for k in keys if not DATASETS[k][1].exists()]
    if missing:
        sys.exit(f"data not found: {', '.join(missing)} (see ../shared/data/README.md)")

    runs = [run_dataset(key, args) for key in keys]
    table = markdown(runs, args, argv)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "taxonomy_acceptance.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
