"""Opening published checkpoint files without running their pickled code.

``torch.load(weights_only=True)`` refuses any pickled object that is not a tensor or a plain
container, so a malicious checkpoint cannot execute code. Full unpickling happens only when the
caller says the file is trusted (``--trust-checkpoint``). ``argparse.Namespace`` (the BarcodeBERT /
BarcodeMAE scripts store their command-line options that way) is a plain attribute bag and is
allowed in the safe mode.
"""

from __future__ import annotations

import argparse
import logging
import pickle
from pathlib import Path

logger = logging.getLogger(__name__)

# Objects that are safe to rebuild (no code runs on unpickling) and common in published files.
SAFE_EXTRA_GLOBALS = [argparse.Namespace]


class UntrustedCheckpointError(ValueError):
    """The checkpoint holds pickled objects that the safe loader refuses."""


def load_checkpoint(path: str | Path, trust_checkpoint: bool = False):
    """The object saved in ``path`` (a ``torch.save`` file), loaded on the CPU.

    Without ``trust_checkpoint`` only tensors, plain containers and :data:`SAFE_EXTRA_GLOBALS`
    are rebuilt; anything else raises :class:`UntrustedCheckpointError` naming what the file
    contains and the flag that would load it.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if trust_checkpoint:
        logger.warning("loading %s with full unpickling (--trust-checkpoint): only do this for files you trust", path)
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        with torch.serialization.safe_globals(SAFE_EXTRA_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UntrustedCheckpointError(_refusal_message(path, exc)) from None
    except (RuntimeError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {str(exc).splitlines()[0]}") from None


def _refusal_message(path: Path, exc: Exception) -> str:
    import torch

    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - a best-effort detail for the message only
        unsafe = []
    unsafe = [name for name in unsafe if name not in {f"{g.__module__}.{g.__qualname__}" for g in SAFE_EXTRA_GLOBALS}]
    what = (
        f"pickled objects ({', '.join(unsafe[:5])}{', ...' if len(unsafe) > 5 else ''})"
        if unsafe
        else "pickled objects"
    )
    return (
        f"{path} holds {what} that the safe loader (torch.load weights_only=True) refuses, because "
        "unpickling them can run code. If you trust where this file comes from, rerun with "
        "--trust-checkpoint to unpickle it fully."
    )


def find_state_dict(checkpoint, keys=("state_dict", "model", "module")) -> dict:
    """The tensor dict inside a checkpoint: under one of ``keys`` (Lightning ``state_dict``,
    BarcodeBERT/BarcodeMAE ``model``), or the checkpoint itself when it is a bare state dict."""
    import torch

    if isinstance(checkpoint, dict):
        for key in keys:
            value = checkpoint.get(key)
            if isinstance(value, dict) and value and all(isinstance(v, torch.Tensor) for v in value.values()):
                return value
        if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            return checkpoint
    found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
    raise ValueError(f"no state dict found in the checkpoint (looked under {', '.join(keys)}; it holds {found})")


def strip_prefixes(state_dict: dict, prefixes=("module.", "_orig_mod.")) -> dict:
    """Remove wrapper prefixes (DDP ``module.``, torch.compile ``_orig_mod.``) wherever they lead a key."""
    out = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for prefix in prefixes:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        out[key] = value
    return out
