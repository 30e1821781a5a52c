"""The one rule every command that writes a result (``classify``, ``embed``, ``split``, ``probe``,
``train-tokenizer``) follows for its output:

* an existing output is refused, with one line naming the flag that allows it: ``--resume``
  (continue it; the commands that can) or ``--overwrite`` (replace it);
* missing parent folders are created;
* a command that fails before it wrote a result leaves nothing behind (no empty file, no
  ``.partial/`` folder), so the same command can simply be run again.

The check runs before anything slow (reading, loading a model), so a clash fails at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class OutputExistsError(ValueError):
    """The output is there already and neither ``--resume`` nor ``--overwrite`` was given."""


def occupied(path: Path) -> bool:
    """Whether ``path`` holds something (a file, or a folder that is not empty)."""
    # An empty folder (made by hand, or by mkdir -p) holds no result: it is not in the way.
    return path.exists() and not (path.is_dir() and not any(path.iterdir()))


def claim_output(
    path: str | Path,
    overwrite: bool = False,
    resume: bool | None = None,
    also: Iterable[str | Path] = (),
) -> Path:
    """Check that ``path`` may be written and create its parent folder; return it as a Path.

    ``resume``: None for a command without ``--resume``; otherwise whether it was given (an
    existing output is then the caller's to continue). ``also``: other paths that belong to the
    same result (e.g. ``OUT.ids.txt`` beside ``OUT.npy``): any of them existing counts.
    Raises :class:`OutputExistsError` (a ValueError: the CLI prints it as one line).
    """
    path = Path(path)
    if overwrite and resume:
        raise ValueError("--resume continues an existing output and --overwrite replaces it: give one of them")
    existing = next((p for p in (path, *map(Path, also)) if occupied(p)), None)
    if existing is not None and not overwrite and not resume:
        flags = (
            "pass --overwrite to replace it"
            if resume is None
            else "pass --resume to continue it or --overwrite to replace it"
        )
        raise OutputExistsError(f"{existing} exists: {flags} (or choose another output)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
