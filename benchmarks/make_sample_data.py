"""Regenerate the small real samples bundled in ``src/barcodefm/sample_data/`` (deterministic).

    python benchmarks/make_sample_data.py [--seed 0] [--shared ../shared/data]

COI: from ``insect_coi/bold_insect_coi5p_degobbi.cap20.tsv.gz``, WHOLE genera are drawn (so a
genus with held-out species keeps its seen species, and every species keeps all its records
and its shared split): first the genera holding ``pretrain_only`` species, then genera in a
seeded random order, alternating genera with and without unseen species, among genera of at
most 8 species, until ~120 species (~2,400 records: cap20 holds at most 20 per species). ITS: from ``fungal_its/cbs_its2_labelled.tsv.gz``, records
with all seven ranks known and a usable split (not ``excluded_*``), whole genera in seeded
random order (skipping genera whose labels carry the U+FFFD character) until ~1,500 records.
Rows keep their source order and values; files are gzipped with a zero timestamp so the same
seed gives byte-identical files. ``ATTRIBUTION.md`` is rewritten with the counts.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import random
from collections import Counter, defaultdict
from pathlib import Path

from barcodefm.data.labels import normalize_label

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "barcodefm" / "sample_data"
COI_SOURCE = Path("insect_coi") / "bold_insect_coi5p_degobbi.cap20.tsv.gz"
ITS_SOURCE = Path("fungal_its") / "cbs_its2_labelled.tsv.gz"
COI_COLUMNS = ["processid", "bin_uri", "order", "family", "subfamily", "genus", "species", "split", "dna"]
ITS_COLUMNS = ["id", "kingdom", "phylum", "class", "order", "family", "genus", "species", "split", "sequence"]
ITS_RANKS = ITS_COLUMNS[1:8]
COI_SPECIES_TARGET, ITS_TARGET = 120, 1500
MAX_SPECIES_PER_GENUS = 8
COI_SPLITS = {"train", "val", "test", "unseen_key", "unseen_query", "pretrain_only"}
ITS_SPLITS = {"train", "val", "test", "unseen_key", "unseen_query", "train_singleton"}


def read_rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def write_rows(rows: list[dict], columns: list[str], path: Path) -> None:
    text = io.StringIO()
    writer = csv.writer(text, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
    writer.writerow(columns)
    writer.writerows([row[c] for c in columns] for row in rows)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(text.getvalue().encode("utf-8"))


def by_genus(rows: list[dict]) -> dict[str, list[dict]]:
    genera = defaultdict(list)
    for row in rows:
        genera[row["genus"]].append(row)
    return genera


def check_unseen_genera(rows: list[dict]) -> None:
    """Every genus with an unseen species must keep a species with train records."""
    train_genera = {r["genus"] for r in rows if r["split"] == "train"}
    unseen_genera = {r["genus"] for r in rows if r["split"].startswith("unseen")}
    missing = unseen_genera - train_genera
    assert not missing, f"unseen genera without seen species in train: {sorted(missing)}"


def sample_coi(rows: list[dict], seed: int) -> list[dict]:
    genera = by_genus(rows)
    forced = sorted({r["genus"] for r in rows if r["split"] == "pretrain_only"})
    candidates = sorted(
        g
        for g, members in genera.items()
        if g not in forced and len({r["species"] for r in members}) <= MAX_SPECIES_PER_GENUS
    )
    with_unseen = [g for g in candidates if any(r["split"].startswith("unseen") for r in genera[g])]
    seen_only = [g for g in candidates if g not in set(with_unseen)]
    rng = random.Random(seed)
    rng.shuffle(with_unseen)
    rng.shuffle(seen_only)
    order = forced + [g for pair in zip(with_unseen, seen_only) for g in pair]
    chosen, species = set(), set()
    for genus in order:
        if len(species) >= COI_SPECIES_TARGET:
            break
        chosen.add(genus)
        species.update(r["species"] for r in genera[genus])
    return [r for r in rows if r["genus"] in chosen]


def sample_its(rows: list[dict], seed: int) -> list[dict]:
    usable = [
        r
        for r in rows
        if not r["split"].startswith("excluded")
        and all(normalize_label(rank, r[rank]) is not None for rank in ITS_RANKS)
    ]
    genera = by_genus(usable)
    candidates = sorted(
        g for g, members in genera.items() if not any("\ufffd" in r[k] for r in members for k in ITS_RANKS)
    )
    random.Random(seed).shuffle(candidates)
    chosen, n = set(), 0
    for genus in candidates:
        if n >= ITS_TARGET:
            break
        chosen.add(genus)
        n += len(genera[genus])
    return [r for r in usable if r["genus"] in chosen]


def describe(rows: list[dict]) -> dict:
    return {
        "records": len(rows),
        "species": len({r["species"] for r in rows}),
        "genera": len({r["genus"] for r in rows}),
        "splits": dict(sorted(Counter(r["split"] for r in rows).items())),
    }


ATTRIBUTION = """# Bundled barcode samples: sources and attribution

