"""Input types shared by the services' command models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


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
