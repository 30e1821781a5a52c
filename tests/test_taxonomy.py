"""Taxonomy spec, hierarchical label smoothing, weighted loss, heads and prediction."""

from __future__ import annotations

import csv
import gzip
import json
import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import skip_without_shared_data

from barcodefm.models.taxonomy import (
    IGNORE_INDEX,
    TaxonomyHeads,
    TaxonomySpec,
    class_weights,
    hierarchical_targets,
    hierarchy_tables,
    predict,
    resolve_label_smoothing,
)

# The hand-worked tree: 2 phyla, 3 genera, 5 species.
#   P1 -> G1 -> S1, S2
#   P1 -> G2 -> S3
#   P2 -> G3 -> S4, S5
TREE = {
    "phylum": ["P1", "P1", "P1", "P2", "P2"],
    "genus": ["G1", "G1", "G2", "G3", "G3"],
    "species": ["S1", "S2", "S3", "S4", "S5"],
}
MASSES = [0.1, 0.2, 0.04]  # s_phylum, s_genus, s_species (= the flat mass s_R)


def tree_spec(extra: dict | None = None) -> TaxonomySpec:
    columns = {r: list(v) for r, v in TREE.items()}
    for rank, values in (extra or {}).items():
        columns[rank] += values
    return TaxonomySpec.from_columns(columns)


def all_targets(heads: TaxonomyHeads, rank_index: int) -> torch.Tensor:
    return heads.soft_targets(rank_index, torch.arange(heads.spec.num_classes[rank_index]))


def test_hls_targets_match_the_hand_computation():
    heads = TaxonomyHeads(4, tree_spec(), label_smoothing=MASSES)
    # Species (C=5). Flat part: s_R/(C-1) = 0.04/4 = 0.01 to every other species.
    # True base: 1 - 0.04 - 0.1 - 0.2 = 0.66.
    # True S1: phylum mass 0.1 from P1 -> G1 0.05 (S1 0.025, S2 0.025), G2 0.05 (S3 0.05);
    #          genus mass 0.2 from G1 -> S1 0.1, S2 0.1.
    #          S1 = 0.66+0.025+0.1 = 0.785; S2 = 0.01+0.025+0.1 = 0.135; S3 = 0.01+0.05 = 0.06.
    # True S3: phylum mass: S1 0.025, S2 0.025, S3 0.05; genus mass 0.2 from G2 -> S3.
    #          S1 = S2 = 0.01+0.025 = 0.035; S3 = 0.66+0.05+0.2 = 0.91.
    #          (Uniform over P1's species would have given 0.0333 each: the split is per level.)
    # True S4: phylum mass 0.1 from P2 -> G3 -> S4 0.05, S5 0.05; genus mass 0.2 -> 0.1 each.
    #          S4 = 0.66+0.05+0.1 = 0.81; S5 = 0.01+0.05+0.1 = 0.16.
    species = torch.tensor(
        [
            [0.785, 0.135, 0.060, 0.010, 0.010],
            [0.135, 0.785, 0.060, 0.010, 0.010],
            [0.035, 0.035, 0.910, 0.010, 0.010],
            [0.010, 0.010, 0.010, 0.810, 0.160],
            [0.010, 0.010, 0.010, 0.160, 0.810],
        ]
    )
    # Genus (C=3): flat 0.04/2 = 0.02; base 1 - 0.04 - 0.1 = 0.86;
    # true G1: phylum mass 0.1 over P1's genera G1, G2 -> 0.05 each: G1 0.91, G2 0.07, G3 0.02.
    # true G3: P2 has one genus: G3 = 0.86 + 0.1 = 0.96, others 0.02.
    genus = torch.tensor([[0.91, 0.07, 0.02], [0.07, 0.91, 0.02], [0.02, 0.02, 0.96]])
    # Phylum (C=2): no rank above; flat 0.04/1 to the other phylum, true 0.96.
    phylum = torch.tensor([[0.96, 0.04], [0.04, 0.96]])
    torch.testing.assert_close(all_targets(heads, 2), species, atol=1e-6, rtol=0)
    torch.testing.assert_close(all_targets(heads, 1), genus, atol=1e-6, rtol=0)
    torch.testing.assert_close(all_targets(heads, 0), phylum, atol=1e-6, rtol=0)


