"""Character tokenizer for BarcodeMamba ``char``: one token per base over A C G T N.

Default ids reproduce the published BarcodeMamba vocabulary (``[MASK]=0 [SEP]=1 [UNK]=2 A=3 C=4
G=5 T=6 N=7``) and add a real ``[PAD]=8`` so padding can be masked.
"""

from __future__ import annotations

# transformers 5.0 copies only the modules a remote-code file imports directly: name the base
# tokenizer's own sibling here too.
from .dna import normalize_sequence  # noqa: F401
from .tokenization_dna_base import BarcodeVocabTokenizer


class BarcodeCharTokenizer(BarcodeVocabTokenizer):
    """One token per nucleotide. Input is normalised first (IUPAC and gaps -> N, errors name the position)."""

    def __init__(self, vocab_file=None, model_max_length: int = 660, **kwargs):
        super().__init__(vocab_file=vocab_file, model_max_length=model_max_length, **kwargs)

    def _base_tokens(self):
        return list("ACGTN")

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return list(text)


BarcodeCharTokenizer.register_for_auto_class("AutoTokenizer")
