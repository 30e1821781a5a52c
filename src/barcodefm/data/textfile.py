"""Open a barcode text file whatever its compression and encoding, as decoded lines.

Compression is recognised from the file's first bytes, not its name (gzip, bzip2, xz), so a
``.gz`` that is not compressed, or a compressed file without the suffix, both read.
Tables are split on ``\\n`` (or ``\\r\\n``) only: BOLD downloads carry stray ``\\r`` characters
INSIDE cells, and Python's universal newlines would cut such a row in two. A file with no ``\\n``
in its first 64 KiB but a ``\\r`` (old Mac line ends) is split on ``\\r`` instead, else it would be
one line. FASTA has no cells, so its reader ends a line at any of ``\\n``, ``\\r\\n`` or a bare
``\\r`` (``any_ending=True``), which also covers files mixing them. Each line is decoded as UTF-8,
falling back to Latin-1 for that line alone (BOLD exports mix both; Latin-1 never fails).

With ``max_length`` memory stays bounded whatever the file holds (a 215 KB gzip can hold one
100 Mbp line): a longer line is read a piece at a time and only its first ``max_length + 1`` bytes
are kept, yielded as a :class:`CutLine` so that the reader rejects its record.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..inputs import require_barcode_file

_MAGIC = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
_CHUNK = 1 << 20


class CutLine(str):
    """The first ``max_length + 1`` characters of a line longer than ``max_length`` (see
    :func:`iter_lines`); the rest of the line was skipped without being held."""


def open_binary(path: str | Path) -> BinaryIO:
    """Open ``path`` for binary reading, decompressing gzip/bzip2/xz transparently."""
    path = require_barcode_file(path)
    with open(path, "rb") as raw:
        head = raw.read(6)
    for magic, opener in _MAGIC.items():
        if head.startswith(magic):
            return opener(path, "rb")
    return open(path, "rb")


def decode_line(raw: bytes) -> str:
    """Decode one line: UTF-8 if it is valid, else Latin-1 (which never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _split_any_ending(handle: BinaryIO, limit: int) -> Iterator[tuple[bytes, bool]]:
    """(raw line, cut) for the lines ended by ``\\n``, ``\\r\\n`` or a bare ``\\r``, read by chunks
    (a CR-only file has no ``\\n`` for ordinary line iteration, which would return it whole). A line
    longer than ``limit`` bytes keeps its first ``limit + 1`` and comes with cut=True."""
    pending: list[bytes] = []  # the start of a line longer than a chunk
    size, cut = 0, False
    held = b""
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        chunk = held + chunk
        held = b"\r" if chunk.endswith(b"\r") else b""  # a \r\n may straddle two chunks
        parts = (chunk[:-1] if held else chunk).replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        for i, part in enumerate(parts):
            if i:  # the part before this one ended a line
                yield b"".join(pending), cut
                pending, size, cut = [], 0, False
            if size + len(part) > limit:  # one byte past the limit shows the cut; the rest is dropped
                part, cut = part[: max(limit + 1 - size, 0)], True
            pending.append(part)
            size += len(part)
    if held or any(pending):  # the last line, ended by the file or by a final bare \r
        yield b"".join(pending), cut


def _bounded_lines(handle: BinaryIO, limit: int) -> Iterator[tuple[bytes, bool]]:
    """(raw line, cut) for the lines ended by ``\\n``. A line longer than ``limit`` bytes keeps
    its first ``limit + 1`` and comes with cut=True; its rest is skipped a chunk at a time."""
    while raw := handle.readline(limit + 1):
        if raw.endswith(b"\n") or len(raw) <= limit:  # whole (the file's last line may lack its \n)
            yield raw, False
            continue
        rest = raw
        while rest and not rest.endswith(b"\n"):
            rest = handle.readline(_CHUNK)
        yield raw, True


def iter_lines(path: str | Path, any_ending: bool | None = None, max_length: int | None = None) -> Iterator[str]:
    """Yield the decoded lines of ``path`` without their line ending.

    ``any_ending``: end lines at ``\\n``, ``\\r\\n`` and bare ``\\r`` alike (FASTA). ``None`` (tables)
    does so only for a file whose head has ``\\r`` but no ``\\n``; otherwise a bare ``\\r`` stays
    inside its line (BOLD cells). ``max_length``: a line longer than this many bytes comes as a
    :class:`CutLine` of its first ``max_length + 1`` bytes, read without holding the rest.
    """
    if any_ending is None:
        head = read_head(path)
        any_ending = b"\r" in head and b"\n" not in head
    limit = sys.maxsize - 1 if max_length is None else max_length
    with open_binary(path) as handle:
        if any_ending:
            lines = _split_any_ending(handle, limit)
        elif max_length is None:
            lines = ((raw, False) for raw in handle)
        else:
            lines = _bounded_lines(handle, limit)
        first = True
        for raw, cut in lines:
            line = decode_line(raw).rstrip("\r\n")
            if first:
                line = line.lstrip("\ufeff")  # a byte-order mark is not part of the header
                first = False
            yield CutLine(line) if cut else line


def read_head(path: str | Path, n_bytes: int = 65536) -> bytes:
    """The first ``n_bytes`` of the decompressed content (for sniffing the format)."""
    with open_binary(path) as handle:
        try:
            return handle.read(n_bytes)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise ValueError(f"cannot read {path}: corrupt compressed file ({exc})") from exc
