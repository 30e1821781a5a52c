"""BarcodeMAE mechanism (SPEC 3.1): what the encoder and the decoder really receive, which
positions are masked, what the loss scores, what the embedding averages, config checks. The
invariants every model keeps (padding, save/load, return_dict, ...) are in test_model_common.py."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from barcodefm import (
    BarcodeKmerTokenizer,
    BarcodeMAEConfig,
    BarcodeMAEForPreTraining,
    BarcodeMAEForSequenceClassification,
    BarcodeMAEForTaxonomicClassification,
    BarcodeMAEModel,
    config_from_tokenizer,
)
from barcodefm.models.taxonomy import TaxonomySpec

TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    decoder_hidden_size=24,
    decoder_num_hidden_layers=1,
    decoder_num_attention_heads=2,
    decoder_intermediate_size=48,
    num_labels=3,
)

# A small real tree (COI: order > family > genus) for the taxonomic head.
TREE = TaxonomySpec.from_columns(
    {
        "order": ["Coleoptera", "Coleoptera", "Lepidoptera", "Lepidoptera"],
        "family": ["Carabidae", "Carabidae", "Crambidae", "Noctuidae"],
        "genus": ["Abax", "Carabus", "Pyrausta", "Noctua"],
    }
).to_dict()


def tiny_config(tokenizer, **kw):
    return config_from_tokenizer(tokenizer, config_class=BarcodeMAEConfig, **{**TINY, **kw})


@pytest.fixture(scope="module")
def tok():
    return BarcodeKmerTokenizer(k=6)


@pytest.fixture(scope="module")
def barcodes(coi_rows):
    """Real COI barcodes of different lengths; the third carries an N, so one k-mer is [UNK]."""
    with_n = coi_rows[2]["dna"][:200]
    with_n = with_n[:20] + "NN" + with_n[22:]
    return [coi_rows[0]["dna"][:300], coi_rows[1]["dna"][:120], with_n, coi_rows[3]["dna"][:48]]


class Recorder:
    """Records the first positional input of a module at each call."""

    def __init__(self, module):
        self.inputs = []
        self.handle = module.register_forward_hook(lambda mod, args, out: self.inputs.append(args[0].detach().clone()))

    def remove(self):
        self.handle.remove()


def real_positions(attention_mask):
    return (attention_mask.cumsum(1) - 1).clamp(min=0) * attention_mask


def test_config_defaults_follow_the_spec():
    c = BarcodeMAEConfig()
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (768, 6, 6, 3072)
    assert (c.decoder_hidden_size, c.decoder_num_hidden_layers, c.decoder_num_attention_heads) == (768, 6, 6)
    assert (c.max_position_embeddings, c.mask_ratio, c.mask_in_encoder, c.k_mer, c.pooling) == (
        512,
        0.5,
        False,
        6,
        "mean",
    )
    assert (c.hidden_act, c.hidden_dropout_prob) == ("gelu", 0.1)
    tok = BarcodeKmerTokenizer(k=6)  # the defaults are this tokenizer's ids
    assert (c.vocab_size, c.pad_token_id, c.mask_token_id, c.unk_token_id) == (
        len(tok),
        tok.pad_token_id,
        tok.mask_token_id,
        tok.unk_token_id,
    )
    c4 = config_from_tokenizer(BarcodeKmerTokenizer(k=4), config_class=BarcodeMAEConfig)
    assert (c4.k_mer, c4.vocab_size, c4.pad_token_id) == (4, 4**4 + 4, 4**4 + 3)
    again = BarcodeMAEConfig.from_dict(c4.to_dict())
    assert again.to_dict() == c4.to_dict()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(hidden_size=100, num_attention_heads=6),
            "hidden_size (100) must be divisible by num_attention_heads (6)",
        ),
        (dict(decoder_hidden_size=50, decoder_num_attention_heads=4), "decoder_hidden_size (50) must be divisible"),
        (dict(mask_ratio=0.0), "mask_ratio must be strictly between 0 and 1"),
        (dict(mask_ratio=1.0), "mask_ratio must be strictly between 0 and 1"),
        (dict(num_hidden_layers=0), "num_hidden_layers must be a positive integer"),
        (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob must be in [0, 1)"),
        (dict(pooling="max"), "pooling must be one of"),
        (dict(pad_token_id=5000), "pad_token_id (5000) must be a token id below vocab_size (4100)"),
        (dict(k_mer=9), "k_mer must be in 1..8"),
    ],
)
def test_config_rejects_bad_values_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        BarcodeMAEConfig(**kwargs)


def test_encoder_never_sees_mask_and_keeps_original_positions(tok, barcodes):
    torch.manual_seed(0)
    model = BarcodeMAEForPreTraining(tiny_config(tok)).eval()
    enc = tok(barcodes, padding=True, return_tensors="pt")  # left padding (the tokenizer default)
    assert (enc["attention_mask"][:, 0] == 0).any()
    ids_seen = Recorder(model.encoder.embeddings.word_embeddings)
    pos_seen = Recorder(model.encoder.embeddings.position_embeddings)
    with torch.no_grad():
        out = model(**enc)
        # Input that already holds [MASK] tokens: they are reconstructed, still never encoded.
        user = enc["input_ids"].clone()
        user[2, -5:] = tok.mask_token_id
        user_out = model(input_ids=user, attention_mask=enc["attention_mask"])
    ids_seen.remove(), pos_seen.remove()
    assert all((ids != tok.mask_token_id).all() for ids in ids_seen.inputs)
    assert torch.equal(user_out.masked_positions[2, -5:], torch.ones(5, dtype=torch.bool))
    assert user_out.loss is None  # no labels and the targets are hidden behind [MASK]

    ids, pos = ids_seen.inputs[0], pos_seen.inputs[0]
    masked, mask = out.masked_positions, enc["attention_mask"]
    positions = real_positions(mask)
    assert ids.shape[1] == int((mask.bool() & ~masked).sum(1).max()) < mask.shape[1]
    for i in range(len(barcodes)):
        visible = mask[i].bool() & ~masked[i]
        n = int(visible.sum())
        # The visible tokens, in order, at the left, each with its position among the real tokens.
        assert torch.equal(ids[i, :n], enc["input_ids"][i][visible])
        assert torch.equal(pos[i, :n], positions[i][visible])
        assert (ids[i, n:] == tok.pad_token_id).all()


def test_masked_positions_are_half_of_the_real_kmers_and_never_pad_or_unk(tok, barcodes):
    model = BarcodeMAEForPreTraining(tiny_config(tok))
    enc = tok(barcodes, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    maskable = mask.bool() & ~torch.isin(ids, torch.tensor([tok.pad_token_id, tok.unk_token_id, tok.mask_token_id]))
    assert (ids == tok.unk_token_id).sum() == 1  # the N in barcode 2
    counts = torch.zeros(ids.shape)
    draws = 400
    for seed in range(draws):
        torch.manual_seed(seed)
        masked = model.choose_masked_positions(ids, mask)
        assert not (masked & ~maskable).any()
        assert masked.sum(1).tolist() == [math.floor(0.5 * n) for n in maskable.sum(1).tolist()]
        counts += masked
    # Uniform over the maskable k-mers: every one is drawn about half of the time.
    freq = counts[maskable] / draws
    assert freq.min() > 0.35 and freq.max() < 0.65
    # The global torch RNG decides: the same seed gives the same mask (a Trainer seed controls it).
    torch.manual_seed(7)
    a = model.choose_masked_positions(ids, mask)
    torch.manual_seed(7)
    assert torch.equal(a, model.choose_masked_positions(ids, mask))
    assert not torch.equal(a, model.choose_masked_positions(ids, mask))


def test_loss_is_cross_entropy_on_masked_positions_only(tok, barcodes):
    torch.manual_seed(0)
    model = BarcodeMAEForPreTraining(tiny_config(tok)).eval()
    enc = tok(barcodes, padding=True, return_tensors="pt")
    masked = model.choose_masked_positions(enc["input_ids"], enc["attention_mask"])
    with torch.no_grad():
        out = model(**enc, masked_positions=masked)
        by_hand = F.cross_entropy(out.logits[masked], enc["input_ids"][masked])
        torch.testing.assert_close(out.loss, by_hand, rtol=1e-6, atol=1e-6)

        def perturb(where):
            def hook(module, args, output):
                return output + 50.0 * torch.randn_like(output) * where[:, :, None]

            return model.lm_head.register_forward_hook(hook)

        handle = perturb(~masked)  # garbage logits everywhere the loss must not look
        same = model(**enc, masked_positions=masked).loss
        handle.remove()
        handle = perturb(masked)
        changed = model(**enc, masked_positions=masked).loss
        handle.remove()
    assert same.item() == out.loss.item()
    assert abs(changed.item() - out.loss.item()) > 1.0
    # A collator's labels (input ids, -100 on padding) give the same loss with the same mask.
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    with torch.no_grad():
        with_labels = model(**enc, labels=labels, masked_positions=masked)
    assert with_labels.loss.item() == out.loss.item()


def test_decoder_gets_projected_encoder_states_and_the_mask_embedding(tok, barcodes):
    torch.manual_seed(0)
    model = BarcodeMAEForPreTraining(tiny_config(tok)).eval()
    enc = tok(barcodes, padding=True, padding_side="right", return_tensors="pt")
    decoder_inputs = []
    handle = model.decoder.register_forward_pre_hook(lambda mod, args: decoder_inputs.append(args))
    decoder_pos = Recorder(model.decoder.embeddings.position_embeddings)
    with torch.no_grad():
        out = model(**enc)
        projected = model.projection(out.encoder_last_hidden_state)
    handle.remove(), decoder_pos.remove()
    states, attention, _ = decoder_inputs[0]
    mask, masked = enc["attention_mask"], out.masked_positions
    assert states.shape[:2] == mask.shape and torch.equal(attention, mask)
    assert torch.equal(decoder_pos.inputs[0], real_positions(mask))
    for i in range(len(barcodes)):
        visible = mask[i].bool() & ~masked[i]
        torch.testing.assert_close(states[i][visible], projected[i, : int(visible.sum())], rtol=0, atol=0)
        assert torch.equal(
            states[i][masked[i]], model.decoder.embeddings.mask_embedding.expand(int(masked[i].sum()), -1)
        )


def test_compaction_filler_does_not_leak_into_the_encoder(tok, barcodes):
    """Each row's encoder states equal those of its visible tokens encoded alone."""
    torch.manual_seed(0)
    model = BarcodeMAEForPreTraining(tiny_config(tok)).eval()
    enc = tok(barcodes, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc)
        positions = real_positions(enc["attention_mask"])
        for i in range(len(barcodes)):
            visible = enc["attention_mask"][i].bool() & ~out.masked_positions[i]
            alone = model.encoder(enc["input_ids"][i][visible][None], position_ids=positions[i][visible][None])
            n = int(visible.sum())
            torch.testing.assert_close(
                out.encoder_last_hidden_state[i, :n], alone.last_hidden_state[0], rtol=1e-5, atol=1e-5
            )


