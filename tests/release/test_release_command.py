"""`barcodefm release`: a complete, checked Hub folder (and --push without touching the network)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from release_fixtures import one_torch_thread  # noqa: F401 (pytest fixtures)

from barcodefm import BarcodeCharTokenizer, BarcodeMambaForCausalLM, config_from_tokenizer
from barcodefm.cli import main as cli_main
from barcodefm.release import HubUploadError, ReleaseRefusedError, audit_hub_folder, push_folder, release_model
from barcodefm.release import release as release_module

REPO_ID = "bioscan-test/barcodemamba-tiny"
RESULTS = {
    "task": "species",
    "n_train": 1200,
    "test": {"all": {"accuracy": 0.9412, "macro_f1": 0.8731, "n_unseen_label": 3}, "dedup": {"accuracy": 0.8125}},
}


def _save_tiny_model(folder: Path, as_pickle: bool = False, seed: int = 0) -> BarcodeMambaForCausalLM:
    tokenizer = BarcodeCharTokenizer()
    torch.manual_seed(seed)
    model = BarcodeMambaForCausalLM(config_from_tokenizer(tokenizer, d_model=32, n_layer=1, headdim=16, d_state=16))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if as_pickle:  # a folder as older tools wrote it: pytorch_model.bin, which must not be published
        from safetensors.torch import load_file

        state = load_file(folder / "model.safetensors")
        (folder / "model.safetensors").unlink()
        torch.save(state, folder / "pytorch_model.bin")
    return model


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    model_dir = root / "finetuned"
    model = _save_tiny_model(model_dir, as_pickle=True)
    (model_dir / "eval_results.json").write_text(json.dumps(RESULTS))
    (model_dir / "run_options.json").write_text(
        json.dumps(
            {
                "data": "/home/someone/data/bold_coi.tsv.gz",
                "epochs": 3.0,
                "lr": 8e-4,
                "batch_size": 32,
                "seed": 0,
                "objective": "ntp",
                "max_length": 660,
            }
        )
    )
    (model_dir / "train_log.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    out = root / "hub"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as one_torch_thread, which a module-scoped fixture cannot use
    try:
        rc = cli_main(
            [
                "release",
                str(model_dir),
                "--repo-id",
                REPO_ID,
                "--output",
                str(out),
                "--dataset-name",
                "BOLD insect COI-5P",
                "--training-data",
                "Insect COI-5P barcodes from BOLD.",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    return rc, model, out


def test_release_writes_a_complete_safe_hub_folder(released):
    rc, model, out = released
    assert rc == 0
    files = {p.name for p in out.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "README.md",
        "eval_results.json",
        "tokenizer_config.json",
        "vocab.json",
        "modeling_barcodemamba.py",
        "configuration_barcodemamba.py",
        "tokenization_barcode_char.py",
    } <= files
    assert "pytorch_model.bin" not in files and "train_log.jsonl" not in files and "run_options.json" not in files
    assert audit_hub_folder(out) == []
    config = json.loads((out / "config.json").read_text())
    for target in config["auto_map"].values():
        assert (out / f"{target.split('.')[0]}.py").is_file()
    from safetensors.torch import load_file

    weights = load_file(out / "model.safetensors")  # the .bin's weights, now as safetensors
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert json.loads((out / "eval_results.json").read_text()) == RESULTS
    assert not any(p.name.startswith(".hub.staging") for p in out.parent.iterdir())


def test_model_card_metadata_and_content(released):
    _, _, out = released
    readme = (out / "README.md").read_text()
    front = yaml.safe_load(readme.split("---\n")[1])
    assert front["library_name"] == "transformers" and front["license"] == "mit"
    assert front["pipeline_tag"] == "feature-extraction" and "dna-barcoding" in front["tags"]
    assert sorted(front["metrics"]) == ["accuracy", "f1"]
    (entry,) = front["model-index"]
    assert entry["name"] == "barcodemamba-tiny"
    values = {(r["dataset"]["split"], m["name"]): m["value"] for r in entry["results"] for m in r["metrics"]}
    assert values == {
        ("test", "Accuracy"): 0.9412,
        ("test", "Macro F1"): 0.8731,
        ("test", "Accuracy (de-duplicated)"): 0.8125,
    }
    assert "| BOLD insect COI-5P | test | Accuracy (de-duplicated) | 0.8125 |" in readme
    assert "bold_coi.tsv.gz" in readme and "/home/someone" not in readme  # file name, never the path
    assert "Insect COI-5P barcodes from BOLD." in readme
    assert "gao2024barcodemamba" in readme and "${" not in readme


def _readme_release_snippet() -> str | None:
    """The python block of the README's "Use a released model" section, if the README has one."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    if "## Use a released model" not in readme:
        return None
    section = readme.split("## Use a released model", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert '"ORG/NAME"' in block, "the README snippet names its model ORG/NAME"
    return block


def test_card_and_readme_snippets_run_without_barcodefm(released, tmp_path):
    """The card's "How to use" code, pointed at the released folder, in a fresh process where
    barcodefm cannot be imported; in the same process, the classifier variants of the snippet on
    saved taxonomy / species classifiers and the README's "Use a released model" quick-start
    (once the README has that section)."""
    from barcodefm import BarcodeMambaForSequenceClassification, BarcodeMambaForTaxonomicClassification
    from barcodefm.models.taxonomy import TaxonomySpec
    from barcodefm.release.cards import example_barcodes, usage_snippet

    _, model, out = released
    (snippet,) = re.findall(r"```python\n(.*?)```", (out / "README.md").read_text(), flags=re.S)
    assert f'repo_id = "{REPO_ID}"' in snippet
    scripts = [snippet.replace(REPO_ID, str(out))]
    tokenizer = BarcodeCharTokenizer()
    spec = TaxonomySpec.from_columns({"genus": ["Aedes", "Culex"], "species": ["Aedes aegypti", "Culex pipiens"]})
    sizes = dict(d_model=16, n_layer=1, headdim=16, d_state=8)
    classifiers = {
        "taxonomy": BarcodeMambaForTaxonomicClassification(
            config_from_tokenizer(tokenizer, taxonomy=spec.to_dict(), **sizes)
        ),
        "species": BarcodeMambaForSequenceClassification(
            config_from_tokenizer(
                tokenizer,
                num_labels=2,
                id2label={0: "Aedes aegypti", 1: "Culex pipiens"},
                label2id={"Aedes aegypti": 0, "Culex pipiens": 1},
                **sizes,
            )
        ),
    }
    for name, classifier in classifiers.items():
        classifier.save_pretrained(tmp_path / name)
        tokenizer.save_pretrained(tmp_path / name)
        scripts.append(
            usage_snippet(classifier, "org/x", example_barcodes("coi")).replace("org/x", str(tmp_path / name))
        )
    readme_block = _readme_release_snippet()
    if readme_block is not None:
        scripts.append(readme_block.replace('"ORG/NAME"', repr(str(out))))
    code = 'import sys\nsys.modules["barcodefm"] = None\n' + "\nprint('=====')\n".join(scripts)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    embedding, taxonomy, species, *readme = (part.strip().splitlines() for part in proc.stdout.split("=====\n"))
    assert embedding[-1] == f"torch.Size([2, {model.config.d_model}])"
    assert len(readme) == (readme_block is not None)
    if readme:
        assert readme[0][-1] == f"torch.Size([2, {model.config.d_model}])"
    assert len(taxonomy) == 2 and all("Aedes" in line or "Culex" in line for line in taxonomy)
    assert len(species) == 2 and all(line.rsplit(" ", 1)[0] in ("Aedes aegypti", "Culex pipiens") for line in species)


def test_release_refuses_a_folder_that_fails_its_load_check(tmp_path, monkeypatch):
    """Refusal wiring: whatever the load check finds, nothing is released (the check's own
    detection, in a real fresh process, is tested in test_convert_barcodemamba.py)."""
    from barcodefm.release.load_check import LoadCheckResult

    model_dir = tmp_path / "model"
    _save_tiny_model(model_dir, seed=1)
    seen = []

    def failing_check(folder, model, tokenizer):
        seen.append(sorted(p.name for p in Path(folder).iterdir()))
        return LoadCheckResult(
            Path(folder),
            "AutoModelForCausalLM",
            problems=["the saved tokenizer gives different input_ids than the original"],
        )

    monkeypatch.setattr(release_module, "check_folder", failing_check)
    with pytest.raises(ReleaseRefusedError, match="different input_ids than the original"):
        release_model(model_dir, REPO_ID, tmp_path / "hub")
    assert "model.safetensors" in seen[0] and "README.md" in seen[0]  # checked the complete folder
    assert not (tmp_path / "hub").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_release_refuses_incomplete_weights_and_bad_arguments(tmp_path, capsys):
    model_dir = tmp_path / "model"
    _save_tiny_model(model_dir)
    from safetensors.torch import load_file, save_file

    weights = load_file(model_dir / "model.safetensors")
    del weights["backbone.ln_f.weight"]
    save_file(weights, model_dir / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ReleaseRefusedError, match="weight missing from the folder: backbone.ln_f.weight"):
        release_model(model_dir, REPO_ID, tmp_path / "hub")
    assert not (tmp_path / "hub").exists()

    cases = {
        ("--repo-id", "not a repo"): "not a Hub model id",
        ("--repo-id", REPO_ID, "--private"): "--private only applies with --push",
    }
    for extra, message in cases.items():
        assert cli_main(["release", str(model_dir), "--output", str(tmp_path / "hub"), *extra]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ValueError, match="is not empty"):
        release_model(model_dir, REPO_ID, tmp_path / "full")
    (model_dir / "tokenizer_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="no tokenizer"):
        release_model(model_dir, REPO_ID, tmp_path / "hub")


def test_push_needs_a_token_and_creates_then_uploads(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(HubUploadError, match=r"no Hugging Face token found: run `hf auth login` or set HF_TOKEN"):
        push_folder(tmp_path, REPO_ID)

    # Through the command: a released folder, then one line on stderr and exit code 1.
    class FakeReport:
        output, files, n_metrics = tmp_path, ["config.json"], 0
        load_check = type("Check", (), {"auto_class": "AutoModel", "max_abs_diff": 0.0})()

    monkeypatch.setattr("barcodefm.release.release_model", lambda *a, **k: FakeReport())
    assert cli_main(["release", str(tmp_path), "--repo-id", REPO_ID, "--output", str(tmp_path / "o"), "--push"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no Hugging Face token found" in err

    calls = []

    class FakeApi:
        def __init__(self, token):
            calls.append(("token", token))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))
            return type("Commit", (), {"commit_url": f"https://huggingface.co/{kwargs['repo_id']}/commit/abc"})()

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert push_folder(tmp_path, REPO_ID, private=True).endswith("/commit/abc")
    assert calls[0] == ("token", "hf_test")
    assert calls[1] == ("create_repo", REPO_ID, {"repo_type": "model", "private": True, "exist_ok": True})
    assert calls[2][1]["folder_path"] == str(tmp_path) and calls[2][1]["repo_id"] == REPO_ID
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUploadError, match="HF_HUB_OFFLINE"):
        push_folder(tmp_path, REPO_ID)
