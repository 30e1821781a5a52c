"""The min-prob cutoff and the downloadable table of a finished job.

The worker stores each record's calls before any cutoff; the page's slider and the download apply
it afterwards, as ``barcodefm classify --min-prob`` does (:func:`barcodefm.models.taxonomy.predict`):
from the first rank whose probability is below the cutoff downwards the cells are empty, and a
rank's call counts against ``consistent`` only while it and the rank above are both reported.
The page's script (``static/app.js``, ``cutAt``) applies the same rule. The TSV has the columns and
number formats of ``barcodefm classify``'s output, except that a text cell a spreadsheet would run
as a formula (an id from a FASTA header such as ``=HYPERLINK(...)``) starts with an apostrophe.
"""

from __future__ import annotations

import csv
import io

from ..data.writers import spreadsheet_safe


def cut_at(probs: list[float], min_prob: float | None) -> int:
    """Number of ranks reported (from the top) under ``min_prob``."""
    if min_prob is None:
        return len(probs)
    return next((j for j, p in enumerate(probs) if p < min_prob), len(probs))


def columns(ranks: list[str], novelty: bool, orientation: bool = False, nearest: bool = False) -> list[str]:
    from ..inference.nearest import NEAREST_COLUMNS  # here: the page starts without torch
    from ..inference.orientation import ORIENTATION_COLUMNS

    return (
        ["id"]
        + (list(ORIENTATION_COLUMNS) if orientation else [])
        + [c for r in ranks for c in (r, f"{r}_prob")]
        + ["consistent"]
        + (list(NEAREST_COLUMNS) if nearest else [])
        + (["novelty", "likely_novel"] if novelty else [])
    )


def row_cells(row: dict, min_prob: float | None, novelty: bool, nearest: bool = False) -> list[str]:
    """One TSV row: ``row`` as :meth:`.identifier.Identifier.identify` gives it."""
    named = row.get("status") != "other_marker"  # another marker: no name, as classify writes it
    reported = cut_at(row["probs"], min_prob) if named else 0
    cells = [spreadsheet_safe(row["id"])]  # the upload's own text
    if "strand" in row:
        cells += [row["strand"], f"{row['marker_kmers']:.4f}", row["status"]]
    for j, (label, prob) in enumerate(zip(row["labels"], row["probs"])):
        cells += [spreadsheet_safe(label or ""), f"{prob:.4f}"] if j < reported else ["", ""]
    cells.append(str(all(j >= reported for j in row["inconsistent"])).lower() if named else "")
    if nearest:  # the evidence, whatever the cutoff and the marker check
        from ..inference.nearest import nearest_cells

        ref = row["nearest_reference"]
        cells += nearest_cells((spreadsheet_safe(ref), row["nearest_identity"], row["nearest_by"]))
    if novelty:
        cells += [f"{row['novelty']:.4f}", str(row["likely_novel"]).lower() if named else ""]
    return cells


def table_tsv(
    rows: list[dict],
    ranks: list[str],
    min_prob: float | None,
    novelty: bool,
    orientation: bool = False,
    nearest: bool = False,
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(columns(ranks, novelty, orientation, nearest))
    writer.writerows(row_cells(row, min_prob, novelty, nearest) for row in rows)
    return out.getvalue()


def parse_min_prob(text: str | None) -> float | None:
    """The ``min_prob`` query parameter: empty or absent = no cutoff; else a number in [0, 1]."""
    if text is None or not text.strip():
        return None
    value = float(text)  # ValueError for "abc": the app answers 400
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"min_prob must be within [0, 1], got {text}")
    return value
