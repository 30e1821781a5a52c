"""Non-overlapping k-mer tokenizer (BarcodeBERT / BarcodeMAE / BarcodeMamba ``k_mer``).

Stride = k; vocabulary = the 4^k k-mers in lexicographic ACGT order between the specials; a k-mer
holding ``N`` is ``[UNK]``. The sequence is cut to ``max_bases`` (660) bases before k-merisation
and a trailing partial k-mer is dropped. ``random_offset=True`` drops the first
U{0..k-1} bases of every sequence (BarcodeBERT's frame-shift augmentation): a training-time
setting, off by default and never saved as on.
"""

from __future__ import annotations

import itertools
import random

# transformers 5.0 copies only the modules a remote-code file imports directly: name the base
# tokenizer's own sibling here too.
from .dna import normalize_sequence  # noqa: F401
from .tokenization_dna_base import BarcodeVocabTokenizer


class BarcodeKmerTokenizer(BarcodeVocabTokenizer):
    def __init__(
        self,
        vocab_file=None,
        k: int = 6,
        max_bases: int | None = 660,
        random_offset: bool = False,
        seed: int | None = None,
        **kwargs,
    ):
        if not isinstance(k, int) or not 1 <= k <= 8:
            raise ValueError(f"k must be an integer in 1..8, got {k!r}")
        if max_bases is not None and max_bases < k:
            raise ValueError(f"max_bases ({max_bases}) must be at least k ({k})")
        self.k = k
        self.max_bases = max_bases
        self.random_offset = random_offset
        self._rng = random.Random(seed)
        kwargs.setdefault("model_max_length", (max_bases // k) if max_bases else 10**6)
        super().__init__(vocab_file=vocab_file, k=k, max_bases=max_bases, **kwargs)

    def _base_tokens(self):
        return ["".join(p) for p in itertools.product("ACGT", repeat=self.k)]

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        # Runs once per sequence (normalisation may run twice, so the offset lives here).
        k = self.k
        if self.random_offset:
            text = text[self._rng.randrange(k) :]
        if self.max_bases is not None:
            text = text[: self.max_bases]
        # range() stops before a trailing partial k-mer: it is dropped.
        return [text[i : i + k] for i in range(0, len(text) - k + 1, k)]

    def save_pretrained(self, *args, **kwargs):
        # The augmentation is a training switch: a saved tokenizer always loads with it off.
        self.init_kwargs.pop("random_offset", None)
        return super().save_pretrained(*args, **kwargs)


BarcodeKmerTokenizer.register_for_auto_class("AutoTokenizer")
