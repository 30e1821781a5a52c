"""The novelty score (inference/novelty.py): the candidates, the positive-weight regression, the
stored form, and that classify, the index and identify report the score the folder stores."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import save_tiny_taxonomy_model

from barcodefm.cli import main
from barcodefm.data import iter_barcodes, sample_path
from barcodefm.inference.novelty import LOGISTIC, NoveltyScore, choose_novelty_score
from barcodefm.inference.reference_vote import ReferenceSet, build_reference_set, novelty_evidence, run_model

RANKS = ("order", "family", "genus", "species")


def _evidence(n=400, seed=0):
    rng = np.random.default_rng(seed)
    novel = np.arange(n) < n // 2
    return rng, novel


def test_one_piece_of_evidence_that_separates_alone_is_kept_as_it_is():
    rng, novel = _evidence()
    evidence = {
        "embedding": np.where(novel, 0.5, 0.1) + rng.uniform(0, 0.05, novel.size),  # separates perfectly
        "kmer": rng.uniform(0, 1, novel.size),
        "call": rng.uniform(0, 1, novel.size),
    }
    score, auroc = choose_novelty_score(evidence, novel)
    assert auroc["embedding"] == 1.0 and auroc["kmer"] < 0.6
    assert score == NoveltyScore(("embedding",))  # the regression ties at 1.0: the simpler score wins
    assert np.array_equal(score(evidence), evidence["embedding"])


def test_complementary_evidence_gives_a_regression_that_reads_the_raw_evidence():
    from sklearn.linear_model import LogisticRegression

    rng, novel = _evidence()
    # Half the novel records are far in k-mer space, the other half make the identifier hesitate.
    far = novel & (np.arange(novel.size) % 2 == 0)
    evidence = {
        "kmer": np.where(far, 0.3, 0.0) + rng.uniform(0, 0.1, novel.size),
        "call": np.where(novel & ~far, 0.6, 0.1) + rng.uniform(0, 0.3, novel.size),
    }
    score, auroc = choose_novelty_score(evidence, novel)
    assert auroc[LOGISTIC] > max(auroc["kmer"], auroc["call"]) + 0.05
    assert score.features == ("kmer", "call") and all(w > 0 for w in score.weights)
    # The stored weights fold the standardisation in: the same probabilities as the fit on scaled data.
    x = np.stack([evidence["kmer"], evidence["call"]], axis=1)
    scaled = (x - x.mean(axis=0)) / x.std(axis=0)
    direct = LogisticRegression(class_weight="balanced", max_iter=1000).fit(scaled, novel)
    assert np.allclose(score(evidence), direct.predict_proba(scaled)[:, 1], atol=1e-6)
    assert ((score(evidence) >= 0) & (score(evidence) <= 1)).all()


def test_no_weight_is_negative_more_distant_never_means_less_novel():
    rng, novel = _evidence(600)
    noise = rng.normal(0, 1, novel.size)
    evidence = {
        "embedding": novel + noise,  # signal plus noise
        "kmer": noise + rng.normal(0, 0.05, novel.size),  # the noise alone: given embedding, a negative weight
        "call": novel + rng.normal(0, 1.5, novel.size),
    }
    unconstrained = pytest.importorskip("sklearn.linear_model").LogisticRegression(max_iter=1000)
    x = np.stack([evidence[f] for f in ("embedding", "kmer", "call")], axis=1)
    assert unconstrained.fit(x, novel).coef_[0][1] < 0  # what the constraint prevents
    score, _ = choose_novelty_score(evidence, novel)
    assert "kmer" not in score.features
    assert score.weights is None or all(w > 0 for w in score.weights)
    # Monotone: raising any piece of evidence of a query never lowers its score.
    raised = {f: v + (0.5 if f == score.features[0] else 0.0) for f, v in evidence.items()}
    assert (score(raised) >= score(evidence)).all()


def test_stored_form_and_folders_without_a_score():
    assert NoveltyScore.from_info(None) == NoveltyScore(("embedding",))
    assert NoveltyScore.from_info({"threshold": 0.2, "method": "..."}) == NoveltyScore(("embedding",))
    fitted = NoveltyScore(("kmer", "call"), (2.0, 3.0), -1.5)
    assert NoveltyScore.from_info({"score": fitted.to_info()}) == fitted
    assert NoveltyScore.from_info(json.loads(json.dumps({"score": NoveltyScore().to_info()}))) == NoveltyScore()
    with pytest.raises(KeyError, match="reads \\['kmer'\\]"):
        fitted({"call": np.zeros(2)})
    # Too few records of one kind to choose on: the embedding distance.
    rng, novel = _evidence(40)
    assert choose_novelty_score({"embedding": rng.uniform(size=40)}, np.arange(40) < 3) == (NoveltyScore(), {})


@pytest.fixture(scope="module")
def novelty_model(tmp_path_factory):
    records = list(iter_barcodes(sample_path("coi")))
    train = [r for r in records if r["split"] == "train"][:300]
    known = {r["species"] for r in train}
    seen = [r for r in records if r["split"] == "val" and r["species"] in known][:25]
    novel = [r for r in records if r["split"] == "unseen_key" and r["species"] not in known][:25]
    assert len(seen) == len(novel) == 25
    out = tmp_path_factory.mktemp("novelty-model")
    model, tok = save_tiny_taxonomy_model(out, train, RANKS)

    def rows(part, is_novel):
        d = {r: [x[r] for x in part] for r in RANKS}
        d["sequence"] = [x["sequence"][:150] for x in part]
        d["novel"] = is_novel
        return d

    selection = rows(seen + novel, [False] * len(seen) + [True] * len(novel))
    settings = build_reference_set(model, tok, out, rows(train, [False] * len(train)), selection, batch_size=16)
    queries = [r for r in records if r["split"] in ("test", "unseen_query")][:30]
    return out, model, tok, settings, queries


def test_the_recipe_stores_the_chosen_score_and_its_threshold(novelty_model):
    out, _, _, settings, _ = novelty_model
    info = json.loads((out / "novelty.json").read_text())
    assert info == settings["novelty"]
    auroc = info["selection_auroc"]
    assert {"embedding", "kmer", "align", "call"} <= set(auroc)
    chosen = NoveltyScore.from_info(info)
    best = max(auroc.values())
    name = LOGISTIC if chosen.weights is not None else chosen.features[0]
    assert auroc[name] == best
    assert ReferenceSet.load(out).novelty == chosen
    assert info["n_val_seen"] == info["n_val_novel"] == 25
    assert 0 <= info["embedding_threshold"] <= 2  # a cosine distance: what classify --index compares with
    assert 0 <= info["detection_rate"] <= 1 and 0 <= info["false_alarm_rate"] <= 1


def test_evidence_is_the_nearest_neighbours_and_the_lowest_rank_call(novelty_model):
    out, model, tok, _, queries = novelty_model
    ref = ReferenceSet.load(out)
    seqs = [q["sequence"][:150] for q in queries]
    heads, emb = run_model(model, tok, seqs, batch_size=8, progress=False)
    found = ref.find(emb, seqs, sources=("kmer", "align"))
    combined, evidence = ref.identify(heads, emb, seqs, found=found)
    assert np.allclose(evidence["embedding"], 1 - found["reference"][0][:, 0].numpy(), atol=1e-6)
    assert np.allclose(evidence["kmer"], 1 - found["kmer"][0][:, 0].numpy(), atol=1e-6)
    assert np.allclose(evidence["align"], 1 - found["align"][0][:, 0].numpy(), atol=1e-6)
    assert np.allclose(evidence["call"], 1 - combined["species"].max(dim=1).values.numpy(), atol=1e-6)
    again = novelty_evidence(found, combined["species"])
    assert again.keys() == evidence.keys() and all(np.array_equal(evidence[k], v) for k, v in again.items())


@pytest.mark.parametrize(
    "score", [NoveltyScore(), NoveltyScore(("kmer", "call"), (4.0, 2.0), -2.0)], ids=["embedding", "regression"]
)
def test_classify_writes_the_folders_score_and_threshold(novelty_model, tmp_path, score):
    out, model, tok, _, queries = novelty_model
    folder = tmp_path / "model"
    folder.mkdir()
    for path in out.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    info = json.loads((folder / "novelty.json").read_text()) | {"score": score.to_info(), "threshold": 0.3}
    (folder / "novelty.json").write_text(json.dumps(info))
    seqs = [q["sequence"][:150] for q in queries]
    fasta = tmp_path / "q.fa"
    fasta.write_text("".join(f">{q['id']}\n{s}\n" for q, s in zip(queries, seqs)))
    calls = tmp_path / "calls.tsv"
    assert main(["classify", str(fasta), "--model", str(folder), "-o", str(calls), "--batch-size", "7"]) == 0
    with open(calls, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    ref = ReferenceSet.load(folder)
    assert ref.novelty == score
    heads, emb = run_model(model, tok, seqs, batch_size=8, progress=False)
    expected = score(ref.identify(heads, emb, seqs)[1])
    assert np.allclose([float(r["novelty"]) for r in rows], np.maximum(expected, 0), atol=2e-4)
    assert [r["likely_novel"] for r in rows] == [str(bool(v > 0.3)).lower() for v in expected]
