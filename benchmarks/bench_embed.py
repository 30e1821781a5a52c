"""Embeddings of barcodes by a saved model (the backbone ``AutoModel`` of its folder), timed.

Every model reads the first ``max_bases`` bases of a barcode, as in training; sequences are embedded
in length order (less padding per batch) and returned in the caller's order. Pooling is the
model's own (``config.pooling``: mean over real tokens).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger("benchmarks")


class Embedder:
    """A saved model's backbone and tokenizer, ready to embed raw barcode strings."""

    def __init__(self, model_dir: str | Path, max_bases: int, batch_size: int = 64):
        from barcodefm.factory import load_model, load_tokenizer

        self.model_dir = Path(model_dir)
        self.tokenizer = load_tokenizer(model_dir)
        self.model = load_model(model_dir, "AutoModel").eval()
        self.batch_size = batch_size
        self.max_bases = max_bases

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def __call__(self, sequences, progress: bool = True, desc: str = "embedding") -> tuple[np.ndarray, float]:
        """``(embeddings (n, hidden) float32, seconds)`` for ``sequences``."""
        cut = [s[: self.max_bases] for s in sequences]
        order = np.argsort([len(s) for s in cut], kind="stable")
        start = time.perf_counter()
        with torch.no_grad():
            sorted_embeddings = self.model.embed_sequences(
                [cut[i] for i in order], self.tokenizer, batch_size=self.batch_size, progress=progress
            ).numpy()
        seconds = time.perf_counter() - start
        embeddings = np.empty_like(sorted_embeddings)
        embeddings[order] = sorted_embeddings
        logger.info(
            "%s: %d barcodes in %.1f s (%.1f ms each) with %s",
            desc,
            len(cut),
            seconds,
            1000 * seconds / max(len(cut), 1),
            self.model_dir.name,
        )
        return embeddings, seconds
