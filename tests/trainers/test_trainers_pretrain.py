"""`barcodefm pretrain` end to end on the real COI sample bundled with the package (tiny models,
a few steps): the Hub-ready folder, train_log.jsonl, SPEC's schedule, split filtering, the three
tokenizers, both objectives, and one-line errors for bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer, set_seed

from barcodefm import BarcodeCharTokenizer, BarcodeMambaForCausalLM, config_from_tokenizer
from barcodefm.cli import main
from barcodefm.data import load_barcodes, sample_path
from barcodefm.trainers.prediction import lm_perplexity

SAMPLE = str(sample_path("coi"))
TINY = ["--d-model", "32", "--n-layer", "1", "--headdim", "16", "--d-state", "16", "--d-intermediate", "64"]


def pretrain(output, *extra) -> int:
    return main(
        [
            "pretrain",
            "--data",
            SAMPLE,
            "--output",
            str(output),
            *TINY,
            "--batch-size",
            "8",
            "--max-length",
            "200",
            "--save-steps",
            "0",
            *extra,
        ]
    )


def read_log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def ntp_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ntp") / "run"
    assert pretrain(out, "--max-steps", "10", "--logging-steps", "1", "--lr", "3e-3") == 0
    return out


def test_run_folder_is_hub_ready(ntp_run):
    names = {p.name for p in ntp_run.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
        "vocab.json",
        "modeling_barcodemamba.py",
        "configuration_barcodemamba.py",
        "tokenization_barcode_char.py",
        "train_log.jsonl",
        "eval_results.json",
        "run_options.json",
    } <= names
    assert "checkpoints" not in names  # removed after a finished run
    config = json.loads((ntp_run / "config.json").read_text())
    assert config["architectures"] == ["BarcodeMambaForCausalLM"]
    assert config["auto_map"]["AutoModelForSequenceClassification"].endswith("BarcodeMambaForSequenceClassification")
    model = AutoModelForCausalLM.from_pretrained(str(ntp_run), trust_remote_code=True)
    tok = AutoTokenizer.from_pretrained(str(ntp_run), trust_remote_code=True)
    batch = tok(["ACGTACGTTA"], return_tensors="pt")
    assert model(**batch).logits.shape[:2] == (1, 10)


def test_train_log_has_one_line_per_logging_step_with_the_spec_schedule(ntp_run):
    log = read_log(ntp_run)
    assert log[0]["event"] == "start" and log[0]["world_size"] == 1 and log[0]["global_batch_size"] == 8
    steps = [r for r in log if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 11))
    assert all(math.isfinite(r["loss"]) and r["epoch"] > 0 for r in steps)
    # Warm-up 1% (ceil -> 1 step), then cosine from the peak down to 10% of it (cosine_with_min_lr).
    peak, total, warmup = 3e-3, 10, 1
    for r in steps:
        s = r["step"] - 1  # the logged lr is the one the optimiser used at this step
        if s < warmup:
            expected = peak * s / warmup
        else:
            progress = (s - warmup) / (total - warmup)
            expected = peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        assert r["lr"] == pytest.approx(expected, rel=1e-6, abs=1e-12), r
    assert any("eval_val_loss" in r for r in log)
    assert any("eval_val_perplexity" in r for r in log)


def test_pretraining_uses_train_and_pretrain_only_and_lowers_perplexity(ntp_run):
    results = json.loads((ntp_run / "eval_results.json").read_text())
    records = load_barcodes(SAMPLE)
    expected = sum(s in ("train", "pretrain_only") for s in records["split"])
    assert results["n_train"] == expected == 1270
    assert results["global_step"] == 10
    val = [s for s, split in zip(records["sequence"], records["split"]) if split == "val"]
    assert results["eval"]["val"]["n"] == len(val)
    # The untrained model: same seed, same sizes, so the same initial weights as the run.
    tok = BarcodeCharTokenizer()
    set_seed(0)
    untrained = BarcodeMambaForCausalLM(
        config_from_tokenizer(tok, d_model=32, n_layer=1, headdim=16, d_state=16, d_intermediate=64)
    )
    before = lm_perplexity(untrained, tok, val, max_bases=200, progress=False)
    after = results["eval"]["val"]["perplexity"]
    assert after < 0.85 * before, (before, after)
    options = json.loads((ntp_run / "run_options.json").read_text())
    assert options["splits"] == ["train", "pretrain_only"] and results["objective"] == "ntp"


def test_mlm_objective_with_a_kmer_tokenizer(tmp_path):
    out = tmp_path / "mlm"
    assert (
        pretrain(
            out, "--objective", "mlm", "--tokenizer", "kmer", "--k", "4", "--max-steps", "3", "--logging-steps", "1"
        )
        == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BarcodeMambaForMaskedLM"] and config["mlm_loss_on"] == "all"
    tok = AutoTokenizer.from_pretrained(str(out), trust_remote_code=True)
    assert tok.k == 4 and tok.random_offset is False  # the frame offset is a training-time switch
    assert len(tok) == config["vocab_size"] == 4**4 + 4
    model = AutoModelForMaskedLM.from_pretrained(str(out), trust_remote_code=True)
    assert model.config.mask_token_id == tok.mask_token_id
    losses = [r["loss"] for r in read_log(out) if "loss" in r]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)


def test_bpe_tokenizer_is_trained_on_the_training_barcodes(tmp_path):
    out = tmp_path / "bpe"
    assert (
        pretrain(out, "--tokenizer", "bpe", "--bpe-vocab-size", "48", "--max-steps", "2", "--eval-split", "none") == 0
    )
    assert (out / "tokenizer.json").is_file()
    tok = AutoTokenizer.from_pretrained(str(out), trust_remote_code=True)
    assert len(tok) == 48
    ids = tok(["ACGTACGTTAACGT"])["input_ids"][0]
    assert tok.decode(ids).replace(" ", "") == "ACGTACGTTAACGT"
    assert json.loads((out / "eval_results.json").read_text())["eval"] == {}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--objective", "mae"], "no pretraining objective 'mae'"),
        (["--tokenizer", "/nonexistent/tok"], "neither one of char, kmer, bpe nor a folder"),
        (["--splits", "holdout"], "no record in split(s) holdout; its splits are: "),
        (["--family", "barcodemamba", "--lr", "-1"], "--lr must be > 0"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, extra, message):
    assert pretrain(tmp_path / "run", "--max-steps", "1", *extra) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("barcodefm pretrain: error:")
    assert "Traceback" not in "\n".join(err)


def test_an_existing_run_is_never_overwritten(ntp_run, capsys):
    assert pretrain(ntp_run, "--max-steps", "1") == 1
    assert "is not empty: pass --resume" in capsys.readouterr().err
    assert pretrain(ntp_run, "--max-steps", "10", "--logging-steps", "1", "--lr", "3e-3", "--resume") == 1
    assert "already finished" in capsys.readouterr().err


def test_resume_refuses_changed_options(ntp_run, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    options = json.loads((ntp_run / "run_options.json").read_text())
    options["output"] = str(out)
    (out / "run_options.json").write_text(json.dumps(options))  # an unfinished run started like ntp_run
    assert pretrain(out, "--max-steps", "10", "--logging-steps", "1", "--lr", "1e-3", "--resume") == 1
    err = capsys.readouterr().err
    assert "started with other options (--lr 0.003 -> 0.001); resume it with the same options" in err


def test_size_flags_reach_the_saved_config(ntp_run):
    config = json.loads((ntp_run / "config.json").read_text())
    assert (config["d_model"], config["n_layer"], config["headdim"], config["d_state"]) == (32, 1, 16, 16)
    assert config["vocab_size"] == len(BarcodeCharTokenizer())