def test_default_smoothing_is_002_above_species_and_no_flat_mass():
    spec = tree_spec()
    assert resolve_label_smoothing("default", 3) == [0.02, 0.02, 0.0]
    heads = TaxonomyHeads(4, spec)  # label_smoothing="default"
    # True S3: base 1 - 0 - 0.02 - 0.02 = 0.96; phylum 0.02 -> S1 0.005, S2 0.005, S3 0.01;
    # genus 0.02 -> S3. S3 = 0.99; no flat mass, so S4 = S5 = 0.
    torch.testing.assert_close(
        heads.soft_targets(2, torch.tensor([2])),
        torch.tensor([[0.005, 0.005, 0.99, 0.0, 0.0]]),
        atol=1e-6,
        rtol=0,
    )
    # Phylum has no ancestors and the flat mass is 0: one-hot.
    torch.testing.assert_close(all_targets(heads, 0), torch.eye(2))


def test_dead_end_branches_take_no_mass_and_orphans_keep_theirs():
    # G0 sits under P1 but has no known species: at species rank P1's mass still goes to G1
    # and G2 only, so species targets are unchanged. G9/S9 have no known phylum.
    spec = tree_spec({"phylum": ["P1", None], "genus": ["G0", "G9"], "species": [None, "S9"]})
    heads = TaxonomyHeads(4, spec, label_smoothing=MASSES)
    base = TaxonomyHeads(4, tree_spec(), label_smoothing=MASSES)
    targets = all_targets(heads, 2)  # species S1..S5, S9
    # S1..S5 rows: as before, except that the flat mass 0.04 now spreads over 5 other classes
    # (0.008 each, S9 included) instead of 4 (0.01): the hierarchical part is unchanged.
    off_diagonal = 1 - torch.eye(5)
    torch.testing.assert_close(targets[:5, :5], all_targets(base, 2) + (0.008 - 0.01) * off_diagonal, atol=1e-6, rtol=0)
    torch.testing.assert_close(targets[:5, 5], torch.full((5,), 0.008), atol=1e-6, rtol=0)
    # S9: flat 0.008 to the 5 others; base 0.66; phylum mass 0.1 has no phylum to start from,
    # so it flows from S9's highest known ancestor G9 (only child S9); genus mass 0.2 -> S9.
    torch.testing.assert_close(targets[5], torch.tensor([0.008] * 5 + [0.66 + 0.1 + 0.2]), atol=1e-6, rtol=0)
    # At genus rank P1 now has three genera: true G1 -> G0, G1, G2 get 0.1/3 each.
    genus = spec.labels["genus"]
    row = heads.soft_targets(1, torch.tensor([genus.index("G1")]))[0]
    assert row[genus.index("G0")].item() == pytest.approx(0.04 / 4 + 0.1 / 3, abs=1e-6)
    assert row[genus.index("G1")].item() == pytest.approx(1 - 0.04 - 0.1 + 0.1 / 3, abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_targets_are_distributions_on_random_trees(seed):
    rng = np.random.default_rng(seed)
    n = 300
    phylum = rng.integers(0, 4, n)
    family = phylum * 10 + rng.integers(0, 3, n)
    genus = family * 10 + rng.integers(0, 4, n)
    species = genus * 10 + rng.integers(0, 3, n)
    columns = {
        r: [None if rng.random() < 0.1 else f"{r[0]}{v}" for v in values]
        for r, values in zip(["phylum", "family", "genus", "species"], [phylum, family, genus, species])
    }
    masses = list(rng.dirichlet(np.ones(5))[:4] * 0.6)
    heads = TaxonomyHeads(8, TaxonomySpec.from_columns(columns), label_smoothing=masses)
    for i in range(4):
        targets = all_targets(heads, i)
        assert targets.min().item() >= 0
        torch.testing.assert_close(targets.sum(dim=1), torch.ones(len(targets)), atol=1e-6, rtol=0)
        # The true class keeps the largest share.
        assert torch.equal(targets.argmax(dim=1), torch.arange(len(targets)))


def test_bad_smoothing_masses_are_rejected():
    with pytest.raises(ValueError, match="one mass per rank"):
        TaxonomyHeads(4, tree_spec(), label_smoothing=[0.1, 0.1])
    with pytest.raises(ValueError, match="sum to at most 1"):
        TaxonomyHeads(4, tree_spec(), label_smoothing=[0.6, 0.5, 0.0])
    assert resolve_label_smoothing(None, 3) == [0.0, 0.0, 0.0]


def test_class_weight_formula_and_normalisation():
    counts = torch.tensor([1, 4, 16, 0])
    # n^-0.5 = 1, 0.5, 0.25 (the unseen class is weighted as if seen once: 1);
    # mean over seen classes = 1.75/3, so weights = raw * 3/1.75.
    torch.testing.assert_close(
        class_weights(counts, 0.5), torch.tensor([1.714286, 0.857143, 0.428571, 1.714286]), atol=1e-6, rtol=0
    )
    # strength 1: 1, 0.25, 0.0625; mean 0.4375.
    torch.testing.assert_close(
        class_weights(counts[:3], 1.0), torch.tensor([2.285714, 0.571429, 0.142857]), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(class_weights(counts, 0.0), torch.ones(4))
    spec = tree_spec()
    assert spec.counts["genus"] == [2, 1, 2]
    heads = TaxonomyHeads(4, spec)
    # genus counts 2, 1, 2 -> 0.7071, 1, 0.7071; mean 0.8047.
    torch.testing.assert_close(heads.class_weights(1), torch.tensor([0.878680, 1.242641, 0.878680]), atol=1e-6, rtol=0)


def _batch(spec, n=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = {
        r: torch.randn(n, c, generator=generator, dtype=torch.float64) for r, c in zip(spec.ranks, spec.num_classes)
    }
    labels = torch.stack([torch.randint(0, c, (n,), generator=generator) for c in spec.num_classes], dim=1)
    return logits, labels


def test_without_smoothing_or_weights_the_loss_is_cross_entropy():
    spec = tree_spec()
    heads = TaxonomyHeads(4, spec, label_smoothing=None, class_weight_strength=0, rank_weights=[1.0, 2.0, 0.5])
    logits, labels = _batch(spec)
    labels[3, 2] = IGNORE_INDEX
    labels[5, 0] = IGNORE_INDEX
    out = heads.loss(logits, labels)
    expected = [F.cross_entropy(logits[r], labels[:, i], ignore_index=IGNORE_INDEX) for i, r in enumerate(spec.ranks)]
    for rank, value in zip(spec.ranks, expected):
        torch.testing.assert_close(out.per_rank[rank], value)
    torch.testing.assert_close(out.total, expected[0] + 2 * expected[1] + 0.5 * expected[2])


def test_weighted_loss_matches_torch_weighted_cross_entropy():
    spec = tree_spec()
    heads = TaxonomyHeads(4, spec, label_smoothing=None, class_weight_strength=0.5)
    logits, labels = _batch(spec, seed=1)
    out = heads.loss(logits, labels)
    for i, rank in enumerate(spec.ranks):
        weight = heads.class_weights(i).double()
        torch.testing.assert_close(out.per_rank[rank], F.cross_entropy(logits[rank], labels[:, i], weight=weight))
    # The flat part of HLS alone is torch's label smoothing with eps' = eps * C / (C - 1).
    flat = TaxonomyHeads(4, spec, label_smoothing=[0.0, 0.0, 0.08], class_weight_strength=0)
    torch.testing.assert_close(
        flat.loss(logits, labels).per_rank["species"],
        F.cross_entropy(logits["species"], labels[:, 2], label_smoothing=0.1),
    )


def test_unknown_label_is_left_out_of_that_rank_only():
    spec = tree_spec()
    heads = TaxonomyHeads(4, spec, label_smoothing=MASSES, class_weight_strength=0.5)
    logits, labels = _batch(spec, seed=2)
    full = heads.loss(logits, labels)
    masked = labels.clone()
    masked[0, 2] = IGNORE_INDEX
    out = heads.loss(logits, masked)
    torch.testing.assert_close(out.per_rank["genus"], full.per_rank["genus"])
    torch.testing.assert_close(out.per_rank["phylum"], full.per_rank["phylum"])
    rest = heads.loss({r: x[1:] for r, x in logits.items()}, labels[1:])
    torch.testing.assert_close(out.per_rank["species"], rest.per_rank["species"])
    assert not torch.allclose(out.per_rank["species"], full.per_rank["species"])
    # A rank with no known label at all contributes 0, not NaN.
    masked[:, 2] = IGNORE_INDEX
    assert heads.loss(logits, masked).per_rank["species"].item() == 0.0
    with pytest.raises(ValueError, match="species head has 5 classes"):
        bad = labels.clone()
        bad[0, 2] = 5
        heads.loss(logits, bad)


def test_loss_is_differentiable():
    spec = tree_spec()
    heads = TaxonomyHeads(4, spec, label_smoothing=MASSES, class_weight_strength=0.5).double()
    _, labels = _batch(spec, n=6, seed=3)
    labels[1, 1] = IGNORE_INDEX
    pooled = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: heads.loss(heads(x), labels).total, (pooled,))
    heads.zero_grad()
    heads.loss(heads(pooled), labels).total.backward()
    for rank in spec.ranks:
        assert heads.heads[rank].weight.grad.abs().sum() > 0


def test_heads_parameter_names_and_rebuildable_buffers():
    spec = tree_spec()
    heads = TaxonomyHeads(16, spec, dropout=0.1)
    assert set(heads.state_dict()) == {f"heads.{r}.{p}" for r in spec.ranks for p in ("weight", "bias")}
    logits = heads.eval()(torch.randn(3, 16))
    assert list(logits) == spec.ranks and logits["species"].shape == (3, 5)
    # transformers 5 may build on the meta device, then materialise and call _init_weights.
    with torch.device("meta"):
        lazy = TaxonomyHeads(16, spec)
    lazy.to_empty(device="cpu")
    lazy.reset_buffers()
    for name, buffer in heads.named_buffers():
        assert torch.equal(dict(lazy.named_buffers())[name], buffer), name
    # Integer buffers survive a cast to bfloat16; targets stay exact.
    heads.to(torch.bfloat16)
    assert all(b.dtype == torch.long for b in heads.buffers())
    torch.testing.assert_close(all_targets(heads, 2).sum(dim=1), torch.ones(5), atol=1e-6, rtol=0)


def _logits_from_probs(spec, rows):
    """rows: per sample {rank: {label: prob}}; unlisted labels share the rest evenly."""
    out = {}
    for rank, size in zip(spec.ranks, spec.num_classes):
        probs = []
        for row in rows:
            p = np.zeros(size)
            for label, value in row[rank].items():
                p[spec.index(rank, label)] = value
            rest = size - len(row[rank])
            if rest:
                p[p == 0] = (1 - p.sum()) / rest
            probs.append(p)
        out[rank] = torch.log(torch.tensor(np.array(probs)))
    return out


def test_predict_names_probabilities_and_consistency():
    spec = tree_spec()
    rows = [
        {"phylum": {"P1": 0.9}, "genus": {"G1": 0.8}, "species": {"S2": 0.7}},  # consistent
        {"phylum": {"P1": 0.9}, "genus": {"G3": 0.8}, "species": {"S4": 0.7}},  # G3 is not in P1
    ]
    result = predict(_logits_from_probs(spec, rows), spec.to_dict())
    assert result[0]["labels"] == {"phylum": "P1", "genus": "G1", "species": "S2"}
    assert result[0]["probs"] == pytest.approx({"phylum": 0.9, "genus": 0.8, "species": 0.7})
    assert result[0]["consistent"] and result[0]["inconsistent_ranks"] == []
    assert not result[1]["consistent"] and result[1]["inconsistent_ranks"] == ["genus"]


def test_predict_min_prob_truncates_from_the_first_uncertain_rank_down():
    spec = tree_spec()
    rows = [
        {"phylum": {"P1": 0.9}, "genus": {"G1": 0.6}, "species": {"S1": 0.8}},
        {"phylum": {"P2": 0.9}, "genus": {"G1": 0.8}, "species": {"S3": 0.3}},
    ]
    result = predict(_logits_from_probs(spec, rows), spec, min_prob=0.7)
    # Genus 0.6 < 0.7: genus and species dropped although species alone is 0.8.
    assert result[0]["labels"] == {"phylum": "P1", "genus": None, "species": None}
    assert result[0]["probs"]["genus"] == pytest.approx(0.6)  # kept: how far below the cutoff
    # Sample 2: species truncated; the remaining P2 -> G1 pair is inconsistent.
    assert result[1]["labels"] == {"phylum": "P2", "genus": "G1", "species": None}
    assert result[1]["inconsistent_ranks"] == ["genus"]
    assert predict(_logits_from_probs(spec, rows), spec)[0]["labels"]["species"] == "S1"
    with pytest.raises(ValueError, match="min_prob"):
        predict(_logits_from_probs(spec, rows), spec, min_prob=1.5)


def test_a_call_is_never_surer_than_the_call_above_it_contains_it():
    spec = tree_spec()
    rows = [
        {"phylum": {"P1": 0.5}, "genus": {"G1": 0.99}, "species": {"S2": 0.8}},  # consistent lineage
        {"phylum": {"P1": 0.5}, "genus": {"G3": 0.99}, "species": {"S4": 0.8}},  # G3 is not in P1
    ]
    result = predict(_logits_from_probs(spec, rows), spec)
    assert result[0]["labels"] == {"phylum": "P1", "genus": "G1", "species": "S2"}
    assert result[0]["probs"] == pytest.approx({"phylum": 0.5, "genus": 0.5, "species": 0.5})
    # Not inside the call above: nothing to cap against (and flagged inconsistent).
    assert result[1]["probs"]["genus"] == pytest.approx(0.99) and not result[1]["consistent"]
    # The cap changes no label and no min_prob cut: the rank above was already below it.
    cut = predict(_logits_from_probs(spec, rows), spec, min_prob=0.7)
    assert cut[0]["labels"] == {"phylum": None, "genus": None, "species": None}


def test_spec_round_trips_through_json():
    spec = tree_spec({"phylum": ["P2"], "genus": ["Elsino\ufffd"], "species": ["Elsino\ufffd fawcettii"]})
    restored = TaxonomySpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert restored == spec
    assert restored.labels["species"][0] == "Elsino\ufffd fawcettii"
    assert restored.parents["species"]["Elsino\ufffd fawcettii"] == "Elsino\ufffd"
    assert TaxonomyHeads(4, json.loads(json.dumps(spec.to_dict()))).spec == spec
    with pytest.raises(ValueError, match="not a phylum label"):
        TaxonomySpec.from_dict({**spec.to_dict(), "parents": {"genus": {"G1": "P9"}}})


def test_builder_keeps_majority_parent_and_warns(caplog):
    columns = {
        "family": ["F1", "F1", "F2", None, "F2", "F3"],
        "genus": ["Ga", "Ga", "Ga", "Gb", "Gc", None],
        "species": ["Ga x", "Ga y", "Ga y", "Gb z", "Gc w", "  "],
    }
    with caplog.at_level(logging.WARNING, logger="barcodefm.models.taxonomy_spec"):
        spec = TaxonomySpec.from_columns(columns, counted=[True, True, False, True, True, True])
    assert "1 label(s) occur under more than one family" in caplog.text
    assert "1 record(s) disagree" in caplog.text
    assert spec.parents["genus"] == {"Ga": "F1", "Gc": "F2"}  # Gb: parent unknown
    assert spec.labels["family"] == ["F1", "F2", "F3"]
    assert spec.counts["genus"] == [2, 1, 1]  # the third record is not counted
    assert spec.labels["species"] == ["Ga x", "Ga y", "Gb z", "Gc w"]  # blank = unknown


def test_encode_and_decode():
    spec = tree_spec()
    ids = spec.encode({"phylum": ["P2", None], "genus": ["G3", ""], "species": ["S5", "S1"]})
    assert ids.tolist() == [[1, 2, 4], [-100, -100, 0]]
    records = [{"phylum": "P1", "species": "S3"}, {"genus": "G2"}]
    assert spec.encode(records).tolist() == [[0, -100, 2], [-100, 1, -100]]
    assert spec.decode(ids) == [
        {"phylum": "P2", "genus": "G3", "species": "S5"},
        {"phylum": None, "genus": None, "species": "S1"},
    ]
    assert spec.encode({"species": ["S9"]}, unseen="ignore").tolist() == [[-100, -100, -100]]
    with pytest.raises(ValueError, match="does not list"):
        spec.encode({"species": ["S9"]}, unseen="error")
    with pytest.raises(ValueError, match="none of the ranks"):
        spec.encode({"order": ["O1"]})
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"genus": ["G1", float("nan")], "species": ["S2", pandas.NA]})
    assert spec.encode(frame).tolist() == [[-100, 0, 1], [-100, -100, -100]]


