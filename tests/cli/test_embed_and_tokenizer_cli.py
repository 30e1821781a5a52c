"""`barcodefm embed` and `barcodefm train-tokenizer` on real barcodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from barcodefm import BarcodeCharTokenizer, BarcodeMambaForCausalLM, config_from_tokenizer
from barcodefm.cli import main
from barcodefm.data import iter_barcodes, sample_path
from barcodefm.inference.embed import EmbeddingWriter


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    tok = BarcodeCharTokenizer()
    model = BarcodeMambaForCausalLM(config_from_tokenizer(tok, d_model=32, n_layer=1, headdim=16, d_state=16))
    out = tmp_path_factory.mktemp("model")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def fasta_with_bad_records(tmp_path_factory):
    records = [r for _, r in zip(range(40), iter_barcodes(sample_path("coi")))]
    lines = []
    for i, r in enumerate(records):
        seq = r["sequence"][:150]
        if i == 7:
            seq = seq[:20] + "XZ" + seq[22:]  # not DNA: skipped, reported
        if i == 9:
            seq = ""  # empty: skipped, reported
        lines.append(f">{r['id']}\n{seq}\n")
    path = tmp_path_factory.mktemp("in") / "query.fasta"
    path.write_text("".join(lines))
    return path, [r["id"] for i, r in enumerate(records) if i not in (7, 9)], records


def test_embed_writes_npy_and_ids_and_reports_bad_records(model_dir, fasta_with_bad_records, tmp_path, capsys):
    fasta, good_ids, records = fasta_with_bad_records
    out = tmp_path / "emb.npy"
    assert main(["embed", str(model_dir), str(fasta), "-o", str(out), "--batch-size", "8", "--rejects", str(tmp_path / "rej.tsv")]) == 0
    vectors = np.load(out)
    ids = out.with_suffix(".ids.txt").read_text().split()
    assert ids == good_ids and vectors.shape == (38, 32)
    assert "skipped 2 bad records" in capsys.readouterr().out
    rejects = (tmp_path / "rej.tsv").read_text()
    assert records[7]["id"] in rejects and "invalid_character" in rejects
    # Same vectors as the Python API on the same sequences (batching never changes a result).
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    tok = BarcodeCharTokenizer.from_pretrained(model_dir)
    direct = model.embed_sequences([records[0]["sequence"][:150]], tok).numpy()
    np.testing.assert_allclose(vectors[0], direct[0], rtol=1e-5, atol=1e-5)


def test_embed_parquet_and_resume_skips_done_ids(model_dir, fasta_with_bad_records, tmp_path):
    import pyarrow.parquet as pq

    fasta, good_ids, _ = fasta_with_bad_records
    out = tmp_path / "emb.parquet"
    # Simulate an interrupted run: the first 10 ids are already in the partial folder.
    writer = EmbeddingWriter(out)
    writer.write(good_ids[:10], np.full((10, 32), 7.0, dtype=np.float32))
    assert main(["embed", str(model_dir), str(fasta), "-o", str(out)]) == 1  # refuses to clobber without --resume
    assert main(["embed", str(model_dir), str(fasta), "-o", str(out), "--resume"]) == 0
    table = pq.read_table(out).to_pydict()
    assert table["id"] == good_ids
    assert np.allclose(table["embedding"][0], 7.0)  # kept, not recomputed
    assert not np.allclose(table["embedding"][10], 7.0)
    assert not out.with_name(out.name + ".partial").exists()


def test_train_tokenizer_cli(tmp_path, capsys):
    out = tmp_path / "bpe"
    assert main(["train-tokenizer", "--data", str(sample_path("its")), "--splits", "train,train_singleton",
                 "--vocab-size", "128", "-o", str(out)]) == 0
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out, trust_remote_code=True)
    assert len(tok) == 128 and type(tok).__name__ == "BarcodeBPETokenizer"
    assert "trained a 128-token BPE vocabulary" in capsys.readouterr().out
    assert main(["train-tokenizer", "--data", str(sample_path("its")), "--splits", "nosuchsplit", "-o", str(out)]) == 1
