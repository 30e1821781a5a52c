"""A few optimiser steps of BarcodeMAE pretraining on real COI barcodes lower the held-out loss,
for the MAE and for its w/MASK ablation."""

from __future__ import annotations

import pytest
import torch

from barcodefm import BarcodeKmerTokenizer, BarcodeMAEConfig, BarcodeMAEForPreTraining, config_from_tokenizer


def held_out_loss(model, batch):
    model.eval()
    torch.manual_seed(1234)  # the same masks before and after training
    with torch.no_grad():
        loss = model(**batch).loss.item()
    model.train()
    return loss


@pytest.fixture
def one_thread():
    # Tiny matmuls: a second thread adds nothing, and on a busy shared CPU every op would wait
    # for it (measured 10-25x slower steps with 2 threads under load).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("mask_in_encoder", [False, True], ids=["mae", "with-mask"])
def test_a_few_steps_on_real_coi_lower_the_loss(coi_rows, mask_in_encoder, one_thread):
    train_tok = BarcodeKmerTokenizer(k=6, random_offset=True, seed=0)  # frame-shift augmentation
    eval_tok = BarcodeKmerTokenizer(k=6)
    torch.manual_seed(0)
    config = config_from_tokenizer(
        eval_tok,
        config_class=BarcodeMAEConfig,
        hidden_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=128,
        decoder_hidden_size=64,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=4,
        decoder_intermediate_size=128,
        mask_in_encoder=mask_in_encoder,
    )
    model = BarcodeMAEForPreTraining(config).train()
    train = [r["dna"][:360] for r in coi_rows[:320]]  # 60 k-mers: keeps the test quick
    held_out = eval_tok([r["dna"][:360] for r in coi_rows[320:352]], padding=True, return_tensors="pt")
    before = held_out_loss(model, held_out)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-5)
    for step in range(20):
        rows = train[(step * 16) % len(train) :][:16]
        batch = train_tok(rows, padding=True, return_tensors="pt")
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = held_out_loss(model, held_out)
    assert before > 8.0  # ~ln(4100): an untrained model guesses
    assert after < before - 1.0, (before, after)
