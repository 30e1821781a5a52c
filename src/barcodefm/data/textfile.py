"""Open a barcode text file whatever its compression and encoding, as decoded lines.

Compression is recognised from the file's first bytes, not its name (gzip, bzip2, xz), so a
``.gz`` that is not compressed, or a compressed file without the suffix, both read.
Tables are split on ``\\n`` (or ``\\r\\n``) only: BOLD downloads carry stray ``\\r`` characters
INSIDE cells, and Python's universal newlines would cut such a row in two. A file with no ``\\n``
in its first 64 KiB but a ``\\r`` (old Mac line ends) is split on ``\\r`` instead, else it would be
one line. FASTA has no cells, so its reader ends a line at any of ``\\n``, ``\\r\\n`` or a bare
``\\r`` (``any_ending=True``), which also covers files mixing them. Each line is decoded as UTF-8,
falling back to Latin-1 for that line alone (BOLD exports mix both; Latin-1 never fails).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..inputs import require_barcode_file

_MAGIC = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
_CHUNK = 1 << 20


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


def _split_any_ending(handle: BinaryIO) -> Iterator[bytes]:
    """Raw lines ended by ``\\n``, ``\\r\\n`` or a bare ``\\r``, read by chunks (a CR-only file has
    no ``\\n`` for ordinary line iteration, which would return it whole)."""
    pending: list[bytes] = []  # the start of a line longer than a chunk
    held = b""
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        chunk = held + chunk
        held = b"\r" if chunk.endswith(b"\r") else b""  # a \r\n may straddle two chunks
        parts = (chunk[:-1] if held else chunk).replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        pending.append(parts[0])
        if len(parts) > 1:
            yield b"".join(pending)
            yield from parts[1:-1]
            pending = [parts[-1]]
    if held or any(pending):  # the last line, ended by the file or by a final bare \r
        yield b"".join(pending)


def iter_lines(path: str | Path, any_ending: bool | None = None) -> Iterator[str]:
    """Yield the decoded lines of ``path`` without their line ending.

    ``any_ending``: end lines at ``\\n``, ``\\r\\n`` and bare ``\\r`` alike (FASTA). ``None`` (tables)
    does so only for a file whose head has ``\\r`` but no ``\\n``; otherwise a bare ``\\r`` stays
    inside its line (BOLD cells).
    """
    if any_ending is None:
        head = read_head(path)
        any_ending = b"\r" in head and b"\n" not in head
    with open_binary(path) as handle:
        first = True
        for raw in _split_any_ending(handle) if any_ending else handle:
            line = decode_line(raw).rstrip("\r\n")
            if first:
                line = line.lstrip("\ufeff")  # a byte-order mark is not part of the header
                first = False
            yield line


def read_head(path: str | Path, n_bytes: int = 65536) -> bytes:
    """The first ``n_bytes`` of the decompressed content (for sniffing the format)."""
    with open_binary(path) as handle:
        try:
            return handle.read(n_bytes)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise ValueError(f"cannot read {path}: corrupt compressed file ({exc})") from exc
