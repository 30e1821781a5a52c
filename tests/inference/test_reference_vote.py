"""Identification by heads + nearest training references (inference/reference_vote.py), and
`barcodefm classify` with a reference set: rules, a naive vote written here, padding/batching."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from barcodefm import BarcodeCharTokenizer, BarcodeMambaForTaxonomicClassification, config_from_tokenizer
from barcodefm.cli import main
from barcodefm.data import iter_barcodes, sample_path
from barcodefm.inference.reference_vote import ReferenceSet, build_reference_set, combine_rule, run_model
from barcodefm.taxonomy import TaxonomySpec

RANKS = ("order", "family", "genus", "species")


@pytest.fixture(scope="module")
def records():
    return [r for _, r in zip(range(260), iter_barcodes(sample_path("coi")))]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, records):
    torch.manual_seed(0)
    train = records[:200]
    spec = TaxonomySpec.from_columns({r: [x[r] for x in train] for r in RANKS})
    tok = BarcodeCharTokenizer()
    model = BarcodeMambaForTaxonomicClassification(
        config_from_tokenizer(tok, d_model=32, n_layer=1, headdim=16, d_state=16, taxonomy=spec.to_dict())
    ).eval()
    out = tmp_path_factory.mktemp("reference-model")
    model.save_pretrained(out)
    tok.save_pretrained(out)

    def rows(part, novel):
        d = {r: [x[r] for x in part] for r in RANKS}
        d["sequence"] = [x["sequence"][:150] for x in part]
        d["novel"] = [novel] * len(part)
        return d

    # Every training record twice: duplicates are stored once.
    train_rows = rows(train + train, False)
    settings = build_reference_set(model, tok, out, train_rows, rows(records[200:], False), batch_size=16)
    return out, model, tok, settings


def test_reference_holds_distinct_training_barcodes_with_their_labels(model_dir, records):
    out, model, _, settings = model_dir
    ref = ReferenceSet.load(out)
    n_distinct = len({(x["sequence"][:150], *(x[r] for r in RANKS)) for x in records[:200]})
    assert ref.embeddings.shape[0] == settings["n_references"] == n_distinct
    assert settings["n_training_records"] == 400
    assert set(ref.labels) == set(RANKS) and set(ref.rules) == set(RANKS)
    assert all(rule in ("head", "reference", "mix") for rule in ref.rules.values())
    spec = model.taxonomy.spec
    assert int(ref.labels["species"].max()) < len(spec.labels["species"])
    assert torch.allclose(ref.embeddings.norm(dim=1), torch.ones(ref.embeddings.shape[0]), atol=1e-5)
    saved = json.loads((out / "identification.json").read_text())
    assert saved["selection_accuracy"]["species"]["head"] >= 0


def test_vote_equals_a_naive_weighted_count(model_dir, records):
    out, model, tok, _ = model_dir
    ref = ReferenceSet.load(out)
    _, emb = run_model(model, tok, [x["sequence"][:150] for x in records[200:210]], batch_size=4, progress=False)
    sims, idx = ref.neighbours(emb)
    n_species = len(model.taxonomy.spec.labels["species"])
    vote = ref.distributions(sims, idx, {"species": n_species})["species"]
    q = torch.nn.functional.normalize(emb, dim=1)
    for i in range(len(q)):
        s = (ref.embeddings @ q[i]).numpy()
        top = np.argsort(-s, kind="stable")[: ref.k]
        expected = np.zeros(n_species)
        for j in top:
            expected[int(ref.labels["species"][j])] += np.exp((s[j] - s[top[0]]) / ref.temperature)
        expected /= expected.sum()
        assert np.allclose(vote[i].numpy(), expected, atol=1e-4)


def test_rules_and_a_query_without_labelled_neighbours():
    head = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
    vote = torch.tensor([[0.0, 1.0], [0.0, 0.0]])  # the second query's neighbours have no label
    assert torch.equal(combine_rule("head", head, vote), head)
    assert torch.equal(combine_rule("reference", head, vote), torch.tensor([[0.0, 1.0], [0.2, 0.8]]))
    assert torch.allclose(combine_rule("mix", head, vote), torch.tensor([[0.35, 0.65], [0.2, 0.8]]))
    with pytest.raises(ValueError, match="unknown identification rule"):
        combine_rule("vote", head, vote)


def test_classify_uses_the_reference_and_batching_changes_nothing(model_dir, records, tmp_path):
    out = model_dir[0]
    fasta = tmp_path / "q.fa"
    fasta.write_text("".join(f">{x['id']}\n{x['sequence'][:150 - 7 * (i % 5)]}\n" for i, x in enumerate(records[200:])))
    runs = []
    for batch in (1, 7, 64):
        path = tmp_path / f"calls-{batch}.tsv"
        assert main(["classify", str(fasta), "--model", str(out), "-o", str(path), "--batch-size", str(batch)]) == 0
        with open(path, newline="") as f:
            runs.append(list(csv.DictReader(f, delimiter="\t")))
    assert len(runs[0]) == 60
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert {k: v for k, v in a.items() if not k.endswith(("_prob", "novelty"))} == \
                   {k: v for k, v in b.items() if not k.endswith(("_prob", "novelty"))}
            for k in a:
                if k.endswith(("_prob", "novelty")) and a[k]:
                    assert abs(float(a[k]) - float(b[k])) < 1e-4


def test_classify_names_the_model_clearly(tmp_path, capsys):
    fasta = tmp_path / "q.fa"
    fasta.write_text(">a\nACGTACGTAC\n")
    assert main(["classify", str(fasta), "-o", str(tmp_path / "o.tsv")]) == 1
    assert "--model" in capsys.readouterr().err
    assert main(["classify", str(fasta), "--model", "no-such-bundled-name-or-folder", "-o", str(tmp_path / "o.tsv")]) == 1
