"""`barcodefm convert barcodemamba`: published Lightning + Hydra runs -> Hub-ready folders that give
the same outputs as the published weights loaded directly."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import torch
from published_checkpoints import published_mamba_reference, published_vocab, write_published_barcodemamba
from release_fixtures import one_torch_thread, short_barcodes  # noqa: F401 (pytest fixtures)

from barcodefm import BarcodeMambaForCausalLM, BarcodeMambaForMaskedLM
from barcodefm.cli import main as cli_main
from barcodefm.release import StateDictMismatchError, UntrustedCheckpointError, check_folders, load_saved_model
from barcodefm.release.convert_barcodemamba import convert_barcodemamba, read_published_config
from barcodefm.release.hydra_config import HydraConfig, HydraConfigError


class LightningCallbackState:
    """Stands for the pickled objects real Lightning checkpoints can hold (callbacks, configs)."""

    def __init__(self):
        self.best_model_path = "/somewhere/best.ckpt"


def _published_ids(tokenizer_name: str, sequence: str) -> list[int]:
    vocab = published_vocab(tokenizer_name)
    if tokenizer_name == "char":
        return [vocab[c] for c in sequence]
    return [vocab.get(sequence[i : i + 6], vocab["[UNK]"]) for i in range(0, len(sequence) - 5, 6)]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Both published tokenizer variants (dim 384, 2 layers, Mamba-2 headdim 48, d_state 64,
    MLP 4 x 384), converted without the fresh-process check (checked together below)."""
    root = tmp_path_factory.mktemp("convert-mamba")
    out = {}
    for name, spelling in (("char", None), ("k_mer", "k-mer")):
        reference = published_mamba_reference(name, seed=1 if name == "char" else 2)
        src = write_published_barcodemamba(
            root / f"BarcodeMamba-dim384-layer2-{name}", reference, name, spelling=spelling
        )
        report = convert_barcodemamba(src, root / f"hub-{name}", check=False)
        out[name] = (reference, report)
    return out


