"""load_barcodes / iter_barcodes on every supported layout: real shared files (skipped when
absent) and small files written here from real records of the bundled samples."""

from __future__ import annotations

import csv
import gzip
import logging
from pathlib import Path

import datasets
import pytest

from barcodefm.data import BarcodeFileError, iter_barcodes, load_barcodes, sample_path, write_barcodes_tsv

RANKS_COI = ["order", "family", "subfamily", "genus", "species"]
BOLD_V3_COLUMNS = (
    "processid,sampleid,recordID,catalognum,fieldnum,institution_storing,bin_uri,phylum_taxID,phylum_name,"
    "class_taxID,class_name,order_taxID,order_name,family_taxID,family_name,subfamily_taxID,subfamily_name,"
    "genus_taxID,genus_name,species_taxID,species_name,subspecies_taxID,subspecies_name,"
    "identification_provided_by,voucher_type,tissue_type,collectors,collectiondate,lifestage,sex,reproduction,"
    "extrainfo,notes,lat,lon,coord_source,coord_accuracy,country,province,region,exactsite,sequenceID,markercode,"
    "genbank_accession,nucleotides,image_ids,image_urls,copyright_licenses,trace_ids,trace_links,run_dates,"
    "sequencing_centers,directions,seq_primers,marker_codes"
).split(",")


def sample_rows(name: str, n: int) -> list[dict]:
    """The first ``n`` raw rows of a bundled sample, read with the csv module (not our reader)."""
    with gzip.open(sample_path(name), "rt", encoding="utf-8", newline="") as handle:
        rows = []
        for row in csv.DictReader(handle, delimiter="\t"):
            rows.append(row)
            if len(rows) == n:
                return rows
    return rows


@pytest.fixture(scope="module")
def coi_rows() -> list[dict]:
    # Every 150th record: several genera, species and splits, all real.
    rows = sample_rows("coi", 2400)
    return rows[::150]


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    data = text.encode(encoding)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as out:
            out.write(data)
    else:
        path.write_bytes(data)
    return path


def shared_tsv(rows: list[dict]) -> str:
    columns = ["processid", "bin_uri", *RANKS_COI, "split", "dna"]
    return "\n".join(["\t".join(columns), *("\t".join(r[c] for c in columns) for r in rows)]) + "\n"


# ---------------------------------------------------------------- shared TSV layout


@pytest.mark.parametrize("suffix", [".tsv", ".tsv.gz"])
def test_shared_tsv_plain_and_gzipped(tmp_path, coi_rows, suffix):
    path = write_text(tmp_path / f"coi{suffix}", shared_tsv(coi_rows))
    dataset = load_barcodes(path)
    assert dataset.column_names == ["id", "sequence", *RANKS_COI, "split", "bin"]
    assert len(dataset) == len(coi_rows)
    for record, row in zip(dataset, coi_rows):
        assert record["id"] == row["processid"]
        assert record["sequence"] == row["dna"]
        assert record["species"] == row["species"] and record["genus"] == row["genus"]
        assert record["subfamily"] == (row["subfamily"] or None)
        assert record["split"] == row["split"] and record["bin"] == (row["bin_uri"] or None)


def test_compression_is_sniffed_from_content_not_name(tmp_path, coi_rows):
    gz_named_plain = write_text(tmp_path / "plain.tsv.gz.txt", shared_tsv(coi_rows))
    with gzip.open(tmp_path / "noext", "wb") as out:
        out.write(shared_tsv(coi_rows).encode())
    assert load_barcodes(gz_named_plain)["id"][:] == load_barcodes(tmp_path / "noext")["id"][:]


def test_writer_round_trip(tmp_path):
    original = load_barcodes(sample_path("its"))
    n = write_barcodes_tsv(original, tmp_path / "its.tsv.gz")
    again = load_barcodes(tmp_path / "its.tsv.gz")
    assert n == len(original) == len(again)
    assert again.column_names == original.column_names
    assert again.to_list() == original.to_list()


# ---------------------------------------------------------------- FASTA


