"""Tabular barcode files (TSV/CSV with a header row), whatever tool wrote them.

One reader covers every layout we know, by finding each role's column among its aliases
(header names compared case-insensitively; the first alias present wins):

============  ==========================================================================
role          columns looked for
============  ==========================================================================
id            ``processid``, ``id``, ``record_id``, ``seqid``, ``sequence_id``, ``accession``
sequence      ``dna``, ``sequence``, ``nucleotides``, ``nuc``, ``dna_barcode``, ``seq``
rank ``r``    ``r`` or ``r_name`` for each canonical rank (``genus`` or ``genus_name``)
marker        ``markercode``, ``marker_code``, ``marker``
bin           ``bin_uri``, ``dna_bin``, ``bin``
split         ``split``
dup_in_train  ``dup_in_train`` (written by ``barcodefm split --dedup``)
============  ==========================================================================

Layouts this covers: BOLD v3 "combined" TSV (``processid``, ``nucleotides``, ``markercode``,
``bin_uri``, ``*_name``), BOLD's BCDM data package TSV (``nuc``, ``marker_code``, plain rank
columns), the BarcodeBERT / BIOSCAN-5M CSV (``nucleotides`` or ``dna_barcode``, ``*_name`` or plain
ranks, ``split``) and our shared TSV (``dna``/``sequence``, ranks, ``split``). TSV cells are split
on tabs only (BOLD writes no quotes, and its cells may hold stray ``\\r``), then a cell wholly
quoted the ``csv`` module's way (``"..."`` with ``""`` for each ``"`` inside, as our writer and
``classify`` write a cell holding ``"``) is unquoted; any other ``"`` is kept as text. CSV goes
through the ``csv`` module so quoted cells work. Cells are stripped, so BOLD's blank ``" "`` cells
are empty.

Rows are read a line at a time, each held only up to ``max_bases`` + :data:`OTHER_CELLS_CHARS`
characters: a longer row (a 100 Mbp sequence cell in a small gzip) is cut there and comes out
flagged ``too_long`` for the reader to reject, with the id its first cells give.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from .formats import CSV, BarcodeFileError
from .labels import RANKS
from .textfile import CutLine, iter_lines

# Room a row has besides its sequence: a BOLD v3 row's ~80 other cells take a few kB.
OTHER_CELLS_CHARS = 1 << 20
ID_COLUMNS = ("processid", "id", "record_id", "seqid", "sequence_id", "accession")
SEQUENCE_COLUMNS = ("dna", "sequence", "nucleotides", "nuc", "dna_barcode", "seq")
EXTRA_COLUMNS = {
    "marker": ("markercode", "marker_code", "marker"),
    "bin": ("bin_uri", "dna_bin", "bin"),
    "split": ("split",),
    "dup_in_train": ("dup_in_train",),
}


def _find(header: list[str], aliases: tuple[str, ...]) -> int | None:
    for alias in aliases:
        if alias in header:
            return header.index(alias)
    return None


def _unquote(cell: str) -> str:
    """``"a ""b"" c"`` -> ``a "b" c``; a cell not wholly quoted that way is returned as is."""
    if len(cell) >= 2 and cell[0] == cell[-1] == '"' and '"' not in cell[1:-1].replace('""', ""):
        return cell[1:-1].replace('""', '"')
    return cell


def _split_tsv(line: str) -> list[str]:
    cells = line.split("\t")
    return [_unquote(c) for c in cells] if '"' in line else cells


def _layout_name(header: list[str], delimiter: str) -> str:
    if "nucleotides" in header and "markercode" in header:
        return "bold-v3-tsv"
    if "nuc" in header and "marker_code" in header:
        return "bold-bcdm-tsv"
    if delimiter == ",":
        return "bioscan-csv"
    return "barcode-tsv"


class TableSource:
    """Raw records of a TSV/CSV file: dicts with ``number`` (1-based data row), ``id``,
    ``sequence`` (``None`` when the row has no such cell), ``labels`` and the extra roles found."""

    def __init__(self, path: str | Path, kind: str, max_bases: int):
        self.path = Path(path)
        self.delimiter = "," if kind == CSV else "\t"
        self.max_row = max_bases + OTHER_CELLS_CHARS
        lines = iter_lines(self.path, max_length=self.max_row)
        raw_header = next((line for line in lines if line.strip()), "")
        lines.close()
        self.header = [name.strip().strip('"').lower() for name in self._split(raw_header)]
        self.sequence_index = _find(self.header, SEQUENCE_COLUMNS)
        if self.sequence_index is None:
            raise BarcodeFileError(
                f"{self.path}: no sequence column; looked for {', '.join(SEQUENCE_COLUMNS)} "
                f"among the header's columns: {', '.join(self.header[:40])}"
            )
        self.id_index = _find(self.header, ID_COLUMNS)
        self.rank_indices = {}
        for rank in RANKS:
            index = _find(self.header, (rank, f"{rank}_name"))
            if index is not None:
                self.rank_indices[rank] = index
        self.ranks: tuple[str, ...] = tuple(self.rank_indices)
        self.extra_indices = {}
        for role, aliases in EXTRA_COLUMNS.items():
            index = _find(self.header, aliases)
            if index is not None:
                self.extra_indices[role] = index
        self.extras: tuple[str, ...] = tuple(self.extra_indices)
        self.layout = _layout_name(self.header, self.delimiter)

    def _split(self, line: str) -> list[str]:
        if self.delimiter == "\t":
            return _split_tsv(line)
        return next(csv.reader([line]), [])

    def _lines(self, state: dict) -> Iterator[str]:
        """The file's lines for the row parser, noting in ``state`` whether the row being parsed
        had a line cut (``cut``) and how long it is so far (``chars``; the caller resets both)."""
        for line in iter_lines(self.path, max_length=self.max_row):
            if isinstance(line, CutLine):
                state["cut"] = True
                if self.delimiter == ",":  # an open quote in the cut part would join the next rows to it
                    line = line.replace('"', "")
            else:
                state["chars"] += len(line)
                if state["chars"] > self.max_row:  # a quoted CSV cell spanning line after line
                    raise BarcodeFileError(
                        f"{self.path}: a row runs past {self.max_row:,} characters over several lines "
                        "(an unclosed quote?)"
                    )
            yield line

    def _rows(self, state: dict) -> Iterator[list[str]]:
        lines = self._lines(state)
        if self.delimiter == "\t":
            return (_split_tsv(line) for line in lines)
        csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
        return csv.reader(lines)

    def __iter__(self) -> Iterator[dict]:
        n_columns = len(self.header)
        state = {"cut": False, "chars": 0}
        rows = self._rows(state)
        next((row for row in rows if any(cell.strip() for cell in row)), None)  # the header
        state.update(cut=False, chars=0)
        number = 0
        for row in rows:
            cut = state["cut"]
            state.update(cut=False, chars=0)
            if not any(cell.strip() for cell in row):
                continue  # blank line: not a record
            number += 1
            record_id = row[self.id_index].strip() if self.id_index is not None and self.id_index < len(row) else ""
            if cut:
                yield {"number": number, "id": record_id, "too_long": f"a row longer than {self.max_row:,} characters"}
                continue
            if len(row) > n_columns and any(cell.strip() for cell in row[n_columns:]):
                yield {
                    "number": number,
                    "id": record_id,
                    "error": f"{len(row)} cells for {n_columns} columns (a stray delimiter?)",
                }
                continue
            sequence = row[self.sequence_index] if self.sequence_index < len(row) else None
            if len(row) < n_columns:
                row = row + [""] * (n_columns - len(row))  # trailing empty cells are often cut
            yield {
                "number": number,
                "id": record_id,
                "sequence": sequence,
                "labels": {rank: row[i] for rank, i in self.rank_indices.items()},
                **{role: row[i].strip() for role, i in self.extra_indices.items()},
            }
