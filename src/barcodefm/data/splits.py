"""Seen/unseen splits of a labelled barcode set, with the recipe of the shared data.

The recipe below was read off ``../shared/data`` (README + the ``split`` columns, record counts
per species and species per genus). On the COI files (full and cap20) and the MycoAI table it
reproduces exactly the number of records per split of every species and the number of held-out
species of every genus (the CBS table dropped too-short sequences AFTER splitting, so ~60 of its
species deviate by those records).

1. Records without a label at ``rank`` (species) go to ``train_no_species``: usable to train the
   higher ranks and to pretrain, never evaluated at species level.
2. Species with fewer than ``min_per_species`` records are "rare": all their records go to
   ``rare_split``: ``train_singleton`` (the ITS recipe, ``min_per_species=2``: singletons still
   teach the higher ranks) or ``pretrain_only`` (the COI recipe, ``min_per_species=4``: only
   self-supervised pretraining may use them).
3. Unseen species: in every genus, ``floor(n * unseen_fraction)`` of its ``n`` eligible species
   are held out entirely (default 1/3: genera with 1-2 species keep them all, 3-5 lose one,
   6-8 lose two, ...), so every genus with an unseen species keeps at least two seen species
   in train (when ``unseen_fraction <= 1/2``; it is capped at ``n - 1`` in any case). Overall this
   holds out about 20% of the species. A species' genus is the most frequent ``genus_rank``
   label among its records, else the first word of its name; species with no genus stay seen.
   An unseen species' records are split in halves: ``unseen_key`` gets ``n // 2`` (the labelled
   reference for 1-NN / clustering), ``unseen_query`` the rest.
4. Seen species: ``test`` gets ``max(1, round(0.2 n))`` records, ``val`` gets ``round(0.1 n)`` when
   ``n >= 10`` (else none), ``train`` the rest (always at least one record). ``round`` is Python's
   (half to even), as in the shared files: 25 records give 2 val, 15 give 2.

Determinism: the held-out species of a genus are drawn with ``random.Random(f"{seed}:{genus}")``
from its species sorted by name, and a species' records are ordered by id then shuffled with
``random.Random(f"{seed}:{species}")``. The result depends only on the seed and the set of
records: not on the input order, not on which other genera are present.

De-duplication (optional): ``dup_in_train`` is True for a record outside the training splits
(``train``, ``train_singleton``, ``train_no_species``) whose exact sequence occurs in one of
them: about half of the shared COI seen-test records are such copies, so report results on
the test without them too.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from .labels import normalize_label

logger = logging.getLogger(__name__)

TRAIN, VAL, TEST = "train", "val", "test"
UNSEEN_KEY, UNSEEN_QUERY = "unseen_key", "unseen_query"
TRAIN_SINGLETON, PRETRAIN_ONLY, TRAIN_NO_SPECIES = "train_singleton", "pretrain_only", "train_no_species"
RARE_SPLITS = (TRAIN_SINGLETON, PRETRAIN_ONLY)
# Splits a classifier may learn from (the reference set of the 1-NN / BLAST baselines).
TRAINING_SPLITS = frozenset({TRAIN, TRAIN_SINGLETON, TRAIN_NO_SPECIES})
SPLIT_ORDER = (TRAIN, VAL, TEST, UNSEEN_KEY, UNSEEN_QUERY, TRAIN_SINGLETON, PRETRAIN_ONLY, TRAIN_NO_SPECIES)


@dataclass(frozen=True)
class SplitRecipe:
    """Parameters of the recipe (module docstring); defaults are the ITS recipe's."""

    seed: int = 0
    min_per_species: int = 2
    unseen_fraction: float = 1 / 3
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    min_for_val: int = 10
    rare_split: str = TRAIN_SINGLETON

    def __post_init__(self):
        if self.min_per_species < 2:
            raise ValueError(
                "min_per_species must be >= 2 (a seen species needs a train and a test record), "
                f"got {self.min_per_species}"
            )
        if not 0 <= self.unseen_fraction < 1:
            raise ValueError(f"unseen_fraction must be in [0, 1), got {self.unseen_fraction}")
        if self.rare_split not in RARE_SPLITS:
            raise ValueError(f"rare_split must be one of {', '.join(RARE_SPLITS)}, got {self.rare_split!r}")
        if self.test_fraction + self.val_fraction >= 1:
            raise ValueError("test_fraction + val_fraction must be < 1")


def _genus_of(species: str, genus_labels: Counter) -> str | None:
    if genus_labels:
        # Most frequent label; ties broken by name so the choice never depends on input order.
        return min(genus_labels.items(), key=lambda item: (-item[1], item[0]))[0]
    return normalize_label("genus", species.split()[0]) if species.split() else None


