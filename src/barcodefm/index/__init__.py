"""Reference indexes: labelled barcodes embedded once by a model and searched by nearest
neighbour (FAISS), for identification against reference libraries of 10^5-10^7 barcodes.

- :func:`build_index` / :func:`add_to_index` / :func:`load_info`: make, extend, describe an index
  folder (:mod:`.reference_index`; resumable, split across ``torchrun`` processes by :mod:`.shards`);
- :class:`ReferenceIndex`: an opened index (``search``);
- :func:`identify`: nearest references, their per-rank vote and the call combining it with the
  model's (:mod:`.nearest_calls`; ``barcodefm classify --index`` writes the same as columns).

Names load on first use, so ``barcodefm --help`` does not import torch through this package.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "IndexCalls": "nearest_calls",
    "identify": "nearest_calls",
    "lineage_call": "nearest_calls",
    "ReferenceIndex": "reference_index",
    "add_to_index": "reference_index",
    "build_index": "reference_index",
    "load_info": "reference_index",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