def test_plain_fasta_multiline_lowercase_and_iupac(tmp_path, coi_rows):
    lines = []
    for row in coi_rows:
        seq = row["dna"].lower()
        lines.append(f">{row['processid']} {row['species']} COI-5P")
        lines.extend(seq[i : i + 60] for i in range(0, len(seq), 60))
    # an IUPAC code and an inner gap become N; the terminal gap padding is trimmed
    lines += [">odd1 test", "--ACGTRYACGT-ACGT" + "ACGTTGCA" * 3 + "---"]
    dataset = load_barcodes(write_text(tmp_path / "plain.fasta", "\n".join(lines) + "\n"))
    assert dataset.column_names == ["id", "sequence"]
    assert dataset["id"][:-1] == [r["processid"] for r in coi_rows]
    assert dataset["sequence"][:-1] == [r["dna"] for r in coi_rows]
    assert dataset[-1] == {"id": "odd1", "sequence": "ACGTNNACGTNACGT" + "ACGTTGCA" * 3}


def test_bold_fasta_headers_and_marker_filter(tmp_path, coi_rows, caplog):
    a, b, c, d = coi_rows[:4]
    genus_only = f"{c['genus']} sp."
    text = (
        f">{a['processid']}|{a['species']}|COI-5P|JF889458\n{a['dna']}\n"
        f">{b['processid']}|{b['species']}|COI-3P|\n{b['dna']}\n"
        f">{c['processid']}|{genus_only}|COI-5P|\n{c['dna']}\n"
        f">{d['processid']}|{d['family']}|COI-5P|\n{d['dna']}\n"
    )
    path = write_text(tmp_path / "bold.fas", text)
    with caplog.at_level(logging.INFO, logger="barcodefm"):
        dataset, rejects = load_barcodes(path, return_rejects=True)
    assert dataset.column_names == ["id", "sequence", "genus", "species"]
    assert dataset["id"][:] == [a["processid"], c["processid"], d["processid"]]
    assert dataset[0]["species"] == a["species"] and dataset[0]["genus"] == a["genus"]
    assert dataset[1]["species"] is None and dataset[1]["genus"] == c["genus"]  # "Genus sp."
    assert dataset[2]["genus"] is None and dataset[2]["species"] is None  # a family name is no genus
    assert rejects.counts == {"other_marker": 1} and rejects.other_markers == {"COI-3P": 1}
    assert b["processid"] in caplog.text and "other_marker" in caplog.text
    everything = load_barcodes(path, marker=None)
    assert everything.column_names[-1] == "marker"
    assert everything["marker"][:] == ["COI-5P", "COI-3P", "COI-5P", "COI-5P"]


def test_unite_fasta_from_real_its_records(tmp_path):
    rows = sample_rows("its", 30)
    ranks = ["kingdom", "phylum", "class", "order", "family", "genus", "species"]
    lines = []
    for i, row in enumerate(rows):
        species = row["species"].replace(" ", "_") if i else f"{row['genus']}_sp"  # first: unknown species
        taxonomy = ";".join(f"{r[0]}__{row[r] if r != 'species' else species}" for r in ranks)
        lines += [f">{row['id']}|{taxonomy}|SH{i:07d}.09FU", row["sequence"]]
    dataset = load_barcodes(write_text(tmp_path / "unite.fasta.gz", "\n".join(lines) + "\n"))
    assert dataset.column_names == ["id", "sequence", *ranks]
    assert dataset["id"][:] == [r["id"] for r in rows]
    assert dataset[0]["species"] is None and dataset[0]["genus"] == rows[0]["genus"]
    for record, row in list(zip(dataset, rows))[1:]:
        assert [record[r] for r in ranks] == [row[r] for r in ranks]


