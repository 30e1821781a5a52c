"""The unknown-label rule (barcodefm.data.labels.normalize_label)."""

from __future__ import annotations

import gzip

import pytest

from barcodefm.data import RANKS, load_barcodes, normalize_label


@pytest.mark.parametrize(
    "rank, raw",
    [
        ("species", "Abax sp."),
        ("species", "Abax sp. 3"),
        ("species", "Abax sp.3"),
        ("species", "Abax sp"),
        ("species", "Abax spp."),
        ("species", "Abax sp. BOLD:AAN9385"),
        ("species", "s__Saccharomyces_sp"),
        ("species", "sp."),
        ("family", "Incertae sedis"),
        ("family", "Incertae_sedis"),
        ("family", "f__Saccharomycetales_fam_Incertae_sedis"),
        ("order", "X_ord_incertae_sedis"),
        ("species", "unidentified"),
        ("species", "uncultured fungus"),
        ("genus", "Uncultured_Ascomycota"),
        ("genus", "unclassified Diptera"),
        ("genus", "NA"),
        ("genus", "n/a"),
        ("genus", "nan"),
        ("genus", ""),
        ("genus", "   "),
        ("genus", " \t"),
        ("species", None),
        ("species", float("nan")),
    ],
)
def test_unknown_labels_become_none(rank, raw):
    assert normalize_label(rank, raw) is None


@pytest.mark.parametrize(
    "rank, raw, clean",
    [
        ("species", "Abax parallelepipedus", "Abax parallelepipedus"),
        ("species", "  Abax   parallelepipedus ", "Abax parallelepipedus"),
        ("species", "s__Zygotorulaspora_mrakii", "Zygotorulaspora mrakii"),
        ("species", "Zygotorulaspora_mrakii", "Zygotorulaspora mrakii"),
        ("genus", "g__Zygotorulaspora", "Zygotorulaspora"),
        ("kingdom", "k__Fungi", "Fungi"),
        # names that merely contain the letters "sp" / "na" are real names
        ("species", "Abax spinosus", "Abax spinosus"),
        ("species", "Aspidiotus nerii", "Aspidiotus nerii"),
        ("genus", "Nanna", "Nanna"),
        # tentative identifications are kept as given
        ("species", "Abax cf. parallelepipedus", "Abax cf. parallelepipedus"),
        # the CBS file's broken diacritics are kept, not crashed on
        ("genus", "Elsino\ufffd", "Elsino\ufffd"),
        # genus and above keep their underscores (only UNITE species use them for spaces)
        ("family", "Some_family", "Some_family"),
    ],
)
def test_known_labels_are_kept_as_given(rank, raw, clean):
    assert normalize_label(rank, raw) == clean


def test_ranks_are_canonical_lower_case_highest_first():
    assert RANKS[0] == "kingdom" and RANKS[-1] == "species"
    assert list(RANKS).index("family") < list(RANKS).index("subfamily") < list(RANKS).index("genus")
    assert all(r == r.lower() for r in RANKS)


def test_cbs_labels_with_replacement_character_are_kept(shared_data):
    path = shared_data / "fungal_its" / "cbs_its2_labelled.tsv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        raw_text = handle.read()
    n_raw_rows = sum(1 for line in raw_text.splitlines()[1:] if "\ufffd" in line)
    dataset, rejects = load_barcodes(path, return_rejects=True)
    ranks = [r for r in RANKS if r in dataset.column_names]
    broken = [row for row in dataset.select_columns(ranks).to_list() if any(v and "\ufffd" in v for v in row.values())]
    assert len(broken) == n_raw_rows > 0
    assert len(dataset) + rejects.total == len(raw_text.splitlines()) - 1
    assert rejects.counts == {"too_short": 5}  # 2-19 bases, in the table's own "excluded_short" split
