"""The provenance record of a ``barcodefm classify`` run: ``OUT.provenance.json`` beside its table
(``calls.tsv`` -> ``calls.provenance.json``): what a result can be cited and checked by.

It holds the model (name as given, folder, ``weights_sha256``: the hash an index records,
:func:`barcodefm.index.model_identity.weights_sha256`, and each weight file's plain sha256, what
``sha256sum`` prints), the input (path and sha256), the versions of barcodefm, transformers, torch
and Python, the thresholds the calls were made with (novelty, marker check, ``min_prob``, the
bases read), the options given, the start and end times (UTC) and the counts (classified,
rejected, read on the reverse strand, of another marker).

It follows the output rule (:mod:`barcodefm.outputs`): an existing one is refused without
``--resume`` or ``--overwrite``, and it is written whole through a temporary file. While a run
writes its rows, it records the unfinished run (``finished`` null) beside them: in the sidecar
when the rows go to ``OUT``, in ``OUT.provenance.json.partial`` when they go to ``OUT.partial``
(an ``--overwrite`` run: the old sidecar stays as it was until the run succeeds). ``--resume``
reads it back first and refuses to continue rows made with other weights or other options that
change results (:data:`RESULT_OPTIONS`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from datetime import datetime, timezone
from pathlib import Path

from .outputs import partial_path, replacing

logger = logging.getLogger(__name__)

SUFFIX = ".provenance.json"
# Options whose change changes the rows: a resumed run must use the stored ones.
RESULT_OPTIONS = ("min_prob", "max_length", "index", "index_k")


def provenance_path(output: str | Path) -> Path:
    """``calls.tsv`` -> ``calls.provenance.json`` (``calls`` -> ``calls.provenance.json``)."""
    output = Path(output)
    return output.with_name((output.stem if output.suffix else output.name) + SUFFIX)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict:
    import torch
    import transformers

    from . import __version__

    return {
        "barcodefm": __version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


# The files besides the weights that decide a call and its probability: a package update can change
# them (a new calibration) with the weights untouched, and --resume must not mix the two.
IDENTIFICATION_FILES = (
    "identification.json",
    "novelty.json",
    "reference_labels.safetensors",
    "novelty_reference.safetensors",
    "reference_sequences.fasta.gz",
)


def identification_sha256(model_dir: str | Path) -> str | None:
    """One sha256 over :data:`IDENTIFICATION_FILES` (names and bytes) of a local folder; None when
    it holds none of them."""
    import hashlib

    folder = Path(model_dir)
    present = [folder / name for name in IDENTIFICATION_FILES if (folder / name).is_file()]
    if not present:
        return None
    digest = hashlib.sha256()
    for path in present:
        digest.update(path.name.encode() + b"\0" + file_sha256(path).encode() + b"\0")
    return digest.hexdigest()


def model_record(name: str | None, model_dir: str | Path) -> dict:
    """The model's name, folder, weights hashes (one over every weight file, as ``index`` records
    it, and each file's own, as ``sha256sum`` prints it) and the hash of its identification files."""
    from .index.model_identity import weight_files, weights_sha256

    return {
        "name": name or str(model_dir),
        "path": str(Path(model_dir).resolve()) if Path(model_dir).is_dir() else str(model_dir),  # or a Hub id
        "weights_sha256": weights_sha256(model_dir),
        "weight_files_sha256": {p.name: file_sha256(p) for p in weight_files(model_dir)},
        "identification_sha256": identification_sha256(model_dir),
    }


def read(output: str | Path) -> dict | None:
    """The record of the rows ``--resume`` continues: beside ``OUT.partial`` when that is what it
    continues, else ``OUT.provenance.json``; None when there is none (a table written by an older
    barcodefm)."""
    sidecar = provenance_path(output)
    path = partial_path(sidecar) if partial_path(output).exists() else sidecar
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a provenance record barcodefm wrote ({exc}): pass --overwrite") from None


def check_resume(stored: dict, current: dict, output: str | Path) -> None:
    """A ValueError (one line) when the rows of ``output`` were made with other weights or other
    :data:`RESULT_OPTIONS` than this run's."""
    sidecar = provenance_path(output)
    was = (stored.get("model") or {}).get("weights_sha256")
    now_sha = current["model"]["weights_sha256"]
    if was != now_sha:
        raise ValueError(
            f"{output} was written by a model with other weights (sha256 {str(was)[:12]}..., {sidecar}) than "
            f"{current['model']['name']} ({now_sha[:12]}...): resume it with that model, or pass --overwrite"
        )
    was_ident = (stored.get("model") or {}).get("identification_sha256")
    now_ident = current["model"].get("identification_sha256")
    if "identification_sha256" in (stored.get("model") or {}) and was_ident != now_ident:
        raise ValueError(
            f"{output} was written with other identification files (rules, calibration, references: "
            f"{sidecar}) than {current['model']['name']} has now (e.g. after a barcodefm update): "
            "pass --overwrite to classify again"
        )
    old, new = stored.get("result_options") or {}, current["result_options"]
    for name in RESULT_OPTIONS:
        if old.get(name) != new.get(name):
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"{output} was written with {_shown(flag, old.get(name))} ({sidecar}), not {_shown(flag, new.get(name))}: "
                f"resume it with the same {flag}, or pass --overwrite to start again"
            )


def _shown(flag: str, value) -> str:
    return f"no {flag}" if value is None else f"{flag} {value}"


def write(path: Path, record: dict) -> None:
    """``record`` as JSON at ``path``, whole or not at all."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