def test_with_mask_variant_feeds_mask_tokens_to_the_encoder(tok, barcodes):
    torch.manual_seed(0)
    model = BarcodeMAEForPreTraining(tiny_config(tok, mask_in_encoder=True)).eval()
    assert model.decoder.embeddings.mask_embedding is None  # its decoder reads the encoder everywhere
    enc = tok(barcodes, padding=True, return_tensors="pt")
    ids_seen = Recorder(model.encoder.embeddings.word_embeddings)
    pos_seen = Recorder(model.encoder.embeddings.position_embeddings)
    decoder_inputs = []
    handle = model.decoder.register_forward_pre_hook(lambda mod, args: decoder_inputs.append(args[0]))
    with torch.no_grad():
        out = model(**enc)
        projected = model.projection(out.encoder_last_hidden_state)
    ids_seen.remove(), pos_seen.remove(), handle.remove()
    masked = out.masked_positions
    assert masked.sum() > 0
    expected_ids = enc["input_ids"].masked_fill(masked, tok.mask_token_id)
    assert torch.equal(ids_seen.inputs[0], expected_ids)  # full length, [MASK] in place
    assert torch.equal(pos_seen.inputs[0], real_positions(enc["attention_mask"]))
    torch.testing.assert_close(decoder_inputs[0], projected, rtol=0, atol=0)
    assert torch.isfinite(out.loss)


