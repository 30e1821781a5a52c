"""Taxonomic rank names and THE rule that turns a raw label into a name or ``None``.

Every reader, the split recipe and the taxonomy heads go through :func:`normalize_label`, so
"unknown" means the same thing everywhere (SPEC 4: unknown labels are left out of a rank's loss).

A label is unknown (``None``) when it is missing, empty or whitespace, a missing-value token
(``NA``, ``N/A``, ``nan``, ``None``, ``null``, ``unknown``, ``unassigned``, ``not classified``,
``-``, ``?``), an open-nomenclature placeholder holding ``sp.``/``spp.`` as a word (``Genus sp.``,
``Genus sp. 3``, ``s__Genus_sp``, ``sp.``), anything saying ``incertae sedis`` (``Incertae_sedis``,
``X_fam_Incertae_sedis``), or a label starting with ``unidentified``, ``uncultured``,
``unclassified``, ``environmental`` or ``metagenome``.

Otherwise the label is kept as given, except for: surrounding whitespace removed and inner runs
of whitespace collapsed; a UNITE/SINTAX rank prefix (``s__``, ``g__``, ...) removed; and
underscores in species names turned into spaces (UNITE writes ``Genus_species``). Broken
characters (the U+FFFD in 45 CBS labels) are kept: truth and prediction then agree.
"""

from __future__ import annotations

import functools
import math
import re

# Canonical lower-case rank names, highest first (SPEC 4 picks its defaults among them).
RANKS = ("kingdom", "phylum", "class", "order", "family", "subfamily", "tribe", "genus", "species")

_RANK_PREFIX = re.compile(r"^[a-z]__")
_WHITESPACE = re.compile(r"\s+")
_MISSING_TOKENS = frozenset(
    {"", "na", "n/a", "nan", "none", "null", "unknown", "unassigned", "not classified", "-", "?"}
)
# ``sp``/``spp`` as a word: "sp." anywhere, or bare "sp" before a space, a digit or the end
# (so "Genus sp", "sp.3" and "Genus sp. BOLD:AAA1234" match, "spinosa" does not).
_OPEN_NOMENCLATURE = re.compile(r"(?:^|\s)spp?(?:\.|(?=\s|\d|$))", re.IGNORECASE)
_INCERTAE_SEDIS = re.compile(r"incertae\s+sedis", re.IGNORECASE)
_UNKNOWN_PREFIXES = ("unidentified", "uncultured", "unclassified", "environmental", "metagenome")


def normalize_label(rank: str, value) -> str | None:
    """Return the cleaned label of ``value`` at ``rank``, or ``None`` when it is unknown.

    ``rank`` is a canonical name (see :data:`RANKS`); only ``species`` changes the cleaning
    (underscores become spaces). ``value`` may be anything a table cell holds: ``None`` and NaN
    are unknown, other non-strings are converted with ``str``.
    """
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return _normalize_text(rank, value if isinstance(value, str) else str(value))


# Labels repeat massively (108k records, ~1k species): caching makes reading 10x cheaper.
@functools.lru_cache(maxsize=1 << 16)
def _normalize_text(rank: str, value: str) -> str | None:
    text = _WHITESPACE.sub(" ", value).strip()
    text = _RANK_PREFIX.sub("", text)
    # Underscores stand for spaces in UNITE names ("Genus_sp", "X_fam_Incertae_sedis"): judge
    # every rank on the spaced form, but rewrite only species names (genus and above never
    # legitimately hold a space, and we keep their labels as given).
    spaced = _WHITESPACE.sub(" ", text.replace("_", " ")).strip()
    if rank == "species":
        text = spaced
    lowered = spaced.lower()
    if (
        lowered in _MISSING_TOKENS
        or _OPEN_NOMENCLATURE.search(spaced)
        or _INCERTAE_SEDIS.search(spaced)
        or lowered.startswith(_UNKNOWN_PREFIXES)
    ):
        return None
    return text
