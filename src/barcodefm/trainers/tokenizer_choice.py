"""``--tokenizer KIND|PATH``: the tokenizer a new run trains with (the kinds and their classes:
:data:`barcodefm.registry.TOKENIZERS`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from ..registry import TOKENIZERS, tokenizer_class, tokenizer_kind
from .options import MAX_BASES

logger = logging.getLogger(__name__)

TOKENIZER_KINDS = tuple(TOKENIZERS)


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
    kind = tokenizer_kind(choice)
    if kind is not None:
        cls = tokenizer_class(kind)
        # The run options a kind's constructor takes; any other kind needs only the length.
        if kind == "kmer":
            return cls(k=k, max_bases=max_bases)
        if kind == "bpe":
            if bpe_corpus is None:
                raise ValueError("a BPE tokenizer needs sequences to train on")
            logger.info("training a BPE vocabulary of %d tokens on the training sequences", bpe_vocab_size)
            return cls.train(bpe_corpus(), vocab_size=bpe_vocab_size)
        return cls(model_max_length=max_bases)
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
