"""Uploads: received under a size limit into a private temporary folder, read by the package's readers.

Nothing the page sends names a path on the machine: the body is written to a fresh folder made by
:func:`tempfile.mkdtemp` (readable by this user only) under a name cleaned to letters, digits,
``.``, ``_`` and ``-`` (the original name shows in messages), read with
:func:`barcodefm.data.iter_barcodes` (format sniffed; gzip/bzip2/xz; IUPAC codes normalised; bad
records skipped with a reason each, the others kept) and deleted. The limit holds for the bytes
sent and, for a compressed file, for its content once decompressed.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from pathlib import Path

from ..data.writers import from_spreadsheet_safe

REJECTS_FILE = ".rejects.tsv"  # a cleaned upload name never starts with "."
MAX_REJECTS_SHOWN = 1000  # rejected records listed (all are counted in the summary)
FORMATS = ("auto", "fasta", "tsv", "csv")


def one_line(text: str, limit: int = 500) -> str:
    """The first non-blank line of ``text``, spaces collapsed, at most ``limit`` characters: what a
    client is told of an error (never a multi-line dump or a traceback)."""
    first = next((line for line in str(text).splitlines() if line.strip()), "")
    line = " ".join(first.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class UploadError(Exception):
    """An upload that gives no job: ``status`` is the HTTP answer, ``rejects`` its rejected records."""

    def __init__(self, message: str, status: int = 400, rejects: list[dict] | None = None):
        super().__init__(one_line(message))
        self.status = status
        self.rejects = rejects or []


def clean_name(name: str | None, default: str = "upload") -> str:
    """A file name safe to create in the private folder (no separators, no leading dot)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")[:100]
    return base or default


def pasted_as_fasta(text: str) -> str:
    """Pasted text as it is when it looks like FASTA or a table; else one sequence per line
    (``seq1``, ``seq2``, ...), as one pastes from a spreadsheet column."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0].startswith(">") or "\t" in lines[0] or "," in lines[0]:
        return text
    return "".join(f">seq{i}\n{line}\n" for i, line in enumerate(lines, 1))


class UploadFolder:
    """A private temporary folder for one upload, removed by :meth:`remove` (or ``with``)."""

    def __init__(self, root: str | Path | None = None):
        self.path = Path(tempfile.mkdtemp(prefix="upload-", dir=root))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def check_size(n_bytes: int, limit_bytes: int, what: str = "the upload") -> None:
    if n_bytes > limit_bytes:
        raise UploadError(
            f"{what} is larger than this server's limit of {limit_bytes / 2**20:g} MB "
            "(split the file, or start the server with a larger --max-upload-mb)",
            status=413,
        )


def check_decompressed_size(path: Path, limit_bytes: int, display: str) -> None:
    """A compressed upload's content counts against the limit too (a small gzip can hold gigabytes)."""
    from ..data.textfile import open_binary

    total = 0
    try:
        with open_binary(path) as handle:
            while chunk := handle.read(1 << 20):
                total += len(chunk)
                check_size(total, limit_bytes, f"{display} (once decompressed)")
    except UploadError:
        raise
    except (OSError, EOFError, ValueError) as exc:  # gzip/bz2/xz errors are OSError/EOFError/LZMAError
        raise UploadError(f"{display}: corrupt or truncated compressed file ({exc})", status=400) from None


def read_upload(path: Path, display: str, format: str = "auto", marker: str | None = None) -> tuple[list, list, str]:
    """(clean records, rejected records ``{record, id, reason, detail}``, one-line summary) of the
    upload at ``path``; :class:`UploadError` (422) when it holds no usable record."""
    from ..data import BarcodeFileError, iter_barcodes
    from ..data.readers import no_records_error

    if format not in FORMATS:
        raise UploadError(f"unknown format {format!r}: one of {', '.join(FORMATS)}")
    rejects_path = path.parent / REJECTS_FILE
    # Longest first: the folder's path is inside the file's; the summary names the file alone.
    hide = {str(rejects_path): REJECTS_FILE, str(path): display, str(path.parent): "", f"{path.name}:": f"{display}:"}

    def message(exc: Exception) -> str:  # the user's file name, never the temporary path
        text = str(exc).replace(f"; details in {rejects_path}", "")
        for secret, shown in hide.items():
            text = text.replace(secret, shown)
        return text

    try:
        reader = iter_barcodes(path, format=format, marker=marker, rejects_path=rejects_path)
        records = list(reader)
    except (BarcodeFileError, ValueError, OSError, EOFError) as exc:
        raise UploadError(message(exc), status=422) from None
    rejected = read_rejects(rejects_path)
    if not records:
        raise UploadError(message(no_records_error(reader)), status=422, rejects=rejected)
    return records, rejected, message(Exception(reader.rejects.summary()))


def read_rejects(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [
            {
                "record": int(r["record"]),
                "id": from_spreadsheet_safe(r["id"]),  # the rejects file is spreadsheet-safe; the page shows the id
                "reason": r["reason"],
                "detail": from_spreadsheet_safe(r["detail"]),
            }
            for _, r in zip(range(MAX_REJECTS_SHOWN), rows)
        ]
