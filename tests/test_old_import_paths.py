"""The Hub modules live in ``barcodefm/models/`` (every file there travels with the weights, nothing
else does); their old top-level paths (``barcodefm.modeling_barcodemamba``, ``barcodefm.dna``, ...)
still import, as the very same module objects."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import barcodefm
from barcodefm._lazy import MOVED_TO_MODELS
from barcodefm.registry import BUNDLED_DIR

PACKAGE = Path(barcodefm.__file__).parent
MODELS = PACKAGE / "models"


def hub_files() -> list[Path]:
    return sorted(p for p in MODELS.glob("*.py") if p.name != "__init__.py")


def test_every_alias_names_a_module_of_the_models_folder():
    # Modules added to models/ since the move have no old path; every old path still has a module.
    assert MOVED_TO_MODELS <= {p.stem for p in hub_files()}
    # no top-level module shadows (or is shadowed by) an old path
    assert not {p.stem for p in PACKAGE.glob("*.py")} & MOVED_TO_MODELS
    assert not {p.name for p in PACKAGE.iterdir() if p.is_dir()} & MOVED_TO_MODELS
    # the code saved with the bundled models is a subset of the Hub modules
    for folder in sorted(p for p in BUNDLED_DIR.iterdir() if p.is_dir()):
        assert {p.stem for p in folder.glob("*.py")} <= {p.stem for p in hub_files()}, folder.name


def test_every_old_path_is_the_new_module():
    for name in sorted(MOVED_TO_MODELS):
        new = importlib.import_module(f"barcodefm.models.{name}")
        old = importlib.import_module(f"barcodefm.{name}")
        assert old is new, name
        assert sys.modules[f"barcodefm.{name}"] is new
        assert new.__name__ == new.__spec__.name == f"barcodefm.models.{name}"
        assert getattr(barcodefm, name) is new

    from barcodefm.dna import normalize_sequence
    from barcodefm.modeling_barcodemamba import BarcodeMambaModel
    from barcodefm.taxonomy import IGNORE_INDEX, TaxonomySpec

    assert normalize_sequence is barcodefm.normalize_sequence
    assert BarcodeMambaModel is barcodefm.BarcodeMambaModel
    assert IGNORE_INDEX == -100 and TaxonomySpec is barcodefm.models.taxonomy.TaxonomySpec


OLD_FIRST = r"""
import importlib, json, sys
import barcodefm
from barcodefm.dna import normalize_sequence  # stdlib only: still no torch
light = [m for m in ("torch", "transformers") if m in sys.modules]
import barcodefm.taxonomy as old_taxonomy
from barcodefm.models.taxonomy import TaxonomySpec
from barcodefm.modeling_barcodemamba import BarcodeMambaModel
from barcodefm.models.modeling_barcodemamba import BarcodeMambaModel as New
from barcodefm import BarcodeCharTokenizer, config_from_tokenizer
model = New(config_from_tokenizer(BarcodeCharTokenizer(), d_model=16, n_layer=1, headdim=8, d_state=8))
print(json.dumps([
    light,
    isinstance(model, BarcodeMambaModel),
    old_taxonomy.TaxonomySpec is TaxonomySpec,
    normalize_sequence("acgu") == ("ACGT", 0),
    all(importlib.import_module("barcodefm." + n) is importlib.import_module("barcodefm.models." + n)
        for n in barcodefm._lazy.MOVED_TO_MODELS),
]))
"""


def test_old_paths_first_in_a_fresh_process():
    """Imported through the old path first, a module is still the one the new path gives; and
    ``import barcodefm`` (or the torch-free ``barcodefm.dna``) imports neither torch nor transformers."""
    proc = subprocess.run([sys.executable, "-c", OLD_FIRST], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [[], True, True, True, True]


def test_hub_modules_obey_the_travel_rules():
    """Every module in models/: only the standard library, torch, transformers and numpy at top
    level, and siblings by single-dot imports (never barcodefm's tooling)."""
    allowed = {"torch", "transformers", "numpy", "__future__"} | set(sys.stdlib_module_names)
    for path in hub_files():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, f"{path.name}: only single-dot relative imports travel"
                assert (MODELS / f"{node.module}.py").is_file(), f"{path.name}: .{node.module} is not a Hub module"
            elif isinstance(node, ast.ImportFrom):
                assert node.module.split(".")[0] in allowed, f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in allowed, f"{path.name} imports {alias.name}"
