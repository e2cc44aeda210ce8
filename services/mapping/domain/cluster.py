"""The European Cluster Observatory's classic stars of the cluster map's cells, as a pure function.

A *cell* is one NUTS-2 region x one NACE division. Employment of a cell = imported regional
statistics + headcounts of the registered SMEs. Stars (thresholds configurable, classic defaults):
size (cell employment in the top 10 % of regions for its sector), specialisation (location quotient
>= 2) and focus (cell's share of its region's employment in the top 10 % of all cells). Every star is
returned with its inputs so that a coordinator can check it by hand. A cell's needs and the spotlight
are computed from its aggregates (``aggregates.py``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Cell = tuple[str, str]  # (region, sector)
# {"headcount", "councils", "latest": {"scores", "top3"} | None, "history": [{"quarter", "mean"}, ...]}
SmeSummary = dict[str, Any]


@dataclass(frozen=True)
class Thresholds:
    size_top_share: float = 0.10
    min_location_quotient: float = 2.0
    focus_top_share: float = 0.10


def _in_top(value: float, ordered: Sequence[float], share: float) -> tuple[bool, int]:
    """True when fewer than ``share`` of the population (``ordered``: sorted ascending) is strictly above
    ``value``; and its rank. A binary search, so that all cells' ranks cost O(cells log cells)."""
    above = len(ordered) - bisect_right(ordered, value)
    return value > 0 and above / len(ordered) < share, above + 1


def strengths(
    sme_employment: dict[Cell, int], statistics: dict[Cell, int], t: Thresholds = Thresholds()
) -> dict[Cell, dict[str, Any]]:
    """Stars with their inputs for every cell that has employment from either source."""
    cells = sorted(set(sme_employment) | set(statistics))
    emp = {c: statistics.get(c, 0) + sme_employment.get(c, 0) for c in cells}
    total = sum(emp.values())
    region_emp: dict[str, int] = defaultdict(int)
    sector_emp: dict[str, int] = defaultdict(int)
    for (r, s), e in emp.items():
        region_emp[r] += e
        sector_emp[s] += e
    shares = {c: (emp[c] / region_emp[c[0]] if region_emp[c[0]] else 0.0) for c in cells}
    by_sector: dict[str, list[int]] = defaultdict(list)
    for (_, s), e in emp.items():
        by_sector[s].append(e)
    for same in by_sector.values():
        same.sort()
    all_shares = sorted(shares.values())
    out: dict[Cell, dict[str, Any]] = {}
    for c in cells:
        r, s = c
        same_sector = by_sector[s]
        size_star, size_rank = _in_top(emp[c], same_sector, t.size_top_share)
        denominator = (sector_emp[s] / total) if total else 0.0
        lq = (shares[c] / denominator) if denominator else 0.0
        focus_star, focus_rank = _in_top(shares[c], all_shares, t.focus_top_share)
        spec_star = lq >= t.min_location_quotient
        out[c] = {
            "stars": int(size_star) + int(spec_star) + int(focus_star),
            "employment": {
                "statistics": statistics.get(c, 0),
                "smes": sme_employment.get(c, 0),
                "total": emp[c],
            },
            "size": {
                "star": size_star,
                "rank_in_sector": size_rank,
                "regions_in_sector": len(same_sector),
                "top_share": t.size_top_share,
            },
            "specialisation": {
                "star": spec_star,
                "location_quotient": round(lq, 4),
                "cell_employment": emp[c],
                "region_employment": region_emp[r],
                "sector_employment": sector_emp[s],
                "total_employment": total,
                "threshold": t.min_location_quotient,
            },
            "focus": {
                "star": focus_star,
                "share_of_region": round(shares[c], 4),
                "rank": focus_rank,
                "cells": len(cells),
                "top_share": t.focus_top_share,
            },
        }
    return out
