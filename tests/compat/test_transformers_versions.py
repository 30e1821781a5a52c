"""Model folders move between transformers releases: a folder saved under one loads under another
(``trust_remote_code``, barcodefm not importable) and gives the same token ids and outputs.

The other release lives in another Python environment, named by ``BARCODEFM_OTHER_PYTHON``
(``.ci/run`` builds one with the lowest supported transformers and runs this file from both
sides). Without it these tests skip, saying so: one environment cannot test two releases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers

from barcodefm.release.load_check import auto_class_for, check_folders, compare_outputs, outputs_without_barcodefm

from .model_folders import SEQUENCES, build

OTHER_PYTHON = os.environ.get("BARCODEFM_OTHER_PYTHON")
HERE = Path(__file__).resolve().parent
ATOL = 1e-5

needs_other = pytest.mark.skipif(
    not OTHER_PYTHON,
    reason="BARCODEFM_OTHER_PYTHON is not set: no second transformers release to test against "
    "(.ci/run sets it to an environment with the lowest supported release)",
)


def other_transformers_version() -> str:
    proc = subprocess.run(
        [OTHER_PYTHON, "-c", "import transformers; print(transformers.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


@needs_other
def test_the_other_environment_runs_another_transformers():
    # Equal versions would make every test below pass without testing anything.
    assert other_transformers_version() != transformers.__version__


@needs_other
def test_folders_saved_here_load_under_the_other_release(tmp_path):
    references = build(tmp_path)
    results = check_folders(references, sequences=SEQUENCES, atol=ATOL, python=OTHER_PYTHON)
    for result in results:
        assert result.ok, (result.folder.name, result.problems)
    classes = {r.folder.name: r.model_class.rsplit(".", 1)[-1] for r in results}
    # AutoModel gives the taxonomic classifier of a taxonomy folder, not its backbone.
    assert classes["mamba2-bpe-taxonomy"] == "BarcodeMambaForTaxonomicClassification"
    assert classes["mae-kmer-taxonomy"] == "BarcodeMAEForTaxonomicClassification"


@needs_other
def test_bundled_models_load_under_the_other_release():
    """The shipped identifiers (saved under whatever release bundled them) give this process's
    outputs under the other release too."""
    from barcodefm.factory import load_model, load_tokenizer
    from barcodefm.registry import BUNDLED_MODELS, bundled_model_path

    references = []
    for name in sorted(BUNDLED_MODELS):
        folder = bundled_model_path(name)
        references.append((folder, load_model(folder, "AutoModel"), load_tokenizer(folder)))
    for result in check_folders(references, atol=ATOL, python=OTHER_PYTHON):
        assert result.ok, (result.folder.name, result.problems)
        assert result.model_class.endswith("BarcodeMambaForTaxonomicClassification")


@needs_other
def test_folders_saved_under_the_other_release_load_here(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(HERE)}
    proc = subprocess.run(
        [OTHER_PYTHON, str(HERE / "model_folders.py"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = torch.load(tmp_path / "expected.pt", weights_only=True)
    assert saved["transformers"] != transformers.__version__
    jobs = [
        {"folder": folder, "auto_class": auto_class_for(folder), "sequences": SEQUENCES} for folder in saved["outputs"]
    ]
    assert len(jobs) == 5
    loaded = outputs_without_barcodefm(jobs)  # this environment, barcodefm blocked
    for folder, expected in saved["outputs"].items():
        assert "error" not in loaded[folder], loaded[folder].get("error")
        problems, worst = compare_outputs(expected, loaded[folder]["outputs"], atol=ATOL)
        assert not problems, (Path(folder).name, problems, worst)


def test_entry_modules_import_every_sibling_they_need_directly():
    """transformers 5.0 copies a remote-code file's DIRECT relative imports only: every module an
    auto_map entry reaches must be imported by that entry module itself."""
    import ast

    import barcodefm

    src = Path(barcodefm.__file__).parent / "models"  # the Hub modules

    def direct(name):
        tree = ast.parse((src / f"{name}.py").read_text())
        return {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 1}

    def closure(name, seen):
        for dep in direct(name):
            if dep not in seen:
                seen.add(dep)
                closure(dep, seen)
        return seen

    entries = [
        p.stem for p in src.glob("*.py") if p.stem.split("_")[0] in ("configuration", "modeling", "tokenization")
    ]
    entries.append("pipeline_barcodefm")
    for entry in entries:
        missing = closure(entry, set()) - direct(entry)
        assert not missing, f"{entry}.py reaches {sorted(missing)} only through other modules"


AUTO_MODEL_ORDER = r"""
import json, sys
from transformers import AutoModel
folder, first = sys.argv[1], sys.argv[2]
def load():
    return AutoModel.from_pretrained(folder, trust_remote_code=True)
names = []
if first == "remote":
    names.append(type(load()).__name__)
    import barcodefm
    names.append(type(load()).__name__)
else:
    import barcodefm
    names.append(type(load()).__name__)
    names.append(type(load()).__name__)
print(json.dumps(names))
"""


@pytest.mark.parametrize("first", ["remote", "barcodefm"])
def test_auto_model_gives_the_taxonomic_classifier_in_either_order(tmp_path, first):
    """Before and after ``import barcodefm`` in ONE process, AutoModel on a taxonomy folder is the
    taxonomic classifier (in-process registration used to map it to the bare backbone)."""
    build(tmp_path)
    folder = tmp_path / "mamba2-bpe-taxonomy"
    proc = subprocess.run(
        [sys.executable, "-c", AUTO_MODEL_ORDER, str(folder), first],
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["BarcodeMambaForTaxonomicClassification"] * 2


def test_declared_range_is_the_one_the_cards_and_readme_state_and_ci_tests():
    """pyproject's transformers range = the model cards' = the README's, and CI builds its second
    environment from the range's lower bound."""
    import re

    from barcodefm.release.cards import HUB_CODE_TRANSFORMERS

    root = HERE.parents[1]
    if not (root / "pyproject.toml").is_file():
        pytest.skip("not a source checkout (no pyproject.toml)")
    declared = re.search(r'"transformers([^"]*)"', (root / "pyproject.toml").read_text()).group(1)
    assert declared == HUB_CODE_TRANSFORMERS
    assert f"transformers{declared}" in (root / "README.md").read_text().replace("`", "")
    assert "lowest_transformers" in (root / ".ci" / "run").read_text()
