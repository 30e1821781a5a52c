"""Linear probe on k-mer count vectors of real COI barcodes (species labels).

5-mers (1,024 dimensions) rather than 6-mers keep the published 200-epoch SGD recipe to about
a second on two shared CPU cores; both separate these species perfectly with scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pytest

from barcodefm.evaluation.baselines.kmer import kmer_count_matrix
from barcodefm.evaluation.linear_probe import LinearProbe, linear_probe


@pytest.fixture(scope="module")
def coi_species_task(coi_cap20_table):
    """25 species with at least 8 train and 2 test barcodes: 5-mer counts, species labels."""
    table = coi_cap20_table
    train = table[table["split"] == "train"]
    test = table[table["split"] == "test"]
    n_train, n_test = train["species"].value_counts(), test["species"].value_counts()
    eligible = sorted(set(n_train[n_train >= 8].index) & set(n_test[n_test >= 2].index))
    species = eligible[:: max(1, len(eligible) // 25)][:25]  # spread over the alphabet (and genera)
    train = train[train["species"].isin(species)].sort_values("processid")
    test = test[test["species"].isin(species)].sort_values("processid")
    return (
        kmer_count_matrix(train["dna"].tolist(), k=5, progress=False).toarray(),
        train["species"].tolist(),
        kmer_count_matrix(test["dna"].tolist(), k=5, progress=False).toarray(),
        test["species"].tolist(),
    )


@pytest.mark.shared_data
def test_published_sgd_probe_learns_real_species(coi_species_task):
    x_train, y_train, x_test, y_test = coi_species_task
    assert len(set(y_train)) == 25 and len(y_train) >= 200
    # Published optimiser settings; 50 of the 200 epochs keep this under a few seconds when the
    # two CPU cores are shared (each step is tiny, so thread contention dominates).
    result = linear_probe(x_train, y_train, x_test, y_test, method="sgd", epochs=50, progress=False)
    assert result["n_classes"] == 25 and result["n"] == len(y_test)
    assert result["accuracy"] >= 95.0
    assert 0.0 < result["macro_f1"] <= 100.0


@pytest.mark.shared_data
def test_sklearn_probe_learns_real_species(coi_species_task):
    x_train, y_train, x_test, y_test = coi_species_task
    result = linear_probe(x_train, y_train, x_test, y_test, method="sklearn", progress=False)
    assert result["accuracy"] >= 95.0


@pytest.mark.shared_data
def test_sgd_probe_standardises_with_one_scalar_and_is_seeded(coi_species_task):
    x_train, y_train, x_test, _ = coi_species_task
    probe = LinearProbe("sgd", epochs=20, seed=3, progress=False).fit(x_train, y_train)
    assert probe.mean_ == pytest.approx(x_train.mean(), rel=1e-6)
    assert probe.std_ == pytest.approx(x_train.std(), rel=1e-6)  # over ALL elements, not per feature
    again = LinearProbe("sgd", epochs=20, seed=3, progress=False).fit(x_train, y_train)
    assert probe.predict(x_test) == again.predict(x_test)


@pytest.mark.shared_data
def test_test_labels_unseen_in_train_count_wrong(coi_species_task):
    x_train, y_train, x_test, y_test = coi_species_task
    probe_options = dict(method="sklearn", progress=False)
    base = linear_probe(x_train, y_train, x_test, y_test, **probe_options)
    # The same test barcodes again, under a species name training never saw.
    doubled = linear_probe(
        x_train, y_train, np.concatenate([x_test, x_test]), y_test + ["Unseen species"] * len(y_test), **probe_options
    )
    assert doubled["n"] == 2 * base["n"]
    assert doubled["accuracy"] == pytest.approx(base["accuracy"] / 2)


def test_bad_probe_inputs_are_clear():
    x = np.random.default_rng(0).normal(size=(6, 3))
    with pytest.raises(ValueError, match="at least two classes"):
        LinearProbe(progress=False).fit(x, ["a"] * 6)
    with pytest.raises(ValueError, match="unknown linear-probe method 'adam'"):
        LinearProbe("adam")
    with pytest.raises(ValueError, match="6 train embeddings but 5 train labels"):
        LinearProbe(progress=False).fit(x, ["a", "b"] * 2 + ["a"])


@pytest.mark.shared_data
def test_scalar_standardisation_pitfall_is_logged_and_per_feature_probe_survives_it(coi_species_task, caplog):
    """Features at very different offsets with a small spread each (as mean-pooled LayerNorm
    outputs of a lightly trained model are): the published scalar standardisation leaves every
    feature almost constant. The sgd probe says so in the log; the per-feature probe still works."""
    x_train, y_train, x_test, y_test = coi_species_task
    offsets = np.random.default_rng(0).normal(0.0, 50.0, size=x_train.shape[1])
    scale = 0.01 / max(float(x_train.std()), 1e-12)
    shifted_train, shifted_test = offsets + scale * x_train, offsets + scale * x_test
    with caplog.at_level("WARNING", logger="barcodefm.evaluation.linear_probe"):
        probe = LinearProbe("sgd", epochs=5, seed=0, progress=False).fit(shifted_train, y_train)
    assert probe.feature_spread_ < 0.05
    assert "scalar standardisation" in caplog.text and "method='sklearn'" in caplog.text
    result = linear_probe(shifted_train, y_train, shifted_test, y_test, method="sklearn", progress=False)
    assert result["accuracy"] >= 95.0

    caplog.clear()
    with caplog.at_level("WARNING", logger="barcodefm.evaluation.linear_probe"):
        LinearProbe("sgd", epochs=1, seed=0, progress=False).fit(x_train, y_train)
    assert "scalar standardisation" not in caplog.text  # raw k-mer counts: no warning
