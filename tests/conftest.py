"""Shared test fixtures: where the real data lives, and skips with a reason when it is absent."""

from __future__ import annotations

import gzip
import csv
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
COI_CAP20 = SHARED_DATA / "insect_coi" / "bold_insect_coi5p_degobbi.cap20.tsv.gz"
CBS_ITS2 = SHARED_DATA / "fungal_its" / "cbs_its2_labelled.tsv.gz"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _skip_without(path: Path):
    if not path.exists():
        pytest.skip(f"../shared/data not found ({path}): real-data test skipped outside the project checkout")


@pytest.fixture
def shared_data() -> Path:
    _skip_without(SHARED_DATA)
    return SHARED_DATA


def read_tsv_rows(path: Path, n: int | None = None, where=None) -> list[dict]:
    """First ``n`` rows of a (gzipped) TSV that satisfy ``where``."""
    _skip_without(path)
    rows = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if where is None or where(row):
                rows.append(row)
                if n is not None and len(rows) >= n:
                    break
    return rows


@pytest.fixture(scope="session")
def coi_rows() -> list[dict]:
    """400 real COI barcodes (cap20 train split)."""
    return read_tsv_rows(COI_CAP20, 400, where=lambda r: r["split"] == "train")


@pytest.fixture(scope="session")
def coi_cap20_table():
    """The whole COI cap20 table (19,901 rows) as a pandas DataFrame; skipped when absent."""
    _skip_without(COI_CAP20)
    import pandas as pd

    return pd.read_csv(COI_CAP20, sep="\t")
