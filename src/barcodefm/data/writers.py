"""Write barcode records in our shared TSV layout, which :func:`load_barcodes` reads back.

Columns, in order: ``id``, the rank columns (highest first), ``bin_uri``, ``marker``, ``split``,
``dup_in_train``, then ``sequence`` last (the long cell at the end keeps the file readable with
``cut``/``less``); only the columns the records carry are written. ``.gz`` paths are gzipped.
Missing values are empty cells; tabs or line breaks inside a label become spaces. Rows go through
the ``csv`` module (tab-delimited) like ``classify``'s table, so a cell holding ``"`` is quoted;
the TSV reader unquotes such cells. These tables are data that barcodefm reads back, so their cells
are written as they are; the result tables a person opens (classify's, rejects files, embed's ids)
go through :func:`spreadsheet_safe` instead.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import re
from collections.abc import Iterable
from pathlib import Path

from .labels import RANKS

# A cell starting with one of these is read by spreadsheets (Excel, LibreOffice, Google Sheets) as a
# formula, which can run commands or leak data when the file is opened ("CSV injection"); a cell
# starting with ' is included so that the prefix can be undone exactly.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_safe(cell: str) -> str:
    """``cell`` as a spreadsheet shows it as text: one that would be read as a formula (it starts
    with ``=``, ``+``, ``-``, ``@``, a tab or a CR) gets a leading ``'``. A plain number such as
    ``-0.5`` is kept: a spreadsheet reads it as that number, not a formula. A cell that starts with
    ``'`` gets a second one, so :func:`from_spreadsheet_safe` gives back exactly the original."""
    if cell.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def from_spreadsheet_safe(cell: str) -> str:
    """The cell :func:`spreadsheet_safe` was given (how ``--resume`` reads back the ids it wrote)."""
    return cell[1:] if cell.startswith("'") else cell


# Record key -> TSV header name (BOLD's name for the BIN, so BOLD users recognise it).
_HEADER_NAMES = {"bin": "bin_uri"}
_TAIL = ("bin", "marker", "split", "dup_in_train")


def tsv_columns(names: Iterable[str]) -> list[str]:
    """Order record keys in the shared layout (unknown extra keys go before ``sequence``)."""
    names = list(names)
    ranks = [r for r in RANKS if r in names]
    tail = [c for c in _TAIL if c in names]
    others = [c for c in names if c not in ("id", "sequence", *ranks, *tail)]
    return ["id", *ranks, *others, *tail, "sequence"]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def _rows(records) -> Iterable[dict]:
    # A map-style dataset is read by batches: row-by-row access is several times slower.
    if hasattr(records, "iter") and hasattr(records, "column_names") and hasattr(records, "__len__"):
        for batch in records.iter(batch_size=4096):
            names = list(batch)
            for values in zip(*(batch[c] for c in names)):
                yield dict(zip(names, values))
    else:
        yield from records


def write_barcodes_tsv(records, path: str | Path, columns: list[str] | None = None) -> int:
    """Write ``records`` (a ``datasets.Dataset`` or an iterable of dicts) to ``path``; return the
    number of rows written. ``columns`` defaults to the dataset's columns / the first record's
    keys, in the shared order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = iter(_rows(records))
    first = next(rows, None)
    if columns is None:
        names = getattr(records, "column_names", None) or (list(first) if first else ["id", "sequence"])
        columns = tsv_columns(names)
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    with opener(path, "wt", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow([_HEADER_NAMES.get(c, c) for c in columns])
        if first is None:
            return 0
        for record in itertools.chain([first], rows):
            writer.writerow([_cell(record.get(c)) for c in columns])
            n += 1
    return n
