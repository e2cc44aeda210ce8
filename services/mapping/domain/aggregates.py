"""The cluster map as per-cell aggregates: what a read needs, kept exactly by adding and subtracting.

Each SME contributes to its cell: 1 SME, its headcount, whether it is assessed, its number of
assessments, its latest scores per dimension, which dimensions are in its top three, and its history's
means per quarter. A cell keeps the sums of those contributions (``Agg``), once over all its SMEs and
once per council; an event replaces an SME's contribution by subtracting the old and adding the new.

Sums of scores are exact (a float is a whole number of 2**-1074, so they are kept as integers in that
unit and stored as reduced fractions), and a mean is ``float(sum) / n``: the same number as
``statistics.fmean`` of the values, which is ``math.fsum`` (the correctly rounded exact sum) over n.
So ``Agg.needs`` is what the SMEs' summaries give computed one SME at a time, to the last bit, whatever
the order of the events (tests/unit/test_cluster_map_aggregates.py keeps that per-SME computation as
its oracle).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from services.mapping.domain.cluster import Cell, SmeSummary
from services.mapping.domain.model import quarter

REGISTERED, ASSESSED, ERASED = "registered", "assessed", "erased"


def fold_summary(s: SmeSummary | None, kind: str, data: dict[str, Any]) -> SmeSummary | None:
    """One SME's summary after an event (None once erased): headcount, councils, latest, history."""
    if kind == ERASED:
        return None
    out: SmeSummary = dict(s) if s is not None else {"history": [], "latest": None}
    out["headcount"] = data["headcount"]
    out["councils"] = data.get("councils", [])
    if kind == ASSESSED:
        out["latest"] = {"scores": data["scores"], "top3": data["top_needs"][:3], "at": data["assessed_at"]}
        mean = round(sum(data["scores"].values()) / len(data["scores"]), 3)  # all the trend needs
        out["history"] = [*out.get("history", []), {"quarter": quarter(data["assessed_at"]), "mean": mean}]
    return out


# Exact sums as integers in units of 2**-1074 (the least double): every float is a whole number of these,
# so adding and subtracting them is integer arithmetic, far cheaper than Fraction's gcd at every step.
SCALE = 2**1074


