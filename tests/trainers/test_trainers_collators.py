"""Collators and augmentation on real COI barcodes from the bundled sample: NTP ignores padding,
MLM masks half the real positions with the original ids as targets, reverse complement and the
k-mer frame offset are drawn per example from (seed, epoch, index)."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import TrainerState

from barcodefm import BarcodeCharTokenizer, BarcodeKmerTokenizer, reverse_complement
from barcodefm.data import load_barcodes, sample_path
from barcodefm.trainers.augmentation import SequenceAugmentation, example_rng
from barcodefm.trainers.callbacks import EpochCallback
from barcodefm.trainers.collators import (
    BarcodeCollator,
    CausalLMCollator,
    ClassificationCollator,
    MaskedLMCollator,
)


@pytest.fixture(scope="module")
def sequences() -> list[str]:
    records = load_barcodes(sample_path("coi"))
    return records["sequence"][:64]


def examples(seqs, start=0):
    return [{"sequence": s, "index": start + i} for i, s in enumerate(seqs)]


def test_causal_collator_pads_left_and_ignores_padding(sequences):
    tok = BarcodeCharTokenizer()
    seqs = [sequences[0][:50], sequences[1][:80]]
    batch = CausalLMCollator(tok, max_bases=660)(examples(seqs))
    assert batch["input_ids"].shape == (2, 80)
    assert batch["attention_mask"][0].tolist() == [0] * 30 + [1] * 50  # left padding
    assert (batch["labels"][0, :30] == -100).all()
    assert torch.equal(batch["labels"][0, 30:], batch["input_ids"][0, 30:])
    assert tok.decode(batch["input_ids"][1]) == seqs[1]


def test_sequences_are_cut_to_max_bases(sequences):
    tok = BarcodeCharTokenizer()
    batch = BarcodeCollator(tok, max_bases=100)(examples(sequences[:4]))
    assert batch["input_ids"].shape == (4, 100)
    assert tok.decode(batch["input_ids"][0]) == sequences[0][:100]


def test_mlm_collator_masks_half_of_real_positions_and_keeps_original_targets(sequences):
    tok = BarcodeCharTokenizer()
    seqs = [s[: 100 + 10 * i] for i, s in enumerate(sequences[:16])]
    batch = MaskedLMCollator(tok, max_bases=660, seed=3)(examples(seqs))
    ids, mask, labels = batch["input_ids"], batch["attention_mask"].bool(), batch["labels"]
    masked = ids == tok.mask_token_id
    assert not (masked & ~mask).any(), "padding must never be masked"
    fraction = masked[mask].float().mean().item()
    assert 0.45 < fraction < 0.55, fraction
    # Targets: the original sequence at EVERY real position (the published variant), -100 at pads.
    assert (labels[~mask] == -100).all()
    for row, seq in enumerate(seqs):
        assert tok.decode(labels[row][mask[row]]) == seq
    # Unmasked real positions still show the original token.
    assert torch.equal(ids[mask & ~masked], labels[mask & ~masked])


def test_mlm_masks_are_a_function_of_seed_epoch_and_index(sequences):
    tok = BarcodeCharTokenizer()
    seqs = [s[:120] for s in sequences[:4]]
    collator = MaskedLMCollator(tok, seed=0, augmentation=SequenceAugmentation(rc_prob=0.0))
    first = collator(examples(seqs))["input_ids"]
    assert torch.equal(first, collator(examples(seqs))["input_ids"])
    # The same example in another batch gets the same mask; another epoch gets another one.
    alone = collator([examples(seqs)[2]])["input_ids"]
    assert torch.equal(alone[0], first[2])
    collator.epoch = 1
    assert not torch.equal(first, collator(examples(seqs))["input_ids"])


def test_reverse_complement_augmentation_is_per_example_and_reproducible(sequences):
    tok = BarcodeCharTokenizer()
    seqs = [s[:150] for s in sequences[:64]]
    collator = BarcodeCollator(tok, max_bases=660, augmentation=SequenceAugmentation(rc_prob=0.5), seed=11)
    decoded = [tok.decode(row[m.bool()]) for row, m in zip(*collator(examples(seqs)).values())]
    flipped = [d == reverse_complement(s) for d, s in zip(decoded, seqs)]
    kept = [d == s for d, s in zip(decoded, seqs)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 20 <= sum(flipped) <= 44, sum(flipped)  # p = 0.5 over 64 barcodes
    # Each flip is decided by (seed, epoch, index) alone: recomputable without the batch.
    for i, f in enumerate(flipped):
        assert f == (example_rng(11, 0, i).random() < 0.5)
    # A later epoch draws again.
    collator.epoch = 1
    again = [tok.decode(row[m.bool()]) for row, m in zip(*collator(examples(seqs)).values())]
    assert again != decoded


def test_kmer_frame_offset_drops_up_to_k_minus_1_leading_bases(sequences):
    tok = BarcodeKmerTokenizer(k=4)
    seq = sequences[5][:200]
    augment = SequenceAugmentation(rc_prob=0.0, offset_k=4)
    collator = BarcodeCollator(tok, augmentation=augment, seed=0)
    seen = set()
    for index in range(40):
        ids = collator([{"sequence": seq, "index": index}])["input_ids"][0].tolist()
        offset = next(o for o in range(4) if ids == tok(seq[o:])["input_ids"])
        seen.add(offset)
    assert seen == {0, 1, 2, 3}
    # Evaluation collators never shift: the tokenizer's own view of the barcode.
    plain = BarcodeCollator(tok)([{"sequence": seq, "index": 0}])["input_ids"][0].tolist()
    assert plain == tok(seq)["input_ids"]
    assert tok.random_offset is False


def test_classification_collator_passes_labels(sequences):
    tok = BarcodeCharTokenizer()
    batch = ClassificationCollator(tok)(
        [{"sequence": sequences[0], "index": 0, "labels": 3}, {"sequence": sequences[1], "index": 1, "labels": -100}]
    )
    assert batch["labels"].tolist() == [3, -100]
    # One label per rank (taxonomic classification): a (batch, n_ranks) matrix.
    batch = ClassificationCollator(tok)(
        [
            {"sequence": sequences[0], "index": 0, "labels": [1, 2]},
            {"sequence": sequences[1], "index": 1, "labels": [0, -100]},
        ]
    )
    assert batch["labels"].tolist() == [[1, 2], [0, -100]]


def test_epoch_callback_keys_streams_by_the_epoch_about_to_run():
    collator = BarcodeCollator(BarcodeCharTokenizer(), augmentation=SequenceAugmentation())
    callback = EpochCallback(collator)
    for state_epoch, expected in [(0.0, 0), (1.0, 1), (2.0, 2), (1.4, 1), (2.999, 2)]:
        # 1.4 / 2.999: a run resumed in the middle of epoch 1 / 2 (state restored from its checkpoint)
        state = TrainerState(epoch=state_epoch)
        callback.on_epoch_begin(None, state, None)
        assert collator.epoch == expected == math.floor(state_epoch)


def test_bad_settings_are_refused():
    tok = BarcodeCharTokenizer()
    with pytest.raises(ValueError, match="rc_prob"):
        SequenceAugmentation(rc_prob=1.5)
    with pytest.raises(ValueError, match="mlm_probability"):
        MaskedLMCollator(tok, mlm_probability=1.0)
    with pytest.raises(ValueError, match="max_bases"):
        BarcodeCollator(tok, max_bases=0)
