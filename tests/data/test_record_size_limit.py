"""A record longer than MAX_RECORD_BASES (a barcode is at most a few kb) is a counted reject,
``too_long``, read without holding it: a 215 KB gzip holding one 100 Mbp record drove classify to
11.9 GB. The readers stream such a record (FASTA on one line or many, a TSV/CSV row) in bounded
pieces and the records after it are read as usual."""

from __future__ import annotations

import gzip
import random
import tracemalloc
from pathlib import Path

import pytest

from barcodefm.data import iter_barcodes
from barcodefm.data.readers import MAX_RECORD_BASES

HUGE = 20_000_000  # 200 times the limit
# Peak Python allocations while reading a file with two 20 Mbp records: a few 1 MiB read buffers
# (the old reader held each record whole, several times over: ~95 MB).
PEAK_LIMIT = 16_000_000


def good_sequence(seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(300))


def write_huge_fasta(path: Path) -> Path:
    block = b"ACGT" * 250_000  # 1 Mbp
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(f">g1\n{good_sequence(1)}\n".encode())
        f.write(b">huge_single_line\n" + block * (HUGE // len(block)) + b"\n")
        f.write(f">g2\n{good_sequence(2)}\n".encode())
        f.write(b">huge_multi_line\n" + (b"ACGT" * 20 + b"\n") * (HUGE // 80))
        f.write(f">g3\n{good_sequence(3)}\n".encode())
    return path


def write_huge_table(path: Path, delimiter: str) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(f"id{delimiter}sequence{delimiter}species\n".encode())
        f.write(f"g1{delimiter}{good_sequence(1)}{delimiter}Aedes albopictus\n".encode())
        f.write(f"huge_row{delimiter}".encode() + b"ACGT" * (HUGE // 4) + f"{delimiter}Aedes\n".encode())
        f.write(f"g2{delimiter}{good_sequence(2)}{delimiter}Aedes albopictus\n".encode())
        over = "ACGT" * (MAX_RECORD_BASES // 4) + "A"  # one base over, in a row of ordinary size
        f.write(f"just_over{delimiter}{over}{delimiter}Aedes\n".encode())
        f.write(f"g3{delimiter}{good_sequence(3)}{delimiter}Aedes albopictus\n".encode())
    return path


def read_with_peak(path: Path, rejects_path: Path):
    tracemalloc.start()
    try:
        reader = iter_barcodes(path, rejects_path=rejects_path)
        ids = [record["id"] for record in reader]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return ids, reader.rejects, peak


def test_the_limit_is_a_barcode_of_a_few_kb():
    assert MAX_RECORD_BASES == 100_000


def test_a_huge_fasta_record_is_rejected_without_holding_it(tmp_path):
    ids, rejects, peak = read_with_peak(write_huge_fasta(tmp_path / "huge.fasta.gz"), tmp_path / "rejects.tsv")
    assert ids == ["g1", "g2", "g3"]
    assert rejects.counts == {"too_long": 2}
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB"
    rows = [line.split("\t") for line in (tmp_path / "rejects.tsv").read_text().splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("huge_single_line", "too_long", "2"),
        ("huge_multi_line", "too_long", "4"),
    ]
    assert "100,000 bases" in rows[0][3]


@pytest.mark.parametrize("delimiter", ["\t", ","])
def test_a_huge_table_row_is_rejected_without_holding_it(tmp_path, delimiter):
    name = "huge.tsv.gz" if delimiter == "\t" else "huge.csv.gz"
    ids, rejects, peak = read_with_peak(write_huge_table(tmp_path / name, delimiter), tmp_path / "rejects.tsv")
    assert ids == ["g1", "g2", "g3"]
    assert rejects.counts == {"too_long": 2}
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB"
    rows = [line.split("\t")[:3] for line in (tmp_path / "rejects.tsv").read_text().splitlines()[1:]]
    assert rows == [["huge_row", "too_long", "2"], ["just_over", "too_long", "4"]]


def test_a_record_at_the_limit_is_kept(tmp_path):
    at_limit = "ACGT" * (MAX_RECORD_BASES // 4)
    path = tmp_path / "limit.fasta"
    path.write_text(f">at_limit\n{at_limit[:60_000]}\n{at_limit[60_000:]}\n>g1\n{good_sequence(1)}\n")
    records = list(iter_barcodes(path))
    assert [r["id"] for r in records] == ["at_limit", "g1"] and len(records[0]["sequence"]) == MAX_RECORD_BASES
