"""Write an output folder all at once: into a hidden sibling first, moved into place only when
every check passed, so a refused release or conversion never leaves a half-made folder that
looks publishable."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def check_output_folder(output: str | Path, flag: str = "--output") -> Path:
    """``output`` must not exist yet or be an empty folder (a release never overwrites)."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"{flag} {output} is a file, not a folder")
    if output.is_dir() and any(output.iterdir()):
        raise ValueError(f"{flag} {output} is not empty: choose a new or empty folder")
    return output


@contextlib.contextmanager
def staged_folder(output: str | Path):
    """Yield a temporary folder next to ``output``; on a clean exit it becomes ``output``."""
    output = check_output_folder(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.staging-", dir=output.parent))
    try:
        yield staging
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; the result is a normal folder
        if output.is_dir():
            output.rmdir()  # empty (checked above): replaced by the finished folder
        os.replace(staging, output)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
