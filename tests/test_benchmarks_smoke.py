"""The benchmark runner end to end at ``--size smoke`` (bundled samples, toy models, a few
training steps), and the README Results update.

The smoke run trains every benchmark model through the real trainers, runs every probe and
classic baseline, and must write every table, plot and the summary; it checks that the
numbers are real measurements (baselines near-perfect on seen species of the sample, model
scores within range), not that toy models are good.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO_ROOT / "benchmarks"
NAMES = [
    "accuracy",
    "taxonomy",
    "cost_vs_reference_size",
    "seq_length_scaling",
    "umap_unseen_genera",
    "mamba2_cpu_vs_hf",
    "mae_acceptance",
]
DEEP_COI_MODELS = {"BarcodeMamba (char)", "BarcodeMamba (6-mer)", "BarcodeMAE", "BarcodeMAE w/MASK"}


def _bench_module(name: str):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def smoke_output(tmp_path_factory) -> Path:
    missing = [tool for tool in ("blastn", "makeblastdb", "vsearch") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install ncbi-blast+ vsearch): smoke run skipped")
    root = tmp_path_factory.mktemp("bench")
    out = root / "results"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "run_benchmarks.py"),
            "--size",
            "smoke",
            "--output",
            str(out),
            "--work-dir",
            str(root / "work"),
            "--threads",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def test_smoke_run_writes_every_table_plot_and_the_summary(smoke_output):
    summary = (smoke_output / "summary.md").read_text()
    for name in NAMES:
        table = (smoke_output / f"{name}.md").read_text()
        assert f"--size smoke --only {name}" in table, f"{name}.md lacks the command that reproduces it"
        assert "Device:" in table and "CPU threads" in table
        assert "|---" in table, f"{name}.md holds no table"
        assert table.splitlines()[0] in summary, f"summary.md lacks the {name} table"
        png = smoke_output / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name}.png is not a PNG"
        assert png.stat().st_size > 10_000


def test_smoke_accuracy_rows_are_measured(smoke_output):
    rows = {r["method"]: r for r in json.loads((smoke_output / "accuracy.json").read_text())}
    assert DEEP_COI_MODELS <= set(rows)
    for name in DEEP_COI_MODELS:
        r = rows[name]
        for value in (*r["finetuned"], *r["linear_probe"], r["knn_genus_unseen"], r["harmonic_mean"]):
            assert 0.0 <= value <= 100.0
        assert r["pretrain"][0] >= 1 and r["finetune"][0] >= 1 and r["params"] > 0
    # Classic top hits on seen species of the sample are near perfect (SPEC 8: 99.4% on cap20).
    for name in ("BLAST (megablast top hit)", "VSEARCH (top hit)", "6-mer 1-NN"):
        assert rows[name]["linear_probe"][0] >= 90.0, rows[name]
        assert 30.0 <= rows[name]["knn_genus_unseen"] <= 100.0


def test_smoke_taxonomy_and_cost_tables_hold_numbers(smoke_output):
    (its,) = json.loads((smoke_output / "taxonomy.json").read_text())
    assert {"genus", "species"} <= set(its["ranks"])
    methods = {r["method"]: r for r in its["rows"]}
    assert {"BarcodeMamba+ (HLS)", "BarcodeMamba+ (no HLS)", "SINTAX (cutoff 0.8)"} <= set(methods)
    assert methods["BLAST (megablast top hit)"]["accuracy"]["genus"] >= 70.0
    for r in methods.values():
        assert all(0.0 <= v <= 100.0 for v in r["accuracy"].values())

    cost = json.loads((smoke_output / "cost_vs_reference_size.json").read_text())
    assert cost["n_mutated_copies"] > 0  # the largest size needs replicated references
    for method in ("model", "BLAST", "VSEARCH", "6-mer 1-NN"):
        per_size = cost["results"][method]
        assert [int(n) for n in per_size] == cost["sizes"]
        assert all(v["ms_per_query"] > 0 for v in per_size.values())


def test_update_readme_replaces_only_the_marked_section(tmp_path):
    report = _bench_module("bench_report")
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    summary = results / "summary.md"
    summary.write_text("### Table\n\n| a |\n|---|\n| 1 |\n\n![plot](accuracy.png)\n")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\nold numbers\n<!-- results:end -->\noutro\n")
    report.update_readme(readme, summary)
    text = readme.read_text()
    assert "old numbers" not in text and "| 1 |" in text
    assert text.startswith("intro\n") and text.endswith("<!-- results:end -->\noutro\n")
    assert "![plot](benchmarks/results/accuracy.png)" in text  # links work from the README's folder

    readme.write_text("no markers here\n")
    with pytest.raises(ValueError, match="markers"):
        report.update_readme(readme, summary)


def test_write_summary_keeps_tables_of_earlier_runs(tmp_path):
    report = _bench_module("bench_report")
    (tmp_path / "accuracy.md").write_text("### Accuracy\n\n| a |\n|---|\n")
    (tmp_path / "taxonomy.md").write_text("### Taxonomy\n\n| b |\n|---|\n")
    report.write_summary(tmp_path, NAMES, {"accuracy": 120.0}, "ci")
    report.write_summary(tmp_path, NAMES, {"taxonomy": 60.0}, "ci")  # a later --only taxonomy run
    text = (tmp_path / "summary.md").read_text()
    assert text.index("### Accuracy") < text.index("### Taxonomy")
    assert "accuracy 2.0 min" in text and "taxonomy 1.0 min" in text


def test_time_budget_sets_the_learning_rate_by_the_clock_and_stops_at_the_budget():
    """Equal training budgets are wall-clock seconds: warm-up then cosine by elapsed time, stop
    once the budget is spent but never before min_steps."""
    import math
    import types

    training = _bench_module("bench_training")
    now = [100.0]
    budget = training.TimeBudget(10.0, min_steps=3, warmup=0.1, min_lr_rate=0.1, clock=lambda: now[0])
    assert budget.lr_factor() == 0.0  # before training starts
    state, control = types.SimpleNamespace(global_step=0), types.SimpleNamespace(should_training_stop=False)
    budget.on_train_begin(None, state, control)
    now[0] = 100.5  # half of the warm-up
    assert math.isclose(budget.lr_factor(), 0.5)
    now[0] = 105.5  # half of the decay: halfway between 1 and 0.1
    assert math.isclose(budget.lr_factor(), 0.55)
    now[0] = 111.0  # past the budget: the floor
    assert math.isclose(budget.lr_factor(), 0.1)
    state.global_step = 2
    budget.on_step_end(None, state, control)
    assert not control.should_training_stop  # min_steps not reached yet
    state.global_step = 3
    budget.on_step_end(None, state, control)
    assert control.should_training_stop
    budget.on_train_end(None, state, control)
    assert budget.seconds == 11.0