def _read_cbs(path):
    ranks = ["kingdom", "phylum", "class", "order", "family", "genus", "species"]
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    columns = {r: [row[r] for row in rows] for r in ranks}
    counted = [row["split"] in ("train", "train_singleton") for row in rows]
    return columns, counted


@pytest.mark.shared_data
def test_real_cbs_its2_taxonomy(shared_data):
    path = shared_data / "fungal_its" / "cbs_its2_labelled.tsv.gz"
    skip_without_shared_data(path)
    columns, counted = _read_cbs(path)
    spec = TaxonomySpec.from_columns(columns, counted=counted)
    assert spec.num_classes[0] == 1 and spec.num_classes[-1] == 7608
    assert spec.num_classes[spec.ranks.index("genus")] == 1874
    assert any("\ufffd" in label for label in spec.labels["species"])
    heads = TaxonomyHeads(32, spec)
    # Compact tables, not a 7,608 x 7,608 matrix (230 MB).
    assert sum(b.numel() * b.element_size() for b in heads.buffers()) < 5_000_000
    labels = torch.from_numpy(spec.encode(columns)[:64])
    # (speed belongs in benchmarks/, not in a timed unit test)
    logits = heads(torch.randn(64, 32))
    out = heads.loss(logits, labels)
    assert torch.isfinite(out.total) and out.per_rank["kingdom"].item() == 0.0
    # Target rows are distributions on the real tree (orphans, dead ends, conflicts): every
    # class whose chain of parents breaks, plus 1,024 random others per rank.
    generator = torch.Generator().manual_seed(0)
    for i, size in enumerate(spec.num_classes):
        broken = (getattr(heads, f"ancestors_{i}") < 0).any(dim=1).nonzero(as_tuple=True)[0]
        rows = torch.cat([broken, torch.randperm(size, generator=generator)[:1024]]).unique()
        targets = heads.soft_targets(i, rows)
        assert targets.min().item() >= 0
        torch.testing.assert_close(targets.sum(dim=1), torch.ones(len(rows)), atol=1e-5, rtol=0)
        assert torch.equal(targets.argmax(dim=1), rows)
    # Predictions name real taxa.
    names = predict({r: x.detach() for r, x in logits.items()}, spec, min_prob=0.5)
    assert len(names) == 64 and set(names[0]["labels"]) == set(spec.ranks)


