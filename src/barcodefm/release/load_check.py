"""The release load check: does a saved folder work on a machine WITHOUT barcodefm?

A fresh Python process, where ``import barcodefm`` fails and the Hub is offline, loads each
folder with the Auto classes and ``trust_remote_code=True`` (so only the folder's own copied
code runs) and records token ids, forward outputs and embeddings for a few real barcodes. These
must equal what the in-process reference model gives. Used by ``barcodefm release``,
``barcodefm convert`` and the tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import fresh_loader

# Outputs may differ by float rounding only (same code, same weights, same CPU); a wrong weight,
# vocabulary or code path differs by orders of magnitude more.
DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-5


@dataclass
class LoadCheckResult:
    folder: Path
    auto_class: str
    model_class: str = ""
    tokenizer_class: str = ""
    max_abs_diff: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_barcodes(n: int = 2) -> list[str]:
    """``n`` real COI barcodes from the bundled sample; the last is cut to a third of its length
    so that the batch is padded (padding must not change anything either)."""
    from itertools import islice

    from ..data import iter_barcodes, sample_path

    sequences = [record["sequence"] for record in islice(iter_barcodes(sample_path("coi")), n)]
    if len(sequences) > 1:
        sequences[-1] = sequences[-1][: max(len(sequences[-1]) // 3, 12)]
    return sequences


def auto_class_for(folder: str | Path) -> str:
    """The Auto class that loads the folder's saved architecture: ``AutoModel`` when it maps to
    that class, else the first ``auto_map`` entry that does."""
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    architectures = config.get("architectures") or []
    auto_map = config.get("auto_map") or {}
    if not architectures:
        raise ValueError(f"{folder}/config.json names no architecture")
    name = architectures[0]
    matching = [key for key, target in auto_map.items() if key != "AutoConfig" and str(target).endswith(f".{name}")]
    if not matching:
        raise ValueError(f"{folder}/config.json: no auto_map entry loads {name} (auto_map: {sorted(auto_map)})")
    return "AutoModel" if "AutoModel" in matching else matching[0]


def outputs_without_barcodefm(jobs: list[dict], timeout: float = 600, python: str | None = None) -> dict[str, dict]:
    """Run :mod:`fresh_loader` on ``jobs`` ({"folder", "auto_class", "sequences"}) in one fresh,
    offline process without barcodefm; returns {folder: {"outputs"/"error", ...}}. ``python``: the
    interpreter to run (default this one; another environment checks another transformers)."""
    import torch

    with tempfile.TemporaryDirectory(prefix="barcodefm-loadcheck-") as tmp:
        out_path = Path(tmp) / "outputs.pt"
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            # A private copy of the remote-code module cache: no stale or concurrent copies.
            "HF_MODULES_CACHE": str(Path(tmp) / "modules"),
        }
        script = Path(fresh_loader.__file__).read_text(encoding="utf-8")
        # cwd = an empty folder, so that nothing there (a source checkout) is importable either.
        request = {"threads": torch.get_num_threads(), "jobs": jobs}
        proc = subprocess.run(
            [python or sys.executable, "-c", script, json.dumps(request), str(out_path)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0 or not out_path.is_file():
            raise RuntimeError(f"the fresh loading process failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        return torch.load(out_path, weights_only=True)


def compare_outputs(expected: dict, got: dict, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL):
    """(problems, largest absolute difference) between two :func:`fresh_loader.model_outputs`."""
    import torch

    problems, worst = [], 0.0
    for name in ("input_ids", "attention_mask"):
        if not torch.equal(expected[name], got.get(name, torch.empty(0))):
            problems.append(f"the saved tokenizer gives different {name} than the original")
    for name in sorted(set(expected) - {"input_ids", "attention_mask"}):
        if name not in got:
            problems.append(f"output {name} is missing after loading")
            continue
        a, b = expected[name], got[name]
        if a.shape != b.shape:
            problems.append(f"output {name} has shape {tuple(b.shape)} after loading, {tuple(a.shape)} before")
            continue
        finite = torch.isfinite(a) & torch.isfinite(b)
        if not torch.equal(torch.isfinite(a), torch.isfinite(b)) or not torch.equal(a[~finite], b[~finite]):
            problems.append(f"output {name} has inf/nan in other places after loading")
        diff = (a[finite] - b[finite]).abs()
        if diff.numel():
            worst = max(worst, float(diff.max()))
            if bool((diff > atol + rtol * a[finite].abs()).any()):
                problems.append(f"output {name} differs after loading (max abs difference {float(diff.max()):.3g})")
    return problems, worst


def check_folders(
    references: list[tuple],
    sequences: list[str] | None = None,
    atol: float = DEFAULT_ATOL,
    timeout: float = 600,
    python: str | None = None,
) -> list[LoadCheckResult]:
    """Load check of several folders in ONE fresh process.

    ``references``: (folder, model, tokenizer) triples, where ``model``/``tokenizer`` are the
    in-process objects (barcodefm classes) whose outputs the saved folder must reproduce.
    """
    sequences = sequences or check_barcodes()
    results, jobs, expected = [], [], {}
    for folder, model, tokenizer in references:
        folder = str(Path(folder).resolve())
        try:
            auto_class = auto_class_for(folder)
        except (ValueError, OSError) as exc:
            results.append(LoadCheckResult(Path(folder), "", problems=[str(exc)]))
            continue
        expected[folder] = fresh_loader.model_outputs(model, tokenizer, sequences)
        jobs.append({"folder": folder, "auto_class": auto_class, "sequences": sequences})
        results.append(LoadCheckResult(Path(folder), auto_class))
    remote = outputs_without_barcodefm(jobs, timeout=timeout, python=python) if jobs else {}
    for result in results:
        folder = str(result.folder)
        if folder not in remote:
            continue
        loaded = remote[folder]
        if "error" in loaded:
            result.problems.append(
                f"{result.auto_class}.from_pretrained(trust_remote_code=True) failed without "
                f"barcodefm:\n{loaded['error'].strip()}"
            )
            continue
        result.model_class, result.tokenizer_class = loaded["model_class"], loaded["tokenizer_class"]
        if "transformers_modules" not in result.model_class:
            result.problems.append(f"the model was not loaded from the folder's own code ({result.model_class})")
        problems, result.max_abs_diff = compare_outputs(expected[folder], loaded["outputs"], atol=atol)
        result.problems.extend(problems)
    return results


def check_folder(
    folder, model, tokenizer, sequences: list[str] | None = None, atol: float = DEFAULT_ATOL
) -> LoadCheckResult:
    """:func:`check_folders` for one folder."""
    return check_folders([(folder, model, tokenizer)], sequences=sequences, atol=atol)[0]