def test_unite_release_and_sintax_headers(tmp_path):
    row = sample_rows("its", 1)[0]
    species = row["species"].replace(" ", "_")
    text = (
        f">{species}|{row['id']}|SH1.10FU|reps|k__Fungi;g__{row['genus']};s__{species}\n{row['sequence']}\n"
        f">{row['id']}x|k__Fungi;g__{row['genus']};s__{species}|SH2.10FU\n{row['sequence']}\n"
    )
    unite = load_barcodes(write_text(tmp_path / "release.fasta", text))
    assert unite["id"][:] == [row["id"], row["id"] + "x"]
    assert unite["species"][:] == [row["species"]] * 2 and unite["phylum"][:] == [None, None]
    sintax = f">{row['id']};tax=d:Eukaryota,k:Fungi,g:{row['genus']},s:{species};\n{row['sequence']}\n"
    record = load_barcodes(write_text(tmp_path / "sintax.fa", sintax))[0]
    assert (record["id"], record["kingdom"], record["genus"], record["species"]) == (
        row["id"],
        "Fungi",
        row["genus"],
        row["species"],
    )


def test_real_unite_fasta_matches_labelled_table(shared_data):
    fasta = load_barcodes(shared_data / "fungal_its" / "raw" / "MycoAI_data_test1.fasta.gz")
    table = load_barcodes(shared_data / "fungal_its" / "mycoai_test1_full_its_labelled.tsv.gz")
    assert len(fasta) == len(table) == 4439
    first = fasta[0]
    assert first["id"] == "KY106088" and first["species"] == "Zygotorulaspora mrakii"
    assert first["kingdom"] == "Fungi" and first["family"] == "Saccharomycetaceae"
    by_id = {r["id"]: r for r in table}
    same = sum(by_id[r["id"]]["species"] == r["species"] and by_id[r["id"]]["sequence"] == r["sequence"] for r in fasta)
    assert same == len(fasta)  # the table is the same records with the same unknown-label rule


# ---------------------------------------------------------------- BOLD v3 and BCDM TSV


def test_bold_v3_tsv_written_from_real_rows(tmp_path, coi_rows):
    lines = ["\t".join(BOLD_V3_COLUMNS)]
    for i, row in enumerate(coi_rows[:5]):
        cells = {c: " " for c in BOLD_V3_COLUMNS}  # BOLD's blank cells are a single space
        cells.update(
            processid=row["processid"],
            bin_uri=row["bin_uri"] or " ",
            phylum_name="Arthropoda",
            class_name="Insecta",
            order_name=row["order"],
            family_name=row["family"],
            subfamily_name=row["subfamily"] or " ",
            genus_name=row["genus"],
            species_name=row["species"],
            markercode="COI-5P",
            nucleotides="--" + row["dna"] + "---",
            country="Österreich",
            image_ids="\r",
        )  # BOLD puts a bare CR inside a cell
        if i == 1:
            cells.update(markercode="COI-3P")
        if i == 3:
            cells.update(nucleotides=" ", markercode=" ")  # a record without a sequence
        lines.append("\t".join(cells[c] for c in BOLD_V3_COLUMNS))
    # Latin-1 bytes (BOLD exports mix encodings): must read, not crash.
    path = write_text(tmp_path / "bold_v3.tsv", "\r\n".join(lines) + "\r\n", encoding="latin-1")
    dataset, rejects = load_barcodes(path, return_rejects=True)
    assert dataset.column_names == ["id", "sequence", "phylum", "class", *RANKS_COI, "bin"]
    kept = [coi_rows[i] for i in (0, 2, 4)]
    assert dataset["id"][:] == [r["processid"] for r in kept]
    assert dataset["sequence"][:] == [r["dna"] for r in kept]
    assert dataset["species"][:] == [r["species"] for r in kept]
    assert rejects.counts == {"other_marker": 1, "empty_sequence": 1}


