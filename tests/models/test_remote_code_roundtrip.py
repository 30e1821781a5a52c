"""save_pretrained -> load in a FRESH process where `import barcodefm` fails, offline.

This is what a user without our package gets from the Hub: the folder's own copied modules must
be enough. Logits and tokenizer ids must be identical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from barcodefm import (
    BarcodeBPETokenizer,
    BarcodeCharTokenizer,
    BarcodeKmerTokenizer,
    BarcodeMambaForCausalLM,
    config_from_tokenizer,
)


def test_saved_models_load_without_barcodefm(tmp_path, coi_rows):
    """char, k-mer and BPE tokenizers x Mamba-1 and Mamba-2: identical ids, logits, embeddings."""
    from barcodefm.release.load_check import check_folders

    seqs = [coi_rows[0]["dna"][:200], coi_rows[1]["dna"][:90], "ACGTRYNNACGT"]
    bpe = BarcodeBPETokenizer.train([r["dna"] for r in coi_rows[:200]], vocab_size=48)
    tokenizers = {"char": BarcodeCharTokenizer(), "kmer": BarcodeKmerTokenizer(k=4), "bpe": bpe}
    references = []
    for name, tok in tokenizers.items():
        for version in (1, 2):
            torch.manual_seed(version)
            cfg = config_from_tokenizer(
                tok, d_model=32, n_layer=2, headdim=16, mamba_version=version, d_state=16 if version == 2 else 8
            )
            model = BarcodeMambaForCausalLM(cfg).eval()
            folder = tmp_path / f"{name}-mamba{version}"
            model.save_pretrained(folder)
            tok.save_pretrained(folder)
            references.append((folder, model, tok))
            config = json.load(open(folder / "config.json"))
            assert {"AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoModelForSequenceClassification"} <= set(
                config["auto_map"]
            )
    # One fresh process, `import barcodefm` blocked, HF_HUB_OFFLINE=1, cwd outside the repository.
    results = check_folders(references, sequences=seqs, atol=0.0)
    for result in results:
        assert result.ok, (result.folder, result.problems)
        assert result.max_abs_diff == 0.0
        assert "transformers_modules" in result.model_class
    assert sorted({r.tokenizer_class.rsplit(".", 1)[-1] for r in results}) == [
        "BarcodeBPETokenizer",
        "BarcodeCharTokenizer",
        "BarcodeKmerTokenizer",
    ]


def test_hub_modules_import_only_allowed_packages():
    """Hub modules: only torch/transformers/numpy/stdlib at top level, siblings by single-dot imports."""
    import ast
    from pathlib import Path

    import barcodefm

    src = Path(barcodefm.__file__).parent / "models"  # the Hub modules
    allowed = {"torch", "transformers", "numpy", "__future__"} | set(sys.stdlib_module_names)
    hub_files = [p for p in src.glob("*.py") if p.name.split("_")[0] in ("configuration", "modeling", "tokenization")]
    seen = set(hub_files)
    queue = list(hub_files)
    while queue:  # follow the single-dot imports: those files travel too
        path = queue.pop()
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only; lazy imports inside functions are guarded
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    dep = src / f"{node.module}.py"
                    assert dep.exists(), f"{path.name}: relative import of a non-flat module {node.module}"
                    if dep not in seen:
                        seen.add(dep)
                        queue.append(dep)
                else:
                    assert node.level == 0, f"{path.name}: only single-dot relative imports travel"
                    assert node.module.split(".")[0] in allowed, f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in allowed, f"{path.name} imports {alias.name}"
    assert src / "ssd_chunk_scan.py" in seen and src / "dna.py" in seen


TAXONOMY_LOADER = r"""
import json, sys
sys.modules["barcodefm"] = None
import torch
from transformers import AutoModel, AutoTokenizer
folder, seqs = sys.argv[1], json.loads(sys.argv[2])
tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
enc = tok(seqs, padding=True, return_tensors="pt")
print(json.dumps({"class": type(model).__name__, "pred": model.predict_taxonomy(enc["input_ids"], enc["attention_mask"])}))
"""


def test_taxonomy_model_loads_with_names_without_barcodefm(tmp_path, coi_rows):
    from barcodefm import BarcodeMambaForTaxonomicClassification
    from barcodefm.models.taxonomy import TaxonomySpec

    spec = TaxonomySpec.from_columns({r: [row[r] for row in coi_rows] for r in ("order", "family", "genus", "species")})
    tok = BarcodeCharTokenizer()
    torch.manual_seed(0)
    model = BarcodeMambaForTaxonomicClassification(
        config_from_tokenizer(tok, d_model=32, n_layer=1, headdim=16, d_state=16, taxonomy=spec.to_dict())
    ).eval()
    model.save_pretrained(tmp_path / "tax")
    tok.save_pretrained(tmp_path / "tax")
    seqs = [coi_rows[0]["dna"][:100], coi_rows[50]["dna"][:60]]
    enc = tok(seqs, padding=True, return_tensors="pt")
    expected = model.predict_taxonomy(enc["input_ids"], enc["attention_mask"])
    proc = subprocess.run(
        [sys.executable, "-c", TAXONOMY_LOADER, str(tmp_path / "tax"), json.dumps(seqs)],
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["class"] == "BarcodeMambaForTaxonomicClassification"
    for a, b in zip(got["pred"], expected):
        assert a["labels"] == b["labels"] and a["consistent"] == b["consistent"]
        for rank in a["probs"]:
            assert abs(a["probs"][rank] - b["probs"][rank]) < 1e-6
