"""Barcode data tooling (never travels to the Hub): readers for FASTA (plain/UNITE/SINTAX/BOLD
headers), BOLD v3/BCDM TSV, BIOSCAN CSV and our shared TSV; the unknown-label rule; seen/unseen
splits; a shared-layout TSV writer; the bundled sample files."""

from .formats import BarcodeFileError
from .labels import RANKS, normalize_label
from .readers import BarcodeReader, iter_barcodes, load_barcodes
from .rejects import Rejects
from .samples import sample_path
from .splits import SplitRecipe, assign_splits, mark_duplicates_in_train, split_dataset, split_summary
from .writers import write_barcodes_tsv

__all__ = [
    "RANKS",
    "BarcodeFileError",
    "BarcodeReader",
    "Rejects",
    "SplitRecipe",
    "assign_splits",
    "iter_barcodes",
    "load_barcodes",
    "mark_duplicates_in_train",
    "normalize_label",
    "sample_path",
    "split_dataset",
    "split_summary",
    "write_barcodes_tsv",
]
