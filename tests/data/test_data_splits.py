"""The seen/unseen split recipe (barcodefm.data.splits) and the ``barcodefm split`` CLI."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest

from barcodefm.cli import main
from barcodefm.data import (
    SplitRecipe,
    assign_splits,
    load_barcodes,
    mark_duplicates_in_train,
    sample_path,
    split_dataset,
)

COI_RECIPE = dict(min_per_species=4, rare_split="pretrain_only")


def by_species(species, splits):
    table = defaultdict(Counter)
    for name, split in zip(species, splits):
        table[name][split] += 1
    return table


def check_recipe_properties(ids, species, genera, splits, recipe: SplitRecipe):
    genus_of = dict(zip(species, genera))
    table = by_species(species, splits)
    unseen = {s for s, c in table.items() if c.keys() & {"unseen_key", "unseen_query"}}
    seen = {s for s, c in table.items() if "train" in c}
    assert unseen and seen and not unseen & seen  # unseen species never appear in train
    assert all(set(table[s]) <= {"unseen_key", "unseen_query"} for s in unseen)
    train_genera = {genus_of[s] for s in seen}
    assert {genus_of[s] for s in unseen} <= train_genera  # every unseen genus keeps seen species
    for name, counts in table.items():
        n = sum(counts.values())
        if name in unseen:
            assert counts == Counter({"unseen_key": n // 2, "unseen_query": n - n // 2})
        elif name in seen:
            n_test, n_val = max(1, round(0.2 * n)), (round(0.1 * n) if n >= 10 else 0)
            assert counts == Counter({"test": n_test, "val": n_val, "train": n - n_test - n_val}) - Counter()
        else:
            assert n < recipe.min_per_species and set(counts) == {recipe.rare_split}
    # per genus, floor(n_eligible / 3) species are held out
    eligible = defaultdict(set)
    for name in seen | unseen:
        eligible[genus_of[name]].add(name)
    for genus, names in eligible.items():
        assert len(names & unseen) == len(names) // 3, genus


def test_recipe_on_the_bundled_sample():
    data = load_barcodes(sample_path("coi"))
    ids, species, genera = data["id"][:], data["species"][:], data["genus"][:]
    recipe = SplitRecipe(seed=3, **COI_RECIPE)
    splits = assign_splits(ids, species, genera, recipe)
    check_recipe_properties(ids, species, genera, splits, recipe)
    assert set(splits) == {"train", "val", "test", "unseen_key", "unseen_query", "pretrain_only"}


def test_recipe_reproduces_the_shared_cap20_structure(shared_data):
    data = load_barcodes(shared_data / "insect_coi" / "bold_insect_coi5p_degobbi.cap20.tsv.gz")
    ids, species, genera, shared = data["id"][:], data["species"][:], data["genus"][:], data["split"][:]
    recipe = SplitRecipe(seed=0, **COI_RECIPE)
    splits = assign_splits(ids, species, genera, recipe)
    check_recipe_properties(ids, species, genera, splits, recipe)
    # The shared file obeys exactly the same rules (split sizes of every species, floor(n/3)
    # held-out species per genus): only which species are held out is the seed's choice.
    check_recipe_properties(ids, species, genera, shared, recipe)

    def unseen_per_genus(assigned):
        genus_of = dict(zip(species, genera))
        return Counter(genus_of[s] for s in {s for s, a in zip(species, assigned) if a == "unseen_key"})

    assert unseen_per_genus(splits) == unseen_per_genus(shared)
    assert sum(unseen_per_genus(splits).values()) == 210


def test_deterministic_and_independent_of_input_order():
    data = load_barcodes(sample_path("coi"))
    ids, species, genera = data["id"][:], data["species"][:], data["genus"][:]
    first = assign_splits(ids, species, genera, SplitRecipe(seed=7))
    assert first == assign_splits(ids, species, genera, SplitRecipe(seed=7))
    order = list(range(len(ids)))
    random.Random(1).shuffle(order)
    shuffled = assign_splits(
        [ids[i] for i in order], [species[i] for i in order], [genera[i] for i in order], SplitRecipe(seed=7)
    )
    assert [shuffled[order.index(i)] for i in range(len(ids))] == first
    assert first != assign_splits(ids, species, genera, SplitRecipe(seed=8))


def test_rare_and_unlabelled_records():
    ids = [f"r{i}" for i in range(12)]
    species = ["Aus bus"] * 5 + ["Aus cus"] * 1 + [None] * 2 + ["Aus dus"] * 2 + ["Aus eus"] * 2
    genera = ["Aus"] * 12
    splits = assign_splits(ids, species, genera, SplitRecipe(min_per_species=2))
    assert splits[5] == "train_singleton" and splits[6:8] == ["train_no_species"] * 2
    # three eligible species in genus Aus: exactly one is held out
    table = by_species(species, splits)
    assert sum("unseen_key" in table[s] for s in ("Aus bus", "Aus dus", "Aus eus")) == 1
    coi = assign_splits(ids, species, genera, SplitRecipe(min_per_species=3, rare_split="pretrain_only"))
    assert {coi[i] for i in range(5, 12) if species[i] != "Aus bus" and species[i]} == {"pretrain_only"}
    with pytest.raises(ValueError, match="min_per_species"):
        SplitRecipe(min_per_species=1)
    with pytest.raises(ValueError, match="rare_split"):
        SplitRecipe(rare_split="holdout")


def test_genus_falls_back_to_the_first_word_of_the_species():
    species = [f"Aus s{k}" for k in range(6) for _ in range(4)]
    ids = [f"r{i}" for i in range(len(species))]
    splits = assign_splits(ids, species, None, SplitRecipe())
    unseen = {s for s, sp in zip(species, splits) if sp.startswith("unseen")}
    assert len(unseen) == 2  # floor(6 / 3) species of genus "Aus"


def test_dedup_flags_exact_copies_of_training_sequences():
    sequences = ["AAAA", "CCCC", "AAAA", "GGGG", "CCCC", "TTTT", "AAAA"]
    splits = ["train", "train_singleton", "test", "test", "unseen_query", "val", "pretrain_only"]
    assert mark_duplicates_in_train(sequences, splits) == [False, False, True, False, True, False, True]


def test_split_dataset_dedup_on_the_sample():
    data = split_dataset(load_barcodes(sample_path("coi")), seed=0, dedup=True, **COI_RECIPE)
    train = {s for s, sp in zip(data["sequence"][:], data["split"][:]) if sp == "train"}
    for record in data:
        expected = record["split"] != "train" and record["sequence"] in train
        assert record["dup_in_train"] == expected
    flagged_tests = sum(r["dup_in_train"] for r in data if r["split"] == "test")
    assert 0 < flagged_tests < sum(r["split"] == "test" for r in data)


def test_split_cli_writes_a_file_load_barcodes_reads_back(tmp_path, capsys):
    out = tmp_path / "splits.tsv.gz"
    code = main(
        [
            "split",
            str(sample_path("coi")),
            "-o",
            str(out),
            "--seed",
            "5",
            "--dedup",
            "--min-per-species",
            "4",
            "--rare-split",
            "pretrain_only",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "unseen_query" in printed and "wrote 2,302 records" in printed
    again = load_barcodes(out)
    assert "dup_in_train" in again.column_names and "split" in again.column_names
    original = load_barcodes(sample_path("coi"))
    expected = split_dataset(original, seed=5, dedup=True, **COI_RECIPE)
    assert again["split"][:] == expected["split"][:]
    assert again["dup_in_train"][:] == expected["dup_in_train"][:]
    assert again["species"][:] == original["species"][:] and again["bin"][:] == original["bin"][:]


def test_split_cli_reports_user_errors(tmp_path, capsys):
    code = main(["split", str(sample_path("coi")), "-o", str(tmp_path / "x.tsv"), "--unseen-fraction", "1.2"])
    assert code == 1 and "unseen_fraction" in capsys.readouterr().err
    fasta = tmp_path / "plain.fasta"
    fasta.write_text(f">a\n{'ACGT' * 6}\n>b\n{'ACGA' * 6}\n")
    code = main(["split", str(fasta), "-o", str(tmp_path / "y.tsv")])
    assert code == 1 and "no 'species' labels" in capsys.readouterr().err
