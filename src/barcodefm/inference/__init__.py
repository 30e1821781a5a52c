"""Batch inference over barcode files (tooling): embedding now, taxonomy classification later."""

from .batching import iter_batches
from .embed import EmbeddingWriter, embed_file

__all__ = ["EmbeddingWriter", "embed_file", "iter_batches"]
