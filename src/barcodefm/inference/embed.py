"""``barcodefm embed``: stream a FASTA/TSV through any saved barcodefm model, write ids + vectors.

Output formats (by the output name): ``OUT.npy`` (float32 matrix, with the ids in
``OUT.ids.txt``, one per line, same order, written by the ``csv`` module as a one-column TSV like
``classify``'s table, so an id holding ``"`` is quoted) or ``OUT.parquet`` (columns ``id``,
``embedding``). Vectors are written batch by batch and flushed, so an interrupted run keeps what it
finished: rows go to ``OUT.partial/`` while running and ``resume=True`` skips the ids already
there, after cutting off a write the kill tore; the final file appears when the input is exhausted.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data import iter_barcodes
from .batching import iter_batches

logger = logging.getLogger(__name__)


def _write_ids(path: Path, ids: list[str], mode: str = "a") -> None:
    """Ids one per line, quoted like ``classify``'s TSV cells (csv module, tab-delimited)."""
    with open(path, mode, encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter="\t", lineterminator="\n").writerows([i] for i in ids)
        f.flush()


def _read_ids(path: Path) -> list[str]:
    """The complete ids of ``path``: a last line without its newline (or an open quote) was torn."""
    if not path.exists():
        return []
    text = path.read_bytes().decode("utf-8", errors="replace")
    ids = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter="\t", strict=True):
            ids.append(row[0] if row else "")
    except csv.Error:
        return ids  # a torn quoted id: every row before it is complete
    if text and not text.endswith("\n"):
        ids = ids[:-1]
    return ids


class EmbeddingWriter:
    """Appends (ids, vectors) batches to ``OUT.partial/{ids.txt,vectors.f32}`` and finalises.

    The vector size is kept in ``dim.txt``. A kill can tear a write anywhere (each batch's vectors
    are written before its ids), so resuming keeps the longest prefix of rows that have both a
    complete vector and a complete id, and cuts both files back to it.
    """

    def __init__(self, output: str | Path, resume: bool = False, dim: int | None = None):
        self.output = Path(output)
        if self.output.suffix not in (".npy", ".parquet"):
            raise ValueError(f"output must end in .npy or .parquet, got {self.output.name!r}")
        self.partial = self.output.with_name(self.output.name + ".partial")
        if self.partial.exists() and not resume:
            raise ValueError(f"{self.partial} exists from an interrupted run: pass --resume to continue it or delete it")
        self.partial.mkdir(parents=True, exist_ok=True)
        self.ids_path = self.partial / "ids.txt"
        self.vec_path = self.partial / "vectors.f32"
        self.dim_path = self.partial / "dim.txt"
        self.dim = None
        self.done_ids = self._done_ids(dim)

    def _done_ids(self, dim_hint: int | None) -> set[str]:
        ids = _read_ids(self.ids_path)
        n_bytes = self.vec_path.stat().st_size if self.vec_path.exists() else 0
        text = self.dim_path.read_text().strip() if self.dim_path.exists() else ""
        self.dim = int(text) if text.isdigit() and int(text) > 0 else None
        if self.dim is None and n_bytes:
            if not dim_hint:
                raise ValueError(f"{self.partial}: vector size unknown (no dim.txt): delete it and rerun")
            self.dim = dim_hint  # a partial folder written before dim.txt existed
        n = min(len(ids), n_bytes // (4 * self.dim)) if self.dim else 0
        if n < len(ids) or n_bytes != n * 4 * (self.dim or 0):
            logger.warning("%s: cutting a torn write back to the %d complete rows", self.partial, n)
            _write_ids(self.ids_path, ids[:n], mode="w")
            if self.vec_path.exists():
                os.truncate(self.vec_path, n * 4 * (self.dim or 0))
        return set(ids[:n])

    def write(self, ids: list[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.dim is None:
            self.dim = vectors.shape[1]
            self.dim_path.write_text(f"{self.dim}\n")
        elif vectors.shape[1] != self.dim:
            raise ValueError(f"{self.partial} holds {self.dim}-dim vectors; this model gives {vectors.shape[1]}")
        with open(self.vec_path, "ab") as f:
            f.write(vectors.tobytes())
            f.flush()
        _write_ids(self.ids_path, ids)

    def finish(self, dim: int) -> int:
        ids = _read_ids(self.ids_path)
        dim = self.dim or dim
        raw = np.fromfile(self.vec_path, dtype=np.float32) if self.vec_path.exists() else np.zeros(0, np.float32)
        matrix = raw.reshape(len(ids), dim) if ids else np.zeros((0, dim), np.float32)
        if self.output.suffix == ".npy":
            np.save(self.output, matrix)
            _write_ids(self.output.with_suffix(".ids.txt"), ids, mode="w")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({"id": ids, "embedding": list(matrix)})
            pq.write_table(table, self.output)
        shutil.rmtree(self.partial)
        return len(ids)


def embed_file(
    model_dir: str | Path,
    input_path: str | Path,
    output: str | Path,
    pooling: str | None = None,
    batch_size: int = 64,
    max_length: int | None = None,
    device: str | None = None,
    resume: bool = False,
    format: str = "auto",
    marker: str | None = "COI-5P",
    rejects_path: str | Path | None = None,
) -> dict:
    """Embed every clean record of ``input_path`` with the model saved in ``model_dir``."""
    from ..factory import load_model, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    model = load_model(model_dir, "AutoModel").eval()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    dim = getattr(model.config, "hidden_size", None)
    writer = EmbeddingWriter(output, resume=resume, dim=dim)
    if writer.done_ids:
        logger.info("resuming: %d records already embedded", len(writer.done_ids))
    reader = iter_barcodes(input_path, format=format, marker=marker, rejects_path=rejects_path)
    progress = tqdm(desc="embedding", unit=" seq", disable=None)
    n_new = 0
    for batch in iter_batches(reader, batch_size, skip_ids=writer.done_ids):
        seqs = [r["sequence"] for r in batch]
        vectors = model.embed_sequences(seqs, tokenizer, batch_size=len(seqs), pooling=pooling, max_length=max_length)
        writer.write([r["id"] for r in batch], vectors.numpy())
        dim = vectors.shape[1]
        n_new += len(batch)
        progress.update(len(batch))
    progress.close()
    n_total = writer.finish(dim)
    summary = {"embedded": n_total, "new": n_new, "skipped_records": reader.rejects.total, "dim": dim}
    if reader.rejects.total:
        logger.warning("skipped %s", reader.rejects.summary())
    return summary
