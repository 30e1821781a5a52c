"""The Python files that travel with the weights are read on the Hub, where nothing else of ours
exists: they must not send the reader to documents outside the model folder (the project's
specification, issue numbers)."""

from __future__ import annotations

import re

from barcodefm import (
    BarcodeCharTokenizer,
    BarcodeKmerTokenizer,
    BarcodeMAEConfig,
    BarcodeMAEForTaxonomicClassification,
    BarcodeMambaForTaxonomicClassification,
    config_from_tokenizer,
)
from barcodefm.models.taxonomy import TaxonomySpec
from barcodefm.registry import BUNDLED_MODELS, bundled_model_path

OUTSIDE_REFERENCE = re.compile(r"\bSPEC\b|(?i:\bissue\s*#?\d+)")
SPEC = TaxonomySpec.from_columns({"genus": ["A", "A", "B"], "species": ["A a", "A b", "B c"]}).to_dict()


def _saved_folders(tmp_path):
    mamba_char = BarcodeMambaForTaxonomicClassification(
        config_from_tokenizer(BarcodeCharTokenizer(), d_model=16, n_layer=1, headdim=8, d_state=8, taxonomy=SPEC)
    )
    kmer = BarcodeKmerTokenizer(k=4)
    mae = BarcodeMAEForTaxonomicClassification(
        config_from_tokenizer(
            kmer,
            config_class=BarcodeMAEConfig,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            decoder_hidden_size=16,
            decoder_num_hidden_layers=1,
            decoder_num_attention_heads=2,
            decoder_intermediate_size=32,
            taxonomy=SPEC,
        )
    )
    folders = []
    for name, model, tok in (("mamba", mamba_char, BarcodeCharTokenizer()), ("mae", mae, kmer)):
        out = tmp_path / name
        model.save_pretrained(out)
        tok.save_pretrained(out)
        folders.append(out)
    return folders + [bundled_model_path(n) for n in sorted(BUNDLED_MODELS)]


def test_no_shipped_python_file_points_outside_the_model_folder(tmp_path):
    folders = _saved_folders(tmp_path)
    checked = set()
    for folder in folders:
        files = sorted(folder.glob("*.py"))
        assert files, f"{folder} carries no code"
        for path in files:
            checked.add(path.name)
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                assert not OUTSIDE_REFERENCE.search(line), f"{path}:{n}: {line.strip()}"
    # Both families and every tokenizer file that travels were looked at.
    assert {
        "modeling_barcodemamba.py",
        "modeling_barcodemae.py",
        "bert_layer.py",
        "taxonomy.py",
        "tokenization_barcode_char.py",
        "tokenization_barcode_kmer.py",
        "tokenization_barcode_bpe.py",
    } <= checked
