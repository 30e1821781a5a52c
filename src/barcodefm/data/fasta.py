"""FASTA barcode files, with the taxonomy that UNITE, SINTAX and BOLD write in the header.

The header flavour is decided once per file from its first header (the columns of a dataset
must be known before reading):

- ``unite``: ``>ACC|k__Fungi;p__...;s__Genus_species|SH...`` (MycoAI, UNITE). The taxonomy is
  the ``|`` field made of ``x__Name`` parts; the id is the first other field, or the second when
  the first is a ``Genus_species`` name (UNITE's general release: ``>Name|ACC|SH|type|taxonomy``).
  Ranks: kingdom, phylum, class, order, family, genus, species.
- ``sintax``: ``>id;tax=k:Fungi,p:...,s:Genus_species;`` (VSEARCH/USEARCH references). Same ranks.
- ``bold``: ``>PROCESSID|taxon name|MARKER|ACCESSION`` (BOLD's FASTA download); any field that is a
  BIN (``BOLD:AAA1234``) goes to ``bin``. BOLD writes ONE name, the lowest identification. We
  map it to ranks as follows: two or more words starting ``Genus epithet`` (including
  ``Genus sp. 3`` and ``Genus cf. epithet``) give ``genus`` = the first word and ``species`` = the
  whole name (``normalize_label`` then drops placeholders such as ``Genus sp.``); a single word is
  a genus unless its ending marks a higher rank (zoological family-group endings ``-idae``,
  ``-inae``, ``-ini``, ``-oidea``, an order ``-ptera``/``-formes``, or a name such as
  ``Insecta``), in which case genus and species stay unknown, since a family name in the genus
  column would teach a classifier a wrong genus.
- ``plain``: ``>id description``; the id is the first word, no labels.

A record is read a line at a time and held only up to ``max_bases + 1`` characters: a longer one
(a wrong file, or a 100 Mbp record in a small gzip) comes out cut there, for the reader to reject
as ``too_long``, and its remaining lines are skipped until the next header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from .textfile import CutLine, iter_lines

UNITE_RANKS = ("kingdom", "phylum", "class", "order", "family", "genus", "species")
_PREFIX_RANK = {"k": "kingdom", "p": "phylum", "c": "class", "o": "order", "f": "family", "g": "genus", "s": "species"}
_UNITE_TAXONOMY = re.compile(r"^(?:[a-z]__[^;]*;?)+$")
_UNITE_NAME_FIELD = re.compile(r"^[A-Z][a-z]+_[a-z]")
_BIN = re.compile(r"^BOLD:[A-Z]{3}\d{4}$")
# BOLD marker codes seen in its downloads (COI-5P, COI-3P, ITS, ITS2, rbcLa, matK, 16S, 28S-D2,
# trnH-psbA, CYTB, ND4, ...).
_MARKER = re.compile(
    r"^(?:COI|COII|COIII|COX\d?|CO\d|CYTB|ND\d+L?|ITS\d?|rbcL\w*|matK|trn\S*|psb\S*|\d+S(?:-\w+)?|12S|18S|ATP\d)"
    r"(?:-[35]P)?$",
    re.IGNORECASE,
)
_HIGHER_RANK_ENDINGS = ("idae", "inae", "ini", "oidea", "ptera", "formes")
_HIGHER_TAXA = frozenset({"animalia", "arthropoda", "insecta", "arachnida", "collembola", "chordata", "fungi"})


def header_flavour(header: str) -> str:
    """``unite``, ``sintax``, ``bold`` or ``plain`` for one header line (with or without ``>``)."""
    text = header.lstrip(">").strip()
    if ";tax=" in text:
        return "sintax"
    fields = text.split("|")
    if len(fields) > 1 and any(_UNITE_TAXONOMY.match(f.strip()) for f in fields):
        return "unite"
    if len(fields) >= 3 and _MARKER.match(fields[2].strip()):
        return "bold"
    return "plain"


def split_bold_taxon(name: str) -> tuple[str | None, str | None]:
    """``(genus, species)`` raw labels from BOLD's single taxon name (see the module docstring)."""
    words = name.split()
    if not words:
        return None, None
    if len(words) >= 2 and words[0][:1].isupper() and not words[1][:1].isupper():
        return words[0], " ".join(words)
    word = words[0].lower()
    if len(words) == 1 and not word.endswith(_HIGHER_RANK_ENDINGS) and word not in _HIGHER_TAXA:
        return words[0], None
    return None, None


