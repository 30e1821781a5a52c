"""`barcodefm pretrain --model barcodemae` runs on the same Trainer pipeline and its folder embeds
and fine-tunes like any other (issue 4, item 4)."""

from __future__ import annotations

import json

import numpy as np
import torch

from barcodefm.cli import main
from barcodefm.data import sample_path


def test_pretrain_barcodemae_then_embed_and_finetune(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    data = str(sample_path("coi"))
    pre = tmp_path / "pre"
    assert (
        main(
            [
                "pretrain",
                "--model",
                "barcodemae",
                "--data",
                data,
                "--d-model",
                "32",
                "--n-layer",
                "1",
                "--max-steps",
                "6",
                "--batch-size",
                "8",
                "--max-length",
                "200",
                "--output",
                str(pre),
            ]
        )
        == 0
    )
    config = json.loads((pre / "config.json").read_text())
    assert config["model_type"] == "barcodemae" and config["architectures"] == ["BarcodeMAEForPreTraining"]
    assert config["hidden_size"] == 32 and config["decoder_num_hidden_layers"] == 1
    options = json.loads((pre / "run_options.json").read_text())
    assert options["random_offset"] is True  # the k-mer frame-shift augmentation is on in pretraining
    log = [json.loads(line) for line in (pre / "train_log.jsonl").read_text().splitlines()]
    assert any("loss" in row for row in log) and any("eval_val_loss" in row for row in log)
    tok = json.loads((pre / "tokenizer_config.json").read_text())
    assert tok.get("random_offset", False) is False

    out = tmp_path / "emb.npy"
    assert main(["embed", str(pre), data, "-o", str(out), "--batch-size", "64"]) == 0
    vectors = np.load(out)
    assert vectors.shape[1] == 32 and np.isfinite(vectors).all()

    ft = tmp_path / "ft"
    assert (
        main(
            [
                "finetune",
                str(pre),
                "--data",
                data,
                "--output",
                str(ft),
                "--max-steps",
                "4",
                "--batch-size",
                "8",
                "--max-length",
                "200",
            ]
        )
        == 0
    )
    results = json.loads((ft / "eval_results.json").read_text())
    assert results, "fine-tuning from a BarcodeMAE folder wrote its metrics"
