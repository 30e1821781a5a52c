"""Finding and running the external aligners behind the classic baselines."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence


class MissingExecutableError(FileNotFoundError):
    """A baseline's executable is not installed (a FileNotFoundError, so the CLI prints one line)."""


def require_executable(name: str, debian_package: str) -> str:
    """Full path of ``name`` on PATH, or a one-sentence error naming the package to install."""
    path = shutil.which(name)
    if path is None:
        raise MissingExecutableError(
            f"{name} was not found on PATH: install the Debian package {debian_package} "
            f"(apt-get install {debian_package}) to run this baseline."
        )
    return path


def run_tool(command: Sequence[str]) -> float:
    """Run an external command; return its wall time in seconds, or raise with its stderr."""
    start = time.perf_counter()
    completed = subprocess.run(list(command), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        tool = command[0].rsplit("/", 1)[-1]
        detail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{tool} failed with exit code {completed.returncode}: {' | '.join(detail)}")
    return elapsed
