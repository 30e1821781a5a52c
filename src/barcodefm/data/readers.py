"""The one entry point for barcode files: :func:`load_barcodes` (a ``datasets`` dataset) and
:func:`iter_barcodes` (plain dict records, for streaming inference).

Both sniff the format (FASTA with plain/UNITE/SINTAX/BOLD headers, BOLD v3 or BCDM TSV,
BIOSCAN/BarcodeBERT CSV, our shared TSV; gzip/bzip2/xz transparent) and give records with:
``id``, ``sequence`` (normalised by :func:`barcodefm.models.dna.normalize_sequence`: upper case, U -> T,
IUPAC codes and gaps -> N; then leading/trailing N runs trimmed), one column per canonical rank
the source carries (cleaned by :func:`barcodefm.data.labels.normalize_label`, unknown -> ``None``),
and ``split``, ``bin``, ``dup_in_train`` when the source has them (``marker`` too when
``marker=None`` keeps every marker). A record without an id gets ``record<N>`` (N = its 1-based
record number); tabs and line breaks inside an id become spaces.

Bad records (no sequence, empty sequence, non-DNA characters, only N, fewer than
:data:`MIN_BASES` A/C/G/T, more than :data:`MAX_N_SHARE` N, more than :data:`MAX_RECORD_BASES`
characters, a malformed row, another marker) are skipped, counted in a
:class:`~barcodefm.data.rejects.Rejects` and logged once per pass; a bad FILE raises
:class:`~barcodefm.data.formats.BarcodeFileError` naming it (a compressed file cut short says it is
truncated, after the records before the cut were read).
"""

from __future__ import annotations

import hashlib
import logging
import lzma
from collections.abc import Iterator
from pathlib import Path

import datasets
import pyarrow as pa
from datasets.table import InMemoryTable
from tqdm.auto import tqdm

from ..models.dna import InvalidSequenceError, normalize_sequence
from . import rejects as reasons
from .fasta import FastaSource
from .formats import FASTA, BarcodeFileError, sniff_format
from .labels import normalize_label
from .rejects import Rejects
from .tables import TableSource

logger = logging.getLogger(__name__)

