"""Accounting of the records a reader skipped: counts per reason, first ids, optional TSV.

A bad record never stops a read; it is counted here, written to the optional rejects file
(``id``, ``reason``, ``record`` = 1-based record number in the input, ``detail``; cells
spreadsheet-safe) and summarised in ONE log line at the end of the pass, so a CLI can also print
:meth:`Rejects.summary`.

Each pass writes the file from its start. A new file is written as the records are read; an
existing one (a rerun with ``--overwrite`` or ``--resume``, or another pass) is replaced only by a
complete pass: it is written to ``REJECTS.partial`` and renamed over the file at the end, and a pass
that stops early (an error, Ctrl-C) leaves the old file as it was.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

from ..outputs import partial_path
from .writers import spreadsheet_safe

logger = logging.getLogger(__name__)

# Reasons a record is skipped (the ``reason`` column of the rejects file).
MISSING_SEQUENCE = "missing_sequence"  # no sequence cell / value at all
EMPTY_SEQUENCE = "empty_sequence"  # sequence present but empty or whitespace
NO_BASES = "no_bases"  # only N / gaps / IUPAC codes: nothing to learn from
TOO_SHORT = "too_short"  # fewer A/C/G/T than readers.MIN_BASES: gives (almost) no tokens
MOSTLY_AMBIGUOUS = "mostly_ambiguous"  # more N than readers.MAX_N_SHARE: not a barcode (a protein?)
INVALID_CHARACTER = "invalid_character"  # a character that is not DNA
MALFORMED_ROW = "malformed_row"  # a table row with more cells than the header
TOO_LONG = "too_long"  # longer than readers.MAX_RECORD_BASES: not a barcode (a barcode is a few kb at most)
OTHER_MARKER = "other_marker"  # a BOLD record of a marker that was not requested

EXAMPLES_PER_REASON = 5


def _cell(text) -> str:
    """One TSV cell: tabs and line breaks inside would break the row; a formula is neutralised."""
    return spreadsheet_safe(" ".join(str(text).split()))


class Rejects:
    """Counters of one pass over a file; reset by :meth:`start` at the beginning of each pass."""

    def __init__(self, source: str | Path, rejects_path: str | Path | None = None):
        self.source = str(source)
        self.rejects_path = Path(rejects_path) if rejects_path is not None else None
        self._file = None
        self._writing: Path | None = None  # the rejects file, or its .partial while replacing it
        self.start()

    def start(self) -> None:
        """Zero the counters (a streamed dataset re-reads its file on every pass)."""
        self.n_read = 0
        self.n_kept = 0
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.other_markers: Counter[str] = Counter()
        self.n_ambiguous_bases = 0
        self.n_ambiguous_records = 0
        self.n_duplicate_ids = 0  # kept records whose id an earlier kept record already had
        self.duplicate_examples: list[str] = []
        self._ids: set[str] = set()
        self.finished = False

    @property
    def total(self) -> int:
        """Number of records skipped, all reasons together."""
        return sum(self.counts.values())

    def open(self) -> None:
        """Start a pass: zero the counters and start the rejects file with its header (beside an
        existing one, which :meth:`close` replaces once the pass is complete)."""
        self.start()
        if self.rejects_path is not None:
            self.rejects_path.parent.mkdir(parents=True, exist_ok=True)
            self._writing = partial_path(self.rejects_path) if self.rejects_path.exists() else self.rejects_path
            self._file = open(self._writing, "w", encoding="utf-8", newline="\n")
            self._file.write("id\treason\trecord\tdetail\n")

    def kept(self, n_ambiguous: int) -> None:
        self.n_read += 1
        self.n_kept += 1
        if n_ambiguous:
            self.n_ambiguous_bases += n_ambiguous
            self.n_ambiguous_records += 1

    def check_id(self, record_id: str) -> None:
        """Note the id of a kept record; a repeat is counted (ids then do not identify records)."""
        if record_id in self._ids:
            self.n_duplicate_ids += 1
            if len(self.duplicate_examples) < EXAMPLES_PER_REASON and record_id not in self.duplicate_examples:
                self.duplicate_examples.append(record_id)
        else:
            self._ids.add(record_id)

    def skip(self, record_id: str, reason: str, record_number: int, detail: str = "", example: str = "") -> None:
        """Count a skipped record; ``example``: how the summary names it (default its id), e.g. with
        the offending character, so the one log line already says what is wrong."""
        self.n_read += 1
        self.counts[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < EXAMPLES_PER_REASON:
            examples.append(example or record_id)
        if self._file is not None:
            self._file.write(f"{_cell(record_id)}\t{reason}\t{record_number}\t{_cell(detail)}\n")

    def skip_marker(self, record_id: str, marker: str, record_number: int, wanted: str) -> None:
        self.other_markers[marker or "(none)"] += 1
        self.skip(record_id, OTHER_MARKER, record_number, f"marker {marker or '(none)'!s}, kept {wanted}")

    def close(self, log: logging.Logger | None = None, complete: bool = True) -> None:
        """End a pass: close the rejects file (an existing one is replaced only if the pass was
        ``complete``) and log the one-line summary."""
        if self._file is not None:
            self._file.close()
            self._file = None
            if self._writing != self.rejects_path:
                if complete:
                    os.replace(self._writing, self.rejects_path)
                else:
                    self._writing.unlink(missing_ok=True)
        self.finished = True
        self._ids = set()  # only needed during the pass
        log = log or logger
        if self.total:
            log.warning("%s", self.summary())
        else:
            log.info("%s", self.summary())
        if self.n_duplicate_ids:
            log.warning("%s", self.duplicates_summary())

    def duplicates_summary(self) -> str:
        """One line on repeated record ids ("" when every id is unique)."""
        if not self.n_duplicate_ids:
            return ""
        more = ", ..." if self.n_duplicate_ids > len(self.duplicate_examples) else ""
        return (
            f"{Path(self.source).name}: {self.n_duplicate_ids:,} record(s) repeat the id of an earlier record "
            f"({', '.join(self.duplicate_examples)}{more}): ids do not identify records in this file; "
            "outputs keep every record, one row each, in input order"
        )

    def summary(self) -> str:
        """One line: records kept, skipped per reason with their first ids, ambiguity, file."""
        name = Path(self.source).name
        text = f"{name}: kept {self.n_kept:,} of {self.n_read:,} records"
        if self.total:
            parts = []
            for reason, n in self.counts.most_common():
                ids = ", ".join(self.examples.get(reason, []))
                more = ", ..." if n > len(self.examples.get(reason, [])) else ""
                parts.append(f"{reason} {n:,} ({ids}{more})")
            text += f"; skipped {self.total:,}: " + "; ".join(parts)
            if self.other_markers:
                markers = ", ".join(f"{m} {n:,}" for m, n in self.other_markers.most_common())
                text += f"; other markers: {markers}"
            if self.rejects_path is not None:
                text += f"; details in {self.rejects_path}"
        if self.n_ambiguous_bases:
            text += (
                f"; {self.n_ambiguous_bases:,} IUPAC code(s)/gap(s) became N in "
                f"{self.n_ambiguous_records:,} record(s) (N runs at the ends trimmed)"
            )
        return text

    def __repr__(self) -> str:
        return f"Rejects({self.summary()!r})"
