"""``barcodefm embed``: stream a FASTA/TSV through any saved barcodefm model, write ids + vectors.

Output formats (by the output name): ``OUT.npy`` (float32 matrix, with the ids in
``OUT.ids.txt``, one per line, same order, written by the ``csv`` module as a one-column TSV like
``classify``'s table, so an id holding ``"`` is quoted, and spreadsheet-safe like it) or
``OUT.parquet`` (columns ``id``, ``embedding``; ids as read). Vectors are written batch by batch and
flushed, so an interrupted run keeps what it finished: rows go to ``OUT.partial/`` while running
and ``resume=True`` continues after the rows already there (by record position, checking their
ids: a repeated id gets a row each time), after cutting off a write the kill tore; the final files
appear when the input is exhausted, each written beside its target and renamed over it, so an old
result (``overwrite``) stays whole until the new one is. An existing output is refused unless
``resume`` or ``overwrite``; a run that fails before embedding anything leaves no ``OUT.partial/``
behind, and Ctrl-C ends it with :class:`~barcodefm.outputs.Interrupted` (rows kept, for ``resume``).

Under ``torchrun`` / ``accelerate launch`` each process embeds its own shards of the records
(:mod:`barcodefm.index.sharded_embed`): finished shards survive a crash, ``resume`` skips them, and
the merged output is the one a single process writes.
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

from ..data import iter_barcodes
from ..data.readers import no_records_error
from ..data.writers import spreadsheet_safe
from ..inputs import require_barcode_file
from ..outputs import Interrupted, OutputExistsError, claim_outputs, occupied, replacing
from .batching import iter_batches
from .orientation import Strands
from .progress import Progress, reader_total

logger = logging.getLogger(__name__)


def _write_ids(path: Path, ids: list[str], mode: str = "a") -> None:
    """Ids one per line, quoted like ``classify``'s TSV cells (csv module, tab-delimited); as read
    (``OUT.partial/ids.txt``: :func:`write_embeddings` makes the result's spreadsheet-safe)."""
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


def output_paths(output: Path) -> tuple[Path, list[Path]]:
    """(``OUT.partial`` folder, the files of the finished result) of an ``OUT.npy`` / ``OUT.parquet``."""
    if output.suffix not in (".npy", ".parquet"):
        raise ValueError(f"output must end in .npy or .parquet, got {output.name!r}")
    results = [output, output.with_suffix(".ids.txt")] if output.suffix == ".npy" else [output]
    return output.with_name(output.name + ".partial"), results


class EmbeddingWriter:
    """Appends (ids, vectors) batches to ``OUT.partial/{ids.txt,vectors.f32}`` and finalises.

    The vector size is kept in ``dim.txt``. A kill can tear a write anywhere (each batch's vectors
    are written before its ids), so resuming keeps the longest prefix of rows that have both a
    complete vector and a complete id, and cuts both files back to it.
    """

    def __init__(self, output: str | Path, resume: bool = False, dim: int | None = None, overwrite: bool = False):
        self.output = Path(output)
        self.partial, _ = output_paths(self.output)
        if occupied(self.partial) and not resume:
            if not overwrite:
                raise OutputExistsError(
                    f"{self.partial} exists from an interrupted run: pass --resume to continue "
                    "it or --overwrite to start again"
                )
            shutil.rmtree(self.partial)
        self.ids_path = self.partial / "ids.txt"
        self.vec_path = self.partial / "vectors.f32"
        self.dim_path = self.partial / "dim.txt"
        self.dim = None
        self.done_ids = self._done_ids(dim)

    def _done_ids(self, dim_hint: int | None) -> list[str]:
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
        return ids[:n]

    def write(self, ids: list[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.partial.mkdir(parents=True, exist_ok=True)  # at the first rows: a failed start leaves nothing
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
        write_embeddings(self.output, ids, matrix)
        shutil.rmtree(self.partial)
        return len(ids)


def write_embeddings(output: Path, ids: list[str], matrix: np.ndarray) -> None:
    """The finished result: ``OUT.npy`` + ``OUT.ids.txt`` (spreadsheet-safe ids), or ``OUT.parquet``;
    each file is written beside its target and renamed over it."""
    if output.suffix == ".npy":
        with replacing(output) as tmp, open(tmp, "wb") as f:
            np.save(f, matrix)
        with replacing(output.with_suffix(".ids.txt")) as tmp:
            _write_ids(tmp, [spreadsheet_safe(i) for i in ids], mode="w")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with replacing(output) as tmp:
            pq.write_table(pa.table({"id": ids, "embedding": list(matrix)}), tmp)


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
    trust_remote_code: bool = False,
    overwrite: bool = False,
    shard_size: int | None = None,
) -> dict:
    """Embed every clean record of ``input_path`` with the model saved in ``model_dir``.

    ``shard_size``: records per shard of a run on several processes (default 4096).

    ``trust_remote_code`` lets a folder that is not a barcodefm model run its own code
    (barcodefm's own folders always load with the installed classes)."""
    from ..factory import load_model, load_tokenizer

    require_barcode_file(input_path)  # before the model loads: a typo should fail at once
    output = Path(output)
    partial, results = output_paths(output)
    if resume and not occupied(partial) and any(p.exists() for p in results):
        raise OutputExistsError(f"{output} is complete (no {partial.name}/ to resume): pass --overwrite to replace it")
    output, rejects_path = claim_outputs(
        output, input_path, rejects_path, overwrite=overwrite, resume=resume, also=results[1:]
    )
    reader = iter_barcodes(input_path, format=format, marker=marker, rejects_path=rejects_path)  # sniffed now
    tokenizer = load_tokenizer(model_dir, trust_remote_code=trust_remote_code)
    model = load_model(model_dir, "AutoModel", trust_remote_code=trust_remote_code).eval()
    strands = Strands.of(model_dir)
    from ..index.sharded_embed import embed_file_in_shards, sharded_run

    if sharded_run(partial, resume):  # under torchrun / accelerate launch, or continuing such a run
        options = dict(
            batch_size=batch_size, pooling=pooling, max_length=max_length, device=device, shard_size=shard_size
        )
        return embed_file_in_shards(
            model, tokenizer, model_dir, reader, output, overwrite=overwrite, strands=strands, **options
        )
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    dim = getattr(model.config, "hidden_size", None)
    writer = EmbeddingWriter(output, resume=resume, dim=dim, overwrite=overwrite)
    if writer.done_ids:
        logger.info("resuming: %d records already embedded", len(writer.done_ids))
    progress = Progress("embedding", "embedded", total=reader_total(reader))  # bar, or log lines
    n_new = 0
    try:
        for batch in iter_batches(reader, batch_size, done=writer.done_ids, output=writer.partial):
            seqs = strands([r["sequence"] for r in batch])
            vectors = model.embed_sequences(
                seqs, tokenizer, batch_size=len(seqs), pooling=pooling, max_length=max_length
            )
            writer.write([r["id"] for r in batch], vectors.numpy())
            n_new += len(batch)
            dim = vectors.shape[1]
            progress.update_to(reader.rejects.n_read, len(batch))  # records read, skipped ones too
    except KeyboardInterrupt:
        raise Interrupted(len(writer.done_ids) + n_new, writer.partial) from None
    progress.close()
    if not n_new and not writer.done_ids:
        raise no_records_error(reader)  # nothing written: no output, no OUT.partial/ (the reader logged the skips)
    n_total = writer.finish(dim)
    strands.log()
    return {
        "embedded": n_total,
        "new": n_new,
        "skipped_records": reader.rejects.total,
        "dim": dim,
        "reverse_strand": strands.n_reverse,
    }
