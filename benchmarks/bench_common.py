"""What every benchmark of ``run_benchmarks.py`` shares: size presets, the run context (output
and work folders, threads, the command that reproduces a table), the device line, Markdown
helpers and the external aligners.

Absolute times here are CPU times on whatever machine runs the script; each table names the
CPU and thread count, and ratios between methods are the numbers meant to travel.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import shlex
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from barcodefm.trainers.options import MAX_BASES

logger = logging.getLogger("benchmarks")

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_WORK_DIR = REPO_ROOT / "runs" / "benchmarks"  # /runs/ is git-ignored
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
COI_FULL = SHARED_DATA / "insect_coi" / "bold_insect_coi5p_degobbi.tsv.gz"
COI_CAP20 = SHARED_DATA / "insect_coi" / "bold_insect_coi5p_degobbi.cap20.tsv.gz"
CBS_ITS2 = SHARED_DATA / "fungal_its" / "cbs_its2_labelled.tsv.gz"
MYCOAI_TEST1 = SHARED_DATA / "fungal_its" / "mycoai_test1_full_its_labelled.tsv.gz"


@dataclass(frozen=True)
class SizePreset:
    """Data, model sizes and budgets of one ``--size``."""

    name: str
    coi_data: str  # a path, or "sample:coi" for the bundled sample
    its_data: tuple[tuple[str, str], ...]  # (label, path or "sample:its")
    cost_data: str
    # tiny models: one width/depth for all (BarcodeMAE: encoder and decoder)
    d_model: int
    n_layer: int
    headdim: int
    d_state: int
    batch_size: int
    max_bases: int  # every model reads the first max_bases bases, in training and inference (SPEC 1: 660)
    pretrain_seconds: float
    finetune_seconds: float
    its_pretrain_seconds: float
    its_finetune_seconds: float
    lr: float
    bpe_vocab_size: int
    # probes: queries subsampled to this many per split (None = all); the 1-NN / linear-probe
    # reference (train) to n_train_reference (None = all; fine-tuning always sees all of train)
    n_train_reference: int | None
    n_test_queries: int | None
    n_unseen_queries: int | None
    n_its_test_queries: int | None
    linear_probe_epochs: int
    # per-query cost
    cost_reference_sizes: tuple[int, ...]
    cost_queries: int
    cost_model: str
    # references the model really embeds; a larger set reuses these embeddings cyclically for
    # the 1-NN timing and its index cost is extrapolated from the measured rate (None = embed all)
    cost_embed_limit: int | None
    # sequence-length scaling and Mamba-2 speed: arguments of the two existing scripts
    seq_length_args: tuple[str, ...]
    mamba2_args: tuple[str, ...]
    umap_genera: int = 10
    min_steps: int = 2  # a run makes at least this many steps, whatever the budget

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, SizePreset] = {
    # The bundled samples and toy models: checks that every table and plot is produced (< 90 s).
    "smoke": SizePreset(
        name="smoke",
        coi_data="sample:coi",
        its_data=(("ITS sample (bundled)", "sample:its"),),
        cost_data="sample:coi",
        d_model=32,
        n_layer=1,
        headdim=16,
        d_state=16,
        batch_size=16,
        max_bases=120,
        pretrain_seconds=1.0,
        finetune_seconds=1.0,
        its_pretrain_seconds=1.0,
        its_finetune_seconds=1.0,
        lr=2e-3,
        bpe_vocab_size=64,
        n_train_reference=300,
        n_test_queries=60,
        n_unseen_queries=60,
        n_its_test_queries=60,
        linear_probe_epochs=20,
        cost_reference_sizes=(300, 600, 1500),
        cost_queries=20,
        cost_model="BarcodeMamba (6-mer)",
        cost_embed_limit=600,
        seq_length_args=(
            "--lengths",
            "330",
            "660",
            "--batches",
            "1",
            "--hidden",
            "32",
            "--layers",
            "1",
            "--mae-heads",
            "2",
            "--mae-intermediate",
            "64",
            "--mamba-headdim",
            "16",
            "--repeats",
            "1",
        ),
        mamba2_args=("--quick", "--batch", "2", "--repeats", "1"),
        umap_genera=5,
        min_steps=1,
    ),
    # Shared real data, tiny models, minutes of CPU per model: ~35 min on 2 cores in total.
    "ci": SizePreset(
        name="ci",
        coi_data=str(COI_CAP20),
        its_data=(("CBS ITS2", str(CBS_ITS2)), ("MycoAI test1", str(MYCOAI_TEST1))),
        cost_data=str(COI_FULL),
        d_model=64,
        n_layer=2,
        headdim=32,
        d_state=32,
        batch_size=32,
        max_bases=MAX_BASES,
        pretrain_seconds=90.0,
        finetune_seconds=45.0,
        its_pretrain_seconds=60.0,
        its_finetune_seconds=40.0,
        lr=2e-3,
        bpe_vocab_size=768,
        n_train_reference=3000,
        n_test_queries=500,
        n_unseen_queries=500,
        n_its_test_queries=500,
        linear_probe_epochs=200,
        cost_reference_sizes=(10_000, 50_000, 100_000),
        cost_queries=200,
        cost_model="BarcodeMamba (6-mer)",
        cost_embed_limit=5_000,
        seq_length_args=("--quick",),
        mamba2_args=(),  # the full table (2 sizes x 2 lengths, ~5 min): it carries the >= 3x target
    ),
    # Same data, larger models and budgets, no query subsampling: hours on a CPU, minutes on a GPU.
    "full": SizePreset(
        name="full",
        coi_data=str(COI_CAP20),
        its_data=(("CBS ITS2", str(CBS_ITS2)), ("MycoAI test1", str(MYCOAI_TEST1))),
        cost_data=str(COI_FULL),
        d_model=256,
        n_layer=4,
        headdim=64,
        d_state=64,
        batch_size=64,
        max_bases=MAX_BASES,
        pretrain_seconds=1800.0,
        finetune_seconds=900.0,
        its_pretrain_seconds=900.0,
        its_finetune_seconds=600.0,
        lr=1e-3,
        bpe_vocab_size=768,
        n_train_reference=None,
        n_test_queries=None,
        n_unseen_queries=None,
        n_its_test_queries=None,
        linear_probe_epochs=200,
        cost_reference_sizes=(10_000, 50_000, 100_000),
        cost_queries=1000,
        cost_model="BarcodeMamba (6-mer)",
        cost_embed_limit=None,
        seq_length_args=(),
        mamba2_args=(),
    ),
}


def data_path(spec: str) -> Path:
    """A preset's data entry as a path (``sample:NAME`` = the bundled sample)."""
    if spec.startswith("sample:"):
        from barcodefm.data import sample_path

        return sample_path(spec.split(":", 1)[1])
    return Path(spec)


