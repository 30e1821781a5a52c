"""The trained identifiers shipped in the package (``--model coi-insect`` / ``its-fungi``): they
load through the registry and through plain AutoModel without barcodefm, reproduce outputs
stored when they were bundled, fit the size budget, and name the bundled samples' held-out
barcodes at or above a stated floor.

``python tests/bundled/test_bundled_models.py --write`` stores the reference outputs (run it once
after bundling a new model, never to make a failing test pass).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from barcodefm.cli import main
from barcodefm.data import iter_barcodes, sample_path
from barcodefm.registry import BUNDLED_DIR, BUNDLED_MODELS, bundled_model_path

EXPECTED = Path(__file__).with_name("expected_outputs.json")
SAMPLE = {"coi-insect": "coi", "its-fungi": "its"}
# Accuracy floors on the bundled samples' `test` records (never trained on), per rank. Measured
# when the models were bundled (closing note and benchmarks/results/bundled_models.md) and set a
# few points below, so that a broken model, tokenizer or reference fails here.
FLOORS = {
    # 364 held-out COI records, measured: 1.000 at every rank.
    "coi-insect": {"order": 0.99, "family": 0.98, "genus": 0.97, "species": 0.95},
    # 254 held-out ITS2 records, measured: phylum 1.000, order 0.972, genus 0.965, species 0.878 (heads and
    # votes; the heads alone gave genus 0.953, species 0.866).
    "its-fungi": {"phylum": 0.97, "order": 0.93, "genus": 0.90, "species": 0.80},
}
BUDGET_MB = 25
N_STORED = 4

LOADER = r"""
import json, sys
sys.modules["barcodefm"] = None  # as on a machine without barcodefm
import torch
from transformers import AutoModel, AutoTokenizer
folder, seqs = sys.argv[1], json.loads(sys.argv[2])
tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
print(json.dumps(__OUTPUTS__(model, tok, seqs)))
"""


def outputs(model, tok, seqs):
    """Head calls and the first embedding values of ``seqs`` (the same function in both processes)."""
    import torch

    enc = tok(seqs, padding=True, return_tensors="pt")
    with torch.no_grad():
        pred = model.predict_taxonomy(enc["input_ids"], enc["attention_mask"])
        emb = model.embed(enc["input_ids"], enc["attention_mask"])
    return {
        "class": type(model).__name__,
        "labels": [p["labels"] for p in pred],
        "probs": [p["probs"] for p in pred],
        "embedding": emb[:, :8].tolist(),
    }


def held_out(name: str) -> list[dict]:
    return [r for r in iter_barcodes(sample_path(SAMPLE[name])) if r.get("split") == "test"]


def stored_sequences(name: str) -> list[str]:
    return [r["sequence"][:660] for r in held_out(name)[:N_STORED]]


def have(name: str) -> bool:
    return (BUNDLED_DIR / name / "model.safetensors").is_file()


def run_without_barcodefm(folder: Path, seqs: list[str], cwd: Path) -> dict:
    import inspect

    script = LOADER.replace("__OUTPUTS__", "outputs")
    script = inspect.getsource(outputs) + script
    proc = subprocess.run(
        [sys.executable, "-c", script, str(folder), json.dumps(seqs)],
        cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(cwd / "modules")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def close(a: dict, b: dict, tol: float = 1e-4) -> None:
    assert a["class"] == b["class"] == "BarcodeMambaForTaxonomicClassification"
    assert a["labels"] == b["labels"]
    for pa, pb in zip(a["probs"], b["probs"]):
        assert pa.keys() == pb.keys() and all(abs(pa[k] - pb[k]) < tol for k in pa)
    for ea, eb in zip(a["embedding"], b["embedding"]):
        assert all(abs(x - y) < tol for x, y in zip(ea, eb))


@pytest.mark.parametrize("name", sorted(BUNDLED_MODELS))
def test_bundled_model_is_complete_and_within_budget(name):
    assert have(name), f"{name} is not bundled in {BUNDLED_DIR}"
    folder = bundled_model_path(name)
    files = {p.name for p in folder.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "README.md",
        "novelty_reference.safetensors",
        "reference_labels.safetensors",
        "reference_sequences.fasta.gz",
        "identification.json",
        "novelty.json",
    } <= files
    assert not any(n.endswith((".bin", ".pt", ".pth", ".pkl")) for n in files)
    size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
    assert size_mb <= BUDGET_MB, f"{name}: {size_mb:.1f} MB"
    card = (folder / "README.md").read_text()
    assert f"barcodefm recipe {name}" in card and "Seed 0" in card


@pytest.mark.parametrize("name", sorted(BUNDLED_MODELS))
def test_bundled_model_loads_without_barcodefm_and_reproduces_stored_outputs(name, tmp_path):
    from barcodefm.factory import load_model, load_tokenizer
    from barcodefm.registry import resolve_model

    expected = json.loads(EXPECTED.read_text())[name]
    seqs = stored_sequences(name)
    assert seqs == expected["sequences"]
    here = outputs(load_model(resolve_model(name), "AutoModel").eval(), load_tokenizer(resolve_model(name)), seqs)
    close(here, expected)
    close(run_without_barcodefm(bundled_model_path(name), seqs, tmp_path), expected)


@pytest.mark.parametrize("name", sorted(BUNDLED_MODELS))
def test_bundled_model_names_held_out_sample_barcodes_above_the_floor(name, tmp_path):
    records = held_out(name)
    fasta = tmp_path / "held_out.fa"
    fasta.write_text("".join(f">{r['id']}\n{r['sequence']}\n" for r in records))
    out = tmp_path / "calls.tsv"
    assert main(["classify", str(fasta), "--model", name, "-o", str(out)]) == 0
    with open(out, newline="") as f:
        calls = {row["id"]: row for row in csv.DictReader(f, delimiter="\t")}
    assert len(calls) == len(records) > 50
    for rank, floor in FLOORS[name].items():
        known = [r for r in records if r.get(rank)]
        accuracy = sum(calls[r["id"]][rank] == r[rank] for r in known) / len(known)
        assert accuracy >= floor, f"{name} {rank}: {accuracy:.3f} < {floor} on {len(known)} held-out sample barcodes"


def write_expected() -> None:
    from barcodefm.factory import load_model, load_tokenizer

    data = {}
    for name in sorted(BUNDLED_MODELS):
        folder = bundled_model_path(name)
        seqs = stored_sequences(name)
        data[name] = {
            "sequences": seqs,
            **outputs(load_model(folder, "AutoModel").eval(), load_tokenizer(folder), seqs),
        }
    EXPECTED.write_text(json.dumps(data, indent=1))
    print(f"wrote {EXPECTED}")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write_expected()
