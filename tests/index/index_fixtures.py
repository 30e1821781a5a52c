"""Fixtures of the reference-index tests (not a conftest.py: it would shadow tests/conftest.py for the
modules that `from conftest import`): a tiny taxonomic classifier and a few hundred real labelled COI
barcodes (the bundled sample, cut to 150 bases)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import coi_sample_records

RANKS = ("order", "family", "genus", "species")


def write_table(path: Path, records, length: int = 150) -> Path:
    """Records as a BOLD-like TSV (processid, ranks, nucleotides)."""
    lines = ["processid\t" + "\t".join(RANKS) + "\tnucleotides"]
    lines += [f"{r['id']}\t" + "\t".join(r[k] or "" for k in RANKS) + f"\t{r['sequence'][:length]}" for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def sample_records() -> list[dict]:
    return coi_sample_records(240)


@pytest.fixture(scope="session")
def references(tmp_path_factory, sample_records) -> Path:
    return write_table(tmp_path_factory.mktemp("refs") / "refs.tsv", sample_records[:160])


@pytest.fixture(scope="session")
def more_references(tmp_path_factory, sample_records) -> Path:
    return write_table(tmp_path_factory.mktemp("more") / "more.tsv", sample_records[160:])


@pytest.fixture(scope="session")
def built_index(tmp_path_factory, tiny_taxonomy_dir, references) -> Path:
    from barcodefm.index import build_index

    out = tmp_path_factory.mktemp("index") / "idx"
    build_index(str(tiny_taxonomy_dir), [references], out, shard_size=64, batch_size=32)
    return out