def test_real_bold_v3_downloads(shared_data):
    for path in sorted((shared_data / "insect_coi" / "raw").glob("*.tsv.gz")):
        with gzip.open(path, "rb") as handle:
            rows = [line.split(b"\t") for line in handle.read().split(b"\n")[1:] if line.strip()]
        with_sequence = sum(1 for cells in rows if cells[44].strip())
        dataset, rejects = load_barcodes(path, return_rejects=True)
        species = path.name.removesuffix(".tsv.gz").replace("_", " ")
        assert len(dataset) == with_sequence > 40
        assert rejects.counts == {"empty_sequence": len(rows) - with_sequence}
        assert set(dataset["species"][:]) == {species}
        raw_bins = [cells[6].strip().decode() or None for cells in rows if cells[44].strip()]
        assert dataset["bin"][:] == raw_bins and all(b.startswith("BOLD:") for b in raw_bins if b)
        assert all(set(s) <= set("ACGTN") and s[0] != "N" and s[-1] != "N" for s in dataset["sequence"][:])


def test_bcdm_tsv_with_marker_filter(tmp_path, coi_rows):
    columns = [
        "processid",
        "record_id",
        "insdc_acs",
        "sampleid",
        "bin_uri",
        "kingdom",
        "phylum",
        "class",
        "order",
        "family",
        "subfamily",
        "tribe",
        "genus",
        "species",
        "identification",
        "marker_code",
        "nuc",
        "country/ocean",
    ]
    lines = ["\t".join(columns)]
    for i, row in enumerate(coi_rows[:4]):
        marker = "ITS" if i == 2 else "COI-5P"
        values = dict(
            processid=row["processid"],
            record_id=f"{row['processid']}.{marker}",
            insdc_acs="",
            sampleid="S1",
            bin_uri=row["bin_uri"],
            kingdom="Animalia",
            phylum="Arthropoda",
            **{"class": "Insecta"},
            order=row["order"],
            family=row["family"],
            subfamily=row["subfamily"],
            tribe="",
            genus=row["genus"],
            species=row["species"],
            identification=row["species"],
            marker_code=marker,
            nuc=row["dna"],
            **{"country/ocean": "Canada"},
        )
        lines.append("\t".join(values[c] for c in columns))
    path = write_text(tmp_path / "bcdm.tsv", "\n".join(lines) + "\n")
    reader = iter_barcodes(path)
    assert reader.layout == "bold-bcdm-tsv"
    records = list(reader)
    assert [r["id"] for r in records] == [coi_rows[i]["processid"] for i in (0, 1, 3)]
    assert reader.columns == [
        "id",
        "sequence",
        "kingdom",
        "phylum",
        "class",
        *RANKS_COI[:3],
        "tribe",
        "genus",
        "species",
        "bin",
    ]
    assert records[0]["tribe"] is None and records[0]["kingdom"] == "Animalia"
    assert reader.rejects.counts == {"other_marker": 1} and reader.rejects.other_markers == {"ITS": 1}
    assert len(load_barcodes(path, marker="ITS")) == 1 and len(load_barcodes(path, marker=None)) == 4
    with pytest.raises(BarcodeFileError, match="other_marker 4.*marker=None"):
        load_barcodes(path, marker="rbcLa")


# ---------------------------------------------------------------- BIOSCAN / BarcodeBERT CSV


def test_barcodebert_csv_with_quotes_and_split(tmp_path, coi_rows):
    header = "processid,nucleotides,species_name,genus_name,family_name,order_name,bin_uri,country,split"
    lines = [header]
    for i, row in enumerate(coi_rows[:5]):
        species = f"{row['genus']} sp." if i == 4 else row["species"]
        lines.append(
            f"{row['processid']},{row['dna']},{species},{row['genus']},{row['family']},{row['order']},"
            f'{row["bin_uri"]},"Canada, Ontario",{row["split"]}'
        )
    dataset = load_barcodes(write_text(tmp_path / "canada.csv", "\n".join(lines) + "\n"))
    assert dataset.column_names == ["id", "sequence", "order", "family", "genus", "species", "split", "bin"]
    assert dataset["id"][:] == [r["processid"] for r in coi_rows[:5]]
    assert dataset["split"][:] == [r["split"] for r in coi_rows[:5]]
    assert dataset["species"][:] == [r["species"] for r in coi_rows[:4]] + [None]


