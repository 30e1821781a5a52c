"""``barcodefm embed``: stream a FASTA/TSV through any saved barcodefm model, write ids + vectors.

Output formats (by the output name): ``OUT.npy`` (float32 matrix, with the ids in
``OUT.ids.txt``, one per line, same order) or ``OUT.parquet`` (columns ``id``, ``embedding``).
Vectors are written batch by batch and flushed, so an interrupted run keeps what it finished:
rows go to ``OUT.partial/`` while running and ``resume=True`` skips the ids already there; the
final file appears when the input is exhausted.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data import iter_barcodes
from .batching import iter_batches

logger = logging.getLogger(__name__)


class EmbeddingWriter:
    """Appends (ids, vectors) batches to ``OUT.partial/{ids.txt,vectors.f32}`` and finalises."""

    def __init__(self, output: str | Path, resume: bool = False):
        self.output = Path(output)
        if self.output.suffix not in (".npy", ".parquet"):
            raise ValueError(f"output must end in .npy or .parquet, got {self.output.name!r}")
        self.partial = self.output.with_name(self.output.name + ".partial")
        if self.partial.exists() and not resume:
            raise ValueError(f"{self.partial} exists from an interrupted run: pass --resume to continue it or delete it")
        self.partial.mkdir(parents=True, exist_ok=True)
        self.ids_path = self.partial / "ids.txt"
        self.vec_path = self.partial / "vectors.f32"
        self.done_ids = self._done_ids()
        self.dim = None

    def _done_ids(self) -> set[str]:
        if not self.ids_path.exists():
            return set()
        ids = self.ids_path.read_text().splitlines()
        # Keep only ids whose vector was fully written (a kill may land between the two files).
        if self.vec_path.exists() and ids:
            n_vec = self.vec_path.stat().st_size // 4
            dim = n_vec // len(ids) if len(ids) else 0
            complete = n_vec // dim if dim else 0
            if complete < len(ids):
                ids = ids[:complete]
                self.ids_path.write_text("".join(i + "\n" for i in ids))
        return set(ids)

    def write(self, ids: list[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with open(self.vec_path, "ab") as f:
            f.write(vectors.tobytes())
            f.flush()
        with open(self.ids_path, "a") as f:
            f.write("".join(i + "\n" for i in ids))
            f.flush()
        self.dim = vectors.shape[1]

    def finish(self, dim: int) -> int:
        ids = self.ids_path.read_text().splitlines() if self.ids_path.exists() else []
        raw = np.fromfile(self.vec_path, dtype=np.float32) if self.vec_path.exists() else np.zeros(0, np.float32)
        matrix = raw.reshape(len(ids), dim) if ids else np.zeros((0, dim), np.float32)
        if self.output.suffix == ".npy":
            np.save(self.output, matrix)
            self.output.with_suffix(".ids.txt").write_text("".join(i + "\n" for i in ids))
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
    writer = EmbeddingWriter(output, resume=resume)
    if writer.done_ids:
        logger.info("resuming: %d records already embedded", len(writer.done_ids))
    reader = iter_barcodes(input_path, format=format, marker=marker, rejects_path=rejects_path)
    dim = getattr(model.config, "hidden_size", None)
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
