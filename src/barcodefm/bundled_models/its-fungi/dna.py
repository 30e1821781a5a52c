"""DNA normalisation shared by every tokenizer, reader and collator.

Hub module: imported by the tokenizers with a single-dot relative import, so it travels
with saved models and must depend only on the standard library.

Rules: upper-case, strip whitespace, ``U`` -> ``T``; IUPAC ambiguity codes and the
alignment gap ``-`` (and ``.``) become ``N``; any other character is an error naming the
character, its 1-based position and, when given, the record.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

BASES = "ACGT"
ALPHABET = "ACGTN"
# IUPAC ambiguity codes plus alignment gaps: all become N.
AMBIGUOUS = "RYSWKMBDHV-."
_TRANSLATE = str.maketrans({**{c: "N" for c in AMBIGUOUS}, "U": "T"})
_WHITESPACE = re.compile(r"\s+")
_INVALID = re.compile(r"[^ACGTN]")
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


class InvalidSequenceError(ValueError):
    """A sequence holds a character that is neither a base, an IUPAC code nor a gap."""

    def __init__(
        self, message: str, record: str | None = None, character: str | None = None, position: int | None = None
    ):
        super().__init__(message)
        self.record = record
        self.character = character
        self.position = position


def normalize_sequence(sequence: str, record: str | None = None) -> tuple[str, int]:
    """Return ``(normalised, n_ambiguous)``; raise :class:`InvalidSequenceError` on bad input.

    ``n_ambiguous`` counts the IUPAC codes and gaps turned into ``N`` so that callers can log
    how much they changed. ``record`` (an id or index) is named in the error message.
    """
    if not isinstance(sequence, str):
        where = f" in record {record!r}" if record is not None else ""
        raise InvalidSequenceError(f"expected a DNA string{where}, got {type(sequence).__name__}", record=record)
    raw = _WHITESPACE.sub("", sequence).upper()
    n_ambiguous = sum(raw.count(c) for c in AMBIGUOUS)
    seq = raw.translate(_TRANSLATE)
    bad = _INVALID.search(seq)
    if bad is not None:
        pos = bad.start()
        # Report the character the user wrote (before upper-casing), at its position in the
        # whitespace-free sequence.
        char = raw[pos]
        where = f" in record {record!r}" if record is not None else ""
        raise InvalidSequenceError(
            f"invalid character {char!r} at position {pos + 1}{where}: a DNA barcode may hold "
            f"A, C, G, T, U, N, IUPAC codes ({AMBIGUOUS[:-2]}) and gaps (- .)",
            record=record,
            character=char,
            position=pos + 1,
        )
    return seq, n_ambiguous


def normalize_batch(sequences, records=None, log: logging.Logger | None = None) -> list[str]:
    """Normalise many sequences; log one summary line with the number of bases set to N."""
    out = []
    total = 0
    touched = 0
    for i, s in enumerate(sequences):
        rec = records[i] if records is not None else i
        seq, n = normalize_sequence(s, record=rec)
        if n:
            total += n
            touched += 1
        out.append(seq)
    if total:
        (log or logger).info(
            "normalised %d ambiguous base(s)/gap(s) to N in %d of %d sequence(s)", total, touched, len(out)
        )
    return out


def reverse_complement(sequence: str) -> str:
    """Reverse complement of a normalised sequence (A<->T, C<->G, N stays N)."""
    return sequence.translate(_COMPLEMENT)[::-1]
