"""The benchmark data sets: the shared splits, with query splits subsampled where a size asks,
written once to a TSV in the work folder so that training runs and probes read the same records.

The split recipe is the shared data's (see ``../shared/data/README.md``): pretraining uses
``train`` + ``pretrain_only`` (COI) or ``train`` + ``train_singleton`` (ITS), classifiers and
1-NN references use ``train`` (+ ``train_singleton`` for ITS), ``test`` holds seen species and
``unseen_query`` held-out species whose genus is seen. Test records whose exact sequence is in
the training split are flagged, for de-duplicated scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from bench_common import BenchContext, data_label, data_path, subsample

logger = logging.getLogger("benchmarks")


@dataclass
class BenchData:
    """One data set, split: ``parts[name]`` is a ``datasets.Dataset`` of that split."""

    label: str  # how tables name it
    source: str  # the preset entry
    path: Path  # the TSV written for the training runs
    parts: dict[str, datasets.Dataset]
    totals: dict[str, int]  # records per split before subsampling
    full: dict[str, datasets.Dataset] = field(default_factory=dict)  # query splits before subsampling
    train_sequences: set = field(default_factory=set)
    reference: datasets.Dataset | None = None  # the probes' reference: train, or a subsample of it

    def sequences(self, split: str) -> list[str]:
        return list(self.parts[split]["sequence"])

    def labels(self, split: str, rank: str) -> list:
        return list(self.parts[split][rank])

    def in_train(self, split: str) -> list[bool]:
        """Whether each record's exact sequence is also in the training split (a duplicate)."""
        return [s in self.train_sequences for s in self.parts[split]["sequence"]]

    def describe(self, split: str) -> str:
        n, total = len(self.parts[split]), self.totals.get(split, len(self.parts[split]))
        return f"{split} {n:,}" + (f" (random subsample of {total:,})" if n < total else "")

    def describe_reference(self) -> str:
        n, total = len(self.reference), len(self.parts["train"])
        return f"train {n:,}" + (f" (random subsample of {total:,})" if n < total else "")


def _select(dataset: datasets.Dataset, splits) -> datasets.Dataset:
    wanted = set(splits)
    return dataset.filter(lambda s: s in wanted, input_columns="split", desc=f"split {','.join(splits)}")


def load_bench_data(
    ctx: BenchContext,
    source: str,
    name: str,
    train_splits: tuple[str, ...],
    pretrain_splits: tuple[str, ...],
    query_limits: dict[str, int | None],
    label: str | None = None,
    reference_limit: int | None = None,
) -> BenchData:
    """Read ``source``, keep the training splits whole and subsample the query splits to
    ``query_limits`` (seed 0); write the result to ``<work>/data/<name>.tsv.gz``. The probes'
    reference is ``train`` cut to ``reference_limit`` records (seed 0; None = all)."""
    from barcodefm.data import load_barcodes, write_barcodes_tsv

    logger.info("reading %s", data_path(source))
    dataset = load_barcodes(data_path(source))
    if "split" not in dataset.column_names:
        raise ValueError(f"{data_path(source)} has no split column: the benchmarks need the shared split recipe")
    present = set(dataset["split"])
    parts, totals, full = {}, {}, {}
    for split in dict.fromkeys((*train_splits, *pretrain_splits)):
        if split in present:
            parts[split] = _select(dataset, [split])
            totals[split] = len(parts[split])
    for split, limit in query_limits.items():
        if split not in present:
            raise ValueError(f"{data_path(source)} has no {split!r} records; splits there: {sorted(present)}")
        selected = _select(dataset, [split])
        totals[split] = len(selected)
        parts[split] = selected.select(subsample(len(selected), limit, seed=0))
        full[split] = selected
    path = ctx.work_dir("data") / f"{name}.tsv.gz"
    write_barcodes_tsv(datasets.concatenate_datasets(list(parts.values())), path)
    train_sequences = set()
    for split in train_splits:
        if split in parts:
            train_sequences.update(parts[split]["sequence"])
    data = BenchData(label or data_label(source), source, path, parts, totals, full, train_sequences)
    if "train" in parts:
        data.reference = parts["train"].select(subsample(len(parts["train"]), reference_limit, seed=0))
    logger.info("%s: %s", data.label, "; ".join(data.describe(s) for s in parts))
    return data


def merged(data: BenchData, splits: tuple[str, ...]) -> datasets.Dataset:
    """The union of some splits of ``data`` (e.g. train + train_singleton as the reference)."""
    return datasets.concatenate_datasets([data.parts[s] for s in splits if s in data.parts])
