"""Which model made a set of embeddings: its name and a hash of its weight files.

Embeddings of two models live in different spaces, so an index (or a half-finished sharded
embedding) refuses queries or shards from any model whose weights hash differently.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_PATTERNS = ("model*.safetensors", "pytorch_model*.bin")


def weight_files(model_dir: str | Path) -> list[Path]:
    """The weight files of a model folder or Hub id (the Hub's are fetched to its cache first)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(str(model_dir), allow_patterns=list(WEIGHT_PATTERNS)))
    files = sorted({p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"{model_dir}: no weight files ({', '.join(WEIGHT_PATTERNS)})")
    return files


def weights_sha256(model_dir: str | Path) -> str:
    """SHA-256 over the model's weight files (names and bytes, in name order)."""
    digest = hashlib.sha256()
    for path in weight_files(model_dir):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def check_same_model(expected: dict, model_dir: str | Path, what: str) -> str:
    """The weights hash of ``model_dir``; a ValueError when it is not ``expected["model_sha256"]``."""
    found = weights_sha256(model_dir)
    if found != expected.get("model_sha256"):
        raise ValueError(
            f"{what} was built with the model {expected.get('model')!r} (weights sha256 "
            f"{str(expected.get('model_sha256'))[:12]}...), not with {model_dir} ({found[:12]}...): "
            "embeddings of different models cannot be compared; use the model it was built with, or build "
            "another index with this one"
        )
    return found
