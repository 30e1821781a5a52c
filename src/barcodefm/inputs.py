"""The one rule every command that reads a barcode file follows for it: a missing path, or a folder
where a file is expected, fails at once with one line naming it (the CLI prints these errors without
a traceback), before anything slow (importing torch, loading a model). The readers check the same.

Kept free of heavy imports, like :mod:`barcodefm.outputs`, so a command can check before it loads.
"""

from __future__ import annotations

from pathlib import Path


def require_barcode_file(path: str | Path) -> Path:
    """``path`` as a Path, or a FileNotFoundError / IsADirectoryError naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"barcode file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"expected a barcode file, got a directory: {path}")
    return path
