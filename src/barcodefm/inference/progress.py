"""Progress of ``classify`` and ``embed`` over a barcode file: a bar with a total and an ETA on a
terminal, and log lines (every 10% and every few minutes) when stderr is not a terminal, so a
long job writing to a log file says how far it is.

The total is the number of records in the file, counted cheaply before the run (FASTA: the lines
that start with ``>``; tables: the lines after the header) without parsing any sequence. The
position is the number of records the reader has read, skipped ones included, so the two agree.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..data.textfile import open_binary, read_head

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def count_records(path: str | Path, fasta: bool) -> int | None:
    """The number of records of ``path`` (any compression): FASTA header lines, or the non-header
    lines of a table (a blank line or a quoted cell holding a line break makes it an estimate).
    None when the file cannot be read."""
    try:
        head = read_head(path, 65536)
        # Tables split on \n (a bare \r stays inside BOLD cells) unless the file has no \n at all;
        # FASTA lines end at \n, \r\n or a bare \r.
        ends = (b"\n", b"\r") if fasta else ((b"\r",) if b"\r" in head and b"\n" not in head else (b"\n",))
        n = 0
        previous = b"\n"  # the file's start counts as a line start
        last = b""
        with open_binary(path) as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                if fasta:
                    data = previous + chunk
                    n += sum(data.count(end + b">") for end in ends)
                    previous = chunk[-1:]
                else:
                    n += chunk.count(ends[0])
                last = chunk[-1:]
    except (OSError, EOFError, ValueError):
        return None
    if fasta:
        return n + head.startswith(b"\xef\xbb\xbf>")  # a byte-order mark before the first header
    if last and last not in ends:
        n += 1  # a last line without its line ending
    return max(n - 1, 0)  # the header


def reader_total(reader) -> int | None:
    """:func:`count_records` of the file a :class:`~barcodefm.data.readers.BarcodeReader` reads."""
    from ..data.fasta import FastaSource

    return count_records(reader.path, fasta=isinstance(reader.source, FastaSource))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(int(round(seconds)), 1)} s"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


class Progress:
    """``update_to(position)`` after each batch; ``close()`` at the end.

    On a terminal: a tqdm bar (total and ETA when the total is known). Otherwise one INFO line
    each time another 10% is done, and at least every ``log_every_s`` seconds, e.g.
    ``classified 2,000 of 20,000 records (10%), ~1 min left``. The rate (and so the ETA) counts
    from the first position seen, so the records a resumed run skips do not inflate it.
    """

    def __init__(
        self,
        desc: str,
        verb: str,
        total: int | None = None,
        log_every_s: float = 300.0,
        log: logging.Logger | None = None,
    ):
        from tqdm.auto import tqdm

        self.verb, self.total, self.log_every_s = verb, total or None, log_every_s
        self.log = log or logger
        self._tqdm = tqdm
        self._desc = desc
        self.bar = None
        self.start_position = self.start_time = None
        self.position = 0
        self._last_log_time = None
        self._next_step = 1  # the next 10% step to log

    def start(self, position: int) -> None:
        """Where the work starts (records already behind: skipped by a resume). Called by the
        first ``update_to`` when not called before."""
        self.start_position, self.start_time = position, time.monotonic()
        self._last_log_time = self.start_time
        self.position = position
        self.bar = self._tqdm(desc=self._desc, unit=" records", total=self.total, initial=position, disable=None)
        if self.total:
            self._next_step = int(10 * position / self.total) + 1

    def update_to(self, position: int, batch: int = 0) -> None:
        """Now ``position`` records are done; ``batch`` of them were done since the last call (the
        first call uses it to know where the work started)."""
        if self.bar is None:
            self.start(max(position - batch, 0))
        if self.total is not None and position > self.total:
            self.total = position  # the count was an estimate
            if not self.bar.disable:
                self.bar.total = position
        if not self.bar.disable:
            self.bar.update(position - self.position)
        self.position = position
        if self.bar.disable:
            self._maybe_log()

    def _maybe_log(self) -> None:
        now = time.monotonic()
        due = now - self._last_log_time >= self.log_every_s
        if self.total:
            step = int(10 * self.position / self.total)
            if step >= self._next_step:
                self._next_step = step + 1
                due = True
        if due:
            self._last_log_time = now
            self.log.info("%s", self.message(now))

    def message(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        done = self.position - (self.start_position or 0)
        elapsed = now - (self.start_time or now)
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        if not self.total:
            text = f"{self.verb} {self.position:,} records"
            return text + (f" ({rate:,.1f}/s)" if rate else "")
        text = f"{self.verb} {self.position:,} of {self.total:,} records ({self.position / self.total:.0%})"
        left = self.total - self.position
        if left > 0 and rate:
            text += f", ~{_duration(left / rate)} left"
        return text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