def test_direct_table_helpers_agree_with_heads():
    spec = tree_spec()
    ancestors, fanout = hierarchy_tables(spec, 2)
    assert ancestors.tolist()[2] == [0, 1, 2]  # S3 -> G2 -> P1
    assert fanout.tolist()[0] == [4, 2, 1]  # P1 has 2 genera, G1 has 2 species
    direct = hierarchical_targets(torch.tensor([2]), torch.from_numpy(ancestors), torch.from_numpy(fanout), MASSES)
    torch.testing.assert_close(direct, torch.tensor([[0.035, 0.035, 0.91, 0.01, 0.01]]), atol=1e-6, rtol=0)


# ---- tooling: barcodefm.data.taxonomy_labels ---------------------------------------------------


def test_spec_from_a_dataset_cleans_labels_and_drops_constant_ranks():
    datasets = pytest.importorskip("datasets")
    from barcodefm.data.taxonomy_labels import add_label_ids, build_taxonomy_spec

    table = datasets.Dataset.from_dict(
        {
            "kingdom": ["k__Fungi"] * 5,
            "family": ["f__Fa", "f__Fa", "f__Tremellales_fam_Incertae_sedis", "f__Fb", "f__Fb"],
            "genus": ["g__Ga", "g__Ga", "g__Gc", "g__Gb", "g__Gb"],
            "species": ["s__Ga_alpha", "s__Ga_sp", "s__Gc_gamma", "s__Gb_beta", "s__Gb_delta"],
            "split": ["train", "train", "train_singleton", "train", "test"],
        }
    )
    spec = build_taxonomy_spec(table)
    assert spec.ranks == ["family", "genus", "species"]  # kingdom is constant: no head
    assert spec.labels["family"] == ["Fa", "Fb"]  # incertae sedis is unknown
    assert spec.labels["species"] == ["Ga alpha", "Gb beta", "Gc gamma"]  # test record left out
    assert spec.parents["species"] == {"Ga alpha": "Ga", "Gb beta": "Gb", "Gc gamma": "Gc"}
    assert "Gc" not in spec.parents["genus"]
    labelled = add_label_ids(table, spec, unseen="ignore")
    assert labelled["labels"] == [[0, 0, 0], [0, 0, -100], [-100, 2, 2], [1, 1, 1], [1, 1, -100]]
    with pytest.raises(ValueError, match="no column for rank"):
        build_taxonomy_spec(table, ranks=["order"])


