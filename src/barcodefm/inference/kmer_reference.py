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

File in the model folder: ``reference_sequences.fasta.gz``, the distinct training barcodes
(whole; folders built before the votes read whole barcodes hold them cut to the network's
``max_length``), record ``i`` = row ``i`` of
``novelty_reference.safetensors`` and ``reference_labels.safetensors``, named by the training
record's own id (e.g. its BOLD process id; ``ref<i>`` in folders written without ids). Plain
gzipped FASTA, so a user can also run BLAST or VSEARCH against exactly the model's reference and
get the records' real ids.
"""

from __future__ import annotations

import gzip
import io
import warnings
from collections import Counter
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
# Bases of a query the sequence-space votes read. A barcode is at most a few kb (the longest
# reference of the bundled models: 1,551); past this a record is no barcode, and aligning all of it
# to 50 candidates would hold a worker for minutes: its first MAX_VOTE_BASES bases are read.
MAX_VOTE_BASES = 3000


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


def first_k_by_score_then_index(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, indices) of the ``k`` highest scores of each row, highest first, equal scores in
    index order, including which of several equal scores at the k-th place get in (``topk``
    leaves that open). So the first ``k`` of ``k + m`` neighbours are the ``k`` neighbours: the
    k-mer vote and the alignment vote's candidates can come from one search."""
    if k == 0:
        return scores[:, :0], torch.zeros(scores.shape[0], 0, dtype=torch.long)
    kth = scores.topk(k, dim=1).values[:, -1:]
    above = scores > kth
    tied = scores == kth
    room = k - above.sum(dim=1, keepdim=True)  # places left for the scores equal to the k-th
    chosen = above | (tied & (torch.cumsum(tied, dim=1) <= room))
    order = chosen.nonzero()[:, 1].reshape(scores.shape[0], k)  # exactly k per row, index order
    values = torch.gather(scores, 1, order)
    resort = torch.argsort(values, dim=1, descending=True, stable=True)  # stable: ties stay in index order
    return torch.gather(values, 1, resort), torch.gather(order, 1, resort)


