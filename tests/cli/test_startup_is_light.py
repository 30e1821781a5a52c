"""The command line starts without torch/transformers (issue 13: every command took ~5 s to start,
`--help` included), and the package's public names still import as before."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "datasets", "sklearn", "matplotlib", "umap", "scipy")

PROBE = r"""
import json, sys
from barcodefm.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps([m for m in HEAVY if m in sys.modules]))
""".replace("HEAVY", repr(HEAVY))


def _heavy_modules_after(argv: list[str]) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["classify", "--help"],
        ["finetune", "--help"],
        ["pretrain", "--help"],
        ["demo", "--help"],
        ["recipe", "--help"],
    ],
)
def test_help_imports_no_heavy_module(argv):
    assert _heavy_modules_after(argv) == []


def test_public_names_still_import_and_register_the_auto_classes():
    code = r"""
import json, sys
import barcodefm
assert "torch" not in sys.modules and "transformers" not in sys.modules
from barcodefm import BarcodeMambaForTaxonomicClassification, BarcodeCharTokenizer, config_from_tokenizer
from barcodefm import *  # every name of __all__ resolves
from barcodefm.trainers import FinetuneOptions, get_family, run_finetuning
import barcodefm.registry  # submodules as before
from transformers import AutoConfig, AutoTokenizer
config = config_from_tokenizer(BarcodeCharTokenizer(), d_model=32, n_layer=1, headdim=16, d_state=16)
print(json.dumps([BarcodeMambaForTaxonomicClassification.__name__, type(AutoConfig.for_model("barcodemamba")).__name__,
                  type(config).__name__, sorted(set(barcodefm.__all__) - set(dir(barcodefm)))]))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [
        "BarcodeMambaForTaxonomicClassification",
        "BarcodeMambaConfig",
        "BarcodeMambaConfig",
        [],
    ]


@pytest.mark.parametrize(
    "first",
    [
        "import barcodefm; import transformers",
        "import transformers; import barcodefm",
        "from barcodefm.modeling_barcodemamba import BarcodeMambaModel",  # the old path (see barcodefm._lazy)
        "from barcodefm.models.modeling_barcodemamba import BarcodeMambaModel",
    ],
)
def test_importing_barcodefm_still_registers_with_transformers(first):
    """`import barcodefm` has always made AutoConfig/AutoModel know barcodefm's classes (no
    trust_remote_code needed); lazily it still does, whichever is imported first."""
    code = (
        first
        + r"""
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.pipelines import PIPELINE_REGISTRY
print("barcodemamba" in CONFIG_MAPPING and "barcodemae" in CONFIG_MAPPING
      and "barcode-classification" in PIPELINE_REGISTRY.supported_tasks)
"""
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "True"


def test_a_missing_input_or_an_existing_output_fails_before_the_heavy_imports(tmp_path):
    # A typo should fail at once, not after seconds of importing torch and transformers.
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">a\n" + "ACGT" * 30 + "\n")
    taken = tmp_path / "calls.tsv"
    taken.write_text("id\n")
    for argv in (
        ["classify", str(tmp_path / "missing.fasta"), "--model", "coi-insect", "-o", str(tmp_path / "o.tsv")],
        ["classify", str(fasta), "--model", "coi-insect", "-o", str(taken)],
    ):
        assert _heavy_modules_after(argv) == [], argv