def data_label(spec: str) -> str:
    """How a table names its data: the file name, not the machine's absolute path."""
    if spec.startswith("sample:"):
        return f"the bundled {spec.split(':', 1)[1].upper()} sample (`barcodefm.data.sample_path({spec.split(':', 1)[1]!r})`)"
    path = Path(spec)
    try:
        return f"`{path.resolve().relative_to(SHARED_DATA.parent.resolve())}`"
    except ValueError:
        return f"`{path.name}`"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@dataclass
class BenchContext:
    """One invocation of the runner: where things go and how tables are captioned."""

    size: SizePreset
    output: Path
    work: Path
    threads: int
    fresh: bool = False
    base_command: list[str] = field(default_factory=list)  # runner arguments except --only
    aligners: dict[str, bool] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def command(self, name: str) -> str:
        """The exact command that reproduces the table ``name``."""
        args = ["python", "benchmarks/run_benchmarks.py", *self.base_command, "--only", name]
        return " ".join(shlex.quote(a) for a in args)

    def device(self) -> str:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        return (
            f"{cpu_model()}, {self.threads} of {os.cpu_count()} CPU threads, {gpu}; "
            f"torch {torch.__version__}, Python {platform.python_version()}"
        )

    def path(self, name: str) -> Path:
        self.output.mkdir(parents=True, exist_ok=True)
        return self.output / name

    def work_dir(self, *parts: str) -> Path:
        path = self.work.joinpath(self.size.name, *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


# ------------------------------------------------------------------------------- Markdown


def fmt(value, digits: int = 1) -> str:
    """A table cell: numbers rounded, missing values as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    value = float(value)
    if not math.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}"


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c if isinstance(c, str) else fmt(c) for c in row) + " |")
    return "\n".join(lines)


def write_markdown(
    ctx: BenchContext, name: str, title: str, caption: list[str], body: str, images: tuple[str, ...] = ()
) -> Path:
    """``<name>.md``: a title, the caption (command, device, sizes), the table(s), the plots."""
    lines = [f"### {title}", ""]
    lines.append(f"Command: `{ctx.command(name)}`. Device: {ctx.device()}.")
    lines += [""] + [" ".join(caption), "", body.rstrip(), ""]
    for image in images:
        lines += [f"![{title}]({image})", ""]
    path = ctx.path(f"{name}.md")
    path.write_text("\n".join(lines))
    logger.info("wrote %s", path)
    return path


def bar_chart(
    path: Path,
    title: str,
    groups: list[str],
    series: list[tuple[str, list[float], str | None]],
    ylabel: str = "%",
    figsize: tuple[float, float] = (11, 5),
    legend: dict | None = None,
) -> None:
    """A PNG of percentages: one bar per ``(label, one value per group, hatch)`` series, side by
    side over each of ``groups``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    width = 0.8 / max(len(series), 1)
    for i, (label, values, hatch) in enumerate(series):
        ax.bar(np.arange(len(groups)) + i * width - 0.4 + width / 2, values, width, label=label, hatch=hatch)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.legend(**(legend or {"fontsize": 8, "frameon": False}))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------- small helpers


def offline_environment() -> None:
    """Hugging Face offline, before any of its imports (a Hub lookup without it takes ~50 s to fail
    here), and no tokenizers thread pool beside torch's."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def subsample(n_total: int, n: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` of ``n_total`` items drawn without replacement (all when n is None)."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


class Stopwatch:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def ensure_aligners() -> dict[str, bool]:
    """BLAST+ and VSEARCH on PATH; installs the Debian packages when missing (root + apt).

    Returns which tools are usable; a failed installation is logged and the baselines that
    need the missing tool are reported as not run.
    """
    tools = {"blastn": "ncbi-blast+", "makeblastdb": "ncbi-blast+", "vsearch": "vsearch"}
    missing = sorted({pkg for tool, pkg in tools.items() if shutil.which(tool) is None})
    if missing:
        logger.info("installing %s (apt-get) for the classic baselines", " ".join(missing))
        try:
            subprocess.run(
                ["apt-get", "install", "-y", *missing], check=True, capture_output=True, text=True, timeout=600
            )
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            logger.error(
                "could not install %s (%s): the BLAST/VSEARCH/SINTAX baselines will be reported as not run. "
                "Install them with `sudo apt-get install -y ncbi-blast+ vsearch`.",
                " ".join(missing),
                detail.strip().splitlines()[-1] if detail.strip() else exc,
            )
    return {tool: shutil.which(tool) is not None for tool in tools}