@pytest.mark.parametrize("name", ["char", "k_mer"])
def test_converted_model_reproduces_published_weights(converted, name, short_barcodes):
    reference, report = converted[name]
    assert report.dropped_keys == ["train_metrics.accuracy.correct", "val_metrics.accuracy.total"]
    model, tokenizer = load_saved_model(report.output)
    assert isinstance(model, BarcodeMambaForCausalLM)
    published_size = reference.config.vocab_size
    # The tokenizer reproduces the published ids, and adds a real [PAD] after them.
    assert tokenizer.pad_token_id == published_size
    # The filler of the published mean_all probing embeddings: N (char), [UNK] (k-mers).
    assert model.config.n_token_id == published_vocab(name)["N" if name == "char" else "[UNK]"]
    encoded = tokenizer(short_barcodes, padding=True, return_tensors="pt")
    assert encoded["input_ids"][0].tolist() == _published_ids(name, short_barcodes[0])
    with torch.no_grad():
        got = model(**encoded).logits
        got_embed = model.embed(encoded["input_ids"], encoded["attention_mask"])
        for i, seq in enumerate(short_barcodes):
            ids = torch.tensor([_published_ids(name, seq)])
            want = reference(input_ids=ids).logits  # the published model on the unpadded barcode
            real = encoded["attention_mask"][i].bool()
            torch.testing.assert_close(got[i, real, :published_size], want[0, :, :published_size], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(got_embed[i], reference.embed(ids)[0], atol=1e-5, rtol=1e-5)
    if name == "char":  # 8 published rows -> 16: the added [PAD] row is zero and never predicted
        assert model.config.padded_vocab_size == 16 and len(report.notes) == 2
        assert torch.all(model.lm_head.weight[8:] == 0)
        assert torch.all(got[..., published_size] == float("-inf"))


def test_converted_folders_load_without_barcodefm(converted, short_barcodes, tmp_path):
    """Both converted folders pass the release load check; a copy whose vocabulary was tampered
    with (it loads, but tokenises differently) fails it, in the same fresh process."""
    references = []
    for _, report in converted.values():
        model, tokenizer = load_saved_model(report.output)
        references.append((report.output, model, tokenizer))
    tampered = tmp_path / "tampered"
    shutil.copytree(converted["char"][1].output, tampered)
    vocab = json.loads((tampered / "vocab.json").read_text())
    vocab["A"], vocab["C"] = vocab["C"], vocab["A"]
    (tampered / "vocab.json").write_text(json.dumps(vocab))
    results = check_folders(references + [(tampered, *references[0][1:])], sequences=short_barcodes)
    for result in results[:2]:
        assert result.ok, result.problems
        assert result.auto_class == "AutoModelForCausalLM"
        assert "transformers_modules" in result.model_class and result.max_abs_diff == 0.0
    assert not results[2].ok
    assert "the saved tokenizer gives different input_ids than the original" in results[2].problems
    assert any(p.startswith("output forward.logits differs") for p in results[2].problems)


def test_published_config_keys_and_spellings(tmp_path):
    base = {
        "model": {
            "d_model": 384,
            "n_layer": 2,
            "vocab_size": "${tokenizer.vocab_size}",
            "d_inner": None,
            "pad_vocab_size_multiple": 8,
            "layer": {"d_state": 64, "headdim": 48, "dt_min": 0.001},
        },
        "tokenizer": {"name": "k-mer", "k_mer": 4, "vocab_size": "${eval:4 ** ${.k_mer} + 3}"},
    }
    for spelling in ("k-mer", "k_mer", "kmer"):
        cfg = copy.deepcopy(base)
        cfg["tokenizer"]["name"] = spelling
        kwargs, spec = read_published_config(HydraConfig(cfg))
        assert spec["name"] == "k_mer" and spec["k"] == 4 and spec["published_vocab_size"] == 259
        assert kwargs["d_intermediate"] == 4 * 384 and kwargs["mamba_version"] == 2
        assert (kwargs["d_conv"], kwargs["expand"], kwargs["chunk_size"]) == (4, 2, 256)  # mamba_ssm defaults
    alternative = copy.deepcopy(base)  # the ssm_cfg spelling of the mixer section, Mamba-1
    alternative["model"]["ssm_cfg"] = {"layer": "Mamba", "d_state": 16}
    del alternative["model"]["layer"]
    kwargs, _ = read_published_config(HydraConfig(alternative))
    assert kwargs["mamba_version"] == 1 and kwargs["d_state"] == 16 and kwargs["dt_rank"] == "auto"
    errors = {
        "tokenizer.k_mer": lambda c: c["tokenizer"].pop("k_mer"),
        "model.layer": lambda c: c["model"].pop("layer"),
        "BPE checkpoints": lambda c: c["tokenizer"].update(name="bpe"),
        "norm_before_gate": lambda c: c["model"]["layer"].update(norm_before_gate=True),
        "vocab_size is 300": lambda c: c["model"].update(vocab_size=300),
    }
    for message, edit in errors.items():
        cfg = copy.deepcopy(base)
        edit(cfg)
        with pytest.raises(HydraConfigError, match=message):
            read_published_config(HydraConfig(cfg))


def test_mismatched_checkpoint_lists_every_difference(tmp_path, capsys):
    reference = published_mamba_reference("char", d_model=48, n_layer=2)
    extra = {
        "model.backbone.layers.0.mixer.extra_scale": torch.ones(3),
        "model.backbone.ln_f.weight": torch.ones(40),
    }  # a wrong shape (48 expected)
    src = write_published_barcodemamba(
        tmp_path / "run", reference, "char", extra_state=extra, drop=("model.backbone.layers.1.mixer.D",)
    )
    with pytest.raises(StateDictMismatchError) as info:
        convert_barcodemamba(src, tmp_path / "out", check=False)
    diff = info.value.diff
    assert diff.missing == ["backbone.layers.1.mixer.D"]
    assert diff.unexpected == ["backbone.layers.0.mixer.extra_scale"]
    assert diff.shape_mismatches == [("backbone.ln_f.weight", (48,), (40,))]
    assert not (tmp_path / "out").exists()
    # The command prints the same diff as a message, not a traceback.
    assert cli_main(["convert", "barcodemamba", str(src), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "missing from the checkpoint (1):\n  backbone.layers.1.mixer.D" in err
    assert "backbone.ln_f.weight: (48,) -> (40,)" in err and "Traceback" not in err


def test_pickled_objects_need_trust_checkpoint(tmp_path, capsys):
    reference = published_mamba_reference("char", d_model=48, n_layer=1)
    src = write_published_barcodemamba(
        tmp_path / "run", reference, "char", extra_objects={"ModelCheckpoint": LightningCallbackState()}
    )
    with pytest.raises(UntrustedCheckpointError, match=r"LightningCallbackState.*--trust-checkpoint"):
        convert_barcodemamba(src, tmp_path / "out", check=False)
    assert cli_main(["convert", "barcodemamba", str(src), str(tmp_path / "out")]) == 1
    assert "--trust-checkpoint" in capsys.readouterr().err
    # Trusted, the same file converts; the masked-LM head keeps the same weights.
    report = convert_barcodemamba(src, tmp_path / "out", trust_checkpoint=True, head="masked-lm", check=False)
    model, _ = load_saved_model(report.output)
    assert isinstance(model, BarcodeMambaForMaskedLM)
    assert torch.equal(model.backbone.layers[0].mixer.in_proj.weight, reference.backbone.layers[0].mixer.in_proj.weight)


def test_missing_source_files_are_named(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no Hydra config .*\.hydra/config\.yaml, config\.yaml"):
        convert_barcodemamba(tmp_path / "run", tmp_path / "out", check=False)
    (tmp_path / "run" / "config.yaml").write_text("model: {}\n")
    with pytest.raises(FileNotFoundError, match=r"no Lightning checkpoint .*checkpoints/last\.ckpt"):
        convert_barcodemamba(tmp_path / "run", tmp_path / "out", check=False)
    assert Path(tmp_path / "run").is_dir() and not (tmp_path / "out").exists()
