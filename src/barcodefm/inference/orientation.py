"""Which strand a barcode was read from, and whether it is the model's marker at all.

Sequencers and assemblers hand out reads from either strand, and a lab's file can hold another
marker than the model's (ITS in a COI run, a plant or bacterial gene). A network trained on one
strand of one marker names such a record anyway, with confidence. So, before the network reads a
record, its two strands are compared with the model's reference barcodes (the training barcodes
stored in the folder, ``reference_sequences.fasta.gz``), as VSEARCH's ``--strand both`` does:

- **profile**: the set of 12-mers the references hold, each reference read on the strand most of
  the references share (a few public records are deposited reverse-complemented; they are turned
  round before their 12-mers join the set);
- **strand**: each record's *shared fraction* is the share of its 12-mers found in the profile;
  the strand with the larger fraction is used (``reverse``: the reverse complement; a tie keeps
  the record as given, ``forward``);
- **marker check**: a record whose better strand shares less than ``threshold`` of its 12-mers is
  not the model's marker (measured on the two bundled models: the other model's marker and plant
  ITS / chloroplast genes share at most 0.15, their own unseen species rarely below 0.2). It gets no
  name at any rank. The threshold is ``NULL_FACTOR`` times the 99.9th percentile of the fraction
  that shuffled references (the same bases in random order: a sequence of the marker's
  composition that is no barcode) reach: it comes from the references alone, so any identifier
  gets one, and it is stored with the measured false refusals in ``identification.json``
  (``marker_check``) when the reference set is built.

12-mers: one in 16.7M, so a chance match of an unrelated sequence is rare (the profile of 30,000
COI barcodes holds 1% of all 12-mers), while two barcodes of one genus share most of theirs. The
profile is a boolean table of ``4**12`` entries (16 MiB), rebuilt from the reference sequences when
the folder loads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..models.dna import reverse_complement

logger = logging.getLogger(__name__)

MARKER_K = 12
NULL_FACTOR = 1.5  # how far above shuffled references a record of the marker must lie
NULL_QUANTILE = 0.999
NULL_SAMPLE = 2000  # references shuffled to measure the null
MARKER_CHECK_KEY = "marker_check"  # in identification.json
# The columns classify and the page write after ``id`` when a folder holds reference barcodes: the
# strand read (forward: as given, reverse: its reverse complement), the share of its 12-mers the references
# hold, and ``identified`` or ``other_marker`` (no name at any rank).
ORIENTATION_COLUMNS = ("strand", "marker_kmers", "status")
_STRAND_SAMPLE = 8  # every 8th k-mer of a reference tells its strand
_CHUNK = 2048  # sequences whose k-mers are coded at once (memory stays ~ tens of MB)


@dataclass
class Orientation:
    """The oriented batch: ``sequences`` as the model reads them, ``reverse`` (True where the
    reverse complement was taken), ``shared`` (shared 12-mer fraction of the strand used) and
    ``on_marker`` (False where the record failed the marker check)."""

    sequences: list[str]
    reverse: np.ndarray
    shared: np.ndarray
    on_marker: np.ndarray

    @property
    def strands(self) -> list[str]:
        return ["reverse" if r else "forward" for r in self.reverse]


@dataclass
class MarkerProfile:
    """The 12-mers of a model's reference barcodes, for strand choice and the marker check."""

    present: np.ndarray  # bool, (4**k,)
    k: int = MARKER_K
    threshold: float = 0.0  # least shared fraction of a record of the marker
    marker: str | None = None  # the marker's name, when the folder records it
    info: dict = field(default_factory=dict)  # what identification.json stores

    @classmethod
    def from_sequences(
        cls, references: Sequence[str], k: int = MARKER_K, marker: str | None = None, seed: int = 0
    ) -> MarkerProfile:
        """The profile of ``references`` (normalised), its threshold from shuffled references."""
        present, flipped = _reference_kmers(references, k)
        profile = cls(present, k, 0.0, marker)
        null = profile.best_strand_fraction(shuffled_sample(references, seed))[0]
        q = float(np.quantile(null, NULL_QUANTILE)) if null.size else 0.0
        profile.threshold = NULL_FACTOR * q
        profile.info = {
            "k": k,
            "threshold": profile.threshold,
            "marker": marker,
            "null_quantile": q,
            "rule": (
                f"shared {k}-mer fraction of the better strand >= {NULL_FACTOR} x the {NULL_QUANTILE:.1%} "
                f"quantile of {len(null)} shuffled references"
            ),
            "references_reverse_complemented": int(flipped),
        }
        return profile

    @classmethod
    def load(cls, model_dir: str | Path, references: Sequence[str] | None = None) -> MarkerProfile | None:
        """The profile of a model folder (None without reference sequences: records are then read
        as given). ``references``: the folder's reference sequences when already read. A stored
        ``marker_check`` sets the threshold; an older folder gets it computed the same way."""
        from .kmer_reference import read_reference_sequences

        model_dir = Path(model_dir)
        if references is None:
            references = read_reference_sequences(model_dir)
            if references is None:
                return None
        rules = model_dir / "identification.json"
        stored = json.loads(rules.read_text()).get(MARKER_CHECK_KEY) if rules.is_file() else None
        if not stored:
            return cls.from_sequences(references)
        present, _ = _reference_kmers(references, int(stored["k"]))
        return cls(present, int(stored["k"]), float(stored["threshold"]), stored.get("marker"), dict(stored))

    def shared_fraction(self, sequences: Sequence[str]) -> np.ndarray:
        """Per sequence, the share of its k-mers (without N) that the references hold; 0 for a
        sequence without any."""
        from ..evaluation.baselines.kmer import kmer_codes

        out = np.zeros(len(sequences))
        for start in range(0, len(sequences), _CHUNK):
            chunk = list(sequences[start : start + _CHUNK])
            row, codes = kmer_codes(chunk, self.k)
            total = np.bincount(row, minlength=len(chunk))
            hits = np.bincount(row, weights=self.present[codes], minlength=len(chunk))
            out[start : start + len(chunk)] = hits / np.maximum(total, 1)
        return out

    def best_strand_fraction(self, sequences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(shared fraction of the better strand, True where that is the reverse complement)."""
        forward = self.shared_fraction(sequences)
        reverse = self.shared_fraction([reverse_complement(s) for s in sequences])
        flip = reverse > forward  # a tie keeps the record as given
        return np.where(flip, reverse, forward), flip

    def orient(self, sequences: Sequence[str]) -> Orientation:
        """Each sequence on its better strand, with the marker check."""
        shared, flip = self.best_strand_fraction(sequences)
        oriented = [reverse_complement(s) if f else s for s, f in zip(sequences, flip)]
        return Orientation(oriented, flip, shared, shared >= self.threshold)

    def describe(self) -> str:
        name = f"{self.marker} " if self.marker else ""
        return f"{name}marker check: a record's better strand shares >= {self.threshold:.3f} of its {self.k}-mers"


class Strands:
    """Turns each batch of barcodes to the model's strand (the folder's :class:`MarkerProfile`),
    counting those turned and those that fail the marker check, for ``embed`` and ``index
    build/add``, which keep every record (an embedding is asked for, not a name); a folder without
    reference barcodes reads them as given."""

    def __init__(self, profile: MarkerProfile | None):
        self.profile = profile
        self.n_reverse = self.n_other = 0

    @classmethod
    def of(cls, model_dir: str | Path) -> Strands:
        profile = MarkerProfile.load(model_dir)
        if profile is None:
            logger.info("%s has no reference barcodes: records are read on the strand given", model_dir)
        return cls(profile)

    def __call__(self, sequences: Sequence[str]) -> list[str]:
        if self.profile is None:
            return list(sequences)
        oriented = self.profile.orient(sequences)
        self.n_reverse += int(oriented.reverse.sum())
        self.n_other += int((~oriented.on_marker).sum())
        return oriented.sequences

    def log(self) -> None:
        if self.n_reverse:
            logger.info(
                "%d barcode(s) were read on the reverse strand: embedded as their reverse complement", self.n_reverse
            )
        if self.n_other:
            logger.warning(
                "%d record(s) do not look like the model's marker (%s); embedded anyway",
                self.n_other,
                self.profile.describe(),
            )


def marker_check_info(
    references: Sequence[str], selection: Sequence[str], novel: Sequence[bool] | None = None, marker: str | None = None
) -> dict:
    """What ``identification.json`` stores as ``marker_check``: the profile's rule and threshold,
    and how the selection records fare (``novel``: True for records of species the training never
    saw): the share refused as another marker, per group, and the share read reverse-complemented."""
    profile = MarkerProfile.from_sequences(references, marker=marker)
    shared, flip = profile.best_strand_fraction(list(selection))
    refused = shared < profile.threshold
    novel = np.zeros(len(refused), dtype=bool) if novel is None else np.asarray(novel, dtype=bool)
    groups = {"seen": ~novel, "novel": novel}
    info = dict(profile.info)
    info["selection_refused"] = {g: float(refused[m].mean()) for g, m in groups.items() if m.any()}
    info["selection_reverse_strand"] = float(flip.mean()) if flip.size else 0.0
    info["n_selection"] = {g: int(m.sum()) for g, m in groups.items()}
    return info


def shuffled_sample(sequences: Sequence[str], seed: int = 0, n: int = NULL_SAMPLE) -> list[str]:
    """Up to ``n`` of ``sequences`` (seeded choice), each with its bases in random order."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(sequences), size=min(n, len(sequences)), replace=False) if len(sequences) else []
    out = []
    for i in sorted(int(i) for i in chosen):
        bases = np.frombuffer(sequences[i].encode("ascii"), dtype=np.uint8).copy()
        rng.shuffle(bases)
        out.append(bases.tobytes().decode("ascii"))
    return out


