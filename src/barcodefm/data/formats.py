"""Decide whether a barcode file is FASTA, a TSV table or a CSV table, from its content.

``format`` may be forced (``"fasta"``, ``"tsv"``, ``"csv"``) or given as a layout name that
implies one of them (``"unite"``/``"bold-fasta"`` -> FASTA; ``"bold"``/``"bcdm"``/``"shared"`` ->
TSV; ``"bioscan"``/``"barcodebert"`` -> CSV). ``"auto"`` looks at the first line: ``>`` is FASTA,
a header with tabs is TSV, one with commas is CSV. Anything else (FASTQ, binary, empty, a
table without a header) is a :class:`BarcodeFileError` naming the file and why.
"""

from __future__ import annotations

from pathlib import Path

from .textfile import read_head

FASTA, TSV, CSV = "fasta", "tsv", "csv"
FORMAT_ALIASES = {
    "auto": "auto",
    "fasta": FASTA,
    "fa": FASTA,
    "unite": FASTA,
    "bold-fasta": FASTA,
    "tsv": TSV,
    "bold": TSV,
    "bold-tsv": TSV,
    "bcdm": TSV,
    "shared": TSV,
    "csv": CSV,
    "bioscan": CSV,
    "barcodebert": CSV,
}


class BarcodeFileError(ValueError):
    """A whole file cannot be read as barcodes (unknown format, no sequence column, ...)."""


def sniff_format(path: str | Path, format: str = "auto") -> str:
    """Return ``"fasta"``, ``"tsv"`` or ``"csv"`` for ``path``; raise :class:`BarcodeFileError`."""
    key = (format or "auto").lower()
    if key not in FORMAT_ALIASES:
        raise BarcodeFileError(
            f"unknown format {format!r} for {path}: choose one of {', '.join(sorted(FORMAT_ALIASES))}"
        )
    wanted = FORMAT_ALIASES[key]
    head = read_head(path)
    if b"\x00" in head:
        raise BarcodeFileError(f"{path} is not a text barcode file (binary content)")
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first:
        raise BarcodeFileError(f"{path} is empty: no barcode records")
    if first.startswith(">"):
        found = FASTA
    elif first.startswith("@") and "\t" not in first and "," not in first:
        raise BarcodeFileError(
            f"{path} looks like FASTQ ('@' header): convert it to FASTA first (barcodes carry no qualities)"
        )
    elif wanted in (TSV, CSV):
        found = wanted  # forced: even a one-column table (just sequences) is fine
    elif "\t" in first:
        found = TSV
    elif "," in first:
        found = CSV
    else:
        raise BarcodeFileError(
            f"cannot tell the format of {path}: its first line is neither a FASTA header ('>') "
            f"nor a TSV/CSV header row (first line: {first[:80]!r})"
        )
    if wanted != "auto" and wanted != found:
        raise BarcodeFileError(f"{path} was read as {format!r} but its content looks like {found.upper()}")
    return found
