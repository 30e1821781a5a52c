"""Open a barcode text file whatever its compression and encoding, as decoded lines.

Compression is recognised from the file's first bytes, not its name (gzip, bzip2, xz), so a
``.gz`` that is not compressed, or a compressed file without the suffix, both read.
Lines are split on ``\\n`` only: BOLD downloads carry stray ``\\r`` characters INSIDE cells,
and Python's universal newlines would cut such a row in two. Each line is decoded as UTF-8,
falling back to Latin-1 for that line alone (BOLD exports mix both; Latin-1 never fails).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_MAGIC = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}


def open_binary(path: str | Path) -> BinaryIO:
    """Open ``path`` for binary reading, decompressing gzip/bzip2/xz transparently."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"barcode file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"expected a barcode file, got a directory: {path}")
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


def iter_lines(path: str | Path) -> Iterator[str]:
    """Yield the decoded lines of ``path`` without their line ending (``\\n`` or ``\\r\\n``)."""
    with open_binary(path) as handle:
        first = True
        for raw in handle:
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
