"""Batch builders for the Trainer: raw barcode strings in, padded tensors out.

Examples are dicts with ``sequence`` (str) and ``index`` (the row number, which keys the
example's random stream, see :mod:`.augmentation`), plus ``labels`` for classification.
Tokenising happens here, after augmentation, because reverse complement and the k-mer frame
offset act on the raw string. Sequences are cut to ``max_bases`` bases before tokenising.
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.taxonomy import IGNORE_INDEX
from .augmentation import EVAL_EPOCH, SequenceAugmentation, example_rng
from .options import MAX_BASES


class BarcodeCollator:
    """Augment (training only), cut, tokenise and pad: ``input_ids`` + ``attention_mask``.

    This is the whole batch for models that build their own targets (BarcodeMAE masks inside
    its forward). ``epoch`` selects the random streams; :class:`~.callbacks.EpochCallback` sets
    it on training collators, evaluation collators keep a fixed stream.
    """

    label_names: tuple[str, ...] = ()  # the batch keys the Trainer treats as labels

    def __init__(
        self,
        tokenizer,
        max_bases: int = MAX_BASES,
        augmentation: SequenceAugmentation | None = None,
        seed: int = 0,
    ):
        if max_bases < 1:
            raise ValueError(f"max_bases must be >= 1, got {max_bases}")
        self.tokenizer = tokenizer
        self.max_bases = int(max_bases)
        self.augmentation = augmentation
        self.seed = int(seed)
        self.epoch = 0 if augmentation is not None else EVAL_EPOCH

    def _streams(self, examples) -> list[np.random.Generator]:
        return [example_rng(self.seed, self.epoch, example["index"]) for example in examples]

    def _sequences(self, examples, streams) -> list[str]:
        out = []
        for example, rng in zip(examples, streams):
            sequence = example["sequence"]
            if self.augmentation is not None:
                sequence = self.augmentation(sequence, rng)
            out.append(sequence[: self.max_bases])
        return out

    def _encode(self, sequences: list[str]) -> dict:
        batch = self.tokenizer(
            sequences, padding=True, truncation=False, return_tensors="pt", return_token_type_ids=False
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def __call__(self, examples) -> dict:
        streams = self._streams(examples)
        return self._encode(self._sequences(examples, streams))


class CausalLMCollator(BarcodeCollator):
    """Next-token prediction: labels are the input ids, padding set to -100 (never scored)."""

    label_names = ("labels",)

    def __call__(self, examples) -> dict:
        batch = super().__call__(examples)
        labels = batch["input_ids"].clone()
        labels[batch["attention_mask"] == 0] = IGNORE_INDEX
        batch["labels"] = labels
        return batch


class MaskedLMCollator(BarcodeCollator):
    """The published BarcodeMamba MLM: each real position is replaced by ``[MASK]`` with
    probability ``mlm_probability`` (0.5); labels are the ORIGINAL ids at every real position
    (-100 at padding). Whether all positions or only masked ones count is the model's
    ``config.mlm_loss_on``."""

    label_names = ("labels",)

    def __init__(
        self, tokenizer, max_bases: int = MAX_BASES, augmentation=None, seed: int = 0, mlm_probability: float = 0.5
    ):
        super().__init__(tokenizer, max_bases, augmentation, seed)
        if not 0.0 < mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
        if tokenizer.mask_token_id is None:
            raise ValueError(f"{type(tokenizer).__name__} has no [MASK] token: it cannot be used for MLM")
        self.mlm_probability = float(mlm_probability)

    def __call__(self, examples) -> dict:
        streams = self._streams(examples)
        batch = self._encode(self._sequences(examples, streams))
        ids, mask = batch["input_ids"], batch["attention_mask"].bool()
        labels = ids.clone()
        labels[~mask] = IGNORE_INDEX
        masked = torch.zeros_like(mask)
        for row, rng in enumerate(streams):
            real = mask[row].nonzero().squeeze(1)
            # Drawn from the example's own stream, in the order of its real tokens.
            masked[row, real] = torch.from_numpy(rng.random(real.numel()) < self.mlm_probability)
        batch["input_ids"] = ids.masked_fill(masked, self.tokenizer.mask_token_id)
        batch["labels"] = labels
        return batch


class ClassificationCollator(BarcodeCollator):
    """Classification: each example's ``labels``, one class id (sequence classification) or one per
    rank (taxonomic classification, ``(batch, n_ranks)``); -100 = not scored."""

    label_names = ("labels",)

    def __call__(self, examples) -> dict:
        batch = super().__call__(examples)
        batch["labels"] = torch.tensor([example["labels"] for example in examples], dtype=torch.long)
        return batch
