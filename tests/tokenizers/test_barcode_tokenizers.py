"""Tokenizers (SPEC 1): normalisation and its errors, ids, padding, truncation, round trips."""

from __future__ import annotations

import logging

import pytest
import torch
from transformers import AutoTokenizer

from barcodefm import BarcodeBPETokenizer, BarcodeCharTokenizer, BarcodeKmerTokenizer, InvalidSequenceError


@pytest.fixture(scope="module")
def bpe(coi_rows):
    return BarcodeBPETokenizer.train([r["dna"] for r in coi_rows[:300]], vocab_size=64)


def all_tokenizers(bpe):
    return [BarcodeCharTokenizer(), BarcodeKmerTokenizer(k=4), bpe]


def test_char_ids_reproduce_the_published_vocabulary():
    tok = BarcodeCharTokenizer()
    assert [tok.convert_tokens_to_ids(t) for t in ["[MASK]", "[SEP]", "[UNK]", "A", "C", "G", "T", "N"]] == list(
        range(8)
    )
    assert tok.pad_token_id == 8 and len(tok) == 9
    assert tok("ACGTN")["input_ids"] == [3, 4, 5, 6, 7]


def test_kmer_layout_unk_and_partial_kmer():
    tok = BarcodeKmerTokenizer(k=6)
    assert len(tok) == 3 + 4**6 + 1
    assert tok.convert_tokens_to_ids("AAAAAA") == 3 and tok.convert_tokens_to_ids("TTTTTT") == 3 + 4**6 - 1
    assert tok.tokenize("AAAAAACCCCCNGGGGGGTT") == ["AAAAAA", "CCCCCN", "GGGGGG"]  # partial TT dropped
    assert tok("AAAAAACCCCCN")["input_ids"][1] == tok.unk_token_id
    assert len(tok("A" * 1000)["input_ids"]) == 110  # cut to 660 bases first
    assert BarcodeKmerTokenizer(k=4).model_max_length == 165


def test_kmer_random_offset_drops_up_to_k_minus_1_bases():
    tok = BarcodeKmerTokenizer(k=3, random_offset=True, seed=0)
    seq = "ACGTTGCAAGCT"
    seen = {tuple(tok.tokenize(seq)) for _ in range(60)}
    expected = {tuple(BarcodeKmerTokenizer(k=3).tokenize(seq[o:])) for o in range(3)}
    assert seen == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("acgt", "ACGT"),
        ("AC GT\n", "ACGT"),
        ("ACGU", "ACGT"),
        ("ACRYSWKMBDHVN", "ACNNNNNNNNNNN"),
        ("AC-G.T", "ACNGNT"),
    ],
)
def test_normalisation_rules(raw, expected):
    tok = BarcodeCharTokenizer()
    assert tok.decode(tok(raw)["input_ids"]) == expected


def test_ambiguity_codes_are_counted_in_the_log(caplog):
    tok = BarcodeCharTokenizer()
    with caplog.at_level(logging.INFO, logger="barcodefm.models.tokenization_dna_base"):
        tok(["ACRY", "AC--", "ACGT"])
    assert "normalised 4 ambiguous base(s)/gap(s) to N in 2 of 3 sequence(s)" in caplog.text


@pytest.mark.parametrize("make", [BarcodeCharTokenizer, lambda: BarcodeKmerTokenizer(k=2)])
def test_invalid_character_names_character_position_and_record(make):
    tok = make()
    with pytest.raises(InvalidSequenceError, match=r"invalid character 'X' at position 5") as err:
        tok("ACGTX")
    assert err.value.position == 5 and err.value.character == "X"
    with pytest.raises(ValueError, match=r"'\*' at position 3 in record '#1 of the batch'"):
        tok(["ACGT", "AC*T"])
    with pytest.raises(ValueError, match="invalid character '1'"):
        tok.tokenize("AC1")


def test_bpe_rejects_invalid_characters_too(bpe):
    with pytest.raises(ValueError, match="invalid character 'Z' at position 4"):
        bpe("ACGZ")
    with pytest.raises(ValueError, match="record 2"):
        BarcodeBPETokenizer.train(["ACGT", "ACGT", "ACXT"], vocab_size=20)


def test_reverse_complement(bpe):
    for tok in all_tokenizers(bpe):
        assert tok.reverse_complement("aacgtnR") == "NNACGTT"


@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_sides_batches_and_tensors(side, bpe, coi_rows):
    seqs = [coi_rows[0]["dna"][:50], coi_rows[1]["dna"][:20]]
    for tok in all_tokenizers(bpe):
        enc = tok(seqs, padding=True, padding_side=side, return_tensors="pt")
        assert isinstance(enc["input_ids"], torch.Tensor) and enc["input_ids"].shape[0] == 2
        short = enc["attention_mask"][1]
        pads = enc["input_ids"][1][short == 0]
        assert (pads == tok.pad_token_id).all() and len(pads) > 0
        assert (short[0] == 0) if side == "left" else (short[-1] == 0)
        alone = tok(seqs[1])["input_ids"]
        assert enc["input_ids"][1][short == 1].tolist() == alone


def test_truncation(bpe):
    for tok in all_tokenizers(bpe):
        enc = tok(["ACGT" * 100], truncation=True, max_length=7)
        assert len(enc["input_ids"][0]) == 7


def test_decode_round_trip(bpe, coi_rows):
    seq = coi_rows[5]["dna"]
    assert BarcodeCharTokenizer().decode(BarcodeCharTokenizer()(seq)["input_ids"]) == seq
    assert bpe.decode(bpe(seq)["input_ids"]) == seq
    k = BarcodeKmerTokenizer(k=6)
    assert k.decode(k(seq)["input_ids"]) == seq[: min(660, len(seq) // 6 * 6)]


def test_save_and_autotokenizer_round_trip(tmp_path, bpe, coi_rows):
    seqs = [r["dna"] for r in coi_rows[:5]]
    for i, tok in enumerate(all_tokenizers(bpe)):
        tok.save_pretrained(tmp_path / str(i))
        loaded = AutoTokenizer.from_pretrained(tmp_path / str(i), trust_remote_code=True)
        assert type(loaded).__name__ == type(tok).__name__
        assert loaded(seqs, padding=True)["input_ids"] == tok(seqs, padding=True)["input_ids"]
        assert loaded.padding_side == "left" and loaded.pad_token_id == tok.pad_token_id


def test_saved_kmer_tokenizer_never_loads_with_random_offset(tmp_path):
    BarcodeKmerTokenizer(k=4, random_offset=True).save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path, trust_remote_code=True).random_offset is False


def test_bpe_vocab_size_and_merges(bpe):
    assert len(bpe) == 64
    assert any(len(t) > 2 for t in bpe.get_vocab())  # real merges were learnt
    assert {"[MASK]", "[SEP]", "[UNK]", "[PAD]", "A", "C", "G", "T", "N"} <= set(bpe.get_vocab())
