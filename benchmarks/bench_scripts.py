"""Benchmarks 4 and 6: the two stand-alone scripts, run by the runner and captioned for the summary.

- ``seq_length_scaling.py`` (BarcodeMamba vs the BarcodeMAE encoder, 660 -> 16,384 bp) runs as a
  subprocess (it starts one subprocess per point itself, to measure peak memory);
- ``mamba2_cpu_vs_hf.py`` (our pure-PyTorch Mamba-2 vs transformers' ``Mamba2Model``) runs in
  this process with its results folder pointed at the runner's ``--output``.
Each script writes its own table and plot; the runner adds a title, the command that
reproduces it through the runner, and the device line.
"""

from __future__ import annotations

import importlib
import logging
import shlex
import subprocess
import sys

from bench_common import BENCH_DIR, BenchContext

logger = logging.getLogger("benchmarks")

SEQ_LENGTH = "seq_length_scaling"
MAMBA2 = "mamba2_cpu_vs_hf"


def _captioned(ctx: BenchContext, name: str, title: str, script_command: str) -> None:
    """Give a script's Markdown the runner's heading, command and device lines."""
    path = ctx.path(f"{name}.md")
    text = path.read_text()
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):  # the script's own title: replaced by the runner's
        lines = lines[1:]
    header = [
        f"### {title}",
        "",
        f"Command: `{ctx.command(name)}` (runs `{script_command}`). Device: {ctx.device()}.",
        "",
    ]
    image = [f"![{title}]({name}.png)", ""] if ctx.path(f"{name}.png").is_file() else []
    path.write_text("\n".join(header + [line for line in lines] + [""] + image).replace("\n\n\n", "\n\n"))


def run_seq_length(ctx: BenchContext) -> dict:
    args = [*ctx.size.seq_length_args, "--threads", str(ctx.threads), "--out", str(ctx.output)]
    command = [sys.executable, str(BENCH_DIR / "seq_length_scaling.py"), *args]
    logger.info("running %s", " ".join(command))
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"seq_length_scaling.py failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    shown = "python benchmarks/seq_length_scaling.py " + " ".join(
        shlex.quote(a) for a in args[: len(args) - 2]
    )  # the --out folder is the runner's
    _captioned(ctx, SEQ_LENGTH, "Encoder time and peak memory vs barcode length", shown.strip())
    return {}


def run_mamba2(ctx: BenchContext) -> dict:
    module = importlib.import_module(MAMBA2)
    module.RESULTS = ctx.output  # the script writes into its module-level results folder
    args = [*ctx.size.mamba2_args, "--threads", str(ctx.threads)]
    logger.info("running mamba2_cpu_vs_hf.py %s", " ".join(args))
    module.main(args)
    shown = "python benchmarks/mamba2_cpu_vs_hf.py " + " ".join(shlex.quote(a) for a in args)
    _captioned(ctx, MAMBA2, "Mamba-2 on CPU: barcodefm's pure-PyTorch path vs transformers' Mamba2Model", shown)
    return {}
