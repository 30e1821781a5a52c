"""What only BarcodeMamba does: CPU row blocks, its poolings, step decoding, its losses, config
checks, parameter names. The invariants every model keeps are in test_model_common.py."""

from __future__ import annotations

import pytest
import torch

from barcodefm import (
    BarcodeCharTokenizer,
    BarcodeMambaConfig,
    BarcodeMambaForCausalLM,
    BarcodeMambaForMaskedLM,
    BarcodeMambaModel,
    config_from_tokenizer,
)
from barcodefm.models.taxonomy import TaxonomySpec

# A small real tree (COI: order > family > genus).
TREE = TaxonomySpec.from_columns(
    {
        "order": ["Coleoptera", "Coleoptera", "Lepidoptera", "Lepidoptera"],
        "family": ["Carabidae", "Carabidae", "Crambidae", "Noctuidae"],
        "genus": ["Abax", "Carabus", "Pyrausta", "Noctua"],
    }
).to_dict()


def tiny_config(tokenizer, version=2, **kw):
    base = dict(
        d_model=32,
        n_layer=2,
        headdim=16,
        d_state=16 if version == 2 else 8,
        mamba_version=version,
        torch_chunk_size=16,
        num_labels=3,
        taxonomy=TREE,
    )
    base.update(kw)
    return config_from_tokenizer(tokenizer, **base)


@pytest.fixture(scope="module")
def barcodes(coi_rows):
    # Real COI barcodes of different lengths (cut so the test stays fast).
    return [coi_rows[0]["dna"][:120], coi_rows[1]["dna"][:37], coi_rows[2]["dna"][:80], coi_rows[3]["dna"][:5]]


@pytest.mark.parametrize("version", [1, 2])
def test_cpu_row_blocks_give_the_whole_batch_outputs_states_and_gradients(version, barcodes):
    """cpu_block_tokens runs a CPU forward in row blocks: same outputs, hidden states, gradients."""
    tok = BarcodeCharTokenizer()
    torch.manual_seed(0)
    whole = BarcodeMambaForCausalLM(tiny_config(tok, version, cpu_block_tokens=0, embed_dropout=0.0))
    blocked = BarcodeMambaForCausalLM(tiny_config(tok, version, cpu_block_tokens=130, embed_dropout=0.0))
    blocked.load_state_dict(whole.state_dict())
    enc = tok(barcodes, padding=True, return_tensors="pt")
    results = []
    for model in (whole, blocked):
        out = model(**enc, output_hidden_states=True)
        real = enc["attention_mask"].bool()
        out.logits[real].float().pow(2).mean().backward()
        results.append((out, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}))
    (out_w, grad_w), (out_b, grad_b) = results
    real = enc["attention_mask"].bool()
    torch.testing.assert_close(out_b.logits[real], out_w.logits[real], rtol=1e-5, atol=1e-5)
    assert len(out_b.hidden_states) == len(out_w.hidden_states) == whole.config.n_layer + 1
    for hb, hw in zip(out_b.hidden_states, out_w.hidden_states):
        torch.testing.assert_close(hb[real], hw[real], rtol=1e-5, atol=1e-5)
    assert grad_b.keys() == grad_w.keys() and len(grad_w) > 10
    for name in grad_w:
        torch.testing.assert_close(grad_b[name], grad_w[name], rtol=1e-4, atol=1e-6, msg=name)


def test_cpu_row_blocks_are_off_with_a_cache_or_when_zero():
    tok = BarcodeCharTokenizer()
    model = BarcodeMambaModel(tiny_config(tok, cpu_block_tokens=100))
    hidden = torch.zeros(8, 50, 32)
    assert model._cpu_block_rows(hidden, None) == 2
    assert model._cpu_block_rows(torch.zeros(8, 500, 32), None) == 1  # at least one row
    assert model._cpu_block_rows(hidden, object()) == 8  # generation keeps one cache for the batch
    model.config.cpu_block_tokens = 0
    assert model._cpu_block_rows(hidden, None) == 8
    with pytest.raises(ValueError, match="cpu_block_tokens"):
        tiny_config(tok, cpu_block_tokens=-1)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("pooling", ["mean", "mean_all", "last"])
