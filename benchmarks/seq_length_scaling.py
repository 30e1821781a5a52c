"""How encoder time and peak memory grow with barcode length: BarcodeMAE (attention, k=6 tokens)
next to BarcodeMamba-2 (state space, char tokens), CPU, fp32, forward only.

    python benchmarks/seq_length_scaling.py            # 5 lengths x batch 1 and 4 (~4 min on 2 cores)
    python benchmarks/seq_length_scaling.py --quick    # 3 lengths, batch 1

Lengths run from 660 bp (a COI barcode) to 16,384 bp; the input is real COI barcodes from the
bundled sample, concatenated and cut to the length. BarcodeMAE sees ``length // 6`` k-mer tokens
(``max_position_embeddings`` raised to fit), BarcodeMamba ``length`` characters. Default sizes
are equal width and depth (hidden 384, 2 layers; MAE 6 heads and intermediate 1536, Mamba-2
headdim 48 with its MLP), i.e. the published BarcodeMamba-2 mini; change them with the options.

Memory: tracemalloc does not see torch's allocations, so each point runs in its own subprocess
and reports the growth of the process's peak resident set (``ru_maxrss``) over one forward,
measured after the model is built and warmed up on a short input: the forward's activations
and temporaries. Time is the fastest of ``--repeats`` (and of at least 1 s of, up to 20) warm
forwards after a first full-size one (one warm forward when the first takes 2-10 s; the first
alone above 10 s), with ``torch.set_num_threads``: the minimum is the least disturbed by other
work on a shared machine, whose load average the caption records. Slopes are least-squares
fits of log(y) on log(bp): 1 = linear, 2 = quadratic.

Writes ``benchmarks/results/seq_length_scaling.md`` (table, with the command in the caption) and
``seq_length_scaling.png`` (log-log, fitted slopes in the legend).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_LENGTHS = [660, 1320, 2640, 5280, 16384]
QUICK_LENGTHS = [660, 2640, 16384]
MODELS = ("BarcodeMAE", "BarcodeMamba-2")


# ----------------------------------------------------------------------------- one point (child)


def concatenated_barcodes(n_bases: int, batch: int) -> list[str]:
    """``batch`` different windows of ``n_bases`` over the bundled real COI barcodes."""
    import csv
    import gzip

    from barcodefm.data.samples import sample_path

    with gzip.open(sample_path("coi"), "rt", encoding="utf-8", newline="") as f:
        text = "".join(row["dna"] for row in csv.DictReader(f, delimiter="\t"))
    if len(text) < n_bases + 1000 * batch:
        text = text * math.ceil((n_bases + 1000 * batch) / len(text))
    return [text[1000 * i : 1000 * i + n_bases] for i in range(batch)]


def build(model_name: str, n_bases: int, args):
    import torch

    from barcodefm import (
        BarcodeCharTokenizer,
        BarcodeKmerTokenizer,
        BarcodeMAEConfig,
        BarcodeMAEModel,
        BarcodeMambaConfig,
        BarcodeMambaModel,
        config_from_tokenizer,
    )

    torch.manual_seed(0)
    if model_name == "BarcodeMAE":
        tok = BarcodeKmerTokenizer(k=6, max_bases=None)
        config = config_from_tokenizer(
            tok,
            config_class=BarcodeMAEConfig,
            hidden_size=args.hidden,
            num_hidden_layers=args.layers,
            num_attention_heads=args.mae_heads,
            intermediate_size=args.mae_intermediate,
            max_position_embeddings=max(512, n_bases // 6),
        )
        return tok, BarcodeMAEModel(config).eval()
    tok = BarcodeCharTokenizer(model_max_length=n_bases)
    config = config_from_tokenizer(
        tok, config_class=BarcodeMambaConfig, d_model=args.hidden, n_layer=args.layers, headdim=args.mamba_headdim
    )
    return tok, BarcodeMambaModel(config).eval()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure_point(model_name: str, n_bases: int, batch: int, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    tok, model = build(model_name, n_bases, args)
    seqs = concatenated_barcodes(n_bases, batch)
    enc = tok(seqs, return_tensors="pt")
    short = tok([s[:120] for s in seqs], return_tensors="pt")
    with torch.no_grad():
        model(**short)  # thread pools, kernels, lazy buffers: not the forward's own memory
        before = peak_rss_mb()
        t0 = time.perf_counter()
        model(**enc)
        first = time.perf_counter() - t0
        peak = peak_rss_mb() - before
        # The first full-size forward can be slower (first-touch pages, per-shape kernel setup):
        # it is timed again warm (best of --repeats, and of at least 1 s of repeats, up to 20,
        # under 2 s; once under 10 s); only a first forward over 10 s stands as its own
        # measurement, to keep the sweep short. Short forwards need the many tries: on a busy
        # machine one descheduled thread stalls every parallel op of a forward.
        repeats = args.repeats if first < 2.0 else 1 if first < 10.0 else 0
        times = []
        while len(times) < repeats or (first < 2.0 and sum(times) < 1.0 and len(times) < 20):
            t0 = time.perf_counter()
            model(**enc)
            times.append(time.perf_counter() - t0)
        times = times or [first]
    return {
        "model": model_name,
        "bp": n_bases,
        "batch": batch,
        "tokens": int(enc["input_ids"].shape[1]),
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "seconds": min(times),
        "peak_mb": peak,
    }


# ----------------------------------------------------------------------------- the sweep (parent)


def run_point(model_name: str, n_bases: int, batch: int, args) -> dict:
    cmd = [sys.executable, __file__, "--point", model_name, str(n_bases), str(batch), *forwarded(args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{model_name} at {n_bases} bp, batch {batch} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def forwarded(args) -> list[str]:
    return [
        "--threads",
        str(args.threads),
        "--repeats",
        str(args.repeats),
        "--hidden",
        str(args.hidden),
        "--layers",
        str(args.layers),
        "--mae-heads",
        str(args.mae_heads),
        "--mae-intermediate",
        str(args.mae_intermediate),
        "--mamba-headdim",
        str(args.mamba_headdim),
    ]


def fitted_slope(xs, ys) -> float:
    import numpy as np

    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def series(rows):
    out = {}
    for r in rows:
        out.setdefault((r["model"], r["batch"]), []).append(r)
    return out


def markdown(rows, command: str, args) -> str:
    params = {r["model"]: r["params_m"] for r in rows}
    lines = [
        "# Encoder forward time and peak memory vs barcode length (CPU, fp32)",
        "",
        f"Command: `{command}` ({args.threads} thread{'s' if args.threads != 1 else ''}). BarcodeMAE encoder: hidden {args.hidden}, "
        f"{args.layers} layers, {args.mae_heads} heads, 6-mer tokens ({params.get('BarcodeMAE', float('nan')):.2f}M "
        f"parameters); BarcodeMamba-2: d_model {args.hidden}, {args.layers} layers, headdim {args.mamba_headdim}, "
        f"char tokens ({params.get('BarcodeMamba-2', float('nan')):.2f}M parameters). Time: fastest warm "
        "forward (a single cold forward where it took over 10 s); memory: growth of the process's "
        "peak RSS over one forward (one subprocess per point). Machine load average (1 min) at start / end: "
        f"{args.load[0]:.1f} / {args.load[1]:.1f} (the CPU is shared; above the thread count, timings are inflated).",
        "",
        "| model | batch | bp | tokens | seconds | kbp/s | peak MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['bp']} | {r['tokens']} | {r['seconds']:.3f} | "
            f"{r['bp'] * r['batch'] / r['seconds'] / 1000:.1f} | {r['peak_mb']:.0f} |"
        )
    lines += [
        "",
        "Fitted log-log slopes (time and memory against length; 1 = linear, 2 = quadratic):",
        "",
        "| model | batch | time slope | memory slope |",
        "|---|---|---|---|",
    ]
    for (model, batch), rs in series(rows).items():
        if len(rs) > 1:
            mem = [max(r["peak_mb"], 1.0) for r in rs]  # below 1 MB the RSS step is noise
            lines.append(
                f"| {model} | {batch} | {fitted_slope([r['bp'] for r in rs], [r['seconds'] for r in rs]):.2f} | "
                f"{fitted_slope([r['bp'] for r in rs], mem):.2f} |"
            )
    return "\n".join(lines) + "\n"


def plot(rows, path: Path, command: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (model, batch), rs in series(rows).items():
        xs = [r["bp"] for r in rs]
        style = dict(marker="o" if model == "BarcodeMAE" else "s", linestyle="-" if batch == 1 else "--")
        for ax, key in zip(axes, ("seconds", "peak_mb")):
            ys = [max(r[key], 1.0) if key == "peak_mb" else r[key] for r in rs]
            label = f"{model}, batch {batch}" + (f" (slope {fitted_slope(xs, ys):.2f})" if len(rs) > 1 else "")
            ax.plot(xs, ys, label=label, **style)
    for ax, title in zip(axes, ("forward time (s)", "peak memory growth (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("barcode length (bp)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(command, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 lengths, batch 1")
    parser.add_argument("--lengths", type=int, nargs="+", help=f"barcode lengths in bp (default {DEFAULT_LENGTHS})")
    parser.add_argument("--batches", type=int, nargs="+", help="batch sizes (default 1 4; --quick: 1)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--repeats", type=int, default=3, help="warm repeats of a point whose first forward is under 2 s"
    )
    parser.add_argument("--hidden", type=int, default=384, help="width of both models")
    parser.add_argument("--layers", type=int, default=2, help="depth of both models")
    parser.add_argument("--mae-heads", type=int, default=6)
    parser.add_argument("--mae-intermediate", type=int, default=1536)
    parser.add_argument("--mamba-headdim", type=int, default=48)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the .md and .png")
    parser.add_argument("--point", nargs=3, metavar=("MODEL", "BP", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.point:  # child: one measurement, one JSON line
        model_name, n_bases, batch = args.point
        print(json.dumps(measure_point(model_name, int(n_bases), int(batch), args)))
        return

    from tqdm.auto import tqdm

    lengths = args.lengths or (QUICK_LENGTHS if args.quick else DEFAULT_LENGTHS)
    batches = args.batches or ([1] if args.quick else [1, 4])
    points = [(m, b, n) for m in MODELS for b in batches for n in lengths]
    rows = []
    load_start = os.getloadavg()[0]
    for model_name, batch, n_bases in tqdm(points, desc="points", unit="point"):
        rows.append(run_point(model_name, n_bases, batch, args))
    args.load = (load_start, os.getloadavg()[0])
    # Paths inside the repository are written relative to it: the command reads the same on any checkout.
    root = str(Path(__file__).resolve().parent.parent) + "/"
    args_text = (a[len(root) :] if a.startswith(root) else a for a in (argv or sys.argv[1:]))
    command = "python benchmarks/seq_length_scaling.py" + "".join(" " + shlex.quote(a) for a in args_text)
    table = markdown(rows, command, args)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "seq_length_scaling.md").write_text(table)
    plot(rows, args.out / "seq_length_scaling.png", command)
    print(f"wrote {args.out / 'seq_length_scaling.md'} and .png")


if __name__ == "__main__":
    main()