DEFAULT_MARKER = "COI-5P"
_MISSING_CELLS = frozenset({"na", "nan", "none", "null"})
_TRUE = frozenset({"true", "1", "yes", "t"})
# Line breaks and tabs inside an id would split the rows of every TSV written from it.
_ID_BREAKS = str.maketrans({c: " " for c in "\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})
# A record with fewer A/C/G/T than this gives no k-mer tokens (or a handful) and so an empty
# embedding and a meaningless call; real COI/ITS barcodes have 100+ bases. ``min_bases`` overrides it.
MIN_BASES = 20
# A record whose N share (after trimming end runs) is above this is not a barcode: e.g. a protein
# that uses only IUPAC letters; real barcodes have a few percent N at most.
MAX_N_SHARE = 0.5
# A barcode is at most a few kb (COI-5P ~650 bases, ITS ~600, a whole rDNA operon ~6 kb). A longer
# record is a wrong file or a hostile one (a 215 KB gzip can hold one 100 Mbp record, which drove
# classify to 11.9 GB): it is rejected as too_long, and the sources never hold more than this of it.
MAX_RECORD_BASES = 100_000


# What reading a damaged file raises (OSError: a bad gzip header or CRC; EOFError: data cut short).
_READ_ERRORS = (OSError, EOFError, lzma.LZMAError)


class BarcodeReader:
    """An iterable over the clean records of one file; ``rejects`` holds the last pass's counts.

    The file is sniffed on construction, so a malformed file fails at once, not mid-read.
    Every iteration re-reads the file (and rewrites the rejects file).
    """

    def __init__(
        self,
        path: str | Path,
        format: str = "auto",
        marker: str | None = DEFAULT_MARKER,
        rejects_path: str | Path | None = None,
        min_bases: int = MIN_BASES,
    ):
        if min_bases < 1:
            raise ValueError(f"min_bases must be >= 1, got {min_bases}")
        self.min_bases = min_bases
        self.path = Path(path)
        self.max_bases = MAX_RECORD_BASES
        kind = sniff_format(self.path, format)
        try:
            if kind == FASTA:
                self.source = FastaSource(self.path, self.max_bases)
            else:
                self.source = TableSource(self.path, kind, self.max_bases)
        except _READ_ERRORS as exc:
            raise BarcodeFileError(
                f"{self.path}: cannot read its first lines: {exc} (truncated or corrupt file?)"
            ) from exc
        self.layout: str = self.source.layout
        self.marker = marker.strip() if isinstance(marker, str) and marker.strip() else None
        self._filter_marker = self.marker is not None and "marker" in self.source.extras
        self.ranks: tuple[str, ...] = self.source.ranks
        extras = [e for e in ("split", "bin", "dup_in_train") if e in self.source.extras]
        if "marker" in self.source.extras and self.marker is None:
            extras.append("marker")  # several markers are kept: say which each record is
        self.extras: tuple[str, ...] = tuple(extras)
        self.columns: list[str] = ["id", "sequence", *self.ranks, *self.extras]
        self.rejects = Rejects(self.path, rejects_path)

    @property
    def features(self) -> datasets.Features:
        """The ``datasets`` schema of the records (strings; ``dup_in_train`` boolean)."""
        return datasets.Features({c: datasets.Value("bool" if c == "dup_in_train" else "string") for c in self.columns})

    def __iter__(self) -> Iterator[dict]:
        rejects = self.rejects
        rejects.open()
        complete = False
        try:
            for raw in self.source:
                record = self._clean(raw, rejects)
                if record is not None:
                    rejects.check_id(record["id"])
                    yield record
            complete = True
        except EOFError as exc:  # gzip/bz2/xz data that stops before its end marker
            raise BarcodeFileError(
                f"{self.path} is truncated: it ends inside record {rejects.n_read + 1:,}, after "
                f"{rejects.n_read:,} records were read ({exc})"
            ) from exc
        except _READ_ERRORS as exc:
            raise BarcodeFileError(
                f"{self.path}: cannot read past record {rejects.n_read:,}: {exc} (truncated or corrupt file?)"
            ) from exc
        finally:
            rejects.close(logger, complete=complete)

    def _clean(self, raw: dict, rejects: Rejects) -> dict | None:
        number = raw["number"]
        record_id = (raw.get("id") or "").translate(_ID_BREAKS).strip() or f"record{number}"
        if "error" in raw:
            rejects.skip(record_id, reasons.MALFORMED_ROW, number, raw["error"])
            return None
        sequence = raw.get("sequence")
        if "too_long" in raw or (sequence is not None and len(sequence) > self.max_bases):
            detail = raw.get("too_long") or f"longer than {self.max_bases:,} bases (a barcode is at most a few kb)"
            rejects.skip(record_id, reasons.TOO_LONG, number, detail)
            return None
        if sequence is None or sequence.strip().lower() in _MISSING_CELLS:
            rejects.skip(record_id, reasons.MISSING_SEQUENCE, number, "no sequence value")
            return None
        if not sequence.strip():
            rejects.skip(record_id, reasons.EMPTY_SEQUENCE, number, "empty sequence")
            return None
        if self._filter_marker:
            marker = (raw.get("marker") or "").strip()
            if marker.lower() != self.marker.lower():
                rejects.skip_marker(record_id, marker, number, self.marker)
                return None
        try:
            sequence, n_ambiguous = normalize_sequence(sequence, record=record_id)
        except InvalidSequenceError as exc:
            example = f"{record_id}: {exc.character!r} at position {exc.position}" if exc.character else ""
            rejects.skip(record_id, reasons.INVALID_CHARACTER, number, str(exc), example=example)
            return None
        # Terminal N runs are alignment padding (BOLD pads with '-') or failed read ends: they
        # carry nothing, so trim them as the shared data does; inner gaps/IUPAC stay N (SPEC 1).
        trimmed = sequence.strip("N")
        if not trimmed:
            rejects.skip(record_id, reasons.NO_BASES, number, f"{len(sequence)} positions, none A/C/G/T")
            return None
        n_unknown = trimmed.count("N")
        if len(trimmed) - n_unknown < self.min_bases:
            rejects.skip(
                record_id,
                reasons.TOO_SHORT,
                number,
                f"{len(trimmed) - n_unknown} A/C/G/T bases, fewer than the {self.min_bases} required",
            )
            return None
        if n_unknown > MAX_N_SHARE * len(trimmed):
            rejects.skip(
                record_id,
                reasons.MOSTLY_AMBIGUOUS,
                number,
                f"{n_unknown} of {len(trimmed)} positions are N (more than {MAX_N_SHARE:.0%})",
            )
            return None
        sequence = trimmed
        rejects.kept(n_ambiguous)
        record = {"id": record_id, "sequence": sequence}
        labels = raw.get("labels", {})
        for rank in self.ranks:
            record[rank] = normalize_label(rank, labels.get(rank))
        for extra in self.extras:
            value = raw.get(extra)
            if extra == "dup_in_train":
                record[extra] = (value or "").strip().lower() in _TRUE
            else:
                value = value.strip() if isinstance(value, str) else value
                record[extra] = value or None
        return record


def iter_barcodes(
    path: str | Path,
    format: str = "auto",
    marker: str | None = DEFAULT_MARKER,
    rejects_path: str | Path | None = None,
    min_bases: int = MIN_BASES,
) -> BarcodeReader:
    """Iterate the clean records of ``path`` as dicts, without building a dataset.

    Returns a :class:`BarcodeReader`: iterate it (``for record in reader``) and read
    ``reader.rejects`` afterwards (``.total``, ``.counts``, ``.summary()``); ``reader.columns`` lists
    the record keys. Raises :class:`BarcodeFileError` at once if the file cannot be read.
    """
    return BarcodeReader(path, format=format, marker=marker, rejects_path=rejects_path, min_bases=min_bases)


def no_records_error(reader: BarcodeReader) -> BarcodeFileError:
    """The error for a file whose every record was skipped (after a complete pass of ``reader``)."""
    hint = ""
    if reader.rejects.counts.get(reasons.OTHER_MARKER):
        hint = "; to keep other markers pass marker=None (CLI: --marker all) or the marker wanted"
    return BarcodeFileError(f"{reader.path}: no usable barcode records ({reader.rejects.summary()}){hint}")


def _generate(reader: BarcodeReader) -> Iterator[dict]:
    yield from reader


def _arrow_table(reader: BarcodeReader, batch_size: int = 10_000) -> pa.Table:
    """Build the Arrow table batch by batch: Python holds at most ``batch_size`` records at a
    time, and this is 2x faster than ``Dataset.from_generator``'s per-example writer (which
    also needs an on-disk cache that would skip the rejects accounting on a cache hit)."""
    schema = reader.features.arrow_schema
    batches = []
    columns: dict[str, list] = {c: [] for c in reader.columns}
    records = tqdm(reader, desc=f"reading {reader.path.name}", unit=" records", disable=None, leave=False)
    for record in records:
        for name, values in columns.items():
            values.append(record[name])
        if len(columns["id"]) >= batch_size:
            batches.append(pa.RecordBatch.from_pydict(columns, schema=schema))
            columns = {c: [] for c in reader.columns}
    batches.append(pa.RecordBatch.from_pydict(columns, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)


def _fingerprint(reader: BarcodeReader) -> str:
    """Identity of a read (file state + options). Without one, ``datasets`` fingerprints an
    in-memory table by hashing all of it: a 300 MB transient spike for the 108k COI file."""
    stat = reader.path.stat()
    key = (
        f"{reader.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{reader.layout}|{reader.marker}|"
        f"{reader.columns}|{reader.min_bases}"
    )
    return hashlib.sha256(f"barcodefm-read-v1|{key}".encode()).hexdigest()[:32]


def load_barcodes(
    path: str | Path,
    format: str = "auto",
    marker: str | None = DEFAULT_MARKER,
    rejects_path: str | Path | None = None,
    streaming: bool = False,
    return_rejects: bool = False,
    min_bases: int = MIN_BASES,
):
    """Read a barcode file into a ``datasets.Dataset`` (``IterableDataset`` if ``streaming``).

    ``format``: ``"auto"`` (sniffed), ``"fasta"``, ``"tsv"``, ``"csv"`` or a layout name (``"unite"``,
    ``"bold"``, ``"bcdm"``, ``"bioscan"``, ``"shared"``). ``marker``: BOLD marker code to keep
    (records of others are skipped); ``None`` keeps all and adds a ``marker`` column; sources
    without markers ignore it. ``rejects_path``: write skipped records there as TSV (``id``,
    ``reason``, ``record``, ``detail``). ``return_rejects``: also return the
    :class:`~barcodefm.data.rejects.Rejects` counts (for a streaming dataset they fill as it is
    iterated). ``min_bases``: fewest A/C/G/T a kept record has (default :data:`MIN_BASES`).
    A map-style dataset is parsed in one pass into an in-memory Arrow table (about
    the file's uncompressed size); use ``streaming=True`` for files larger than memory.
    """
    reader = BarcodeReader(path, format=format, marker=marker, rejects_path=rejects_path, min_bases=min_bases)
    logger.info("reading %s as %s", reader.path, reader.layout)
    if streaming:
        dataset = datasets.IterableDataset.from_generator(
            _generate, features=reader.features, gen_kwargs={"reader": reader}
        )
        return (dataset, reader.rejects) if return_rejects else dataset
    table = _arrow_table(reader)
    dataset = datasets.Dataset(
        InMemoryTable(table), info=datasets.DatasetInfo(features=reader.features), fingerprint=_fingerprint(reader)
    )
    if len(dataset) == 0:
        raise no_records_error(reader)
    return (dataset, reader.rejects) if return_rejects else dataset
