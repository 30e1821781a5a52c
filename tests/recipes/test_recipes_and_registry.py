"""Bundled-model recipes (tables, options) and the registry of named models and presets."""

from __future__ import annotations

import csv
import gzip

import pytest

from barcodefm.recipes.bundled import RECIPES, SELECTION_SPLITS
from barcodefm.recipes.training_tables import CBS_TABLE, MYCOAI_TABLE, OVERLAP_SPLIT, its_fungi_table
from barcodefm.registry import BUNDLED_MODELS, PRESETS, preset_options, resolve_model

HEADER = [
    "id",
    "region",
    "kingdom",
    "phylum",
    "class",
    "order",
    "family",
    "genus",
    "species",
    "seq_len",
    "split",
    "sequence",
]


def write_table(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(HEADER)
        for rid, split in rows:
            w.writerow([rid, "ITS", "Fungi", "Ascomycota", "C", "O", "F", "G", "G s", "10", split, "ACGTACGTAC"])


def test_its_table_keeps_a_strain_out_of_training_when_the_other_table_holds_it_out(tmp_path):
    write_table(tmp_path / CBS_TABLE, [("A", "train"), ("B", "train"), ("C", "test"), ("D", "train_singleton")])
    write_table(tmp_path / MYCOAI_TABLE, [("A", "test"), ("B", "train"), ("E", "unseen_query"), ("D", "val")])
    out = its_fungi_table(tmp_path, tmp_path / "joined.tsv.gz")
    with gzip.open(out, "rt") as f:
        rows = {(r["dataset"], r["id"]): r["split"] for r in csv.DictReader(f, delimiter="\t")}
    assert rows == {
        ("cbs", "cbs:A"): OVERLAP_SPLIT,  # A is a MycoAI test strain
        ("cbs", "cbs:B"): "train",
        ("mycoai", "mycoai:B"): "train",
        ("cbs", "cbs:C"): "test",
        ("mycoai", "mycoai:A"): "test",
        ("mycoai", "mycoai:E"): "unseen_query",
        ("cbs", "cbs:D"): OVERLAP_SPLIT,
        ("mycoai", "mycoai:D"): "val",
    }


def test_recipes_never_train_or_select_on_reported_splits():
    for recipe in RECIPES.values():
        reported = {"test", "unseen_query"}
        assert not reported & set(recipe.options["train_splits"])
        assert not reported & set(SELECTION_SPLITS)
        assert not reported & set(recipe.options["eval_splits"])
        assert recipe.options["task"] == "taxonomy" and recipe.options["seed"] == 0
        assert recipe.options["max_steps"] > 0


def test_missing_shared_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="shared data folder"):
        RECIPES["coi-insect"].table_path(tmp_path, tmp_path / "run")


def test_registry_names_resolve_and_unknown_ones_pass_through():
    assert set(BUNDLED_MODELS) == {"coi-insect", "its-fungi"}
    assert resolve_model("runs/my-model") == "runs/my-model"
    assert preset_options("barcodemamba-mini-char")["d_model"] == 384
    assert PRESETS["barcodemamba-mini-kmer"]["k"] == 6
    with pytest.raises(ValueError, match="unknown preset"):
        preset_options("barcodemamba-huge")
