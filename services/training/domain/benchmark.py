"""Honest peer benchmarks: peer groups, their running moments, and what may be shown of them.

Peer groups of one instrument, narrowest first (the *ladder* an SME widens along until enough peers
answer): NACE division x NUTS-2 x size class; NACE section x NUTS-2 x size class; NACE section x
country x size class; the SME's (first) council; the whole network. An assessment counts in every
group it belongs to (in each of its councils); an SME counts once per instrument, with its latest
assessment.

A group keeps, per score (overall and each practice), the count, the sum, the sum of squares and a
histogram at the stored precision (2 decimals): enough for means, confidence intervals and quartiles,
exact, in O(bins), whatever the number of firms; and an SME's own latest contribution can be taken out
again (it is never its own peer).

Organisations: a contribution carries its SME's organisation (the one that registered it; an SME without
one is its own). Thresholds count firms *and* distinct organisations; the SME's benchmark takes every
contribution of its own organisation out of its peers (not only itself), so fake SMEs registered by one
organisation are never the peers it reads; and no group is shown when one organisation has more than half
of its firms (dominance). A group keeps ``org_sizes`` (how many organisations have k firms in it, for each
k): its number of organisations and its largest one, in O(1), whatever the number of organisations; an
organisation's own count in a group is read from its own contributions.

Releases: what anyone sees of a group is its latest *release*, a snapshot of its moments and
``org_sizes`` cut when contributions of at least ``RELEASE_MIN`` (10) distinct organisations have changed
(joined, left or re-assessed) since the previous one; until then the previous release is shown, with its
number, date (the assessment time of the contribution that cut it) and n. So two readings of a group
differ by at least 10 organisations' changes, never by one newcomer. Each group keeps what changed since
its release per organisation (``pending``: contributions in and out, fewer than 10 organisations): an
organisation's contributions as they stood at the release are its current ones less what came in plus
what went out, which is what its own benchmark takes out of the release. Releases are cut by the folds,
in event order, so replaying the same events gives the same releases. Disclosure control and the
differencing judgement work on released figures.

Disclosure control (what the answer may contain), for the group *without the asking SME's organisation*:
- fewer than ``MEAN_MIN`` (10) firms or organisations: only n; no statistic.
- from 10 firms of 10 organisations: the mean with its 95 % confidence interval (Student's t).
- from ``QUARTILE_MIN`` (20) firms of 20 organisations: also the quartiles, and where the SME's score
  stands as a quartile band only (``BANDS``: below Q1, Q1 to median, median to Q3, Q3 and above; a score
  equal to a quartile is in the band above it), never a percentile rank: asked with scores 1, 2, ... 5, a
  rank gave away the peers' histogram; a band says no more than the quartiles shown beside it. Only the
  SME's latest assessment of an instrument is benchmarked (an earlier one is superseded), so the band
  cannot be asked for many scores either.
- one organisation with more than half of the firms: no statistic.
- never a minimum, maximum, sum, histogram or a single firm's value.
- the mean, the confidence interval's bounds and the quartiles are rounded to ``STEPS`` (0.1 on WMS's 1-5
  scale, 0.05 on MOPS's 0-1): with n, an exact half-width gave the sum of squares; rounded, and with
  releases and complementary suppression, two answers no longer pin one firm's value.
- differencing, by complementary suppression over the nesting of the groups (division within section
  within country within the network, each with region x size inside; councils within the network): a
  group is shown only when the firms its visible nested groups do not cover are 0 or at least 10
  (``judge``). Its visible nested groups are the *frontier*: each nested group that is shown, and for
  one that is not, the frontier inside it. A group that fails is withheld itself (never its nested
  groups), so the decision of a group depends on its own subtree only and the same data always gives the
  same answer. By induction, the group less any set of disjoint shown groups nested in it leaves 0 or at
  least 10 firms (each term of the sum is a shown group's remainder, 0 or >= 10, or a whole shown group).
  Councils may overlap: every set of shown councils, summed as if disjoint, must leave 0 or >= 10 of
  the network's firms (``_councils_isolate``); councils are not combined with the ladder's groups.
  Each group keeps the judgement of the groups nested in it (``children``: n, shown, frontier), updated
  by the same event narrowest first, so an answer reads one document per rung.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MEAN_MIN = 10
QUARTILE_MIN = 20
RELEASE_MIN = 10  # organisations whose contributions changed since a group's release, to cut the next
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


Contribution = dict[str, Any]  # {"groups": [gid], "overall": x, "scores": {practice: x}, "organisation": o}
Moves = Mapping[str, Sequence[tuple[int, int]]]  # group -> an organisation's firm count there: (before, after)
Below = Mapping[str, Doc]  # nested group id -> its entry (``entry``) as this change left it
DEPTH = {level: i for i, level in enumerate(LEVELS)}


def level_of(gid: str) -> str:
    return gid.split("|")[1]


def ordered(gids: Iterable[str]) -> list[str]:
    """Groups narrowest first (a group's nested groups before it), each once."""
    return sorted(dict.fromkeys(gids), key=lambda g: DEPTH[level_of(g)])


def fold(
    doc: Doc,
    gid: str,
    old: Contribution | None,
    new: Contribution | None,
    below: Below | None = None,
    moves: Moves | None = None,
) -> Doc:
    """A group document after an SME's contribution changed from ``old`` to ``new`` (either may be None),
    with the judgements of its nested groups that this change updated (``below``, see ``entry``) and the
    organisations' counts it moved (``moves``, see ``org_moves``); ``doc`` itself is left as it was."""
    copy = {**doc}
    if "overall" in doc:
        copy["overall"] = {**doc["overall"], "hist": dict(doc["overall"]["hist"])}
    copy["practices"] = {p: {**m, "hist": dict(m["hist"])} for p, m in (doc.get("practices") or {}).items()}
    copy["children"] = [dict(c) for c in doc.get("children") or []]
    copy["org_sizes"] = dict(doc.get("org_sizes") or {})
    copy["pending"] = {o: {"in": list(v["in"]), "out": list(v["out"])} for o, v in (doc.get("pending") or {}).items()}
    return accumulate(copy, gid, old, new, below, moves)


def _shift(m: Moments, x: float, sign: int) -> None:
    hist = m["hist"]
    b = bin_of(x)
    hist[b] = hist.get(b, 0) + sign
    if hist[b] <= 0:
        del hist[b]
    m["n"] += sign
    m["sum"] += sign * x
    m["sumsq"] += sign * x * x


def accumulate(
    doc: Doc,
    gid: str,
    old: Contribution | None,
    new: Contribution | None,
    below: Below | None = None,
    moves: Moves | None = None,
) -> Doc:
    """``fold`` in place (the rebuild's fast path over documents it owns)."""
    if "level" not in doc:
        doc.update(identity(gid))
    sizes = doc.setdefault("org_sizes", {})
    for before, after in (moves or {}).get(gid, ()):
        for k, sign in ((before, -1), (after, 1)):
            if k > 0:
                sizes[str(k)] = sizes.get(str(k), 0) + sign
                if sizes[str(k)] <= 0:
                    del sizes[str(k)]
    overall = doc.setdefault("overall", empty())
    practices = doc.setdefault("practices", {})
    for c, sign in ((old, -1), (new, 1)):
        if c is None or gid not in c["groups"]:
            continue
        _shift(overall, c["overall"], sign)
        for p, x in c["scores"].items():
            m = practices.get(p)
            if m is None:
                m = practices[p] = empty()
            _shift(m, x, sign)
            if m["n"] <= 0:
                del practices[p]
    children = {c["_id"]: c for c in doc.get("children") or []}
    for cid, e in (below or {}).items():
        if _parent(cid) == gid:
            children[cid] = dict(e)
    doc["children"] = [children[c] for c in sorted(children) if children[c]["n"] > 0]
    doc["n"] = overall["n"]
    pending = doc.setdefault("pending", {})
    for c, way in ((old, "out"), (new, "in")):
        if c is not None and gid in c["groups"]:
            _pend(pending, c, way)
    if len(pending) >= RELEASE_MIN:
        doc["release"] = {
            "no": int((doc.get("release") or {}).get("no", 0)) + 1,
            "at": str((new or old or {}).get("assessed_at", "")),
            "n": overall["n"],
            "org_sizes": dict(sizes),
            "overall": _copy(overall),
            "practices": {p: _copy(m) for p, m in practices.items()},
        }
        doc["pending"] = {}
    doc["state"] = judge(doc)
    return doc


def _copy(m: Moments) -> Moments:
    return {**m, "hist": dict(m["hist"])}


def _pend(pending: dict[str, Doc], c: Contribution, way: str) -> None:
    """Note that contribution ``c`` came ``in`` or went ``out`` since the release; one that comes back as
    it went (or goes as it came) cancels out, so what is kept stays bounded by the organisation's firms."""
    change = pending.setdefault(c["organisation"], {"in": [], "out": []})
    lite = {"overall": c["overall"], "scores": dict(c["scores"])}
    other = change["out" if way == "in" else "in"]
    if lite in other:
        other.remove(lite)
    else:
        change[way].append(lite)


def _parent(gid: str) -> str | None:
    parent: str | None = identity(gid)["parent"]
    return parent


def entry(doc: Doc) -> Doc:
    """What a group's parent keeps of it: its size, whether it is shown, and its frontier (``judge``)."""
    state = doc.get("state") or judge(doc)
    n = int((doc.get("release") or {}).get("n", 0))
    return {"_id": doc["_id"], "n": n, "shown": state["shown"], "frontier": state["frontier"]}


def organisations(sizes: Mapping[str, int], leave: int = 0) -> tuple[int, int]:
    """From ``org_sizes``: the number of organisations and the firms of the largest, with one organisation
    of ``leave`` firms taken out (0: none)."""
    counts = {int(k): int(c) for k, c in sizes.items()}
    if leave > 0 and counts.get(leave, 0) > 0:
        counts[leave] -= 1
    present = [k for k, c in counts.items() if c > 0]
    return sum(counts.values()), max(present, default=0)


def org_moves(
    old: Contribution | None, new: Contribution | None, same_org: Mapping[str, Sequence[Contribution]]
) -> dict[str, list[tuple[int, int]]]:
    """How this change moves its organisations' firm counts in each group it touches: ``same_org`` holds
    the current contributions of the other SMEs of each organisation involved (this SME left out)."""
    moves: dict[str, list[tuple[int, int]]] = {}
    orgs = dict.fromkeys(c["organisation"] for c in (old, new) if c is not None)
    for org in orgs:
        was = old if old is not None and old["organisation"] == org else None
        now = new if new is not None and new["organisation"] == org else None
        for g in {*(was["groups"] if was else []), *(now["groups"] if now else [])}:
            others = sum(g in c["groups"] for c in same_org.get(org, ()))
            before, after = (
                others + (was is not None and g in was["groups"]),
                others + (now is not None and g in now["groups"]),
            )
            if before != after:
                moves.setdefault(g, []).append((before, after))
    return moves


def judge(doc: Doc) -> Doc:
    """Whether a group's statistics may be shown to anyone (before any asker is taken out), why not, and
    its frontier: the firms covered by the shown groups nested in it (itself when shown). The partition of
    the group is its nested groups of the ladder (for the network: the section x country x size groups);
    councils are checked as sets against the network (``_councils_isolate``). All on released figures: the
    group's release and its nested groups' (their entries)."""
    release = doc.get("release") or {}
    n = int(release.get("n", 0))
    kids = doc.get("children") or []
    part = [c for c in kids if level_of(c["_id"]) != "council"]
    covered = sum(int(c["n"]) if c["shown"] else int(c["frontier"]) for c in part)
    rest = n - covered
    orgs, largest = organisations(release.get("org_sizes") or {})
    why = None
    if not release:
        why = f"no release yet (contributions of {RELEASE_MIN} organisations make one)"
    elif n < MEAN_MIN:
        why = f"fewer than {MEAN_MIN} firms"
    elif orgs < MEAN_MIN:
        why = f"fewer than {MEAN_MIN} organisations"
    elif 2 * largest > n:
        why = "one organisation has more than half of its firms"
    elif 0 < rest < MEAN_MIN:
        why = f"the shown groups nested in it leave fewer than {MEAN_MIN} of its firms outside them (differencing)"
    elif _councils_isolate(n, [int(c["n"]) for c in kids if c["shown"] and level_of(c["_id"]) == "council"]):
        why = f"shown councils leave fewer than {MEAN_MIN} of its firms outside them (differencing)"
    shown = why is None
    return {"shown": shown, "why": why, "frontier": n if shown else covered}


def _councils_isolate(n: int, sizes: Sequence[int]) -> bool:
    """True when some set of the shown councils (taken as if disjoint: their members may happen to be)
    sums to 1..MEAN_MIN-1 firms fewer than the group: subset sums as the bits of an integer."""
    reach = 1
    for k in sizes:
        reach |= reach << k
    return any(reach >> (n - r) & 1 for r in range(1, MEAN_MIN) if n - r >= 0)


def apply(docs: dict[str, Doc], old: Contribution | None, new: Contribution | None, moves: Moves) -> None:
    """One SME's contribution change folded into group documents held in memory, narrowest first, each
    group judged after the groups nested in it (what the projection does, document by document)."""
    below: dict[str, Doc] = {}
    for g in ordered([*(old["groups"] if old else []), *(new["groups"] if new else [])]):
        doc = docs.get(g) or {"_id": g}
        accumulate(doc, g, old, new, below, moves)
        docs[g] = doc
        below[g] = entry(doc)


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


BANDS = ("below Q1", "Q1 to median", "median to Q3", "Q3 and above")


def band(quartiles: Sequence[float], x: float) -> str:
    """The quartile band of score ``x`` among the quartiles shown (a score equal to one is in the band
    above it)."""
    return BANDS[sum(x >= q for q in quartiles)]


STEPS = {"wms": 0.1, "mops": 0.05}  # what shown figures are rounded to, per instrument (its scale: 1-5, 0-1)


def step_of(instrument: str) -> float:
    return STEPS.get(instrument, 0.01)


def to_step(x: float, step: float) -> float:
    """``x`` to the nearest multiple of ``step`` (written with 2 decimals)."""
    return round(round(x / step) * step, 2)


def shown(m: Moments, value: float | None = None, orgs: int | None = None, step: float = 0.01) -> Doc:
    """What may be shown of a group's moments (see the module's rules) over ``orgs`` organisations (None:
    as many as firms), the mean, the confidence interval's bounds and the quartiles rounded to ``step``."""
    n = m["n"]
    orgs = n if orgs is None else orgs
    out: Doc = {"n": n}
    if n < MEAN_MIN or orgs < MEAN_MIN:
        out["withheld"] = f"fewer than {MEAN_MIN} peers or their organisations: no statistic is shown"
        return out
    mean = m["sum"] / n
    var = max(m["sumsq"] - n * mean * mean, 0.0) / (n - 1)
    half = t95(n - 1) * math.sqrt(var / n)
    out.update(mean=to_step(mean, step), ci95=[to_step(mean - half, step), to_step(mean + half, step)])
    if n < QUARTILE_MIN or orgs < QUARTILE_MIN:
        out["withheld"] = f"fewer than {QUARTILE_MIN} peers or their organisations: no quartiles or quartile band"
        return out
    out["quartiles"] = [to_step(quantile(m, q), step) for q in (0.25, 0.5, 0.75)]
    if value is not None:
        out["band"] = band(out["quartiles"], value)
    return out


Release = Doc  # {"no", "at", "n", "org_sizes", "overall", "practices"}


def released_without(doc: Doc, gid: str, org: str, contributions: Sequence[Contribution]) -> tuple[Release, int]:
    """A group's release with the asking organisation's contributions as they stood at the release taken
    out (its current ones in the group, less what came in since, plus what went out), and how many firms
    of that organisation the release had."""
    release = doc.get("release") or {"no": 0, "at": None, "n": 0, "org_sizes": {}, "overall": empty(), "practices": {}}
    change = (doc.get("pending") or {}).get(org) or {"in": [], "out": []}
    mine = [c for c in contributions if gid in c["groups"]]
    overall = _copy(release["overall"])
    practices = {p: _copy(m) for p, m in release["practices"].items()}
    for items, sign in ((change["in"], 1), (mine, -1), (change["out"], -1)):  # adding first: bins never < 0
        for c in items:
            _shift(overall, c["overall"], sign)
            for p, x in c["scores"].items():
                _shift(practices.setdefault(p, empty()), x, sign)
    at_release = len(mine) - len(change["in"]) + len(change["out"])
    return {**release, "n": overall["n"], "overall": overall, "practices": practices}, at_release


def release_of(doc: Doc) -> Doc:
    """What an answer says of the release it shows (number, date, firms)."""
    r = doc.get("release") or {}
    return {"no": int(r.get("no", 0)), "at": r.get("at"), "n": int(r.get("n", 0))}


def benchmark(
    rungs: Sequence[tuple[str, str]],
    docs: Mapping[str, Doc],
    org: str,
    contributions: Sequence[Contribution],
    mine: Contribution,
) -> Doc:
    """The benchmark of an assessment (``mine``) against its peers: the first group of the ladder that may
    be shown (``judge``) and whose release, without the SME's organisation (``org``, its current
    ``contributions``, the SME's own included), still has at least MEAN_MIN firms of MEAN_MIN organisations
    and none with more than half of them; with what may be shown of it, overall and per practice; and
    every group tried, with its released size without the organisation and why it was passed over."""
    tried = []
    for level, gid in rungs:
        doc = docs.get(gid) or {"_id": gid, **identity(gid)}
        peers, at_release = released_without(doc, gid, org, contributions)
        n = int(peers["n"])
        orgs, largest = organisations(peers["org_sizes"], at_release)
        state = doc.get("state") or judge(doc)
        why = None
        if not state["shown"]:
            why = state["why"]
        elif n < MEAN_MIN:
            why = f"fewer than {MEAN_MIN} peers"
        elif orgs < MEAN_MIN:
            why = f"fewer than {MEAN_MIN} organisations among the peers"
        elif 2 * largest > n:
            why = "one organisation has more than half of the peers"
        if why is not None:
            tried.append({"level": level, "group": gid, "n": n, "why_not": why})
            continue
        scores, step = sorted(mine["scores"].items()), step_of(gid.split("|")[0])
        practices = {p: shown(peers["practices"].get(p) or empty(), x, orgs, step) for p, x in scores}
        return {
            "group": {"level": level, "id": gid, "about": identity(gid)["about"], "n": n, "organisations": orgs},
            "release": release_of(doc),
            "overall": shown(peers["overall"], mine["overall"], orgs, step),
            "practices": practices,
            "passed_over": tried,
        }
    return {"group": None, "overall": None, "practices": {}, "passed_over": tried}