_BLOCK = 6  # bases reversed at once through a lookup table of 4**6 entries


def _block_table() -> np.ndarray:
    """Entry x: the 6-base code x read backwards (2-bit groups in reverse order)."""
    x = np.arange(4**_BLOCK)
    out = np.zeros_like(x)
    for i in range(_BLOCK):
        out |= ((x >> (2 * i)) & 3) << (2 * (_BLOCK - 1 - i))
    return out


def _reverse_complement_codes(codes: np.ndarray, k: int) -> np.ndarray:
    """The code of each k-mer's reverse complement: its 2-bit bases complemented (A<->T and C<->G
    are 3 - each other, i.e. the bits flipped) and read backwards, 6 bases per table lookup."""
    table = _block_table()
    blocks = -(-k // _BLOCK)
    pad = blocks * _BLOCK - k  # leading A's, which end up as trailing bits to drop
    comp = (~codes.astype(np.int64)) & ((1 << (2 * k)) - 1)
    out = np.zeros(codes.shape, dtype=np.int64)  # up to 2 * blocks * 6 bits before the shift
    for b in range(blocks):  # the lowest block of the input becomes the highest of the output
        out = (out << (2 * _BLOCK)) | table[(comp >> (2 * _BLOCK * b)) & (4**_BLOCK - 1)]
    return (out >> (2 * pad)).astype(codes.dtype)


def _reference_kmers(references: Sequence[str], k: int) -> tuple[np.ndarray, int]:
    """(bool table of the k-mers the references hold, how many references were turned round).

    A reference whose reverse complement shares more of its k-mers with the other references than
    it does itself was deposited on the other strand: its reverse complement's k-mers enter the
    table instead, so a query read on that strand is not taken for a forward one."""
    from ..evaluation.baselines.kmer import kmer_codes

    rows, codes = [], []
    for start in range(0, len(references), _CHUNK):
        row, code = kmer_codes(list(references[start : start + _CHUNK]), k)
        rows.append((row + start).astype(np.int32))
        codes.append(code.astype(np.int32 if k <= 15 else np.int64))  # 4**15 < 2**31
    if not codes:
        return np.zeros(4**k, dtype=bool), 0
    row, codes = np.concatenate(rows), np.concatenate(codes)
    occurrences = np.bincount(codes, minlength=4**k)
    held, held_twice = occurrences > 0, occurrences > 1
    del occurrences
    # Which strand a reference is on, from every 8th of its k-mers (a few dozen per barcode).
    row_s, codes_s = row[::_STRAND_SAMPLE], codes[::_STRAND_SAMPLE]
    total = np.maximum(np.bincount(row_s, minlength=len(references)), 1)
    forward = np.bincount(row_s, weights=held_twice[codes_s], minlength=len(references)) / total  # held by another
    backward = np.bincount(row_s, weights=held[_reverse_complement_codes(codes_s, k)], minlength=len(references))
    turn = backward / total > forward
    if not turn.any():
        return held, 0
    present = np.zeros(4**k, dtype=bool)
    turned = turn[row]
    present[codes[~turned]] = True
    present[_reverse_complement_codes(codes[turned], k)] = True
    return present, int(turn.sum())
