"""The static audit of a Hub folder: what would break for a user without barcodefm, or leak."""

from __future__ import annotations

import json

import torch
from release_fixtures import one_torch_thread  # noqa: F401 (pytest fixtures)

from barcodefm import BarcodeKmerTokenizer, BarcodeMambaModel, config_from_tokenizer
from barcodefm.release import audit_hub_folder
from barcodefm.release.hub_folder import tidy_tokenizer_config


def test_audit_flags_each_problem(tmp_path):
    tokenizer = BarcodeKmerTokenizer(k=3)
    model = BarcodeMambaModel(config_from_tokenizer(tokenizer, d_model=16, n_layer=1, headdim=16, d_state=8))
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert audit_hub_folder(tmp_path) == []

    (tmp_path / "pooling.py").write_text((tmp_path / "pooling.py").read_text() + "\nfrom barcodefm.dna import x\n")
    (tmp_path / "mixer_mamba1.py").unlink()  # imported by modeling_barcodemamba.py
    (tmp_path / "tokenization_barcode_kmer.py").unlink()  # the tokenizer's auto_map target
    torch.save({}, tmp_path / "pytorch_model.bin")
    config = json.loads((tmp_path / "config.json").read_text())
    config["_name_or_path"] = "/home/me/runs/model"
    (tmp_path / "config.json").write_text(json.dumps(config))
    problems = "\n".join(audit_hub_folder(tmp_path))
    assert "pooling.py: `from barcodefm.dna import ...`" in problems
    assert "modeling_barcodemamba.py: imports .mixer_mamba1, but mixer_mamba1.py is not in the folder" in problems
    assert "tokenizer_config.json auto_map needs tokenization_barcode_kmer.py" in problems
    assert "pytorch_model.bin is a pickle file" in problems
    assert "config.json._name_or_path holds an absolute path ('/home/me/runs/model')" in problems

    (tmp_path / "model.safetensors").unlink()
    assert "no .safetensors weights in the folder" in audit_hub_folder(tmp_path)


def test_tidy_drops_loading_only_tokenizer_keys(tmp_path):
    BarcodeKmerTokenizer(k=2).save_pretrained(tmp_path)
    BarcodeKmerTokenizer.from_pretrained(tmp_path).save_pretrained(tmp_path / "again")
    saved = json.loads((tmp_path / "again" / "tokenizer_config.json").read_text())
    removed = tidy_tokenizer_config(tmp_path / "again")
    assert removed and set(removed) <= {"is_local", "local_files_only", "name_or_path", "_commit_hash"}
    tidied = json.loads((tmp_path / "again" / "tokenizer_config.json").read_text())
    assert {k: v for k, v in saved.items() if k not in removed} == tidied
    assert not any(k in tidied for k in ("is_local", "local_files_only"))
    assert tidied["k"] == 2 and BarcodeKmerTokenizer.from_pretrained(tmp_path / "again").k == 2
