"""SMEs: size class by the EU definition, and the record of assessments over time."""

from __future__ import annotations

from typing import Literal

SizeClass = Literal["micro", "small", "medium", "large"]


def size_class(headcount: int, turnover_eur: float, balance_sheet_eur: float) -> SizeClass:
    """EU Recommendation 2003/361/EC: staff headcount and turnover or balance-sheet total."""
    m = 1_000_000
    if headcount < 10 and (turnover_eur <= 2 * m or balance_sheet_eur <= 2 * m):
        return "micro"
    if headcount < 50 and (turnover_eur <= 10 * m or balance_sheet_eur <= 10 * m):
        return "small"
    if headcount < 250 and (turnover_eur <= 50 * m or balance_sheet_eur <= 43 * m):
        return "medium"
    return "large"


def quarter(iso_time: str) -> str:
    """``2026-11-26T…`` -> ``2026Q4``."""
    year, month = int(iso_time[:4]), int(iso_time[5:7])
    return f"{year}Q{(month - 1) // 3 + 1}"
