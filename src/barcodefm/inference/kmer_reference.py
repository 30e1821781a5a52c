"""The sequence-space side of identification: the training barcodes as k-mer count profiles.

A fine-tuned network names species it was trained on very well, but its embedding places a
species it never saw far from its congeners (measured on 3,000 COI ``unseen_key`` records: genus
of the nearest training barcode 62-65% in the network's space, 86% with 6-mers, 89% with
8-mers). The identifier therefore also votes among the training barcodes nearest in plain
sequence space: cosine similarity of overlapping k-mer counts (k = 6 or 8, chosen on the
selection records), the measure of the k-mer 1-NN baseline
(:mod:`barcodefm.evaluation.baselines.kmer`, which counts the k-mers here too). Which rank uses
which vote, and how they mix with the heads, is chosen on validation records
(:mod:`.reference_vote`).

File in the model folder: ``reference_sequences.fasta.gz``, the distinct training barcodes as
the model read them (cut to its ``max_length``), record ``i`` = row ``i`` of
``novelty_reference.safetensors`` and ``reference_labels.safetensors``. Plain gzipped FASTA, so a
user can also run BLAST or VSEARCH against exactly the model's reference.
"""

from __future__ import annotations

import gzip
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

SEQUENCES_FILE = "reference_sequences.fasta.gz"
K = 6
KMER_SIZES = (6, 8)  # the k-mer sizes build_reference_set chooses from on the selection records
QUERY_BLOCK = 512  # queries scored at once: a (512, n_references) float32 score matrix
DENSE_QUERY_VALUES = 2**24  # ... and at most this many values in the densified query block (64 MiB)
ALIGN_CANDIDATES = 50  # k-mer neighbours re-ranked by alignment identity for the "align" vote


def _normalise_rows(counts):
    from scipy import sparse

    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    return (sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ counts).tocsr().astype(np.float32)


def _csr_tensor(matrix) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data),
            size=matrix.shape,
        )


class KmerReference:
    """The reference barcodes and their ``k``-mer count matrix (sparse, one row per barcode)."""

    def __init__(self, sequences: Sequence[str], k: int = K):
        from ..evaluation.baselines.kmer import kmer_count_matrix

        self.sequences = list(sequences)
        self.k = int(k)
        counts = kmer_count_matrix(self.sequences, self.k, progress=False)
        # Rows L2-normalised once, so a product with normalised queries is the cosine. Held as a
        # torch CSR matrix: sparse x dense is ~10x faster than densifying blocks of references.
        self.profiles = _csr_tensor(_normalise_rows(counts))

    def __len__(self) -> int:
        return len(self.sequences)

    def neighbours(self, sequences: Sequence[str], k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(cosine similarities, indices), each (batch, k), most similar first. A query without
        a valid k-mer (all N) gets similarity 0 to everything."""
        from ..evaluation.baselines.kmer import kmer_count_matrix

        k = min(k, len(self))
        block = max(1, min(QUERY_BLOCK, DENSE_QUERY_VALUES // 4**self.k))
        sims, idx = [], []
        for start in range(0, len(sequences), block):
            counts = kmer_count_matrix(list(sequences[start : start + block]), self.k, progress=False)
            queries = torch.from_numpy(_normalise_rows(counts).toarray())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
                scores = (self.profiles @ queries.T).T  # (block, n_references)
            top, order = scores.topk(k, dim=1)
            # Among the k, equal similarities in reference order (topk leaves their order open).
            resort = torch.argsort(top - 1e-9 * order / max(len(self), 1), dim=1, descending=True, stable=True)
            sims.append(torch.gather(top, 1, resort))
            idx.append(torch.gather(order, 1, resort))
        if not sims:
            return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
        return torch.cat(sims), torch.cat(idx)

    def aligned_neighbours(
        self, sequences: Sequence[str], k: int, candidates: int = ALIGN_CANDIDATES
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(alignment identities, indices), each (batch, k), most identical first: the
        ``candidates`` nearest references by k-mer cosine, re-ranked by alignment identity
        (:mod:`.alignment`; equal identities keep the k-mer order)."""
        from tqdm.auto import tqdm

        from .alignment import identities

        k = min(k, len(self))
        _, idx = self.neighbours(sequences, max(k, min(candidates, len(self))))
        ident = np.zeros(idx.shape, dtype=np.float32)
        block = 256  # queries per call: the progress bar moves, memory stays small
        for start in tqdm(
            range(0, len(sequences), block), desc="aligning", unit="block", leave=False, disable=len(sequences) <= block
        ):
            rows = range(start, min(start + block, len(sequences)))
            pairs = [(sequences[q], self.sequences[r]) for q in rows for r in idx[q].tolist()]
            ident[start : rows.stop] = identities(pairs).reshape(len(rows), -1)
        ident = torch.from_numpy(ident)
        order = torch.argsort(ident, dim=1, descending=True, stable=True)[:, :k]  # ties: k-mer order
        return torch.gather(ident, 1, order), torch.gather(idx, 1, order)

    def save(self, model_dir: str | Path) -> Path:
        """Write the reference as gzipped FASTA (``>ref<i>``), byte-identical for the same input."""
        path = Path(model_dir) / SEQUENCES_FILE
        text = "".join(f">ref{i}\n{seq}\n" for i, seq in enumerate(self.sequences))
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
            f.write(text.encode("ascii"))
        return path

    @classmethod
    def load(cls, model_dir: str | Path, k: int = K) -> KmerReference | None:
        path = Path(model_dir) / SEQUENCES_FILE
        if not path.is_file():
            return None
        with gzip.open(path, "rt", encoding="ascii") as f:
            sequences = [line.strip() for line in io.StringIO(f.read()) if line.strip() and not line.startswith(">")]
        return cls(sequences, k)