@pytest.mark.shared_data
def test_spec_from_real_insect_coi_splits(shared_data):
    pandas = pytest.importorskip("pandas")
    from barcodefm.data.taxonomy_labels import build_taxonomy_spec, encode_labels

    path = shared_data / "insect_coi" / "bold_insect_coi5p_degobbi.cap20.tsv.gz"
    skip_without_shared_data(path)
    table = pandas.read_csv(path, sep="\t", dtype=str, keep_default_na=False, usecols=lambda c: c != "dna")
    spec = build_taxonomy_spec(table)
    # Phylum and class are constant (Arthropoda, Insecta): SPEC 4's COI ranks remain.
    assert spec.ranks == ["order", "family", "subfamily", "genus", "species"]
    train = table[table["split"] == "train"]
    assert spec.num_classes[-1] == train["species"].nunique()
    # Seen-species test records all encode; unseen species do not, but their genera do.
    seen = encode_labels(table[table["split"] == "test"], spec)
    assert (seen[:, -1] >= 0).all()
    unseen = encode_labels(table[table["split"] == "unseen_query"], spec, unseen="ignore")
    assert (unseen[:, -1] == IGNORE_INDEX).all() and (unseen[:, spec.ranks.index("genus")] >= 0).all()


def test_buffers_survive_from_pretrained_when_init_weights_resets_them(tmp_path, monkeypatch):
    # The contract for model classes: transformers 5 materialises non-persistent buffers as
    # empty tensors after loading and calls _init_weights, which must call reset_buffers().
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")

    class ToyConfig(transformers.PretrainedConfig):
        model_type = "barcodefm-taxonomy-test"

        def __init__(self, hidden_size=8, taxonomy=None, **kwargs):
            self.hidden_size, self.taxonomy = hidden_size, taxonomy
            super().__init__(**kwargs)

    class ToyClassifier(transformers.PreTrainedModel):
        config_class = ToyConfig

        def __init__(self, config):
            super().__init__(config)
            self.taxonomy = TaxonomyHeads(config.hidden_size, config.taxonomy)
            self.post_init()

        def _init_weights(self, module):
            super()._init_weights(module)
            if isinstance(module, TaxonomyHeads):
                module.reset_buffers()

    spec = tree_spec()
    model = ToyClassifier(ToyConfig(taxonomy=spec.to_dict()))
    model.save_pretrained(tmp_path)
    loaded = ToyClassifier.from_pretrained(tmp_path)
    assert TaxonomySpec.from_dict(loaded.config.taxonomy) == spec
    for (name, expected), (_, got) in zip(model.named_buffers(), loaded.named_buffers()):
        assert torch.equal(expected, got), name
    pooled = torch.randn(2, 8)
    torch.testing.assert_close(loaded.taxonomy(pooled)["species"], model.taxonomy(pooled)["species"])


