"""Build ``benchmarks/data/plant_markers.fasta``: barcodes of markers neither bundled model knows,
for the marker check of ``benchmarks/real_input.py``.

Source: the Biopython source distribution (public GenBank records it ships as tutorial and test
data; attribution in ``benchmarks/data/ATTRIBUTION.md``):
- ``Doc/examples/ls_orchid.fasta``: 94 lady's-slipper orchid ITS1-5.8S-ITS2 sequences (plant ITS);
- ``Tests/GenBank/NC_000932.gb``: the Arabidopsis thaliana chloroplast genome, from which the genes
  used as plant barcodes or common in chloroplast surveys are cut by their annotation (rbcL, matK,
  psbA, atpB, ndhF, rpoC1, psaA).

    pip download biopython==1.88 --no-binary :all: --no-deps -d /tmp/bp && tar xzf /tmp/bp/biopython-1.88.tar.gz -C /tmp/bp
    python benchmarks/make_other_marker_data.py /tmp/bp/biopython-1.88
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "plant_markers.fasta"
CHLOROPLAST_GENES = ("rbcL", "matK", "psbA", "atpB", "ndhF", "rpoC1", "psaA")
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def orchid_its(path: Path) -> list[tuple[str, str]]:
    records, name, seq = [], None, []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            if name:
                records.append((name, "".join(seq).upper()))
            accession, species = line.split("|")[3], line.split()[1]
            name, seq = f"{accession} orchid ITS1-5.8S-ITS2 {species}", []
        else:
            seq.append(line.strip())
    if name:
        records.append((name, "".join(seq).upper()))
    return records


def chloroplast_genes(path: Path) -> list[tuple[str, str]]:
    text = path.read_text()
    genome = "".join(re.sub(r"[^a-z]", "", line) for line in text.split("ORIGIN")[1].splitlines()).upper()
    feature = re.compile(
        r"^     gene            (complement\()?(\d+)\.\.(\d+)\)?\n((?:                     .*\n)+)", re.M
    )
    out, seen = [], set()
    for match in feature.finditer(text):
        gene = re.search(r'/gene="([^"]+)"', match.group(4))
        if not gene or gene.group(1) not in CHLOROPLAST_GENES or gene.group(1) in seen:
            continue
        seen.add(gene.group(1))
        seq = genome[int(match.group(2)) - 1 : int(match.group(3))]
        if match.group(1):  # on the minus strand: the gene's own reading direction
            seq = seq.translate(COMPLEMENT)[::-1]
        out.append((f"NC_000932 Arabidopsis thaliana chloroplast {gene.group(1)}", seq))
    return out


def main(source: str) -> None:
    root = Path(source)
    records = orchid_its(root / "Doc" / "examples" / "ls_orchid.fasta")
    records += chloroplast_genes(root / "Tests" / "GenBank" / "NC_000932.gb")
    OUT.write_text("".join(f">{name}\n{seq}\n" for name, seq in records))
    print(f"{len(records)} records -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
