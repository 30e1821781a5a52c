"""Shared test fixtures: where the real data lives, and skips with a reason when it is absent."""

from __future__ import annotations

import csv
import gzip
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


def skip_without_shared_data(path: Path):
    """Skip, saying what is missing and how to get it, when the project's shared data is absent."""
    if not path.exists():
        where = f"../shared/data/{path.relative_to(SHARED_DATA)}" if path.is_relative_to(SHARED_DATA) else str(path)
        where = where.removesuffix("/.")
        pytest.skip(
            f"needs {where} (the project's shared data: public BOLD, CBS and UNITE barcode records kept beside "
            "the checkout on the project's machines, not in a user's clone; the files and their layout are listed "
            "in the README's 'Data and attribution' section)"
        )


@pytest.fixture
def shared_data() -> Path:
    skip_without_shared_data(SHARED_DATA)
    return SHARED_DATA


def read_tsv_rows(path: Path, n: int | None = None, where=None) -> list[dict]:
    """First ``n`` rows of a (gzipped) TSV that satisfy ``where``."""
    skip_without_shared_data(path)
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
    skip_without_shared_data(COI_CAP20)
    import pandas as pd

    return pd.read_csv(COI_CAP20, sep="\t")


def coi_sample_records(n: int) -> list[dict]:
    """The first ``n`` records of the COI sample bundled with barcodefm (always present)."""
    from barcodefm.data import iter_barcodes, sample_path

    return [r for _, r in zip(range(n), iter_barcodes(sample_path("coi")))]


def write_fasta(path: Path, records, ids=None, length: int = 150) -> Path:
    """``records`` as FASTA (sequences cut to ``length``), under ``ids`` when given."""
    ids = [r["id"] for r in records] if ids is None else ids
    path.write_text("".join(f">{i}\n{r['sequence'][:length]}\n" for i, r in zip(ids, records)))
    return path


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    """A tiny untrained BarcodeMamba language model folder (char tokenizer): for `barcodefm embed`."""
    import torch

    from barcodefm import BarcodeCharTokenizer, BarcodeMambaForCausalLM, config_from_tokenizer

    torch.manual_seed(0)
    tok = BarcodeCharTokenizer()
    model = BarcodeMambaForCausalLM(config_from_tokenizer(tok, d_model=32, n_layer=1, headdim=16, d_state=16))
    out = tmp_path_factory.mktemp("tiny-lm")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


COI_RANKS = ("order", "family", "genus", "species")


def save_tiny_taxonomy_model(out: Path, records, ranks=COI_RANKS):
    """A tiny untrained taxonomic classifier (character tokens, seed 0) over the labels of
    ``records`` at ``ranks``, saved with its tokenizer in ``out``. Returns (model in eval mode, tokenizer)."""
    import torch

    from barcodefm import BarcodeCharTokenizer, BarcodeMambaForTaxonomicClassification, config_from_tokenizer
    from barcodefm.models.taxonomy import TaxonomySpec

    torch.manual_seed(0)
    spec = TaxonomySpec.from_columns({r: [x[r] for x in records] for r in ranks})
    tok = BarcodeCharTokenizer()
    model = BarcodeMambaForTaxonomicClassification(
        config_from_tokenizer(tok, d_model=32, n_layer=1, headdim=16, d_state=16, taxonomy=spec.to_dict())
    ).eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return model, tok


@pytest.fixture(scope="session")
def tiny_taxonomy_dir(tmp_path_factory) -> Path:
    """A tiny untrained taxonomic classifier folder (4 ranks of the COI sample, no novelty
    reference): for `barcodefm classify`."""
    out = tmp_path_factory.mktemp("tiny-taxonomy")
    save_tiny_taxonomy_model(out, coi_sample_records(100))
    return out
