"""Small saved model folders of every family, head and tokenizer, built the same way in any
environment: the cross-version tests save them under one transformers and load them under another.

Run as a script (``python model_folders.py OUT``) in another environment, it saves the folders
under OUT and, in OUT/expected.pt, the outputs of the in-process models (what the folders must
reproduce anywhere).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Real COI barcode fragments (BOLD public records), an IUPAC code and a short one: padding matters.
SEQUENCES = [
    "AACATTATATTTTATTTTTGGTGCATGATCAGGAATAGTAGGAACTTCTTTAAGAATTTTAATTCGAGCTGAATTAGGACAACCAGGATCATTTATTGG",
    "AACTTTATATTTTATTTTTGGAATTTGAAGAGGRATAGTTGGAACATCATTAAGAATTTTAATTCGAGCAGAATTAGGAAATCCTGGATCA",
    "GGAGTATGATCCGGAATAGTCGGAACTTCTCTAAGAATTTTAATTCGTGC",
]
RANKS = ("order", "family", "genus", "species")
LABELS = [
    ("Diptera", "Culicidae", "Aedes", "Aedes vexans"),
    ("Diptera", "Culicidae", "Culex", "Culex pipiens"),
    ("Lepidoptera", "Noctuidae", "Apamea", "Apamea crenata"),
    ("Lepidoptera", "Noctuidae", "Apamea", "Apamea remissa"),
]


def build(out: Path) -> list[tuple]:
    """Save the folders under ``out``; returns (folder, model, tokenizer) triples."""
    import torch

    import barcodefm
    from barcodefm import (
        BarcodeBPETokenizer,
        BarcodeCharTokenizer,
        BarcodeKmerTokenizer,
        BarcodeMAEConfig,
        config_from_tokenizer,
    )
    from barcodefm.models.taxonomy import TaxonomySpec

    out = Path(out)
    spec = TaxonomySpec.from_columns({rank: [row[i] for row in LABELS] for i, rank in enumerate(RANKS)}).to_dict()
    bpe = BarcodeBPETokenizer.train(SEQUENCES * 4, vocab_size=40)
    mamba = dict(d_model=32, n_layer=2, headdim=16, d_state=16)
    mae = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        decoder_hidden_size=32,
        decoder_num_hidden_layers=1,
        decoder_num_attention_heads=4,
        decoder_intermediate_size=64,
    )
    kmer = BarcodeKmerTokenizer(k=4)
    specs = [
        ("mamba2-bpe-taxonomy", "BarcodeMambaForTaxonomicClassification", bpe, dict(mamba, taxonomy=spec), None),
        (
            "mamba1-char-causal-lm",
            "BarcodeMambaForCausalLM",
            BarcodeCharTokenizer(),
            dict(mamba, mamba_version=1),
            None,
        ),
        ("mamba2-kmer-species", "BarcodeMambaForSequenceClassification", kmer, dict(mamba, num_labels=3), None),
        ("mae-kmer-encoder", "BarcodeMAEModel", kmer, mae, BarcodeMAEConfig),
        ("mae-kmer-taxonomy", "BarcodeMAEForTaxonomicClassification", kmer, dict(mae, taxonomy=spec), BarcodeMAEConfig),
    ]
    references = []
    for i, (name, class_name, tokenizer, sizes, config_class) in enumerate(specs):
        torch.manual_seed(i)
        config = config_from_tokenizer(tokenizer, config_class, **sizes)
        model = getattr(barcodefm, class_name)(config).eval()
        model.save_pretrained(out / name)
        tokenizer.save_pretrained(out / name)
        references.append((out / name, model, tokenizer))
    return references


def main(out: str) -> None:
    import torch
    import transformers

    from barcodefm.release import fresh_loader

    references = build(Path(out))
    expected = {
        str(folder.resolve()): fresh_loader.model_outputs(model, tok, SEQUENCES) for folder, model, tok in references
    }
    torch.save({"transformers": transformers.__version__, "outputs": expected}, Path(out) / "expected.pt")


if __name__ == "__main__":
    main(sys.argv[1])
