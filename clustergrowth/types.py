"""Input types shared by the services' command models."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field


def _instant(v: datetime) -> datetime:
    """An aware time the platform can compute with: 2000-2100, kept as UTC."""
    try:
        utc = v.astimezone(UTC)
    except OverflowError as e:  # year 1 or 9999 with an offset falls off the calendar
        raise ValueError("is out of range") from e
    if not 2000 <= utc.year <= 2100:
        raise ValueError("must be between the years 2000 and 2100")
    return utc


Instant = Annotated[AwareDatetime, AfterValidator(_instant)]


# Unicode's invisible formatting (Cf: zero-width, bidi embeddings, overrides and isolates) and control
# (Cc, incl. U+0085) characters, and the line and paragraph separators: a name with one of them can look
# like another person's name, reverse what follows it, or break a line where a page shows one line.
_SEPARATORS = frozenset("\u0085\u2028\u2029")
PERSON_NAME_MAX = 100


def _person_name(v: str) -> str:
    """A name people read to tell a person apart: NFKC-normalised (so compatibility forms such as full-width
    letters read as the letters they are), one line of visible characters, with at least one letter."""
    for ch in v:  # before normalising: NFKC never removes them, but report the character as it was sent
        if ch in _SEPARATORS or unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            raise ValueError(f"must not contain the invisible or control character U+{ord(ch):04X}")
    name = unicodedata.normalize("NFKC", v).strip()
    if any(ch in _SEPARATORS or unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name):
        raise ValueError("must not contain an invisible or control character")
    if len(name) > PERSON_NAME_MAX:
        raise ValueError(f"has more than {PERSON_NAME_MAX} characters once normalised (NFKC)")
    if not any(unicodedata.category(ch).startswith("L") for ch in name):
        raise ValueError("must contain a letter")
    return name


PersonName = Annotated[
    str,
    Field(min_length=1, max_length=PERSON_NAME_MAX),
    AfterValidator(_person_name),
]
"""A person-facing name (a display name): 1-100 characters, NFKC-normalised, no control or invisible
formatting character (Unicode Cc, Cf), no U+0085/U+2028/U+2029, at least one letter. Reusable by any
service's command model; a refusal is the field's 422 with the reason."""
