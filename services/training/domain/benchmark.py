"""Honest peer benchmarks: peer groups, their running moments, and what may be shown of them.

Peer groups of one instrument, narrowest first (the *ladder* an SME widens along until enough peers
answer): NACE division x NUTS-2 x size class; NACE section x NUTS-2 x size class; NACE section x
country x size class; the SME's (first) council; the whole network. An assessment counts in every
group it belongs to (in each of its councils); an SME counts once per instrument, with its latest
assessment.

A group keeps, per score (overall and each practice), the count, the sum, the sum of squares and a
histogram at the stored precision (2 decimals): enough for means, confidence intervals, quartiles and
percentile ranks, exact, in O(bins), whatever the number of firms; and an SME's own latest
contribution can be taken out again (it is never its own peer).

Disclosure control (what the answer may contain), for the group *without the asking SME*:
- n < ``MEAN_MIN`` (10): only n; no statistic.
- n >= 10: the mean with its 95 % confidence interval (Student's t).
- n >= ``QUARTILE_MIN`` (20): also the quartiles and the SME's percentile rank.
- never a minimum, maximum, sum, histogram or a single firm's value.
- differencing: a group is not used when a narrower group nested in it that others may see (n >= 10)
  leaves between 1 and 9 firms outside it (``differencing_safe``): the two means together would show
  those few firms' answers. Only nesting along the ladder is checked (division within section within
  country; countries and councils within the network); councils overlap the other groups without
  nesting and are not checked against them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MEAN_MIN = 10
QUARTILE_MIN = 20
LEVELS = ("division_region_size", "section_region_size", "section_country_size", "council", "network")
SCALE = 100  # histogram bins: the score x 100, as text (stored scores have 2 decimals)

Moments = dict[str, Any]  # {"n", "sum", "sumsq", "hist": {bin: count}}
Doc = dict[str, Any]


@dataclass(frozen=True)
class Facts:
    """What an SME is grouped by (from mapping's ``SMEAssessed``)."""

    nace_division: str
    nace_section: str
    region: str
    country: str
    size_class: str
    councils: tuple[str, ...]


def section_of(division: str) -> str:
    """The NACE section of a division as this platform writes it: ``C28`` -> ``C``."""
    return division[:1]


def country_of(region: str) -> str:
    """The country of a NUTS-2 code: its first two letters."""
    return region[:2]


def group_id(instrument: str, level: str, *parts: str) -> str:
    return "|".join([instrument, level, *parts])


def _chain(instrument: str, f: Facts) -> list[tuple[str, str]]:
    return [
        ("division_region_size", group_id(instrument, "division_region_size", f.nace_division, f.region, f.size_class)),
        ("section_region_size", group_id(instrument, "section_region_size", f.nace_section, f.region, f.size_class)),
        ("section_country_size", group_id(instrument, "section_country_size", f.nace_section, f.country, f.size_class)),
    ]


def memberships(instrument: str, f: Facts) -> list[str]:
    """Every group an assessment with these facts counts in."""
    councils = [group_id(instrument, "council", c) for c in sorted(set(f.councils))]
    return [g for _, g in _chain(instrument, f)] + councils + [group_id(instrument, "network")]


def ladder(instrument: str, f: Facts) -> list[tuple[str, str]]:
    """The groups an SME's benchmark widens along, narrowest first (its first council only)."""
    council = [("council", group_id(instrument, "council", f.councils[0]))] if f.councils else []
    return [*_chain(instrument, f), *council, ("network", group_id(instrument, "network"))]


def identity(gid: str) -> Doc:
    """A group's fields: instrument, level, what it is about, and the group it nests in (``parent``)."""
    instrument, level, *parts = gid.split("|")
    names = {
        "division_region_size": ("nace_division", "region", "size_class"),
        "section_region_size": ("nace_section", "region", "size_class"),
        "section_country_size": ("nace_section", "country", "size_class"),
        "council": ("council",),
        "network": (),
    }[level]
    about = dict(zip(names, parts, strict=True))
    parent: str | None
    if level == "division_region_size":
        parent = group_id(instrument, "section_region_size", section_of(parts[0]), parts[1], parts[2])
    elif level == "section_region_size":
        parent = group_id(instrument, "section_country_size", parts[0], country_of(parts[1]), parts[2])
    elif level in ("section_country_size", "council"):
        parent = group_id(instrument, "network")
    else:
        parent = None
    return {"instrument": instrument, "level": level, "about": about, "parent": parent}


# Moments ---------------------------------------------------------------------------------------------
def bin_of(x: float) -> str:
    return str(round(x * SCALE))


def empty() -> Moments:
    return {"n": 0, "sum": 0.0, "sumsq": 0.0, "hist": {}}


Contribution = dict[str, Any]  # {"groups": [gid], "overall": x, "scores": {practice: x}}


def fold(doc: Doc, gid: str, old: Contribution | None, new: Contribution | None) -> Doc:
    """A group document after an SME's contribution changed from ``old`` to ``new`` (either may be None);
    ``doc`` itself is left as it was."""
    copy = {**doc}
    if "overall" in doc:
        copy["overall"] = {**doc["overall"], "hist": dict(doc["overall"]["hist"])}
    copy["practices"] = {p: {**m, "hist": dict(m["hist"])} for p, m in (doc.get("practices") or {}).items()}
    copy["children"] = [dict(c) for c in doc.get("children") or []]
    return accumulate(copy, gid, old, new)


def _shift(m: Moments, x: float, sign: int) -> None:
    hist = m["hist"]
    b = bin_of(x)
    hist[b] = hist.get(b, 0) + sign
    if hist[b] <= 0:
        del hist[b]
    m["n"] += sign
    m["sum"] += sign * x
    m["sumsq"] += sign * x * x


def accumulate(doc: Doc, gid: str, old: Contribution | None, new: Contribution | None) -> Doc:
    """``fold`` in place (the rebuild's fast path over documents it owns)."""
    if "level" not in doc:
        doc.update(identity(gid))
    overall = doc.setdefault("overall", empty())
    practices = doc.setdefault("practices", {})
    children = doc.setdefault("children", [])
    for c, sign in ((old, -1), (new, 1)):
        if c is None or gid not in c["groups"]:
            continue
        _shift(overall, c["overall"], sign)
        for g in c["groups"]:
            if g != gid and _parent(g) == gid:
                _count_child(children, g, sign)
        for p, x in c["scores"].items():
            m = practices.get(p)
            if m is None:
                m = practices[p] = empty()
            _shift(m, x, sign)
            if m["n"] <= 0:
                del practices[p]
    doc["children"] = [c for c in children if c["n"] > 0]
    doc["n"] = overall["n"]
    return doc


def _parent(gid: str) -> str | None:
    parent: str | None = identity(gid)["parent"]
    return parent


def _count_child(children: list[Doc], gid: str, sign: int) -> None:
    """The sizes of the groups nested in this one, kept with it (``{"_id", "n"}``), so that the
    differencing check reads one document per group."""
    for c in children:
        if c["_id"] == gid:
            c["n"] += sign
            return
    children.append({"_id": gid, "n": sign})


# Statistics --------------------------------------------------------------------------------------------
def t95(df: int) -> float:
    """Student's t, two-sided 95 % (0.975 quantile), by the Cornish-Fisher expansion around the normal
    quantile (three terms: within 0.001 of the tables from 9 degrees of freedom on)."""
    z = 1.959963984540054
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def _sorted_bins(m: Moments) -> list[tuple[float, int]]:
    return sorted((int(b) / SCALE, c) for b, c in m["hist"].items())


def _order_statistic(bins: Sequence[tuple[float, int]], k: int) -> float:
    """The k-th smallest value (0-based)."""
    seen = 0
    for value, count in bins:
        seen += count
        if k < seen:
            return value
    raise IndexError(k)


def quantile(m: Moments, p: float) -> float:
    """The p-quantile by linear interpolation between order statistics (Hyndman-Fan type 7, as
    ``statistics.quantiles(method="inclusive")``)."""
    bins = _sorted_bins(m)
    h = (m["n"] - 1) * p
    lo = math.floor(h)
    a = _order_statistic(bins, lo)
    b = _order_statistic(bins, min(lo + 1, m["n"] - 1))
    return a + (h - lo) * (b - a)


def percentile_rank(m: Moments, x: float) -> float:
    """Share of the group below ``x``, counting ties as half, in percent."""
    below = sum(c for v, c in _sorted_bins(m) if v < x - 1e-9)
    ties = m["hist"].get(bin_of(x), 0)
    return 100 * (below + ties / 2) / m["n"]


def shown(m: Moments, value: float | None = None) -> Doc:
    """What may be shown of a group's moments (see the module's rules)."""
    n = m["n"]
    out: Doc = {"n": n}
    if n < MEAN_MIN:
        out["withheld"] = f"fewer than {MEAN_MIN} peers: no statistic is shown"
        return out
    mean = m["sum"] / n
    var = max(m["sumsq"] - n * mean * mean, 0.0) / (n - 1)
    half = t95(n - 1) * math.sqrt(var / n)
    out.update(mean=round(mean, 2), ci95=[round(mean - half, 2), round(mean + half, 2)])
    if n < QUARTILE_MIN:
        out["withheld"] = f"fewer than {QUARTILE_MIN} peers: no quartiles or percentile rank"
        return out
    out["quartiles"] = [round(quantile(m, q), 2) for q in (0.25, 0.5, 0.75)]
    if value is not None:
        out["percentile_rank"] = round(percentile_rank(m, value), 1)
    return out


def without(doc: Doc, own: Contribution | None, gid: str) -> Doc:
    """A group's document with the asking SME's own contribution taken out (when it counts there)."""
    if own is None or gid not in own["groups"]:
        return doc
    return fold(doc, gid, own, None)


def differencing_safe(n: int, children: Iterable[int]) -> bool:
    """False when a nested group others may see (n >= MEAN_MIN) leaves 1..MEAN_MIN-1 firms of this view
    outside it: the two means together would show those few firms' answers. ``children`` are the sizes
    of the nested groups as seen against this view (the asker taken out of both or of neither)."""
    return all(not (0 < n - c < MEAN_MIN) for c in children if c >= MEAN_MIN)


def child_sizes(children: Iterable[Doc], own: Contribution | None, asker_in_group: bool) -> list[int]:
    """Sizes of nested groups comparable to a view without the asker: a child the asker is in loses it
    too; one it is not in keeps its size (and the asker is outside both)."""
    out = []
    for c in children:
        n = int(c.get("n", 0))
        if asker_in_group and own is not None and c["_id"] in own["groups"]:
            n -= 1
        out.append(n)
    return out


def benchmark(
    rungs: Sequence[tuple[str, str]],
    docs: Mapping[str, Doc],
    children: Mapping[str, Sequence[Doc]],
    own: Contribution | None,
    mine: Contribution,
) -> Doc:
    """The benchmark of an assessment (``mine``) against its peers: the first group of the ladder with at
    least MEAN_MIN peers (the SME itself taken out) that is safe from differencing, with what may be shown
    of it, overall and per practice; and every group tried, with its size and why it was passed over."""
    tried = []
    for level, gid in rungs:
        doc = docs.get(gid) or {"_id": gid, **identity(gid), "overall": empty(), "practices": {}, "n": 0}
        peers = without(doc, own, gid)
        n = int(peers["overall"]["n"])
        if n < MEAN_MIN:
            tried.append({"level": level, "group": gid, "n": n, "why_not": f"fewer than {MEAN_MIN} peers"})
            continue
        asker_in = own is not None and gid in own["groups"]
        if not differencing_safe(n, child_sizes(children.get(gid, []), own, asker_in)):
            why = f"a nested group leaves fewer than {MEAN_MIN} of its firms outside it (differencing)"
            tried.append({"level": level, "group": gid, "n": n, "why_not": why})
            continue
        practices = {p: shown(peers["practices"].get(p) or empty(), x) for p, x in sorted(mine["scores"].items())}
        return {
            "group": {"level": level, "id": gid, "about": identity(gid)["about"], "n": n},
            "overall": shown(peers["overall"], mine["overall"]),
            "practices": practices,
            "passed_over": tried,
        }
    return {"group": None, "overall": None, "practices": {}, "passed_over": tried}