def _scaled(v: float) -> int:
    n, d = float(v).as_integer_ratio()  # d is a power of two, at most 2**1074
    return n * (SCALE // d)


def _enc(x: int) -> str:
    """The sum as a reduced fraction ``"numerator/denominator"``, independent of the scale."""
    f = Fraction(x, SCALE)
    return f"{f.numerator}/{f.denominator}"


def _dec(s: str) -> int:
    n, _, d = s.partition("/")
    return int(n) * (SCALE // int(d))


def _bump(m: dict[str, Any], k: str, by: Any) -> None:
    """Add ``by`` to ``m[k]``, dropping the key at zero (so equal sums have equal documents)."""
    v = m.get(k, 0) + by
    if v:
        m[k] = v
    else:
        m.pop(k, None)


@dataclass
class Agg:
    """The sums over a set of SMEs that ``needs`` turns into the cell's statistics."""

    smes: int = 0
    headcount: int = 0
    assessed: int = 0
    assessments: int = 0
    sums: dict[str, int] = field(default_factory=dict)  # dimension -> sum of latest scores (in 2**-1074)
    top3: dict[str, int] = field(default_factory=dict)  # dimension -> SMEs with it in their top three
    trend_sum: dict[str, int] = field(default_factory=dict)  # quarter -> sum of assessment means (2**-1074)
    trend_n: dict[str, int] = field(default_factory=dict)  # quarter -> number of assessments

    def add(self, s: SmeSummary, sign: int = 1) -> None:
        """Add (sign 1) or take away (sign -1) one SME's contribution."""
        self.smes += sign
        self.headcount += sign * int(s.get("headcount", 0))
        history = s.get("history", [])
        self.assessments += sign * len(history)
        for h in history:
            _bump(self.trend_sum, h["quarter"], sign * _scaled(h["mean"]))
            _bump(self.trend_n, h["quarter"], sign)
        latest = s.get("latest")
        if latest:
            self.assessed += sign
            for d, v in latest["scores"].items():
                _bump(self.sums, d, sign * _scaled(v))
            for d in set(latest["top3"][:3]):
                _bump(self.top3, d, sign)

    def merge(self, other: Agg) -> None:
        self.smes += other.smes
        self.headcount += other.headcount
        self.assessed += other.assessed
        self.assessments += other.assessments
        for mine, theirs in (
            (self.sums, other.sums),
            (self.top3, other.top3),
            (self.trend_sum, other.trend_sum),
            (self.trend_n, other.trend_n),
        ):
            for k, v in theirs.items():
                _bump(mine, k, v)

    def empty(self) -> bool:
        return not (self.smes or self.headcount or self.assessed or self.assessments or self.trend_n)

    def needs(self, dimensions: list[str]) -> dict[str, Any]:
        """Counts, mean maturity per dimension, share with each need in their top three, quarterly trend."""
        n = self.assessed
        return {
            "smes": self.smes,
            "assessed_smes": n,
            "assessments": self.assessments,
            # int / int is correctly rounded: the float nearest the exact sum, as math.fsum gives it
            "mean_scores": {d: round((self.sums.get(d, 0) / SCALE) / n, 3) for d in dimensions} if n else {},
            "top3_share": {d: round(self.top3.get(d, 0) / n, 3) for d in dimensions} if n else {},
            "trend": {q: round((self.trend_sum[q] / SCALE) / self.trend_n[q], 3) for q in sorted(self.trend_n)},
        }

    def encode(self) -> dict[str, Any]:
        """Exact sums as ``"numerator/denominator"`` for updates, and beside them as floats (the correctly
        rounded value, which JSON keeps to the bit) so that a read of one cell decodes no fraction."""
        return {
            "smes": self.smes,
            "headcount": self.headcount,
            "assessed": self.assessed,
            "assessments": self.assessments,
            "sums": {d: _enc(v) for d, v in self.sums.items()},
            "sums_f": {d: v / SCALE for d, v in self.sums.items()},
            "top3": dict(self.top3),
            "trend": {
                q: {"sum": _enc(self.trend_sum[q]), "sum_f": self.trend_sum[q] / SCALE, "n": n}
                for q, n in self.trend_n.items()
            },
        }

    @classmethod
    def decode(cls, d: dict[str, Any]) -> Agg:
        trend = d.get("trend", {})
        return cls(
            smes=d["smes"],
            headcount=d["headcount"],
            assessed=d["assessed"],
            assessments=d["assessments"],
            sums={k: _dec(v) for k, v in d.get("sums", {}).items()},
            top3=dict(d.get("top3", {})),
            trend_sum={q: _dec(t["sum"]) for q, t in trend.items()},
            trend_n={q: t["n"] for q, t in trend.items()},
        )


def needs_of(encoded: dict[str, Any], dimensions: list[str]) -> dict[str, Any]:
    """``Agg.decode(encoded).needs(dimensions)`` from the stored floats, without building fractions."""
    n = encoded["assessed"]
    sums, top3, trend = encoded.get("sums_f", {}), encoded.get("top3", {}), encoded.get("trend", {})
    return {
        "smes": encoded["smes"],
        "assessed_smes": n,
        "assessments": encoded["assessments"],
        "mean_scores": {d: round(sums.get(d, 0.0) / n, 3) for d in dimensions} if n else {},
        "top3_share": {d: round(top3.get(d, 0) / n, 3) for d in dimensions} if n else {},
        "trend": {q: round(trend[q]["sum_f"] / trend[q]["n"], 3) for q in sorted(trend)},
    }


@dataclass
class CellAgg:
    """A cell's aggregate over all its SMEs, and one per council that has SMEs in the cell."""

    all: Agg = field(default_factory=Agg)
    councils: dict[str, Agg] = field(default_factory=dict)

    def add(self, s: SmeSummary | None, sign: int = 1) -> None:
        if s is None:
            return
        self.all.add(s, sign)
        for c in set(s.get("councils", [])):
            agg = self.councils.setdefault(c, Agg())
            agg.add(s, sign)
            if agg.empty():
                del self.councils[c]

    def encode(self) -> dict[str, Any]:
        # councils as a list: a council id is free text, not a portable document key
        return {
            "all": self.all.encode(),
            "councils": [{"council": c, **a.encode()} for c, a in sorted(self.councils.items())],
        }

    @classmethod
    def decode(cls, d: dict[str, Any]) -> CellAgg:
        return cls(Agg.decode(d["all"]), {c["council"]: Agg.decode(c) for c in d.get("councils", [])})


def _merged(aggs: Iterable[Agg]) -> Agg:
    out = Agg()
    for a in aggs:
        out.merge(a)
    return out


def _scope(cells: dict[Cell, CellAgg], region: str | None, council: str | None) -> dict[Cell, Agg]:
    """The spotlight's SMEs cell by cell: the region's cells (every cell without one), each whole or, with
    ``council``, the council's share of it."""
    mine_by_cell: dict[Cell, Agg] = {}
    for cell, cell_agg in cells.items():
        if region is not None and cell[0] != region:
            continue
        picked = cell_agg.all if council is None else cell_agg.councils.get(council)
        if picked is not None:
            mine_by_cell[cell] = picked
    return mine_by_cell


def spotlight(
    cells: dict[Cell, CellAgg],
    dimensions: list[str],
    region: str | None = None,
    council: str | None = None,
    stand_out: float = 0.5,
) -> dict[str, Any]:
    """A region's (or council's) needs ranked, each against the network, and cells where a need stands out.

    Read from the cells' aggregates (the council's share of a cell when ``council`` is given), never a
    per-SME list: a need stands out in a cell when its mean there is ``stand_out`` or more below the
    network's mean."""
    network = _merged(c.all for c in cells.values()).needs(dimensions)
    mine_by_cell = _scope(cells, region, council)
    mine = _merged(mine_by_cell.values()).needs(dimensions)
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
    for c, picked_agg in sorted(mine_by_cell.items(), key=lambda x: x[0]):
        stats = picked_agg.needs(dimensions)
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


# Disclosure control --------------------------------------------------------------------------------
DISCLOSURE_MIN = 10
"""The fewest assessed SMEs whose means and shares a spotlight shows, in its scope and in each cell it
names: the training benchmarks' minimum for a mean (``services/training/domain/benchmark.MEAN_MIN``), for
the same kind of figure (the mean of the SMEs' answers). Below it a mean is close to one SME's answers:
with one SME, exactly them."""


def _withheld(n: int, minimum: int, where: str) -> dict[str, Any]:
    return {
        "assessed_smes": n,
        "minimum": minimum,
        "reason": f"fewer than {minimum} assessed SMEs {where}: no means or shares are shown",
    }


def disclosed_spotlight(
    cells: dict[Cell, CellAgg],
    dimensions: list[str],
    region: str | None = None,
    council: str | None = None,
    readable: frozenset[str] = frozenset(),
    minimum: int = DISCLOSURE_MIN,
) -> dict[str, Any]:
    """``spotlight`` as a person may read it: its figures only where at least ``minimum`` SMEs are assessed.

    - the scope (the region, the council or the network): fewer than ``minimum`` assessed SMEs gives no
      ranked needs (their order is a ranking of the SMEs' answers too) and no network figures beside them;
      ``suppressed`` says how many are assessed, the minimum and why.
    - each cell of the scope with 1 to ``minimum - 1`` assessed SMEs (the council's share of the cell for a
      council) is listed among the standouts with ``suppressed`` instead of its means, whether or not a need
      stands out there (listing only those that do would say so).
    - ``readable``: the regions whose SMEs' assessments the caller may read one by one anyway (a region's
      staff: their own region); a scope or cell made only of those regions' SMEs is shown whatever its size.
      Partner regions' SMEs, replicated here as cells, are never readable one by one here.
    """
    spot = spotlight(cells, dimensions, region=region, council=council)
    mine_by_cell = _scope(cells, region, council)
    assessed = {cell: agg.assessed for cell, agg in mine_by_cell.items() if agg.assessed > 0}
    n = spot["assessed_smes"]
    where = "in this council" if council is not None else "in this region" if region is not None else "in the network"
    if n < minimum and not all(cell[0] in readable for cell in assessed):
        spot["suppressed"] = _withheld(n, minimum, where)
        spot["needs"] = []
        small = dict(assessed)
    else:
        spot["suppressed"] = None
        small = {c: k for c, k in assessed.items() if k < minimum and c[0] not in readable}
    shown = [s for s in spot["standouts"] if (s["region"], s["sector"]) not in small]
    withheld = [
        {
            "region": cell[0],
            "sector": cell[1],
            "dimension": None,
            "suppressed": _withheld(k, minimum, "in this cell" if council is None else "of this council in this cell"),
        }
        for cell, k in sorted(small.items())
    ]
    spot["standouts"] = shown + withheld
    return spot
