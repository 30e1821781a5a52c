"""The training tables of the bundled models, built from the project's shared data folder.

``coi-insect`` reads the BOLD insect COI table as it is. ``its-fungi`` joins the CBS ITS2 table and
the MycoAI test-1 table: the two share about 4,300 strains (the MycoAI yeasts are CBS strains), so
a record is kept for training only if its id is held out (val/test/unseen) in neither table;
otherwise a strain evaluated in one table would have been trained on through the other.
"""

from __future__ import annotations

import csv
import gzip
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

COI_TABLE = "insect_coi/bold_insect_coi5p_degobbi.tsv.gz"
CBS_TABLE = "fungal_its/cbs_its2_labelled.tsv.gz"
MYCOAI_TABLE = "fungal_its/mycoai_test1_full_its_labelled.tsv.gz"
TRAINING_SPLITS = ("train", "train_singleton")
# Split given to a training record whose strain is held out in the other table.
OVERLAP_SPLIT = "excluded_overlap"
ITS_COLUMNS = (
    "id",
    "dataset",
    "kingdom",
    "phylum",
    "class",
    "order",
    "family",
    "genus",
    "species",
    "split",
    "sequence",
)


def _read_tsv(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def require(data_dir: str | Path, relative: str) -> Path:
    path = Path(data_dir) / relative
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: --data-dir must be the shared data folder (see its README)")
    return path


def its_fungi_table(data_dir: str | Path, output: str | Path) -> Path:
    """Write the joined CBS ITS2 + MycoAI table (gzipped TSV, column ``dataset`` = cbs|mycoai, ids
    prefixed with it)."""
    tables = {"cbs": _read_tsv(require(data_dir, CBS_TABLE)), "mycoai": _read_tsv(require(data_dir, MYCOAI_TABLE))}
    held_out = {r["id"] for rows in tables.values() for r in rows if r["split"] not in TRAINING_SPLITS}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    moved = 0
    with gzip.open(output, "wt", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=ITS_COLUMNS, delimiter="\t", extrasaction="ignore")
        writer.writeheader()
        for name, rows in tables.items():
            for r in rows:
                split = r["split"]
                if split in TRAINING_SPLITS and r["id"] in held_out:
                    split, moved = OVERLAP_SPLIT, moved + 1
                # Ids are unique only within a table: prefix the table's name ("cbs:KY101633").
                writer.writerow({**r, "id": f"{name}:{r['id']}", "dataset": name, "split": split})
    logger.info(
        "its-fungi table: %d CBS + %d MycoAI records, %d training records held out in the other table moved to %s",
        len(tables["cbs"]),
        len(tables["mycoai"]),
        moved,
        OVERLAP_SPLIT,
    )
    return output
