"""barcodefm: DNA-barcode foundation models for Hugging Face Transformers."""

__version__ = "0.1.0"

from .dna import InvalidSequenceError, normalize_sequence, reverse_complement  # noqa: E402