Two small samples of public DNA-barcode records ship with `barcodefm` so that examples, the
quick-start and the tests run without downloading anything. Nothing in them was written by
the project. `barcodefm.data.sample_path("coi")` / `sample_path("its")` return their paths.

## `coi_sample.tsv.gz`: insect COI-5P barcodes from BOLD Systems

- Source: public records of the Barcode of Life Data System (BOLD Systems,
  https://www.boldsystems.org; Ratnasingham & Hebert 2007, Molecular Ecology Notes 7:355-364).
  Please cite BOLD Systems and the record ids when you use these data: the record id of each
  row is its BOLD `processid` column (e.g. `DTNHM8620-23` is
  https://v4.boldsystems.org/index.php/Public_RecordView?processid=DTNHM8620-23); `bin_uri` is
  the record's Barcode Index Number.
- Taken from the project's shared set `insect_coi/bold_insect_coi5p_degobbi.cap20.tsv.gz` (BOLD
  COI-5P records of 1,023 insect species, at most 20 per species), keeping its `split` column.
- Columns: {coi_columns}.
- Counts: {coi[records]:,} records, {coi[species]} species, {coi[genera]} genera; splits {coi_splits}.

## `its_sample.tsv.gz`: fungal ITS2 barcodes of CBS strains

- Source: public GenBank records of the Westerdijk Fungal Biodiversity Institute (CBS) culture
  collection: Vu D. et al. 2016, "DNA barcoding analysis of more than 9 000 yeast isolates
  contributes to quantitative thresholds for yeast species and genera delimitation", Studies in
  Mycology 85:91-105; Vu D. et al. 2019, "Large-scale generation and analysis of filamentous
  fungal DNA barcodes boosts coverage for kingdom fungi and reveals thresholds for fungal
  species and higher taxon delimitation", Studies in Mycology 92:135-154. The `id` column is
  the GenBank accession of each record.
- Taken from the project's shared set `fungal_its/cbs_its2_labelled.tsv.gz` (ITS2 regions,
  ranks kingdom..species), keeping its `split` column.
- Columns: {its_columns}.
- Counts: {its[records]:,} records, {its[species]} species, {its[genera]} genera; splits {its_splits}.

## How the samples were drawn

By `benchmarks/make_sample_data.py --seed {seed}` (deterministic: the same seed gives the same
bytes). Whole genera are drawn, so a genus with held-out (`unseen_*`) species keeps its seen
species in `train`, and every species keeps all of its records and its shared split.
COI: the genera holding `pretrain_only` species first, then genera of at most
{max_species} species in a seeded random order, alternating genera with and without unseen
species, until about {coi_target} species. ITS: records whose seven ranks are all known and whose
split is usable (not `excluded_*`), whole genera in a seeded random order (skipping the few
genera whose labels carry a U+FFFD replacement character in the source) until about
{its_target:,} records. Rows keep their source order and values.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=ROOT / ".." / "shared" / "data")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    coi = sample_coi(read_rows(args.shared / COI_SOURCE), args.seed)
    check_unseen_genera(coi)
    assert COI_SPLITS <= {r["split"] for r in coi}, "COI sample misses a split"
    write_rows(coi, COI_COLUMNS, OUT / "coi_sample.tsv.gz")

    its = sample_its(read_rows(args.shared / ITS_SOURCE), args.seed)
    check_unseen_genera(its)
    assert ITS_SPLITS <= {r["split"] for r in its}, "ITS sample misses a split"
    write_rows(its, ITS_COLUMNS, OUT / "its_sample.tsv.gz")

    coi_info, its_info = describe(coi), describe(its)
    fmt = lambda info: ", ".join(f"{k} {v:,}" for k, v in info["splits"].items())  # noqa: E731
    (OUT / "ATTRIBUTION.md").write_text(
        ATTRIBUTION.format(
            coi=coi_info,
            its=its_info,
            coi_splits=fmt(coi_info),
            its_splits=fmt(its_info),
            coi_columns=", ".join(f"`{c}`" for c in COI_COLUMNS),
            its_columns=", ".join(f"`{c}`" for c in ITS_COLUMNS),
            seed=args.seed,
            max_species=MAX_SPECIES_PER_GENUS,
            coi_target=COI_SPECIES_TARGET,
            its_target=ITS_TARGET,
        ),
        encoding="utf-8",
    )
    for name, info in (("coi", coi_info), ("its", its_info)):
        size = (OUT / f"{name}_sample.tsv.gz").stat().st_size
        print(
            f"{name}: {info['records']:,} records, {info['species']} species, {info['genera']} genera, "
            f"{size / 1024:.0f} KiB, splits {info['splits']}"
        )


if __name__ == "__main__":
    main()
