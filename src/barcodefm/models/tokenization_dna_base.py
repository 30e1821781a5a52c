"""What every barcode tokenizer shares: DNA normalisation before tokenising, reverse complement,
and (for the fixed-vocabulary tokenizers) a vocabulary laid out as specials + tokens + specials.

Hub module: travels with saved tokenizers; imports only the standard library, transformers and
single-dot siblings.
"""

from __future__ import annotations

import json
import logging
import os

from transformers import PreTrainedTokenizer

from .dna import normalize_sequence, reverse_complement

logger = logging.getLogger(__name__)


class DNANormalizationMixin:
    """Normalises DNA text before any backend sees it.

    Every public encoding path (``__call__``, ``encode``, ``tokenize``) goes through
    ``_encode_plus`` or ``tokenize``, so overriding those two covers them all. Errors name the
    batch index (the "record") and the character's position; ambiguity codes turned into ``N``
    are counted and logged once per call.
    """

    def _normalize_text(self, text, is_split_into_words: bool = False):
        if is_split_into_words:
            return text
        if isinstance(text, str):
            seq, n = normalize_sequence(text)
            if n:
                logger.info("normalised %d ambiguous base(s)/gap(s) to N", n)
            return seq
        if isinstance(text, (list, tuple)) and text and all(isinstance(t, str) for t in text):
            out, total, touched = [], 0, 0
            for i, t in enumerate(text):
                seq, n = normalize_sequence(t, record=f"#{i} of the batch")
                total += n
                touched += bool(n)
                out.append(seq)
            if total:
                logger.info(
                    "normalised %d ambiguous base(s)/gap(s) to N in %d of %d sequence(s)", total, touched, len(out)
                )
            return out
        return text  # ids or pre-tokenised input: nothing to normalise

    def _encode_plus(self, text, text_pair=None, *args, **kwargs):
        split = kwargs.get("is_split_into_words", False)
        text = self._normalize_text(text, split)
        if text_pair is not None:
            text_pair = self._normalize_text(text_pair, split)
        return super()._encode_plus(text, text_pair, *args, **kwargs)

    def tokenize(self, text, *args, **kwargs):
        return super().tokenize(self._normalize_text(text), *args, **kwargs)

    def reverse_complement(self, sequence: str) -> str:
        """Reverse complement (A<->T, C<->G, N stays N) of a sequence, after normalisation."""
        seq, _ = normalize_sequence(sequence)
        return reverse_complement(seq)


class BarcodeVocabTokenizer(DNANormalizationMixin, PreTrainedTokenizer):
    """A fixed vocabulary ``specials_first + tokens + specials_last`` (python backend).

    The layout is parameterised so that converted published checkpoints keep their exact ids
    (BarcodeMamba: ``[MASK]=0 [SEP]=1 [UNK]=2`` first). Subclasses define ``_base_tokens()``
    and ``_tokenize``. A saved ``vocab.json`` is authoritative when present.
    """

    vocab_files_names = {"vocab_file": "vocab.json"}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str | None = None,
        specials_first=("[MASK]", "[SEP]", "[UNK]"),
        specials_last=("[PAD]",),
        unk_token="[UNK]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        sep_token="[SEP]",
        padding_side="left",
        **kwargs,
    ):
        self.specials_first = list(specials_first)
        self.specials_last = list(specials_last)
        if vocab_file is not None and os.path.isfile(vocab_file):
            with open(vocab_file, encoding="utf-8") as f:
                self.vocab = json.load(f)
        else:
            tokens = self.specials_first + list(self._base_tokens()) + self.specials_last
            if len(set(tokens)) != len(tokens):
                raise ValueError(f"duplicate tokens in the vocabulary layout: {tokens[:10]}...")
            self.vocab = {t: i for i, t in enumerate(tokens)}
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        for name, tok in (("unk_token", unk_token), ("pad_token", pad_token)):
            if tok is not None and str(tok) not in self.vocab:
                raise ValueError(f"{name} {tok!r} is not in the vocabulary")
        # Barcodes carry no special tokens by default (the published models used none); the
        # pattern is not saved by transformers, so it is set here on every load.
        kwargs.setdefault("special_tokens_pattern", "none")
        super().__init__(
            specials_first=self.specials_first,
            specials_last=self.specials_last,
            unk_token=unk_token,
            pad_token=pad_token,
            mask_token=mask_token if str(mask_token) in self.vocab else None,
            sep_token=sep_token if str(sep_token) in self.vocab else None,
            padding_side=padding_side,
            **kwargs,
        )

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def tokenize(self, text, **kwargs) -> list[str]:
        # Normalised DNA holds no special-token text, so the added-token trie split of the
        # python backend (most of its cost on 660-base inputs) is skipped.
        if not isinstance(text, str):
            return super().tokenize(text, **kwargs)
        return self._tokenize(self._normalize_text(text))

    def convert_tokens_to_ids(self, tokens):
        # The vocabulary is closed (no added tokens beyond it), so a dict lookup suffices.
        if isinstance(tokens, str):
            return self._convert_token_to_id(tokens)
        vocab, unk = self.vocab, self.vocab[str(self.unk_token)]
        return [vocab.get(t, unk) for t in tokens]

    def _convert_token_to_id(self, token: str) -> int:
        return self.vocab.get(token, self.vocab[self.unk_token])

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens.get(index, self.unk_token)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        path = os.path.join(save_directory, prefix + self.vocab_files_names["vocab_file"])
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.vocab, f, indent=1)
        return (path,)