def _add_rank_labels(parts, separator: str, record: dict) -> None:
    """Labels from ``prefix<separator>name`` parts (``g__Aspergillus``, ``g:Aspergillus``) into
    ``record["labels"]``; parts whose prefix is not a rank letter are ignored."""
    for part in parts:
        prefix, _, name = part.strip().partition(separator)
        rank = _PREFIX_RANK.get(prefix)
        if rank:
            record["labels"][rank] = name


class FastaSource:
    """Raw records of a FASTA file: dicts with ``number``, ``id``, ``sequence``, ``labels`` and
    the extra fields the header flavour provides (``marker``, ``bin`` for BOLD)."""

    def __init__(self, path: str | Path, max_bases: int):
        self.path = Path(path)
        self.max_bases = max_bases
        lines = iter_lines(self.path, any_ending=True, max_length=max_bases)
        first = next((line for line in lines if line.startswith(">")), ">")
        lines.close()
        self.flavour = header_flavour(first)
        self.layout = f"fasta-{self.flavour}"
        if self.flavour in ("unite", "sintax"):
            self.ranks: tuple[str, ...] = UNITE_RANKS
        elif self.flavour == "bold":
            self.ranks = ("genus", "species")
        else:
            self.ranks = ()
        extras = []
        if self.flavour == "bold":
            extras.append("marker")
            if any(_BIN.match(f.strip()) for f in first.lstrip(">").split("|")):
                extras.append("bin")
        self.extras: tuple[str, ...] = tuple(extras)

    def __iter__(self) -> Iterator[dict]:
        number = 0
        header = None
        long_header = False
        chunks: list[str] = []
        size = 0
        for line in iter_lines(self.path, any_ending=True, max_length=self.max_bases):
            if line.startswith(">"):
                if header is not None:
                    yield self._record(number, header, "".join(chunks), long_header)
                number += 1
                header = line[1:].strip()
                long_header = isinstance(line, CutLine)
                chunks, size = [], 0
            elif header is not None and size <= self.max_bases:  # past the limit: rejected, stop holding it
                chunks.append(line[: self.max_bases + 1 - size])
                size += len(chunks[-1])
            # Lines before the first header (blank lines, old ';' comments) carry no record.
        if header is not None:
            yield self._record(number, header, "".join(chunks), long_header)

    def _record(self, number: int, header: str, sequence: str, long_header: bool = False) -> dict:
        record = {"number": number, "sequence": sequence, "labels": {}}
        if long_header:
            record["too_long"] = f"a header line longer than {self.max_bases:,} characters"
        if self.flavour == "unite":
            self._parse_unite(header, record)
        elif self.flavour == "sintax":
            self._parse_sintax(header, record)
        elif self.flavour == "bold":
            self._parse_bold(header, record)
        else:
            record["id"] = header.split(maxsplit=1)[0] if header else ""
        return record

    @staticmethod
    def _parse_unite(header: str, record: dict) -> None:
        fields = [f.strip() for f in header.split("|")]
        taxonomy = next((f for f in fields if _UNITE_TAXONOMY.match(f)), "")
        others = [f for f in fields if f and f != taxonomy]
        if len(others) > 1 and _UNITE_NAME_FIELD.match(others[0]):
            others = others[1:]
        record["id"] = others[0] if others else ""
        _add_rank_labels(taxonomy.split(";"), "__", record)

    @staticmethod
    def _parse_sintax(header: str, record: dict) -> None:
        record_id, _, rest = header.partition(";tax=")
        record["id"] = record_id.split(maxsplit=1)[0] if record_id.strip() else ""
        _add_rank_labels(rest.rstrip(";").split(","), ":", record)

    @staticmethod
    def _parse_bold(header: str, record: dict) -> None:
        fields = [f.strip() for f in header.split("|")]
        record["id"] = fields[0]
        genus, species = split_bold_taxon(fields[1] if len(fields) > 1 else "")
        record["labels"] = {"genus": genus, "species": species}
        record["marker"] = fields[2] if len(fields) > 2 else None
        record["bin"] = next((f for f in fields[3:] if _BIN.match(f)), None)
