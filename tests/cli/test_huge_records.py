"""`barcodefm classify` on a small gzip holding two 20 Mbp records (one on a single line, one over
many lines) between ordinary barcodes: the huge records are ``too_long`` rejects, the others are
classified, and the run's memory stays bounded (a 215 KB gzip with one 100 Mbp record used to
drive classify to 11.9 GB)."""

from __future__ import annotations

import resource
import subprocess
import sys

from conftest import coi_sample_records

PROBE = r"""
import resource, sys
import torch, transformers  # the libraries classify loads anyway: the baseline
from barcodefm.cli import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(sys.argv[1:])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"peak RSS growth {(after - before) // 1024} MB")
sys.exit(code)
"""
HUGE = 20_000_000
RSS_GROWTH_LIMIT_MB = 400  # a tiny model and a few records; the old reader + model needed several GB


def _limit_address_space():  # the old code would swallow the machine: let it fail with MemoryError instead
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def test_classify_rejects_huge_records_and_classifies_the_others(tiny_taxonomy_dir, tmp_path):
    import gzip

    good = coi_sample_records(3)
    block = b"ACGT" * 250_000
    path = tmp_path / "huge.fasta.gz"
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(f">{good[0]['id']}\n{good[0]['sequence']}\n".encode())
        f.write(b">huge_single_line\n" + block * (HUGE // len(block)) + b"\n")
        f.write(f">{good[1]['id']}\n{good[1]['sequence']}\n".encode())
        f.write(b">huge_multi_line\n" + (b"ACGT" * 20 + b"\n") * (HUGE // 80))
        f.write(f">{good[2]['id']}\n{good[2]['sequence']}\n".encode())
    assert path.stat().st_size < 250_000
    out, rejects = tmp_path / "calls.tsv", tmp_path / "rejects.tsv"
    argv = ["classify", str(path), "--model", str(tiny_taxonomy_dir), "-o", str(out), "--rejects", str(rejects)]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_limit_address_space,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line.split("\t")[0] for line in out.read_text().splitlines()[1:]] == [r["id"] for r in good]
    assert [line.split("\t")[:2] for line in rejects.read_text().splitlines()[1:]] == [
        ["huge_single_line", "too_long"],
        ["huge_multi_line", "too_long"],
    ]
    assert "skipped 2 bad records" in result.stdout
    growth = int(result.stdout.split("peak RSS growth ")[1].split()[0])
    assert growth < RSS_GROWTH_LIMIT_MB, result.stdout
