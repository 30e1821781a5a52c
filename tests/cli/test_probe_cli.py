"""`barcodefm probe` on the bundled real COI sample with a tiny model."""

from __future__ import annotations

import json

import pytest
import torch

from barcodefm import BarcodeCharTokenizer, BarcodeMambaForCausalLM, config_from_tokenizer
from barcodefm.cli import main
from barcodefm.data import sample_path
from barcodefm.evaluation.lm_perplexity import sequence_perplexity


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    torch.manual_seed(0)
    tok = BarcodeCharTokenizer()
    model = BarcodeMambaForCausalLM(config_from_tokenizer(tok, d_model=32, n_layer=1, headdim=16, d_state=16))
    out = tmp_path_factory.mktemp("lm")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_probe_all_writes_every_result(lm_dir, tmp_path, capsys):
    out = tmp_path / "probe.json"
    code = main(
        [
            "probe",
            str(lm_dir),
            "--data",
            str(sample_path("coi")),
            "--probe",
            "all",
            "--linear-method",
            "sklearn",
            "--max-records",
            "60",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    res = json.loads(out.read_text())
    for key in ("linear", "knn", "zsc", "perplexity", "harmonic_mean"):
        assert key in res, key
    assert 0 <= res["knn"]["accuracy"] <= 100 and res["knn"]["n"] == 60
    assert res["knn"]["target"] == "genus" and res["knn"]["queries"] == "unseen_query"
    assert 1.0 < res["perplexity"]["perplexity"] < 16
    assert "harmonic mean" in capsys.readouterr().out


def test_probe_names_a_missing_split(lm_dir, capsys):
    assert (
        main(["probe", str(lm_dir), "--data", str(sample_path("coi")), "--probe", "knn", "--query-split", "nope"]) == 1
    )
    assert "no records in split 'nope'" in capsys.readouterr().err


def test_perplexity_is_padding_and_batch_invariant(lm_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(lm_dir, trust_remote_code=True)
    tok = BarcodeCharTokenizer.from_pretrained(lm_dir)
    seqs = ["ACGTTGCA" * 5, "ACG" * 30, "TTTTACGA" * 3]
    one = sequence_perplexity(model, tok, seqs, batch_size=1)
    many = sequence_perplexity(model, tok, seqs, batch_size=3)
    assert one["n_tokens"] == many["n_tokens"] == sum(len(s) - 1 for s in seqs)
    assert one["perplexity"] == pytest.approx(many["perplexity"], rel=1e-5)
