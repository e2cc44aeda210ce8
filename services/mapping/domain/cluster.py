"""Cluster-map statistics and the European Cluster Observatory's classic stars, as pure functions.

A *cell* is one NUTS-2 region x one NACE division. Employment of a cell = imported regional
statistics + headcounts of the registered SMEs. Stars (thresholds configurable, classic defaults):
size (cell employment in the top 10 % of regions for its sector), specialisation (location quotient
>= 2) and focus (cell's share of its region's employment in the top 10 % of all cells). Every star is
returned with its inputs so that a coordinator can check it by hand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

Cell = tuple[str, str]  # (region, sector)
# {"headcount", "councils", "latest": {"scores", "top3"} | None, "history": [{"quarter", "mean"}, ...]}
SmeSummary = dict[str, Any]


@dataclass(frozen=True)
class Thresholds:
    size_top_share: float = 0.10
    min_location_quotient: float = 2.0
    focus_top_share: float = 0.10


def _in_top(value: float, population: Sequence[float], share: float) -> tuple[bool, int]:
    """True when fewer than ``share`` of the population is strictly above ``value``; and its rank."""
    above = sum(1 for v in population if v > value)
    return value > 0 and above / len(population) < share, above + 1


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
    out: dict[Cell, dict[str, Any]] = {}
    for c in cells:
        r, s = c
        same_sector = [emp[x] for x in cells if x[1] == s]
        size_star, size_rank = _in_top(emp[c], same_sector, t.size_top_share)
        denominator = (sector_emp[s] / total) if total else 0.0
        lq = (shares[c] / denominator) if denominator else 0.0
        focus_star, focus_rank = _in_top(shares[c], list(shares.values()), t.focus_top_share)
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


def cell_needs(smes: list[SmeSummary], dimensions: list[str]) -> dict[str, Any]:
    """Counts, mean maturity per dimension, share putting each need in their top three, quarterly trend."""
    latest = [s["latest"] for s in smes if s.get("latest")]
    mean_scores = {d: round(fmean(x["scores"][d] for x in latest), 3) for d in dimensions} if latest else {}
    top3 = (
        {d: round(sum(1 for x in latest if d in x["top3"][:3]) / len(latest), 3) for d in dimensions} if latest else {}
    )
    by_quarter: dict[str, list[float]] = defaultdict(list)
    for s in smes:
        for h in s.get("history", []):
            by_quarter[h["quarter"]].append(h["mean"])
    return {
        "smes": len(smes),
        "assessed_smes": len(latest),
        "assessments": sum(len(s.get("history", [])) for s in smes),
        "mean_scores": mean_scores,
        "top3_share": top3,
        "trend": {q: round(fmean(v), 3) for q, v in sorted(by_quarter.items())},
    }


def spotlight(
    smes_by_cell: dict[Cell, list[SmeSummary]],
    dimensions: list[str],
    region: str | None = None,
    council: str | None = None,
    stand_out: float = 0.5,
) -> dict[str, Any]:
    """A region's (or council's) needs ranked, each against the network, and cells where a need stands out."""

    def pick(s: SmeSummary, cell: Cell) -> bool:
        return (region is None or cell[0] == region) and (council is None or council in s.get("councils", []))

    network = cell_needs([s for ss in smes_by_cell.values() for s in ss], dimensions)
    mine_by_cell = {c: [s for s in ss if pick(s, c)] for c, ss in smes_by_cell.items()}
    mine = cell_needs([s for ss in mine_by_cell.values() for s in ss], dimensions)
    needs = []
    for d in sorted(mine["mean_scores"], key=lambda d: (mine["mean_scores"][d], dimensions.index(d))):
        needs.append(
            {
                "dimension": d,
                "mean_maturity": mine["mean_scores"][d],
                "network_mean_maturity": network["mean_scores"].get(d),
                "gap_to_network": round(mine["mean_scores"][d] - network["mean_scores"].get(d, 0.0), 3),
                "top3_share": mine["top3_share"][d],
                "network_top3_share": network["top3_share"].get(d),
            }
        )
    standouts = []
    for c, ss in sorted(mine_by_cell.items()):
        stats = cell_needs(ss, dimensions)
        for d, m in stats["mean_scores"].items():
            gap = m - network["mean_scores"][d]
            if gap <= -stand_out:
                standouts.append(
                    {
                        "region": c[0],
                        "sector": c[1],
                        "dimension": d,
                        "mean_maturity": m,
                        "network_mean_maturity": network["mean_scores"][d],
                        "gap": round(gap, 3),
                    }
                )
    return {
        "region": region,
        "council": council,
        "smes": mine["smes"],
        "assessed_smes": mine["assessed_smes"],
        "needs": needs,
        "standouts": sorted(standouts, key=lambda x: x["gap"]),
    }