def test_bioscan5m_csv_columns(tmp_path, coi_rows):
    header = "processid,sampleid,phylum,class,order,family,subfamily,genus,species,dna_bin,dna_barcode,split"
    lines = [header] + [
        ",".join(
            [
                r["processid"],
                "x",
                "Arthropoda",
                "Insecta",
                r["order"],
                r["family"],
                r["subfamily"],
                r["genus"],
                r["species"],
                r["bin_uri"],
                r["dna"],
                "pretrain",
            ]
        )
        for r in coi_rows[:3]
    ]
    dataset = load_barcodes(write_text(tmp_path / "bioscan.csv", "\n".join(lines) + "\n"), format="bioscan")
    assert dataset["bin"][:] == [r["bin_uri"] for r in coi_rows[:3]]
    assert dataset["sequence"][:] == [r["dna"] for r in coi_rows[:3]]


# ---------------------------------------------------------------- bad records, bad files


def test_bad_records_are_skipped_counted_logged_and_written(tmp_path, coi_rows, caplog):
    rows = [dict(r) for r in coi_rows[:8]]
    rows[2]["dna"] = rows[2]["dna"][:100] + "X" + rows[2]["dna"][100:]  # non-DNA in the middle of the file
    rows[4]["dna"] = ""
    rows[5]["dna"] = "NNNN----NNNN"
    text = shared_tsv(rows)
    # a truncated row: the sequence cell is missing entirely
    text += "\t".join(["TRUNC-1", "", "Diptera", "Culicidae"]) + "\n"
    text += (
        "\t".join([coi_rows[9]["processid"], "", *[coi_rows[9][c] for c in RANKS_COI], "train", coi_rows[9]["dna"]])
        + "\n"
    )
    path = write_text(tmp_path / "bad.tsv", text)
    rejects_path = tmp_path / "out" / "rejects.tsv"
    with caplog.at_level(logging.INFO, logger="barcodefm"):
        dataset, rejects = load_barcodes(path, rejects_path=rejects_path, return_rejects=True)
    good = [rows[i]["processid"] for i in (0, 1, 3, 6, 7)] + [coi_rows[9]["processid"]]
    assert dataset["id"][:] == good  # reading went on after each bad record
    assert rejects.counts == {"invalid_character": 1, "empty_sequence": 1, "no_bases": 1, "missing_sequence": 1}
    assert (rejects.n_read, rejects.n_kept, rejects.total) == (10, 6, 4)
    summary = [r.getMessage() for r in caplog.records if "skipped 4" in r.getMessage()]
    assert len(summary) == 1 and rows[2]["processid"] in summary[0] and "invalid_character" in summary[0]
    lines = rejects_path.read_text().splitlines()
    assert lines[0] == "id\treason\trecord\tdetail"
    written = [line.split("\t") for line in lines[1:]]
    assert [(w[0], w[1], w[2]) for w in written] == [
        (rows[2]["processid"], "invalid_character", "3"),
        (rows[4]["processid"], "empty_sequence", "5"),
        (rows[5]["processid"], "no_bases", "6"),
        ("TRUNC-1", "missing_sequence", "9"),
    ]
    assert "'X' at position 101" in written[0][3]


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
@pytest.mark.parametrize("layout", ["fasta", "tsv", "csv"])
def test_every_line_ending_reads_every_record(tmp_path, coi_rows, layout, ending):
    rows = coi_rows[:5]
    if layout == "fasta":  # sequences wrapped at 60 columns, as many FASTA writers do
        lines = [
            part
            for r in rows
            for part in [f">{r['processid']}", *(r["dna"][i : i + 60] for i in range(0, len(r["dna"]), 60))]
        ]
    else:
        sep = "\t" if layout == "tsv" else ","
        lines = [f"processid{sep}dna", *(f"{r['processid']}{sep}{r['dna']}" for r in rows)]
    path = write_text(tmp_path / f"mac.{layout}.gz", ending.join(lines) + ending)  # old Mac files: CR only
    dataset, rejects = load_barcodes(path, return_rejects=True)
    assert dataset["id"][:] == [r["processid"] for r in rows]
    assert dataset["sequence"][:] == [r["dna"] for r in rows]
    assert rejects.total == 0


