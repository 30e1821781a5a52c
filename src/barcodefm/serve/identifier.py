"""The model behind the page: loaded once, it names the records of one upload at a time.

Each record gets what ``barcodefm classify`` writes (per rank the name and probability, from the
rule per rank stored with the model: heads, reference votes or their mean; the consistency flag;
novelty; the strand read and the marker check; the nearest reference, :mod:`barcodefm.inference.nearest`),
before any min-prob cutoff (:mod:`.results` applies it, so the page's slider needs no new
run), plus what the page shows: the nearest training references in the model's embedding space
(by their own ids, cosine similarity, and alignment identity to the query when the folder stores
the reference sequences) and the query's place on the 2-D map.

The map is a PCA (scikit-learn) fitted once, at start-up, on the model's reference embeddings
(the L2-normalised embeddings the novelty score and the reference vote use); queries are placed
with the same projection. A folder without a reference set is named by its heads alone: no
novelty, no neighbours, no map.

An upload is named in chunks (:class:`ChunkPlan`), shortest records first, each sized from the speed
of the last to take about :data:`CHUNK_SECONDS`: a cancel is seen between chunks, so within about a
second, and a record far longer than a barcode is named alone, last, holding no other record behind
it (a cancel before it skips it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

NEIGHBOURS = 5  # training references shown per query
MAP_POINTS = 5000  # reference points drawn on the map (a fixed random subset of them)
CHUNK_SECONDS = 1.0  # the time a chunk should take: about the longest a cancel waits
FIRST_CHUNK_BASES = 2_600  # four COI barcodes: the first chunk, before this machine's speed is known
LONG_RECORD_BASES = 5_000  # longer than any barcode (COI 658 bp, fungal ITS under 1,500): named alone


class Cancelled(Exception):
    """The user cancelled the job: the records after the last finished chunk were not named."""


class ChunkPlan:
    """The chunks in which to name records of these ``lengths``: lists of their indices, shortest
    records first (so little padding), at most ``max_records`` and about ``seconds`` of work each
    (:meth:`timed` reports how long the last one took), a record over :data:`LONG_RECORD_BASES` alone."""

    def __init__(self, lengths: Sequence[int], max_records: int, seconds: float = CHUNK_SECONDS):
        self.lengths = lengths
        self.order = sorted(range(len(lengths)), key=lengths.__getitem__)  # stable: ties keep upload order
        self.max_records = max(1, max_records)
        self.seconds = seconds
        self.max_bases = float(FIRST_CHUNK_BASES)

    def __iter__(self) -> Iterator[list[int]]:
        next_record = 0
        while next_record < len(self.order):
            chunk, bases = [], 0
            for index in self.order[next_record : next_record + self.max_records]:
                n = self.lengths[index]
                if chunk and (bases + n > self.max_bases or n > LONG_RECORD_BASES):
                    break
                chunk.append(index)
                bases += n
            next_record += len(chunk)
            yield chunk  # the caller names it and reports the time with timed() before the next

    def timed(self, bases: int, seconds: float) -> None:
        """Size the next chunks from the speed of the last (growing at most twofold at a time, so
        one fast chunk cannot make the next one long)."""
        if seconds > 0:
            self.max_bases = max(1.0, min(2 * self.max_bases, bases / seconds * self.seconds))


class Identifier:
    """A taxonomic identifier (a bundled name, a folder or a Hub id) and its reference set."""

    def __init__(self, model: str, device: str | None = None, trust_remote_code: bool = False):
        import torch

        from ..factory import load_model, load_tokenizer
        from ..inference.classify import sequence_classifier_label, trained_max_length
        from ..inference.novelty import NOVELTY_FILE
        from ..inference.orientation import MarkerProfile
        from ..inference.reference_vote import ReferenceSet
        from ..registry import resolve_model

        self.name = model
        self.model_dir = resolve_model(model)
        if sequence_classifier_label(self.model_dir) is not None:
            raise ValueError(
                f"{model} is a species classifier: the page needs a taxonomic identifier (a bundled model, or a "
                "folder from `barcodefm finetune --task taxonomy`); use `barcodefm classify` for this one"
            )
        self.tokenizer = load_tokenizer(self.model_dir, trust_remote_code=trust_remote_code)
        self.model = load_model(self.model_dir, "AutoModel", trust_remote_code=trust_remote_code).eval()
        if not hasattr(self.model, "predict_taxonomy"):
            raise ValueError(
                f"{model} holds a {type(self.model).__name__}, not a taxonomic classifier "
                "(train one with `barcodefm finetune --task taxonomy`)"
            )
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.spec = self.model.taxonomy.spec
        self.ranks: list[str] = list(self.spec.ranks)
        self.max_length = trained_max_length(self.model_dir)
        self.reference = ReferenceSet.load(self.model_dir)
        novelty_file = Path(self.model_dir) / NOVELTY_FILE
        self.threshold: float | None = None
        if self.reference is not None and novelty_file.is_file():
            self.threshold = float(json.loads(novelty_file.read_text())["threshold"])
        if self.reference is None:
            logger.warning("%s has no reference set: heads only (no novelty, neighbours or map)", model)
        # Strand and marker check, as in classify (:mod:`barcodefm.inference.orientation`).
        kmer = self.reference.kmer if self.reference is not None else None
        self.profile = MarkerProfile.load(self.model_dir, references=kmer.sequences if kmer is not None else None)
        self.projection, self.explained = self._fit_map()
        if self.reference is not None:
            from ..inference.nearest import reference_records

            self.reference_ids, self.reference_sequences = reference_records(self.reference, self.model_dir)

    @property
    def has_novelty(self) -> bool:
        return self.threshold is not None

    @property
    def has_nearest(self) -> bool:
        """Whether each row carries its nearest reference (the table's ``nearest_*`` columns)."""
        return self.reference is not None

    def _fit_map(self):
        if self.reference is None:
            return None, None
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=0).fit(self.reference.embeddings.numpy())
        return pca, [float(v) for v in pca.explained_variance_ratio_]

    def describe(self) -> dict:
        """What the page says about the model and its map."""
        n_refs = 0 if self.reference is None else int(self.reference.embeddings.shape[0])
        method = None
        if self.projection is not None:
            method = (
                f"PCA (scikit-learn) fitted on the model's {n_refs:,} reference embeddings; the two axes explain "
                f"{self.explained[0]:.0%} and {self.explained[1]:.0%} of their variance"
            )
        return {
            "model": self.name,
            "ranks": self.ranks,
            "references": n_refs,
            "novelty_threshold": self.threshold,
            "map_method": method,
            "max_length": self.max_length,
            "orientation": self.profile is not None,
        }

    def reference_map(self, max_points: int = MAP_POINTS) -> dict | None:
        """A fixed random subset of the reference points: coordinates and label per rank."""
        if self.projection is None:
            return None
        import numpy as np

        embeddings = self.reference.embeddings.numpy()
        n = embeddings.shape[0]
        keep = np.sort(np.random.default_rng(0).choice(n, size=min(n, max_points), replace=False))
        xy = self.projection.transform(embeddings[keep]).astype(np.float64)
        ranks = {}
        for rank in self.ranks:
            codes = self.reference.labels[rank][keep].tolist()
            used = sorted({c for c in codes if c >= 0})
            position = {c: i for i, c in enumerate(used)}
            ranks[rank] = {
                "names": [self.spec.labels[rank][c] for c in used],
                "index": [position.get(c, -1) for c in codes],
            }
        return {"x": np.round(xy[:, 0], 4).tolist(), "y": np.round(xy[:, 1], 4).tolist(), "ranks": ranks}

    def identify(
        self,
        records: Sequence[dict],
        batch_size: int = 64,
        on_batch: Callable[[int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[dict]:
        """One result per record, in order (see :func:`.results.row_cells` for their use), named in
        chunks of at most ``batch_size`` records (:class:`ChunkPlan`).

        ``on_batch(n_done)`` is called after each chunk; ``cancelled()`` is asked before each
        and raises :class:`Cancelled` when true."""
        lengths = [len(r["sequence"]) for r in records]
        plan = ChunkPlan(lengths, batch_size)
        results: list[dict | None] = [None] * len(records)
        n_done = 0
        for chunk in plan:
            if cancelled is not None and cancelled():
                raise Cancelled
            start = time.perf_counter()
            for index, row in zip(chunk, self._identify_batch([records[i] for i in chunk])):
                results[index] = row
            plan.timed(sum(lengths[i] for i in chunk), time.perf_counter() - start)
            n_done += len(chunk)
            if on_batch is not None:
                on_batch(n_done)
        return results

    def _identify_batch(self, batch: Sequence[dict]) -> list[dict]:
        import torch

        from ..inference.nearest import nearest_references
        from ..inference.reference_vote import as_logits, heads_and_embeddings
        from ..models.taxonomy import predict

        whole = [r["sequence"] for r in batch]  # the sequence-space votes read all of each barcode
        oriented = None if self.profile is None else self.profile.orient(whole)
        if oriented is not None:
            whole = oriented.sequences
        cut = whole if self.max_length is None else [s[: self.max_length] for s in whole]
        enc = self.tokenizer(cut, padding=True, return_tensors="pt").to(self.device)
        neighbours = dist = xy = nearest = None
        with torch.no_grad():
            if self.reference is None:
                preds = self.model.predict_from_logits(self.model(**enc).logits)
            else:
                probs, emb = heads_and_embeddings(self.model, enc["input_ids"], enc["attention_mask"])
                queries = self.reference.vote_sequences(whole)
                found = self.reference.find(emb, queries)  # once: the votes, the nearest reference, the neighbours
                combined, evidence = self.reference.identify(probs, emb, whole, found=found)
                preds = predict(as_logits(combined), self.spec)
                dist = self.reference.novelty(evidence)  # the folder's novelty score, as in classify
                neighbours, first_identity = self._neighbours(emb, queries, found)
                nearest = nearest_references(
                    found,
                    queries,
                    self.reference_ids,
                    self.reference_sequences,
                    self.reference.align_identity,
                    embedding_identity=first_identity,
                )
                xy = self.projection.transform(torch.nn.functional.normalize(emb, dim=1).numpy())
        rows = []
        for i, (record, pred) in enumerate(zip(batch, preds)):
            row = {
                "id": record["id"],
                "labels": [pred["labels"][r] for r in self.ranks],
                "probs": [pred["probs"][r] for r in self.ranks],  # unrounded: the cutoff compares these
                # Ranks whose call lies outside the call above: with a cutoff, only those above it count.
                "inconsistent": [self.ranks.index(r) for r in pred["inconsistent_ranks"]],
            }
            if oriented is not None:
                row["strand"] = oriented.strands[i]
                row["marker_kmers"] = float(oriented.shared[i])
                row["status"] = "identified" if oriented.on_marker[i] else "other_marker"
                if not oriented.on_marker[i]:  # another marker: no name at any rank
                    row.update(labels=[None] * len(self.ranks), probs=[0.0] * len(self.ranks), inconsistent=[])
            if nearest is not None:  # evidence: another marker's record gets it too
                ref, identity, by = nearest[i]
                row.update(nearest_reference=ref, nearest_identity=identity, nearest_by=by)
            if self.has_novelty:
                row["novelty"] = max(float(dist[i]), 0.0)
                row["likely_novel"] = bool(dist[i] > self.threshold)
            if neighbours is not None:
                row["neighbours"] = neighbours[i]
                row["xy"] = [round(float(xy[i, 0]), 4), round(float(xy[i, 1]), 4)]
            rows.append(row)
        return rows

    def _neighbours(self, embeddings, sequences: Sequence[str], found: dict | None = None):
        """(the nearest references of each query in embedding space, with their ids, labels, cosine
        similarity and (with stored sequences) alignment identity to the query; each query's
        unrounded identity to the first of them, or None). ``sequences``: the queries as the votes
        read them; ``found``: ``ReferenceSet.find``'s neighbours (its embedding search is reused)."""
        from ..inference.alignment import identities

        reused = found is not None and found["reference"][1].shape[1] >= NEIGHBOURS
        if reused:
            sims, idx = (t[:, :NEIGHBOURS] for t in found["reference"])
        else:
            sims, idx = self.reference.neighbours(embeddings, k=NEIGHBOURS)
        references = self.reference_sequences
        identity = None
        if references is not None:
            pairs = [(seq, references[j]) for seq, row in zip(sequences, idx.tolist()) for j in row]
            identity = identities(pairs, definition=self.reference.align_identity).reshape(idx.shape).tolist()
        codes = {rank: self.reference.labels[rank][idx].tolist() for rank in self.ranks}  # (batch, k) each
        out = []
        for q, (row_sims, row_idx) in enumerate(zip(sims.tolist(), idx.tolist())):
            shown = []
            for n, (sim, j) in enumerate(zip(row_sims, row_idx)):
                labels = [codes[r][q][n] for r in self.ranks]
                shown.append(
                    {
                        "ref": self.reference_ids[j],  # its record name in the folder's reference_sequences.fasta.gz
                        "similarity": round(sim, 4),
                        "identity": None if identity is None else round(float(identity[q][n]), 4),
                        "labels": [self.spec.labels[r][c] if c >= 0 else None for r, c in zip(self.ranks, labels)],
                    }
                )
            out.append(shown)
        first = reused and identity is not None and idx.shape[1] > 0  # the embedding-space nearest of find
        return out, [row[0] for row in identity] if first else None
