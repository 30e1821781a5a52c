"""Identification by heads + nearest training references (inference/reference_vote.py), and
`barcodefm classify` with a reference set: rules, a naive vote written here, padding/batching."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from conftest import save_tiny_taxonomy_model

from barcodefm.cli import main
from barcodefm.data import iter_barcodes, sample_path
from barcodefm.inference.kmer_reference import KmerReference
from barcodefm.inference.reference_vote import RULES, ReferenceSet, build_reference_set, combine_rule, run_model

RANKS = ("order", "family", "genus", "species")


@pytest.fixture(scope="module")
def records():
    return [r for _, r in zip(range(260), iter_barcodes(sample_path("coi")))]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, records):
    train = records[:200]
    out = tmp_path_factory.mktemp("reference-model")
    model, tok = save_tiny_taxonomy_model(out, train, RANKS)

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
    assert all(rule in RULES for rule in ref.rules.values())
    # An untrained network loses to sequence space: a sequence-space vote is chosen, so the classify
    # tests below run through it.
    assert ref.uses("kmer") or ref.uses("align")
    # The sequences file holds the same rows as the embeddings, as the model read them (cut to 150).
    stored = KmerReference.load(out)
    assert len(stored) == ref.embeddings.shape[0]
    distinct = list(dict.fromkeys((x["sequence"][:150], *(x[r] for r in RANKS)) for x in records[:200]))
    assert stored.sequences == [key[0] for key in distinct]
    spec = model.taxonomy.spec
    assert int(ref.labels["species"].max()) < len(spec.labels["species"])
    assert torch.allclose(ref.embeddings.norm(dim=1), torch.ones(ref.embeddings.shape[0]), atol=1e-5)
    saved = json.loads((out / "identification.json").read_text())
    assert saved["selection_accuracy"]["species"]["head"] >= 0
    # Every k-mer size was tried with both alignment identities; the best sum of scores was kept.
    assert set(saved["kmer_k_tried"]) == {f"{k}/{d}" for k in (6, 8) for d in ("shorter", "query")}
    best = max(saved["kmer_k_tried"].values())
    assert saved["kmer_k_tried"][f"{saved['kmer_k']}/{saved['align_identity']}"] == best
    assert ref.align_identity == saved["align_identity"] and ref.kmer.k == saved["kmer_k"]


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


def _kmer_counts(seq, k=6):
    counts = {}
    for i in range(len(seq) - k + 1):
        word = seq[i : i + k]
        if set(word) <= set("ACGT"):
            counts[word] = counts.get(word, 0) + 1
    return counts


def _cosine(a, b):
    dot = sum(v * b.get(w, 0) for w, v in a.items())
    return dot / (np.sqrt(sum(v * v for v in a.values())) * np.sqrt(sum(v * v for v in b.values())) or 1.0)


def test_kmer_neighbours_equal_a_naive_cosine_of_6mer_counts(model_dir, records):
    out = model_dir[0]
    stored = KmerReference.load(out)
    ref_counts = [_kmer_counts(s) for s in stored.sequences]
    queries = [x["sequence"][:150] for x in records[200:206]] + ["ACGTNNNNNNACGTAC" * 3]
    sims, idx = stored.neighbours(queries, k=5)
    for q, row_sims, row_idx in zip(queries, sims, idx):
        naive = np.array([_cosine(_kmer_counts(q), c) for c in ref_counts])
        order = np.argsort(-naive, kind="stable")[:5]
        assert np.allclose(row_sims.numpy(), naive[order], atol=1e-5)
        assert np.allclose(naive[row_idx.numpy()], naive[order], atol=1e-5)  # same similarities (ties may swap)
    # Batching never changes the neighbours.
    one = [stored.neighbours([q], k=5) for q in queries]
    assert torch.equal(torch.cat([i for _, i in one]), idx)
    assert torch.allclose(torch.cat([s for s, _ in one]), sims, atol=1e-6)


def test_rules_and_a_query_without_labelled_neighbours():
    head = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
    vote = torch.tensor([[0.0, 1.0], [0.0, 0.0]])  # the second query's neighbours have no label
    assert torch.equal(combine_rule("head", head, vote), head)
    assert torch.equal(combine_rule("reference", head, vote), torch.tensor([[0.0, 1.0], [0.2, 0.8]]))
    assert torch.allclose(combine_rule("mix", head, vote), torch.tensor([[0.35, 0.65], [0.2, 0.8]]))
    assert torch.equal(combine_rule("head+reference", head, vote), combine_rule("mix", head, vote))
    kmer = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert torch.allclose(combine_rule("kmer", head, vote, kmer), kmer)
    # The mean of the parts present: the second query's embedding vote is empty and left out.
    assert torch.allclose(
        combine_rule("head+reference+kmer", head, vote, kmer),
        torch.tensor([[(0.7 + 0.0 + 1.0) / 3, (0.3 + 1.0 + 0.0) / 3], [0.35, 0.65]]),
    )
    assert torch.allclose(combine_rule("reference+kmer", head, vote, kmer), torch.tensor([[0.5, 0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="needs the kmer vote"):
        combine_rule("head+kmer", head, vote)
    with pytest.raises(ValueError, match="unknown identification rule"):
        combine_rule("vote", head, vote)


def test_classify_uses_the_reference_and_batching_changes_nothing(model_dir, records, tmp_path):
    out = model_dir[0]
    fasta = tmp_path / "q.fa"
    fasta.write_text(
        "".join(f">{x['id']}\n{x['sequence'][: 150 - 7 * (i % 5)]}\n" for i, x in enumerate(records[200:]))
    )
    runs = []
    for batch in (1, 7, 64):
        path = tmp_path / f"calls-{batch}.tsv"
        assert main(["classify", str(fasta), "--model", str(out), "-o", str(path), "--batch-size", str(batch)]) == 0
        with open(path, newline="") as f:
            runs.append(list(csv.DictReader(f, delimiter="\t")))
    assert len(runs[0]) == 60
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert {k: v for k, v in a.items() if not k.endswith(("_prob", "novelty"))} == {
                k: v for k, v in b.items() if not k.endswith(("_prob", "novelty"))
            }
            for k in a:
                if k.endswith(("_prob", "novelty")) and a[k]:
                    assert abs(float(a[k]) - float(b[k])) < 1e-4


def test_classify_names_the_model_clearly(tmp_path, capsys):
    fasta = tmp_path / "q.fa"
    fasta.write_text(">a\nACGTACGTAC\n")
    assert main(["classify", str(fasta), "-o", str(tmp_path / "o.tsv")]) == 1
    assert "--model" in capsys.readouterr().err
    assert (
        main(["classify", str(fasta), "--model", "no-such-bundled-name-or-folder", "-o", str(tmp_path / "o.tsv")]) == 1
    )


def test_classify_calls_are_the_rules_applied_to_heads_and_votes(model_dir, records, tmp_path):
    out, model, tok, _ = model_dir
    ref = ReferenceSet.load(out)
    queries = records[200:230]
    seqs = [x["sequence"][:150] for x in queries]
    heads, emb = run_model(model, tok, seqs, batch_size=8, progress=False)
    combined, _ = ref.identify(heads, emb, seqs)
    spec = model.taxonomy.spec
    fasta = tmp_path / "q.fa"
    fasta.write_text("".join(f">{x['id']}\n{s}\n" for x, s in zip(queries, seqs)))
    calls_path = tmp_path / "calls.tsv"
    assert main(["classify", str(fasta), "--model", str(out), "-o", str(calls_path)]) == 0
    with open(calls_path, newline="") as f:
        calls = list(csv.DictReader(f, delimiter="\t"))
    for rank in RANKS:
        expected = [spec.labels[rank][i] for i in combined[rank].argmax(dim=1).tolist()]
        assert [c[rank] for c in calls] == expected, rank


def test_calibration_never_changes_the_call_and_is_chosen_to_lower_the_error():
    from barcodefm.inference.reference_vote import calibrate, choose_calibration

    gen = torch.Generator().manual_seed(0)
    n, c = 2000, 5
    truth = torch.randint(0, c, (n,), generator=gen)
    # Underconfident calls: right 90% of the time but saying ~0.45.
    right = torch.rand(n, generator=gen) < 0.9
    call = torch.where(right, truth, (truth + 1) % c)
    probs = torch.full((n, c), 0.55 / (c - 1))
    probs[torch.arange(n), call] = 0.45
    t, ece = choose_calibration(probs, truth.numpy())
    assert t < 1 and ece["after"] < ece["before"] / 3
    sharpened = calibrate(probs, t)
    assert torch.equal(sharpened.argmax(dim=1), probs.argmax(dim=1))
    assert torch.allclose(sharpened.sum(dim=1), torch.ones(n))
    assert torch.equal(calibrate(probs, 1.0), probs)
    # Overconfident ones (0.99 and right 60%) are softened; an all-zero row stays zero.
    probs = torch.full((n, c), 0.01 / (c - 1))
    right = torch.rand(n, generator=gen) < 0.6
    call = torch.where(right, truth, (truth + 1) % c)
    probs[torch.arange(n), call] = 0.99
    assert choose_calibration(probs, truth.numpy())[0] > 1
    assert torch.equal(calibrate(torch.zeros(2, c), 2.0), torch.zeros(2, c))


def test_identify_applies_the_stored_calibration(model_dir, records):
    out, model, tok, settings = model_dir
    ref = ReferenceSet.load(out)
    ref.distance_calibration = None  # the temperatures alone here (the distance fit: test_distance_calibration)
    assert set(ref.calibration) == set(RANKS) == set(settings["calibration"])
    seqs = [r["sequence"][:150] for r in records[200:230]]
    heads, emb = run_model(model, tok, seqs, batch_size=8, progress=False)
    calibrated, _ = ref.identify(heads, emb, seqs)
    ref.calibration = {rank: 1.0 for rank in RANKS}
    raw, _ = ref.identify(heads, emb, seqs)
    from barcodefm.inference.reference_vote import calibrate

    for rank in RANKS:
        assert torch.allclose(calibrated[rank], calibrate(raw[rank], settings["calibration"][rank]))
        assert torch.equal(calibrated[rank].argmax(dim=1), raw[rank].argmax(dim=1))
