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
    assert (
        main(
            [
                "embed",
                str(model_dir),
                str(fasta),
                "-o",
                str(out),
                "--batch-size",
                "8",
                "--rejects",
                str(tmp_path / "rej.tsv"),
            ]
        )
        == 0
    )
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


@pytest.mark.parametrize("torn", ["between_vectors_and_ids", "inside_a_vector_block", "inside_an_id"])
def test_embed_resume_after_a_torn_write_matches_an_uninterrupted_run(
    model_dir, fasta_with_bad_records, tmp_path, torn
):
    fasta, good_ids, _ = fasta_with_bad_records
    full = tmp_path / "full.npy"
    assert main(["embed", str(model_dir), str(fasta), "-o", str(full), "--batch-size", "8"]) == 0
    expected = np.load(full)
    # An interrupted run that wrote two batches of 8, then was killed in the middle of its writes.
    out = tmp_path / "emb.npy"
    writer = EmbeddingWriter(out)
    writer.write(good_ids[:8], expected[:8])
    writer.write(good_ids[8:16], expected[8:16])
    ids_text = writer.ids_path.read_text()
    row_bytes = 4 * expected.shape[1]
    if torn == "between_vectors_and_ids":  # batch 2's vectors are in, its ids are not
        writer.ids_path.write_text(ids_text[: ids_text.index(good_ids[8])])
    elif torn == "inside_a_vector_block":  # killed half-way through batch 2's vectors
        writer.ids_path.write_text(ids_text[: ids_text.index(good_ids[8])])
        with open(writer.vec_path, "r+b") as f:
            f.truncate(8 * row_bytes + 3 * row_bytes + row_bytes // 2 + 1)
    else:  # killed half-way through batch 2's ids
        writer.ids_path.write_text(ids_text[: ids_text.index(good_ids[8]) + len(good_ids[8]) // 2])
    assert main(["embed", str(model_dir), str(fasta), "-o", str(out), "--batch-size", "8", "--resume"]) == 0
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-6, atol=1e-6)
    assert out.with_suffix(".ids.txt").read_text() == full.with_suffix(".ids.txt").read_text()
    assert not out.with_name(out.name + ".partial").exists()


def test_embed_ids_are_quoted_like_classify_writes_them(model_dir, fasta_with_bad_records, tmp_path):
    import csv
    import io

    import pyarrow.parquet as pq

    _, _, records = fasta_with_bad_records
    ids = ['say"hi"', '"boxed"', "plain"]
    fasta = tmp_path / "quotes.fasta"
    fasta.write_text("".join(f">{i}\n{r['sequence'][:150]}\n" for i, r in zip(ids, records)))
    out = tmp_path / "emb.npy"
    assert main(["embed", str(model_dir), str(fasta), "-o", str(out)]) == 0
    text = out.with_suffix(".ids.txt").read_text()
    classify_style = io.StringIO()  # classify writes its id cells with this writer
    csv.writer(classify_style, delimiter="\t", lineterminator="\n").writerows([i] for i in ids)
    assert text == classify_style.getvalue() == '"say""hi"""\n"""boxed"""\nplain\n'
    assert [row[0] for row in csv.reader(io.StringIO(text), delimiter="\t")] == ids
    assert np.load(out).shape == (3, 32)
    assert main(["embed", str(model_dir), str(fasta), "-o", str(tmp_path / "emb.parquet")]) == 0
    assert pq.read_table(tmp_path / "emb.parquet").column("id").to_pylist() == ids  # a typed column: no quoting


def test_train_tokenizer_cli(tmp_path, capsys):
    out = tmp_path / "bpe"
    assert (
        main(
            [
                "train-tokenizer",
                "--data",
                str(sample_path("its")),
                "--splits",
                "train,train_singleton",
                "--vocab-size",
                "128",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out, trust_remote_code=True)
    assert len(tok) == 128 and type(tok).__name__ == "BarcodeBPETokenizer"
    assert "trained a 128-token BPE vocabulary" in capsys.readouterr().out
    assert main(["train-tokenizer", "--data", str(sample_path("its")), "--splits", "nosuchsplit", "-o", str(out)]) == 1
    assert "exists: pass --overwrite" in capsys.readouterr().err  # the tokenizer above is not replaced
    none = tmp_path / "none"
    assert main(["train-tokenizer", "--data", str(sample_path("its")), "--splits", "nosuchsplit", "-o", str(none)]) == 1
    assert "no barcodes to train on" in capsys.readouterr().err and not none.exists()  # nothing saved
