"""Training-time sequence augmentation with per-example random streams.

Every random choice made for an example (reverse complement, k-mer frame offset, MLM masking)
comes from a generator seeded by ``(seed, epoch, index)``. A run resumed from a checkpoint, or
run on another number of processes, therefore draws exactly the same augmentations for the
same examples, which one shared random stream (like the k-mer tokenizer's own
``random_offset`` RNG) cannot guarantee.
"""

from __future__ import annotations

import numpy as np

from ..models.dna import reverse_complement

# Stream key of evaluation batches: distinct from every training epoch (epochs are >= 0).
EVAL_EPOCH = 2**31 - 1


def example_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random stream of example ``index`` in ``epoch`` of a run seeded with ``seed``."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


class SequenceAugmentation:
    """Reverse complement with probability ``rc_prob`` and, for k-mer tokenizers, BarcodeBERT's
    frame-shift (drop the first U{0..k-1} bases; ``offset_k`` = k, 0 = off), applied to the raw
    sequence string before tokenising.

    ``epoch`` is set at the start of every epoch by :class:`~.callbacks.EpochCallback`.
    """

    def __init__(self, rc_prob: float = 0.5, offset_k: int = 0):
        if not 0.0 <= rc_prob <= 1.0:
            raise ValueError(f"rc_prob must be in [0, 1], got {rc_prob}")
        if offset_k < 0:
            raise ValueError(f"offset_k must be >= 0, got {offset_k}")
        self.rc_prob = float(rc_prob)
        self.offset_k = int(offset_k)

    def __call__(self, sequence: str, rng: np.random.Generator) -> str:
        # The flip is drawn even when rc_prob is 0, so later draws (masking) do not depend on it.
        flip = rng.random() < self.rc_prob
        offset = int(rng.integers(self.offset_k)) if self.offset_k > 1 else 0
        if flip:
            sequence = reverse_complement(sequence)
        return sequence[offset:] if offset < len(sequence) else sequence

    def __repr__(self) -> str:
        return f"SequenceAugmentation(rc_prob={self.rc_prob}, offset_k={self.offset_k})"