def test_embedding_is_the_mean_of_the_last_encoder_layer_over_real_kmers(tok, barcodes):
    torch.manual_seed(0)
    model = BarcodeMAEModel(tiny_config(tok)).eval()
    enc = tok([barcodes[2]], return_tensors="pt")  # holds one [UNK]
    with torch.no_grad():
        states = model(**enc)
        emb = model.embed(enc["input_ids"], enc["attention_mask"])[0]
    keep = enc["input_ids"][0] != tok.unk_token_id
    assert not keep.all()
    torch.testing.assert_close(emb, states.last_hidden_state[0][keep].mean(0), rtol=1e-6, atol=1e-6)


def test_sequence_classification_loss_is_cross_entropy(tok, barcodes):
    torch.manual_seed(0)
    model = BarcodeMAEForSequenceClassification(tiny_config(tok)).eval()
    enc = tok(barcodes, padding=True, return_tensors="pt")
    labels = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        out = model(**enc, labels=labels)
    assert out.logits.shape == (4, 3)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels), rtol=1e-6, atol=1e-6)


def test_taxonomic_head_scores_every_rank(tok, barcodes):
    torch.manual_seed(0)
    model = BarcodeMAEForTaxonomicClassification(tiny_config(tok, taxonomy=TREE)).eval()
    enc = tok(barcodes, padding=True, return_tensors="pt")
    labels = torch.tensor([[0, 0, 0], [0, 0, 1], [1, 1, 2], [1, -100, -100]])  # -100: unknown rank
    with torch.no_grad():
        out = model(**enc, labels=labels)
        predictions = model.predict_taxonomy(enc["input_ids"], enc["attention_mask"])
    assert [x.shape for x in out.logits] == [(4, 2), (4, 3), (4, 4)]
    assert torch.isfinite(out.loss) and out.loss > 0
    assert len(predictions) == 4 and predictions[0]["labels"]["genus"] in {"Abax", "Carabus", "Pyrausta", "Noctua"}


def test_pretraining_draws_its_own_mask_and_backward_reaches_every_parameter(tok, barcodes):
    """A collator's batch (labels, no [MASK] in the input): the model masks, and every parameter
    gets a gradient (DDP with find_unused_parameters=False needs it)."""
    torch.manual_seed(0)
    model = BarcodeMAEForPreTraining(tiny_config(tok)).train()
    assert model.get_input_embeddings() is model.encoder.embeddings.word_embeddings
    assert isinstance(model.encoder, BarcodeMAEModel)
    batch = dict(tok(barcodes, padding=True, return_tensors="pt"))
    batch["labels"] = batch["input_ids"].clone()
    loss = model(**batch).loss
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_too_long_input_is_a_clear_error(tok):
    model = BarcodeMAEModel(tiny_config(tok, max_position_embeddings=8))
    with pytest.raises(ValueError, match="a sequence has 10 tokens but max_position_embeddings is 8"):
        model(torch.full((1, 10), 5))
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        model(torch.full((1, 3), 5000))
