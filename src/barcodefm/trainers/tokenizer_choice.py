"""``--tokenizer char|kmer|bpe|PATH``: the tokenizer a new run trains with."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from .options import MAX_BASES

logger = logging.getLogger(__name__)

TOKENIZER_KINDS = ("char", "kmer", "bpe")


def build_tokenizer(
    choice: str,
    max_bases: int = MAX_BASES,
    k: int = 6,
    bpe_vocab_size: int = 768,
    bpe_corpus: Callable[[], Iterable[str]] | None = None,
    trust_remote_code: bool = False,
):
    """A fresh tokenizer of kind ``choice``, or the one saved in the folder ``choice``.

    ``bpe_corpus`` returns the sequences a BPE vocabulary is trained on (only called for
    ``"bpe"``). Augmentation is never switched on in the tokenizer itself: the collators do
    it with per-example random streams (see :mod:`.augmentation`). ``trust_remote_code``: a saved
    tokenizer that is not barcodefm's may run its own code (see :func:`barcodefm.factory.load_tokenizer`).
    """
    from .. import BarcodeBPETokenizer, BarcodeCharTokenizer, BarcodeKmerTokenizer

    kind = str(choice).lower()
    if kind == "char":
        return BarcodeCharTokenizer(model_max_length=max_bases)
    if kind in ("kmer", "k-mer", "k_mer"):
        return BarcodeKmerTokenizer(k=k, max_bases=max_bases)
    if kind == "bpe":
        if bpe_corpus is None:
            raise ValueError("a BPE tokenizer needs sequences to train on")
        logger.info("training a BPE vocabulary of %d tokens on the training sequences", bpe_vocab_size)
        return BarcodeBPETokenizer.train(bpe_corpus(), vocab_size=bpe_vocab_size)
    path = Path(choice)
    if not path.is_dir():
        raise ValueError(
            f"--tokenizer {choice!r} is neither one of {', '.join(TOKENIZER_KINDS)} nor a folder holding a saved tokenizer"
        )
    from ..factory import RemoteCodeNotTrusted, load_tokenizer

    try:
        return load_tokenizer(path, trust_remote_code=trust_remote_code)
    except RemoteCodeNotTrusted:
        raise
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load a tokenizer from {path}: {exc}") from None
