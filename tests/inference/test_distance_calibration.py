"""Calibration given how far a call's supporting references are (inference/distance_calibration.py)
and records made novel by leaving taxa out of an identifier (inference/leave_out.py): the support
features against a naive loop, calls never changed, the fit kept only where it helps the left-out
groups without hurting the records as they come, taxa really gone from references and heads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import save_tiny_taxonomy_model

from barcodefm.data import iter_barcodes, sample_path
from barcodefm.evaluation.metrics import expected_calibration_error
from barcodefm.inference.distance_calibration import (
    DistanceCalibration,
    RankCalibration,
    calibration_rows,
    choose_distance_calibration,
    support_evidence,
)
from barcodefm.inference.leave_out import ancestors_at, leave_out, without_taxa
from barcodefm.inference.reference_vote import ReferenceSet, build_reference_set, encode_labels, run_model

RANKS = ("order", "family", "genus", "species")


def test_support_evidence_equals_a_naive_loop():
    rng = np.random.default_rng(0)
    labels = torch.as_tensor(rng.integers(-1, 4, size=30))
    sims = torch.sort(torch.rand(6, 5), dim=1, descending=True).values
    idx = torch.as_tensor(rng.integers(0, 30, size=(6, 5)))
    calls = torch.as_tensor(rng.integers(0, 4, size=6))
    got = support_evidence({"align": (sims, idx), "reference": (sims * 0.5, idx)}, labels, calls)
    for q in range(6):
        carrying = [j for j in range(5) if int(labels[idx[q, j]]) == int(calls[q])]
        expected = float(sims[q, carrying[0]]) if carrying else float(sims[q, -1])
        assert got["align"][q] == pytest.approx(expected)
        assert got["embedding"][q] == pytest.approx(expected * 0.5)
        assert got["agreement"][q] == pytest.approx(len(carrying) / 5)


def test_apply_sets_the_call_probability_and_never_changes_the_call():
    fit = RankCalibration(("align",), (1.0, 10.0), -9.0, (-20.0, 0.0, 20.0), (0.0, 0.5, 1.0))
    calibration = DistanceCalibration({"genus": fit})
    assert DistanceCalibration.from_info(calibration.to_info()) == calibration
    probs = {"genus": torch.softmax(torch.randn(40, 7) * 3, dim=1), "species": torch.rand(40, 3)}
    idx = torch.zeros(40, 2, dtype=torch.long)
    found = {"align": (torch.full((40, 2), 0.8), idx)}
    labels = {"genus": torch.zeros(10, dtype=torch.long), "species": torch.zeros(10, dtype=torch.long)}
    out = calibration.apply(probs, found, labels)
    assert torch.equal(out["genus"].argmax(dim=1), probs["genus"].argmax(dim=1))
    assert torch.equal(out["species"], probs["species"])  # a rank without a fit is left as it is
    assert torch.allclose(out["genus"].sum(dim=1), torch.ones(40, dtype=out["genus"].dtype))


def test_the_fit_is_kept_where_distance_explains_the_mistakes():
    rng = np.random.default_rng(1)
    n = 3000
    group = np.array(["seen"] * n + ["novel species"] * n + ["novel genus"] * n)
    identity = np.concatenate([rng.uniform(0.97, 1.0, n), rng.uniform(0.9, 0.97, n), rng.uniform(0.75, 0.9, n)])
    right = np.concatenate([rng.random(n) < 0.99, rng.random(n) < 0.9, np.zeros(n, bool)])
    p = np.full(3 * n, 0.99)  # the vote is sure everywhere
    rows = {"genus": {"p": p, "right": right, "group": group, "align": identity}, "species": None}
    rows["species"] = {"p": p, "right": right & (group == "seen"), "group": group, "align": identity}
    fit, report = choose_distance_calibration(rows)
    assert report["genus"]["kept"] and fit is not None and "genus" in fit.ranks
    q = fit.ranks["genus"].probability(p, {"align": identity})
    novel = group == "novel genus"
    assert (
        expected_calibration_error(q[novel], right[novel]) < 0.05 < expected_calibration_error(p[novel], right[novel])
    )
    seen = group == "seen"
    assert expected_calibration_error(q[seen], right[seen]) < 0.02


def test_the_fit_is_refused_where_it_would_hurt_the_records_as_they_come():
    rng = np.random.default_rng(2)
    n = 2000
    group = np.array(["seen"] * n + ["novel species"] * n + ["novel genus"] * n)
    identity = rng.uniform(0.8, 1.0, 3 * n)  # distance says nothing
    right = np.concatenate([rng.random(n) < 0.99, rng.random(n) < 0.99, np.zeros(n, bool)])
    rows = {"genus": {"p": np.full(3 * n, 0.99), "right": right, "group": group, "align": identity}}
    fit, report = choose_distance_calibration(rows)
    assert fit is None and report["genus"]["kept"] is False


@pytest.fixture(scope="module")
def identifier(tmp_path_factory):
    records = [r for _, r in zip(range(260), iter_barcodes(sample_path("coi")))]
    out = tmp_path_factory.mktemp("distance-model")
    model, tok = save_tiny_taxonomy_model(out, records[:200], RANKS)

    def rows(part, novel):
        d = {r: [x[r] for x in part] for r in RANKS}
        d["sequence"] = [x["sequence"][:150] for x in part]
        d["novel"] = [novel] * len(part)
        return d

    build_reference_set(model, tok, out, rows(records[:200], False), rows(records[200:], False), batch_size=32)
    return out, model, tok, rows(records[:200], False)


def test_ancestors_and_heads_without_taxa(identifier):
    _, model, _, _ = identifier
    spec = model.taxonomy.spec
    genus_family = spec.parent_indices("genus")
    species_family = ancestors_at(spec, "species", "family")
    species_genus = spec.parent_indices("species")
    assert np.array_equal(species_family, np.where(species_genus >= 0, genus_family[species_genus], -1))
    heads = {r: torch.softmax(torch.randn(5, n), dim=1) for r, n in zip(spec.ranks, spec.num_classes)}
    gone = np.array([0])
    out = without_taxa(heads, spec, "family", gone)
    assert torch.equal(out["order"], heads["order"])  # above the level: untouched
    for rank in ("family", "genus", "species"):
        removed = np.isin(ancestors_at(spec, rank, "family"), gone)
        assert float(out[rank][:, torch.as_tensor(removed)].sum()) == 0.0
        kept = heads[rank][:, torch.as_tensor(~removed)]
        assert torch.allclose(out[rank][:, torch.as_tensor(~removed)], kept / kept.sum(dim=1, keepdim=True))


def test_leave_out_removes_the_taxa_from_the_references_and_every_record_is_identified_once(identifier):
    out, model, tok, train = identifier
    spec = model.taxonomy.spec
    reference = ReferenceSet.load(out)
    truth = encode_labels(spec, RANKS, train)
    heads, emb = run_model(model, tok, train["sequence"], 64, progress=False)
    seen = []
    for records, combined, _, without, fold_heads in leave_out(
        reference, spec, heads, emb, train["sequence"], truth, "genus"
    ):
        left_out = np.unique(truth["genus"][records])
        assert not np.isin(without.labels["genus"].numpy(), left_out).any()
        assert len(without.kmer) == without.embeddings.shape[0] == without.labels["genus"].shape[0]
        calls = combined["genus"].argmax(dim=1).numpy()
        assert not np.isin(calls, left_out).any()  # nothing can name a genus it no longer has
        assert set(combined) == set(RANKS) and fold_heads["genus"].shape[0] == len(records)
        seen += records.tolist()
    assert sorted(seen) == sorted(np.flatnonzero(truth["genus"] >= 0).tolist())


def test_calibration_rows_hold_every_group(identifier):
    out, model, tok, train = identifier
    spec = model.taxonomy.spec
    reference = ReferenceSet.load(out)
    truth = encode_labels(spec, RANKS, train)
    labelled = {r: np.array([bool(v) for v in train[r]]) for r in RANKS}
    heads, emb = run_model(model, tok, train["sequence"], 64, progress=False)
    rows = calibration_rows(reference, spec, heads, emb, train["sequence"], truth, labelled, np.zeros(200, bool))
    assert set(np.unique(rows["genus"]["group"])) == {"seen", "novel order", "novel family", "novel genus"}
    assert not rows["genus"]["right"][rows["genus"]["group"] == "novel genus"].any()
    searched = {"reference": "embedding", "kmer": "kmer", "align": "align"}
    expected = {searched[s] for s in reference.find(emb[:2], train["sequence"][:2])}
    features = set(rows["genus"]) - {"p", "right", "group", "nearest_similarity", "nearest_right"}
    assert features == expected | ({"agreement"} if expected & {"kmer", "align"} else set())