def test_the_taxonomy_pieces_keep_one_import_path():
    """Each piece lives in a Hub module of its own (short enough to read on the Hub);
    ``barcodefm.models.taxonomy`` still gives every name it gave before the split, the same objects.
    (That each modeling file imports every piece itself is checked in tests/compat.)"""
    from pathlib import Path

    from barcodefm.models import taxonomy, taxonomy_heads, taxonomy_loss, taxonomy_prediction, taxonomy_spec

    homes = {
        taxonomy_spec: ["IGNORE_INDEX", "TaxonomySpec", "is_missing_label"],
        taxonomy_loss: [
            "DEFAULT_CLASS_WEIGHT_STRENGTH",
            "DEFAULT_RANK_SMOOTHING",
            "TaxonomyLoss",
            "class_weights",
            "default_label_smoothing",
            "hierarchical_targets",
            "hierarchy_tables",
            "resolve_label_smoothing",
            "soft_cross_entropy",
        ],
        taxonomy_heads: ["TaxonomyHeads", "logits_by_rank"],
        taxonomy_prediction: ["predict", "top_predictions"],
    }
    for module, names in homes.items():
        for name in names:
            assert getattr(taxonomy, name) is getattr(module, name), name
    assert taxonomy._logits_list is taxonomy_heads.logits_by_rank
    for name in ("TaxonomicClassifierMixin", "TaxonomicClassifierOutput", "save_taxonomy_pipeline"):
        assert hasattr(taxonomy, name)
    pieces = {m.__name__.rsplit(".", 1)[-1] for m in homes} | {"taxonomy"}
    folder = Path(taxonomy.__file__).parent
    for path in [folder / f"{m}.py" for m in pieces]:
        assert len(path.read_text(encoding="utf-8").splitlines()) < 400, path.name


@pytest.mark.parametrize("barcodes", ["ACGTACGT", ["ACGTACGT", "ACGTTT"]], ids=["one", "list"])
def test_predict_taxonomy_of_strings_says_to_tokenise_first(barcodes):
    from barcodefm import BarcodeCharTokenizer, BarcodeMambaForTaxonomicClassification, config_from_tokenizer

    tok = BarcodeCharTokenizer()
    config = config_from_tokenizer(tok, d_model=16, n_layer=1, headdim=8, d_state=8, taxonomy=tree_spec().to_dict())
    model = BarcodeMambaForTaxonomicClassification(config).eval()
    with pytest.raises(TypeError, match="tokenise them first"):
        model.predict_taxonomy(barcodes)
    enc = tok(barcodes if isinstance(barcodes, list) else [barcodes], padding=True, return_tensors="pt")
    assert len(model.predict_taxonomy(**enc)) == enc["input_ids"].shape[0]