def test_fasta_mixing_line_endings(tmp_path, coi_rows):
    a, b, c = coi_rows[:3]
    text = f">{a['processid']}\r{a['dna'][:200]}\r{a['dna'][200:]}\r\n>{b['processid']}\n{b['dna']}\r>{c['processid']}\r\n{c['dna']}"
    dataset = load_barcodes(write_text(tmp_path / "mixed.fasta", text))
    assert dataset["id"][:] == [a["processid"], b["processid"], c["processid"]]
    assert dataset["sequence"][:] == [a["dna"], b["dna"], c["dna"]]


def test_records_too_short_to_tokenise_are_skipped_and_counted(tmp_path, coi_rows):
    real = coi_rows[0]["dna"]
    text = "".join(
        f">{name}\n{seq}\n"
        for name, seq in [
            ("one", "A"),
            ("two", "AC"),
            ("five", "ACGTA"),
            ("real", real),
            ("nineteen", real[:19]),
            ("twenty", real[:20]),
            ("padded", "NN" + real[:10] + "NNNN" + real[10:19] + "---"),
        ]
    )
    path = write_text(tmp_path / "short.fasta", text)
    rejects_path = tmp_path / "rejects.tsv"
    dataset, rejects = load_barcodes(path, rejects_path=rejects_path, return_rejects=True)
    assert dataset["id"][:] == ["real", "twenty"]
    assert rejects.counts == {"too_short": 5} and (rejects.n_read, rejects.n_kept) == (7, 2)
    assert "too_short 5 (one, two, five, nineteen, padded)" in rejects.summary()
    written = [line.split("\t") for line in rejects_path.read_text().splitlines()[1:]]
    assert written[0][:3] == ["one", "too_short", "1"] and "1 A/C/G/T bases, fewer than the 20" in written[0][3]
    assert written[-1][0] == "padded" and written[-1][3].startswith("19 A/C/G/T")  # N are not bases
    assert load_barcodes(path, min_bases=5)["id"][:] == ["five", "real", "nineteen", "twenty", "padded"]
    with pytest.raises(ValueError, match="min_bases must be >= 1"):
        iter_barcodes(path, min_bases=0)


def test_mostly_ambiguous_records_are_skipped_and_counted(tmp_path, coi_rows):
    real = coi_rows[0]["dna"]
    protein = "MKVHRDSWYKMBDHVRAGCTWWSKMHHDKVRYSAG" * 5  # only IUPAC letters: mostly N once read
    half = real[:100] + "N" * 100  # a DNA record that is exactly half unknown is kept
    text = f">prot\n{protein}\n>real\n{real}\n>half\n{half}T\n>over\n{real[:100]}{'R' * 102}T\n"
    dataset, rejects = load_barcodes(write_text(tmp_path / "n.fasta", text), return_rejects=True)
    assert dataset["id"][:] == ["real", "half"]
    assert rejects.counts == {"mostly_ambiguous": 2}
    assert "mostly_ambiguous 2 (prot, over)" in rejects.summary()


def test_quoted_ids_round_trip_like_classify_writes_them(tmp_path, coi_rows):
    ids = ['he said "hi"', '"quoted"', "carriage\rreturn"]  # the last: a stray CR in an id cell (BOLD)
    with open(tmp_path / "in.tsv", "w", newline="") as f:  # written the way classify writes its table
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "species", "sequence"])
        writer.writerows([i, r["species"], r["dna"]] for i, r in zip(ids, coi_rows))
    original = load_barcodes(tmp_path / "in.tsv")
    assert original["id"][:] == ['he said "hi"', '"quoted"', "carriage return"]
    assert original["sequence"][:] == [r["dna"] for r in coi_rows[:3]]
    out = tmp_path / "out.tsv"
    write_barcodes_tsv(original, out)
    lines = out.read_text().splitlines()
    assert lines[1].startswith('"he said ""hi"""\t') and lines[2].startswith('"""quoted"""\t')
    assert load_barcodes(out).to_list() == original.to_list()


