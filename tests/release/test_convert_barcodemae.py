"""`barcodefm convert barcodemae`: a published BarcodeMAE checkpoint (BertModel weights +
bert_config + argparse options) -> a BarcodeMAEModel folder equal to the published encoder."""

from __future__ import annotations

import itertools

import pytest
import torch
from published_checkpoints import published_bert_encoder, write_published_barcodemae
from release_fixtures import one_torch_thread, short_barcodes  # noqa: F401 (pytest fixtures)

from barcodefm import BarcodeKmerTokenizer, BarcodeMAEModel
from barcodefm.cli import main as cli_main
from barcodefm.release import load_saved_model
from barcodefm.release.convert_barcodemae import LAYOUTS, _vocabulary_layout, convert_barcodemae


def _barcodemae_vocab(specials, k=6):
    """The published vocabulary: the specials, then the k-mers in itertools.product order."""
    return {t: i for i, t in enumerate([*specials, *("".join(p) for p in itertools.product("ACGT", repeat=k))])}


def test_cli_converts_published_encoder_that_loads_without_barcodefm(tmp_path, capsys, short_barcodes):
    bert, bert_config = published_bert_encoder(4**6 + 2)  # [MASK] [UNK] + 4096 6-mers
    checkpoint = write_published_barcodemae(tmp_path / "BarcodeMAE.pt", bert, bert_config)
    out = tmp_path / "hub"
    # The command runs the fresh-process load check itself.
    assert cli_main(["convert", "barcodemae", str(checkpoint), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "load check without barcodefm passed (AutoModel" in printed
    assert "decoder.* (2)" in printed and "projection_layer.*" in printed and "pooler.* (2)" in printed

    model, tokenizer = load_saved_model(out)
    assert isinstance(model, BarcodeMAEModel) and isinstance(tokenizer, BarcodeKmerTokenizer)
    vocab = _barcodemae_vocab(("[MASK]", "[UNK]"))
    assert {t: tokenizer.get_vocab()[t] for t in vocab} == vocab  # published ids, id for id
    assert tokenizer.pad_token_id == 4098 and model.config.pad_token_id == 4098
    assert model.config.hidden_size == 64 and model.config.num_hidden_layers == 2  # read from bert_config

    encoded = tokenizer(short_barcodes, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = model(**encoded).last_hidden_state
        embeddings = model.embed(encoded["input_ids"], encoded["attention_mask"])
        for i, seq in enumerate(short_barcodes):
            ids = [vocab.get(seq[j : j + 6], vocab["[UNK]"]) for j in range(0, len(seq) - 5, 6)]
            ids_t = torch.tensor([ids])
            # The published forward: BertModel with position ids 0..n-1 (token type 0 implied).
            want = bert(
                input_ids=ids_t, attention_mask=torch.ones_like(ids_t), position_ids=torch.arange(len(ids))[None]
            ).last_hidden_state[0]
            real = encoded["attention_mask"][i].bool()
            assert encoded["input_ids"][i, real].tolist() == ids
            torch.testing.assert_close(states[i, real], want, atol=1e-5, rtol=1e-5)
            kmers = ids_t[0] != vocab["[UNK]"]  # the embedding averages real k-mers only
            torch.testing.assert_close(embeddings[i], want[kmers].mean(0), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", ["mask-unk", "mask-cls-unk"])
def test_vocabulary_layouts_keep_published_ids(layout):
    specials = LAYOUTS[layout]
    k, found = _vocabulary_layout(4**4 + len(specials), None, "auto", None)
    assert (k, found) == (4, specials)
    tokenizer = BarcodeKmerTokenizer(k=4, specials_first=found, specials_last=("[PAD]",))
    vocab = _barcodemae_vocab(specials, k=4)
    assert {t: tokenizer.get_vocab()[t] for t in vocab} == vocab
    assert tokenizer.convert_tokens_to_ids("NACG") == vocab["[UNK]"]


def test_unsupported_and_incomplete_checkpoints_are_explained(tmp_path):
    import argparse

    with pytest.raises(ValueError, match=r"vocab_size 5000 is not a known k-mer vocabulary \(4\^6 \+ 2"):
        _vocabulary_layout(5000, 6, "auto", None)
    with pytest.raises(ValueError, match="register tokens"):
        _vocabulary_layout(4098, 6, "auto", argparse.Namespace(n_registers=4))
    with pytest.raises(ValueError, match=r"\[CLS\] token prepended"):
        _vocabulary_layout(4099, 6, "auto", {"use_cls_token": True})
    bert, _ = published_bert_encoder(4**3 + 2, hidden=16, layers=1, heads=2)
    bare = tmp_path / "bare.pt"
    torch.save(bert.state_dict(), bare)  # a bare state dict: the sizes must come from somewhere
    with pytest.raises(ValueError, match="--bert-config"):
        convert_barcodemae(bare, tmp_path / "out", check=False)
    config_json = tmp_path / "bert_config.json"
    config_json.write_text(
        '{"vocab_size": 66, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, '
        '"intermediate_size": 32}'
    )
    report = convert_barcodemae(bare, tmp_path / "out", bert_config=str(config_json), check=False)
    assert report.model_class == "BarcodeMAEModel" and "4096" not in report.notes[0] and "64 3-mers" in report.notes[0]
