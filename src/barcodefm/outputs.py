"""The one rule every command that writes a result (``classify``, ``embed``, ``split``, ``probe``,
``train-tokenizer``) follows for every path it writes (``-o``, ``--rejects``, the files beside the
output such as ``OUT.ids.txt``):

* never the input, whatever the flags (``classify X -o X --overwrite`` is refused, as is
  ``--rejects X``), and never another output of the same run (``--rejects`` equal to ``-o``); paths
  are compared as files (symlinks, ``./x`` and ``x``, hard links are the same file);
* an existing output is refused, with one line naming the flag that allows it: ``--resume``
  (continue it; the commands that can) or ``--overwrite`` (replace it); ``OUT.partial``, the
  finished part of an interrupted run, counts as the output;
* ``--overwrite`` replaces a file only once the run has succeeded: the new content is written
  beside it and renamed over it (:func:`replacing`), so a failed or interrupted run leaves the old
  file as it was (and the input is never truncated);
* missing parent folders are created;
* a command that fails before it wrote a result leaves nothing behind (no empty file, no
  ``.partial`` file or folder), so the same command can simply be run again.

The checks run before anything slow (reading, loading a model), so a clash fails at once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path


class OutputExistsError(ValueError):
    """The output is there already and neither ``--resume`` nor ``--overwrite`` was given."""


class OutputClashError(ValueError):
    """An output path is the run's input, or another output of the same run."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run that had written ``n`` records to ``path``: the CLI prints this one line
    and exits with status 130, as for any SIGINT."""

    def __init__(self, n: int, path: str | Path):
        super().__init__(f"interrupted: {n:,} records written to {path}; rerun with --resume")


def partial_path(path: str | Path) -> Path:
    """``OUT.partial``: where a run keeps the finished part of ``OUT`` until the whole is done."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def occupied(path: Path) -> bool:
    """Whether ``path`` holds something (a file, or a folder that is not empty)."""
    # An empty folder (made by hand, or by mkdir -p) holds no result: it is not in the way.
    return path.exists() and not (path.is_dir() and not any(path.iterdir()))


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file: by inode when both exist (symlinks, hard links),
    else by their resolved paths (``./x``, ``d/../x`` and ``x`` are one file)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return Path(a).resolve() == Path(b).resolve()


def _paths(path: Path, also: Iterable[str | Path]) -> list[Path]:
    """The files of one output: ``path``, its ``also`` files and its ``OUT.partial``."""
    return [path, *map(Path, also), partial_path(path)]


def _refuse_clashes(
    path: Path, also: Iterable[str | Path], inputs: Iterable[str | Path], others: Iterable[str | Path], flag: str
) -> None:
    """:class:`OutputClashError` if a file of the output ``path`` is an input or another output."""
    what = "the output" if flag == "-o" else flag
    inputs, others = list(inputs), list(others)
    for mine in _paths(path, also):
        for source in inputs:
            if same_file(mine, source):
                raise OutputClashError(
                    f"{what} is the input: {mine} (a run never writes over what it reads: choose another path)"
                )
        for other in others:
            if same_file(mine, other):
                raise OutputClashError(
                    f"{what} {mine} is another output of this run ({other}): give each output its own path"
                )


def claim_output(
    path: str | Path,
    overwrite: bool = False,
    resume: bool | None = None,
    also: Iterable[str | Path] = (),
    inputs: Iterable[str | Path] = (),
    others: Iterable[str | Path] = (),
    flag: str = "-o",
) -> Path:
    """Check that ``path`` may be written and create its parent folder; return it as a Path.

    ``resume``: None for a command without ``--resume``; otherwise whether it was given (an
    existing output is then the caller's to continue). ``also``: other paths that belong to the
    same result (e.g. ``OUT.ids.txt`` beside ``OUT.npy``): any of them existing counts, as does
    ``OUT.partial``. ``inputs``: the files the run reads; ``others``: the run's other outputs;
    ``flag``: the option that named ``path``, for the messages. Raises :class:`OutputClashError`
    or :class:`OutputExistsError` (ValueErrors: the CLI prints them as one line).
    """
    path = Path(path)
    _refuse_clashes(path, also, inputs, others, flag)
    if overwrite and resume:
        raise ValueError("--resume continues an existing output and --overwrite replaces it: give one of them")
    # The unfinished part first: it is what --resume would continue.
    existing = next((p for p in [partial_path(path), path, *map(Path, also)] if occupied(p)), None)
    if existing is not None and not overwrite and not resume:
        flags = (
            "pass --overwrite to replace it"
            if resume is None
            else "pass --resume to continue it or --overwrite to replace it"
        )
        raise OutputExistsError(f"{existing} exists: {flags} (or choose another output)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def claim_outputs(
    output: str | Path,
    input_path: str | Path,
    rejects: str | Path | None = None,
    overwrite: bool = False,
    resume: bool | None = None,
    also: Iterable[str | Path] = (),
) -> tuple[Path, Path | None]:
    """:func:`claim_output` for a run that reads ``input_path`` and writes ``output`` (with its
    ``also`` files) and, when given, a ``--rejects`` file; returns both as Paths (rejects None
    when not given). The rejects file follows the same rule: with ``resume`` an existing one is
    allowed (the resumed run reads the input again from its start and rewrites it whole)."""
    output, also = Path(output), list(also)
    if rejects is not None:  # a clash is the first thing to say, before any file's existence
        _refuse_clashes(Path(rejects), (), [input_path], _paths(output, also), "--rejects")
    output = claim_output(output, overwrite, resume, also=also, inputs=[input_path])
    if rejects is not None:
        rejects = claim_output(
            rejects, overwrite, resume, inputs=[input_path], others=_paths(output, also), flag="--rejects"
        )
    return output, rejects


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write the new content to; renamed over ``path`` when
    the block ends without an error, deleted otherwise: ``path`` holds its old content or the
    whole new one, never a part. The temporary name keeps the suffix (a writer may go by it: .gz)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