def test_every_pooling_is_padding_and_batch_invariant(pooling, version, barcodes):
    tok = BarcodeCharTokenizer()
    torch.manual_seed(0)
    model = BarcodeMambaModel(tiny_config(tok, version)).eval()
    with torch.no_grad():
        enc = tok(barcodes, padding=True, return_tensors="pt")
        together = model.embed(enc["input_ids"], enc["attention_mask"], pooling=pooling, pad_to=150)
        right = tok(barcodes, padding=True, padding_side="right", return_tensors="pt")
        together_right = model.embed(right["input_ids"], right["attention_mask"], pooling=pooling, pad_to=150)
        for i, seq in enumerate(barcodes):
            e = tok([seq], return_tensors="pt")
            alone = model.embed(e["input_ids"], e["attention_mask"], pooling=pooling, pad_to=150)[0]
            torch.testing.assert_close(together[i], alone, rtol=1e-5, atol=1e-5)
            if pooling != "last" or version:  # right padding: causal model, real prefix unchanged
                torch.testing.assert_close(together_right[i], alone, rtol=1e-5, atol=1e-5)


def test_mean_all_reproduces_the_published_recipe(barcodes):
    """Left-pad the real tokens with N to 660 and average every position, pads included."""
    tok = BarcodeCharTokenizer()
    torch.manual_seed(0)
    model = BarcodeMambaModel(tiny_config(tok)).eval()
    seq = barcodes[1]
    manual_ids = tok(["N" * (660 - len(seq)) + seq], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected = model(input_ids=manual_ids).last_hidden_state.mean(1)[0]
        e = tok([seq], return_tensors="pt")
        got = model.embed(e["input_ids"], e["attention_mask"], pooling="mean_all")[0]
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("version", [1, 2])
def test_step_decoding_equals_full_forward(version, barcodes):
    tok = BarcodeCharTokenizer()
    torch.manual_seed(0)
    model = BarcodeMambaForCausalLM(tiny_config(tok, version)).eval()
    prompts = tok([barcodes[1][:20], barcodes[2][:9]], padding=True, return_tensors="pt")
    with torch.no_grad():
        gen = model.generate(
            **prompts,
            max_new_tokens=12,
            do_sample=True,
            top_k=0,
            return_dict_in_generate=True,
            output_logits=True,
            pad_token_id=tok.pad_token_id,
        )
        seqs = gen.sequences
        P = prompts["input_ids"].shape[1]
        mask = torch.cat([prompts["attention_mask"], torch.ones(2, seqs.shape[1] - P, dtype=torch.long)], 1)
        full = model(input_ids=seqs, attention_mask=mask).logits
    stepped = torch.stack(gen.logits, dim=1)  # logits that chose tokens P .. end
    torch.testing.assert_close(stepped, full[:, P - 1 : -1], rtol=1e-4, atol=1e-4)
    assert int(seqs[:, P:].max()) < tok.vocab_size  # never an id outside the tokenizer


def test_causal_lm_loss_ignores_padding(barcodes):
    tok = BarcodeCharTokenizer()
    torch.manual_seed(0)
    model = BarcodeMambaForCausalLM(tiny_config(tok)).eval()
    with torch.no_grad():
        alone = tok([barcodes[0]], return_tensors="pt")
        padded = tok([barcodes[0], barcodes[0] + "ACGT" * 10], padding=True, return_tensors="pt")
        l_alone = model(**alone, labels=alone["input_ids"]).loss
        row = {k: v[:1] for k, v in padded.items()}
        l_padded = model(**row, labels=row["input_ids"]).loss
    torch.testing.assert_close(l_alone, l_padded, rtol=1e-5, atol=1e-6)


def test_masked_lm_loss_all_vs_masked(barcodes):
    tok = BarcodeCharTokenizer()
    torch.manual_seed(0)
    enc = tok([barcodes[0]], return_tensors="pt")
    original = enc["input_ids"].clone()
    masked = original.clone()
    masked[:, ::2] = tok.mask_token_id
    with torch.no_grad():
        m_all = BarcodeMambaForMaskedLM(tiny_config(tok, mlm_loss_on="all")).eval()
        out = m_all(input_ids=masked, labels=original)
        ce = torch.nn.functional.cross_entropy(out.logits[0], original[0], reduction="none")
        torch.testing.assert_close(out.loss, ce.mean())
        m_masked = BarcodeMambaForMaskedLM(
            m_all.config.__class__(**{**m_all.config.to_dict(), "mlm_loss_on": "masked"})
        )
        m_masked.load_state_dict(m_all.state_dict())
        out2 = m_masked.eval()(input_ids=masked, labels=original)
        torch.testing.assert_close(out2.loss, ce[::2].mean())


def test_parameter_names_follow_the_spec():
    model = BarcodeMambaForCausalLM(BarcodeMambaConfig(d_model=64, headdim=16, n_layer=2))
    names = set(dict(model.named_parameters()))
    for expected in [
        "backbone.embeddings.word_embeddings.weight",
        "backbone.layers.0.mixer.in_proj.weight",
        "backbone.layers.0.mixer.conv1d.weight",
        "backbone.layers.0.mixer.conv1d.bias",
        "backbone.layers.1.mixer.dt_bias",
        "backbone.layers.1.mixer.A_log",
        "backbone.layers.1.mixer.D",
        "backbone.layers.1.mixer.norm.weight",
        "backbone.layers.1.mixer.out_proj.weight",
        "backbone.layers.0.norm1.weight",
        "backbone.layers.0.norm2.bias",
        "backbone.layers.0.mlp.fc1.weight",
        "backbone.layers.0.mlp.fc2.bias",
        "backbone.ln_f.weight",
        "lm_head.weight",
    ]:
        assert expected in names, expected
    assert model.lm_head.weight.data_ptr() != model.backbone.embeddings.word_embeddings.weight.data_ptr()
    assert model.backbone.embeddings.word_embeddings.weight.shape[0] == 16  # 9 tokens padded to a multiple of 8
    assert model.backbone.layers[0].mixer.in_proj.weight.shape[0] == 2 * 128 + 2 * 64 + 8


def test_no_mlp_when_d_intermediate_is_zero():
    model = BarcodeMambaModel(BarcodeMambaConfig(d_model=64, headdim=16, d_intermediate=0))
    assert model.layers[0].mlp is None and model.layers[0].norm2 is None
    assert not any("mlp" in n or "norm2" in n for n, _ in model.named_parameters())


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(d_model=384, headdim=50), "divisible by headdim"),
        (dict(mamba_version=3), "mamba_version"),
        (dict(n_layer=0), "n_layer"),
        (dict(d_model=64, headdim=16, ngroups=3), "ngroups"),
        (dict(embed_dropout=1.5), "embed_dropout"),
        (dict(pad_token_id=99), "pad_token_id"),
        (dict(pooling="max"), "pooling"),
    ],
)
def test_config_rejects_bad_numbers_with_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        BarcodeMambaConfig(**bad)


def test_out_of_vocabulary_ids_get_a_clear_error():
    model = BarcodeMambaModel(BarcodeMambaConfig(d_model=64, headdim=16))
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        model(input_ids=torch.tensor([[3, 4, 400]]))


def test_import_barcodefm_does_not_import_mamba_ssm():
    import subprocess
    import sys

    code = "import sys, barcodefm; assert 'mamba_ssm' not in sys.modules and 'causal_conv1d' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