class KmerReference:
    """The reference barcodes and their ``k``-mer count matrix (sparse, one row per barcode)."""

    def __init__(self, sequences: Sequence[str], k: int = K):
        from ..evaluation.baselines.kmer import kmer_count_matrix

        self.sequences = list(sequences)
        self.k = int(k)
        self.ids: list[str] | None = None  # each reference's own id, when read from a folder
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
            top, order = first_k_by_score_then_index(scores, k)
            sims.append(top)
            idx.append(order)
        if not sims:
            return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
        return torch.cat(sims), torch.cat(idx)

    def candidate_distances(self, sequences: Sequence[str], candidates: torch.Tensor) -> np.ndarray:
        """Semi-global edit distances (:mod:`.alignment`) of each query to its ``candidates``
        (reference indices, (batch, c)), as a (batch, c) array."""
        from tqdm.auto import tqdm

        from .alignment import edit_distances

        out = np.zeros(tuple(candidates.shape), dtype=np.int64)
        block = 256  # queries per call: the progress bar moves, memory stays small
        for start in tqdm(
            range(0, len(sequences), block), desc="aligning", unit="block", leave=False, disable=len(sequences) <= block
        ):
            rows = range(start, min(start + block, len(sequences)))
            pairs = [(sequences[q], self.sequences[r]) for q in rows for r in candidates[q].tolist()]
            out[start : rows.stop] = edit_distances(pairs).reshape(len(rows), -1)
        return out

    def rank_by_identity(
        self,
        sequences: Sequence[str],
        candidates: torch.Tensor,
        distances: np.ndarray,
        k: int,
        definition: str = "shorter",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(identities, indices), each (batch, k): the ``candidates`` with their edit
        ``distances`` as alignment identities by ``definition``, most identical first (equal
        identities keep the candidates' order)."""
        from .alignment import identity_from_distances

        query_lengths = np.array([len(s) for s in sequences])[:, None]
        reference_lengths = np.array([len(self.sequences[r]) for r in candidates.reshape(-1).tolist()])
        ident = identity_from_distances(
            distances, query_lengths, reference_lengths.reshape(tuple(candidates.shape)), definition
        )
        ident = torch.from_numpy(ident)
        order = torch.argsort(ident, dim=1, descending=True, stable=True)[:, : min(k, ident.shape[1])]
        return torch.gather(ident, 1, order), torch.gather(candidates, 1, order)

    def aligned_neighbours(
        self,
        sequences: Sequence[str],
        k: int,
        candidates: int = ALIGN_CANDIDATES,
        definition: str = "shorter",
        kmer_hits: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(alignment identities, indices), each (batch, k), most identical first: the
        ``candidates`` nearest references by k-mer cosine, re-ranked by alignment identity
        (:mod:`.alignment`, by ``definition``; equal identities keep the k-mer order).
        ``kmer_hits``: the queries' k-mer neighbours when already searched (their first
        ``candidates`` columns are used), so a caller that also votes by k-mers searches once."""
        k = min(k, len(self))
        wanted = max(k, min(candidates, len(self)))
        idx = kmer_hits[1][:, :wanted] if kmer_hits is not None else self.neighbours(sequences, wanted)[1]
        return self.rank_by_identity(sequences, idx, self.candidate_distances(sequences, idx), k, definition)

    def save(self, model_dir: str | Path, ids: Sequence[str] | None = None) -> Path:
        """Write the reference as gzipped FASTA, byte-identical for the same input: each record
        named by its id in ``ids`` (the training record's own id, e.g. a BOLD process id, so that
        BLAST or VSEARCH against the file reports it; one word each, all distinct), or ``ref<i>``
        (its row) without ``ids``."""
        return write_reference_sequences(model_dir, self.sequences, ids)

    @classmethod
    def load(cls, model_dir: str | Path, k: int = K) -> KmerReference | None:
        """The folder's reference (None: it has none), with ``ids``: each record's id as stored
        (``ref<i>`` in a folder written without ids)."""
        stored = read_reference_records(model_dir)
        if stored is None:
            return None
        reference = cls(stored[1], k)
        reference.ids = stored[0]
        return reference


def write_reference_sequences(
    model_dir: str | Path, sequences: Sequence[str], ids: Sequence[str] | None = None
) -> Path:
    """``SEQUENCES_FILE`` in ``model_dir``: gzipped FASTA (no timestamp: byte-identical for the
    same input), one line per sequence, each record named by its id in ``ids`` or ``ref<i>``."""
    path = Path(model_dir) / SEQUENCES_FILE
    names = [f"ref{i}" for i in range(len(sequences))] if ids is None else check_reference_ids(ids, len(sequences))
    text = "".join(f">{name}\n{seq}\n" for name, seq in zip(names, sequences))
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(text.encode("ascii"))
    return path


def check_reference_ids(ids: Sequence[str], n: int) -> list[str]:
    """``ids`` as FASTA record names of ``n`` references: one per reference, each one printable
    word not starting with ``>``, all distinct (a ValueError otherwise)."""
    ids = [str(i) for i in ids]
    if len(ids) != n:
        raise ValueError(f"{len(ids)} reference ids for {n} reference sequences")
    for name in ids:
        if not name or name.startswith(">") or not (name.isascii() and name.isprintable()) or " " in name:
            raise ValueError(f"reference id {name!r} cannot name a FASTA record (one printable ASCII word)")
    twice = [name for name, n_times in Counter(ids).items() if n_times > 1]
    if twice:
        raise ValueError(
            f"{len(twice)} reference ids name more than one reference (e.g. {twice[0]!r}): ids must be distinct"
        )
    return ids


def read_reference_records(model_dir: str | Path) -> tuple[list[str], list[str]] | None:
    """(ids, sequences) of the reference barcodes of a model folder, in row order (None: the folder
    has none). An id is the first word of the record's header: the training record's id, or
    ``ref<i>`` in a folder written without ids (and for a sequence without a header)."""
    path = Path(model_dir) / SEQUENCES_FILE
    if not path.is_file():
        return None
    ids: list[str] = []
    sequences: list[str] = []
    name = None  # the header naming the next sequence
    with gzip.open(path, "rt", encoding="ascii") as f:
        for line in io.StringIO(f.read()):
            line = line.strip()
            if line.startswith(">"):
                words = line[1:].split(maxsplit=1)
                name = words[0] if words else None
            elif line:  # one line per sequence, as save writes them
                ids.append(name or f"ref{len(sequences)}")
                sequences.append(line)
                name = None
    return ids, sequences


def read_reference_sequences(model_dir: str | Path) -> list[str] | None:
    """The reference barcodes of a model folder, in row order (None: the folder has none)."""
    stored = read_reference_records(model_dir)
    return None if stored is None else stored[1]
