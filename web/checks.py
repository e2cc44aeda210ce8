"""Checks the forms make before asking the API, so that the commonest slips are named in the person's
language (the API's own reasons, in English, still come back for everything else)."""

from __future__ import annotations

import re

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def email_ok(value: str) -> bool:
    """An address the API accepts: something@host.domain, no spaces."""
    return bool(EMAIL.match(value)) and len(value) <= 254
