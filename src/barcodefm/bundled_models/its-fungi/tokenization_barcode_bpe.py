"""BPE tokenizer for BarcodeMamba+: trained with the ``tokenizers`` library on barcodes.

No whitespace pre-tokenisation (a barcode is one word), the same DNA normalisation and errors as
the other barcode tokenizers, the same specials. Saved as ``tokenizer.json`` and loaded by
``AutoTokenizer.from_pretrained(dir, trust_remote_code=True)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from transformers import PreTrainedTokenizerFast

from .dna import normalize_sequence
from .tokenization_dna_base import DNANormalizationMixin

logger = logging.getLogger(__name__)

DEFAULT_SPECIALS = ("[MASK]", "[SEP]", "[UNK]", "[PAD]")


class BarcodeBPETokenizer(DNANormalizationMixin, PreTrainedTokenizerFast):
    model_input_names = ["input_ids", "attention_mask"]

    @classmethod
    def convert_to_native_format(cls, trust_remote_code=False, **kwargs):
        # transformers 5 rebuilds a class with its own __init__ from vocab + merges and would
        # drop our merges; we load tokenizer.json as saved, whichever way we are loaded.
        return super().convert_to_native_format(trust_remote_code=True, **kwargs)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("unk_token", "[UNK]")
        kwargs.setdefault("pad_token", "[PAD]")
        kwargs.setdefault("mask_token", "[MASK]")
        kwargs.setdefault("sep_token", "[SEP]")
        kwargs.setdefault("padding_side", "left")
        kwargs.setdefault("model_max_length", 1024)
        super().__init__(*args, **kwargs)

    @classmethod
    def train(
        cls,
        sequences: Iterable[str],
        vocab_size: int = 768,
        min_frequency: int = 2,
        special_tokens=DEFAULT_SPECIALS,
        show_progress: bool = False,
        **kwargs,
    ) -> BarcodeBPETokenizer:
        """Train a BPE vocabulary on an iterable of barcodes (normalised on the fly).

        ``vocab_size`` counts the specials and the five single bases. Invalid sequences raise
        the usual error naming the record (its index in the iterable).
        """
        from tokenizers import Tokenizer, decoders, models, trainers

        n_min = len(special_tokens) + 5
        if vocab_size < n_min:
            raise ValueError(f"vocab_size must be at least {n_min} (specials + A C G T N), got {vocab_size}")

        def normalised():
            for i, s in enumerate(sequences):
                yield normalize_sequence(s, record=i)[0]

        backend = Tokenizer(models.BPE(unk_token="[UNK]"))
        backend.decoder = decoders.Fuse()  # tokens are glued back into one barcode, no spaces
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(special_tokens),
            initial_alphabet=list("ACGTN"),
            show_progress=show_progress,
        )
        backend.train_from_iterator(normalised(), trainer=trainer)
        logger.info("trained a BPE vocabulary of %d tokens", backend.get_vocab_size())
        return cls(tokenizer_object=backend, **kwargs)


BarcodeBPETokenizer.register_for_auto_class("AutoTokenizer")