def assign_splits(
    ids: Sequence[str],
    species: Sequence[str | None],
    genera: Sequence[str | None] | None = None,
    recipe: SplitRecipe = SplitRecipe(),
) -> list[str]:
    """Return the split name of every record (same order as the inputs).

    ``species``/``genera`` are already-clean labels (``None`` = unknown), as ``load_barcodes``
    gives them; ``genera`` may be ``None`` (the genus is then the species' first word).
    """
    n = len(ids)
    if len(species) != n or (genera is not None and len(genera) != n):
        raise ValueError("ids, species and genera must have the same length")
    splits = [TRAIN_NO_SPECIES] * n
    members: dict[str, list[int]] = defaultdict(list)
    genus_votes: dict[str, Counter] = defaultdict(Counter)
    for i, name in enumerate(species):
        if name is None:
            continue
        members[name].append(i)
        if genera is not None and genera[i] is not None:
            genus_votes[name][genera[i]] += 1

    eligible_by_genus: dict[str | None, list[str]] = defaultdict(list)
    for name in sorted(members):
        if len(members[name]) < recipe.min_per_species:
            for i in members[name]:
                splits[i] = recipe.rare_split
        else:
            eligible_by_genus[_genus_of(name, genus_votes[name])].append(name)

    unseen: set[str] = set()
    for genus, names in eligible_by_genus.items():
        if genus is None:
            continue  # without a genus a species cannot be a genus-level unseen query
        k = min(math.floor(len(names) * recipe.unseen_fraction + 1e-9), len(names) - 1)
        if k > 0:
            unseen.update(random.Random(f"{recipe.seed}:{genus}").sample(names, k))

    for names in eligible_by_genus.values():
        for name in names:
            order = sorted(members[name], key=lambda i: (str(ids[i]), i))
            random.Random(f"{recipe.seed}:{name}").shuffle(order)
            count = len(order)
            if name in unseen:
                n_key = count // 2
                parts = [(UNSEEN_KEY, n_key), (UNSEEN_QUERY, count - n_key)]
            else:
                n_test = max(1, round(recipe.test_fraction * count))
                n_val = round(recipe.val_fraction * count) if count >= recipe.min_for_val else 0
                parts = [(TEST, n_test), (VAL, n_val), (TRAIN, count - n_test - n_val)]
            start = 0
            for split, size in parts:
                for i in order[start : start + size]:
                    splits[i] = split
                start += size
    return splits


def mark_duplicates_in_train(sequences: Sequence[str], splits: Sequence[str]) -> list[bool]:
    """True for each record outside the training splits whose exact sequence is in one of them."""
    in_train = {seq for seq, split in zip(sequences, splits) if split in TRAINING_SPLITS}
    return [split not in TRAINING_SPLITS and seq in in_train for seq, split in zip(sequences, splits)]


def _values(dataset, column: str) -> list:
    # ``dataset[column]`` is a lazy Column in recent ``datasets``: element access on it is
    # slow, its full slice is one fast Arrow conversion (and respects select/shuffle indices).
    return dataset[column][:]


def split_dataset(
    dataset,
    seed: int = 0,
    rank: str = "species",
    genus_rank: str = "genus",
    min_per_species: int = 2,
    unseen_fraction: float = 1 / 3,
    rare_split: str = TRAIN_SINGLETON,
    dedup: bool = False,
):
    """Return ``dataset`` (from :func:`load_barcodes`) with a new ``split`` column (replacing any
    existing one) and, if ``dedup``, a boolean ``dup_in_train`` column."""
    recipe = SplitRecipe(
        seed=seed, min_per_species=min_per_species, unseen_fraction=unseen_fraction, rare_split=rare_split
    )
    if rank not in dataset.column_names:
        raise ValueError(f"no {rank!r} column to split on; the data has: {', '.join(dataset.column_names)}")
    genera = _values(dataset, genus_rank) if genus_rank in dataset.column_names else None
    if genera is None:
        logger.info("no %r column: a species' genus is the first word of its name", genus_rank)
    splits = assign_splits(_values(dataset, "id"), _values(dataset, rank), genera, recipe)
    for column in ("split", "dup_in_train"):
        if column in dataset.column_names:
            logger.info("replacing the existing %r column", column)
            dataset = dataset.remove_columns(column)
    dataset = dataset.add_column("split", splits)
    if dedup:
        dataset = dataset.add_column("dup_in_train", mark_duplicates_in_train(_values(dataset, "sequence"), splits))
    return dataset


def split_summary(
    splits: Sequence[str], species: Sequence[str | None], dup_in_train: Sequence[bool] | None = None
) -> str:
    """A small text table: records, species (and duplicates of train) per split."""
    records = Counter(splits)
    species_sets: dict[str, set] = defaultdict(set)
    duplicates: Counter = Counter()
    for i, (split, name) in enumerate(zip(splits, species)):
        if name is not None:
            species_sets[split].add(name)
        if dup_in_train is not None and dup_in_train[i]:
            duplicates[split] += 1
    names = [s for s in SPLIT_ORDER if s in records] + sorted(s for s in records if s not in SPLIT_ORDER)
    header = f"{'split':<18}{'records':>9}{'species':>9}"
    if dup_in_train is not None:
        header += f"{'dup_in_train':>14}"
    lines = [header]
    for split in names:
        line = f"{split:<18}{records[split]:>9,}{len(species_sets[split]):>9,}"
        if dup_in_train is not None:
            line += f"{duplicates[split]:>14,}"
        lines.append(line)
    n_species = len(set().union(*species_sets.values()))
    lines.append(f"{'total':<18}{sum(records.values()):>9,}{n_species:>9,}")
    return "\n".join(lines)
