"""CSV that is safe to open in a spreadsheet: every CSV the platform writes goes through ``writer``.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by spreadsheets
as a formula, so a value someone typed in (an SME's council, a label) could run as one on the machine
of whoever opens the download (OWASP, CSV injection). Such a string cell gets a leading ``'``, which
makes it text. Numbers the platform writes are not strings and stay numbers, negative ones included.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """``value``, or ``'value`` for a string a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class Writer:
    """``csv.writer`` whose rows have every cell passed through ``cell``."""

    def __init__(self, out: IO[str], **fmt: Any) -> None:
        self._w = csv.writer(out, **fmt)

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: IO[str], **fmt: Any) -> Writer:
    """A CSV writer onto ``out`` (``fmt`` as for ``csv.writer``) that neutralises formula cells."""
    return Writer(out, **fmt)