def test_a_row_with_extra_cells_is_a_bad_record_not_a_bad_file(tmp_path, coi_rows):
    text = shared_tsv(coi_rows[:3]).splitlines()
    text[2] += "\tstray\tcells"
    dataset, rejects = load_barcodes(write_text(tmp_path / "t.tsv", "\n".join(text) + "\n"), return_rejects=True)
    assert len(dataset) == 2 and rejects.counts == {"malformed_row": 1}


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.txt", "just some words\nand more\n", "cannot tell the format"),
        ("reads.fastq", "@read1\nACGT\n+\nIIII\n", "FASTQ"),
        ("empty.fasta", "\n\n", "empty"),
        ("nosequence.tsv", "processid\tspecies\nA-1\tAbax ater\n", "no sequence column"),
        ("binary.bin", "\x00\x01\x02PK", "binary"),
    ],
)
def test_malformed_files_raise_a_clear_error(tmp_path, name, content, message):
    path = write_text(tmp_path / name, content)
    with pytest.raises(BarcodeFileError, match=message) as info:
        load_barcodes(path)
    assert name in str(info.value)


def test_file_errors_name_the_file(tmp_path, coi_rows):
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        load_barcodes(tmp_path / "missing.tsv")
    path = write_text(tmp_path / "coi.tsv", shared_tsv(coi_rows[:2]))
    with pytest.raises(BarcodeFileError, match="looks like TSV"):
        load_barcodes(path, format="fasta")
    with pytest.raises(BarcodeFileError, match="unknown format"):
        load_barcodes(path, format="genbank")
    only_bad = write_text(tmp_path / "bad.tsv", "id\tsequence\nr1\tHELLO\n")
    with pytest.raises(
        BarcodeFileError, match="no usable barcode records.*invalid_character 1 \\(r1: 'E' at position 2\\)"
    ):
        load_barcodes(only_bad)


# ---------------------------------------------------------------- streaming and real shared tables


def test_streaming_gives_the_same_records(tmp_path, coi_rows):
    rows = [dict(r) for r in coi_rows[:6]]
    rows[3]["dna"] = "ACGT!"
    path = write_text(tmp_path / "s.tsv", shared_tsv(rows))
    streamed, rejects = load_barcodes(path, streaming=True, return_rejects=True)
    assert isinstance(streamed, datasets.IterableDataset)
    assert list(streamed) == load_barcodes(path).to_list()
    assert rejects.counts == {"invalid_character": 1}
    reader = iter_barcodes(path)
    assert [r["id"] for r in reader] == [r["processid"] for i, r in enumerate(rows) if i != 3]
    assert reader.rejects.total == 1 and reader.rejects.finished


def test_real_shared_tables(shared_data):
    coi = load_barcodes(shared_data / "insect_coi" / "bold_insect_coi5p_degobbi.cap20.tsv.gz")
    assert len(coi) == 19901
    assert coi.column_names == ["id", "sequence", "phylum", "class", *RANKS_COI, "split", "bin"]
    splits = coi["split"][:]
    counts = {s: splits.count(s) for s in ("train", "val", "test", "unseen_key", "unseen_query")}
    assert counts == {"train": 11057, "val": 1594, "test": 3167, "unseen_key": 2034, "unseen_query": 2044}
    its, rejects = load_barcodes(shared_data / "fungal_its" / "cbs_its2_labelled.tsv.gz", return_rejects=True)
    assert its.column_names == [
        "id",
        "sequence",
        "kingdom",
        "phylum",
        "class",
        "order",
        "family",
        "genus",
        "species",
        "split",
    ]
    assert len(its) == 18774 and its[0]["id"] == "KY101633"
    # Five records of 2-19 bases, all in the table's own "excluded_short" split, are too short.
    assert rejects.counts == {"too_short": 5}
