"""A council's dashboard computed from the projection's documents (pure): activity per quarter, the four
success factors with their inputs, and the self-check against the ESCA indicator areas.

Rules, in one place (the README's "Council dashboards" says them too):
- Quarter: the calendar quarter in UTC of the event's own time (a booking's start, an assessment's
  submission, a meeting's start; ``ChallengePosted`` has none, so the event's time).
- A booking is at a *university site* when its resource kind is ``university_access_point``: the
  booking events carry the resource kind, not the kind of the site that holds it.
- A booker is an *SME's* person when the booking's organisation is one seen as an SME's organisation in
  ``SMEAssessed`` (of any region known here); otherwise a *university's* person when the person is or
  was a council member of the ``university`` constituency, or the booking's organisation is such a
  member's organisation; otherwise *other*. Decided when read, so a booking made before the SME's
  assessment arrived is classified all the same.
- A region's *top needs* as of a quarter: the three needs named most often in the top three needs of
  each SME's latest assessment up to the end of that quarter (ties by need id).
- An SME is *of the council* when its ``SMEAssessed.councils`` names the council's id or its city
  (case-insensitive): the mapping service records councils as entered at registration, e.g. ``Cork``.
- A challenge is *on a top need* when it was suggested by an assessment (``suggested_from``) whose
  greatest need is one of the region's top needs as of the quarter it was posted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from clustergrowth.store.port import Doc

Indicator = dict[str, Any]

SME_UNIVERSITY = "sme_university"
CLUSTER_CLUSTER = "cluster_cluster"
CLUSTER_SPECIFIC = "cluster_specific"
NATIONAL_IMPACT = "national_impact"

DEFINITIONS: dict[str, dict[str, str]] = {
    SME_UNIVERSITY: {
        "title": "SME ↔ university interactions",
        "unit": "interactions per quarter",
        "definition": "engagements completed in the region + bookings by SMEs' people at university sites "
        "of the region + council meetings attended by both SMEs and universities",
    },
    CLUSTER_CLUSTER: {
        "title": "Cluster ↔ cluster interactions",
        "unit": "interactions per quarter",
        "definition": "cross-border initiatives the council launched or co-sponsors (a co-sponsorship counts "
        "when confirmed: the lead council is of the same region) + bookings at the region's facilities by "
        "people from other regions + engagements of candidates from other regions",
    },
    CLUSTER_SPECIFIC: {
        "title": "Cluster-specific: the region's top needs addressed",
        "unit": "challenges per quarter",
        "definition": "challenges posted in the region that were suggested by an assessment whose greatest "
        "need is one of the region's three top needs as of that quarter",
    },
    NATIONAL_IMPACT: {
        "title": "National impact (what the platform can see of it)",
        "unit": "events per quarter",
        "definition": "initiatives the council completed + council meetings attended by government",
    },
}
INDICATORS = tuple(DEFINITIONS)

NATIONAL_IMPACT_CANNOT = [
    "policy changes, regional or national strategies and programmes that the council's work influenced",
    "public or private funding raised, jobs, turnover or exports of the SMEs involved",
    "government's own use of the council's recommendations (only government's attendance is seen)",
]

SELF_CHECK: list[dict[str, Any]] = [
    {
        "area": "structure",
        "answered": "partly",
        "from_platform": ["members by constituency (MemberJoined/MemberLeft)", "SMEs assessed in the region"],
        "cannot_answer": ["legal form and age of the cluster organisation", "staff and their qualifications"],
    },
    {
        "area": "governance",
        "answered": "partly",
        "from_platform": ["meetings held, quorum met, decisions recorded (MeetingHeld)"],
        "cannot_answer": ["strategy documents and their review", "members' satisfaction with governance"],
    },
    {
        "area": "financing",
        "answered": "no",
        "from_platform": [],
        "cannot_answer": ["budget, its sources and the share of public funding", "membership fees"],
    },
    {
        "area": "services",
        "answered": "partly",
        "from_platform": ["bookings of the region's facilities", "challenges posted, matches and engagements"],
        "cannot_answer": ["services delivered off the platform (events, training until that service exists)"],
    },
    {
        "area": "interaction",
        "answered": "yes",
        "from_platform": ["the SME ↔ university and cluster ↔ cluster indicators"],
        "cannot_answer": ["contacts that never touch the platform (e-mail, visits, phone)"],
    },
    {
        "area": "achievements",
        "answered": "partly",
        "from_platform": ["initiatives completed", "engagements completed", "top needs addressed"],
        "cannot_answer": ["members' economic results", "media coverage and awards", *NATIONAL_IMPACT_CANNOT[:1]],
    },
]


RULES = {
    "quarter": "calendar quarter in UTC of the event's own time (ChallengePosted: the event's time)",
    "university_site": "the booked resource's kind is university_access_point",
    "booker": "an SME's person when the booking's organisation was seen as an SME's in SMEAssessed; else a "
    "university's when the person is or was a council member of the university constituency, or the "
    "organisation is such a member's; else other",
    "top_needs": "the three needs named most often in the top three of each SME's latest assessment up to "
    "the end of the quarter (ties by need id)",
    "challenge_on_top_need": "suggested by an assessment whose greatest need is one of the region's top needs",
    "co_sponsor": "an initiative counts for a co-sponsoring council only when confirmed: the lead council is of "
    "the same region (its service knows that council); one named by another region's council does not count",
    "aggregates_only": "counts only: no person, organisation or SME is named",
}


def next_quarter(q: str) -> str:
    year, n = int(q[:4]), int(q[-1])
    return f"{year + 1}-Q1" if n == 4 else f"{year}-Q{n + 1}"


def quarters_between(found: set[str]) -> list[str]:
    """Every quarter from the first to the last one with data (a chart's x axis has no holes)."""
    if not found:
        return []
    out, q, last = [], min(found), max(found)
    while q <= last:
        out.append(q)
        q = next_quarter(q)
    return out


def top_needs(assessments: list[Doc]) -> list[dict[str, Any]]:
    """The three needs named most often in the top three of each SME's latest assessment."""
    latest: dict[str, Doc] = {}
    for a in sorted(assessments, key=lambda a: (a["at"], a["assessment"])):
        latest[a["sme"]] = a
    tally = Counter(n for a in latest.values() for n in a["needs"])
    ranked = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return [{"need": need, "smes": n} for need, n in ranked]


def classify(booker: Doc, sme_orgs: set[str], uni_people: set[str], uni_orgs: set[str]) -> str:
    """``sme``, ``university`` or ``other`` (the rule in the module's docstring)."""
    org = booker.get("organisation")
    if org is not None and org in sme_orgs:
        return "sme"
    if booker["person"] in uni_people or (org is not None and org in uni_orgs):
        return "university"
    return "other"


def _bookings(cell: Doc, sme_orgs: set[str], uni_people: set[str], uni_orgs: set[str]) -> dict[str, int]:
    out = dict.fromkeys(("total", "by_smes", "by_university_people", "by_others"), 0)
    out |= {"at_university_sites": 0, "by_smes_at_university_sites": 0, "by_people_from_other_regions": 0}
    for b in cell.get("bookers", []):
        n, who = int(b["n"]), classify(b, sme_orgs, uni_people, uni_orgs)
        out["total"] += n
        out[{"sme": "by_smes", "university": "by_university_people", "other": "by_others"}[who]] += n
        if b["uni_site"]:
            out["at_university_sites"] += n
            if who == "sme":
                out["by_smes_at_university_sites"] += n
        if b["foreign"]:
            out["by_people_from_other_regions"] += n
    return out


STAGES = ("proposed", "launched", "completed", "abandoned")


def _initiatives(cell: Doc, region: str) -> dict[str, int]:
    """The initiatives of a council's quarter: those it leads, and those it co-sponsors confirmed (the lead is
    of its own region); an unconfirmed co-sponsorship (named by another region's council) counts nothing."""
    out = {f"initiatives_{st}": int(cell.get(f"initiatives_{st}", 0)) for st in STAGES}
    out |= {f"cross_border_initiatives_{st}": int(cell.get(f"cross_border_initiatives_{st}", 0)) for st in STAGES}
    for x in cell.get("co_sponsored", []):
        if x["lead_region"] == region:
            out[f"initiatives_{x['stage']}"] += 1
            if x["cross_border"]:
                out[f"cross_border_initiatives_{x['stage']}"] += 1
    return out


def dashboard(
    council: Doc,
    region_cells: list[Doc],
    council_cells: list[Doc],
    sme_orgs: set[str],
    members: list[Doc],
) -> dict[str, Any]:
    """The dashboard of ``council`` from its region's cells, its own cells, the SME organisations known
    and every council's memberships (for the university constituency)."""
    cid = council["council_id"]
    uni = [m for m in members if m["constituency"] == "university"]
    uni_people = {m["person"] for m in uni}
    uni_orgs = {m["organisation"] for m in uni if m.get("organisation")}
    by_region = {c["quarter"]: c for c in region_cells}
    by_council = {c["quarter"]: c for c in council_cells}
    dated = [(c["quarter"], a) for c in region_cells for a in c.get("assessments", [])]
    greatest = {a["assessment"]: (a["needs"][:1] or [None])[0] for _, a in dated}
    themes = set(council.get("themes", []))
    names = {cid.casefold(), str(council.get("city") or cid).casefold()}  # mapping names councils by city
    quarters = quarters_between(set(by_region) | set(by_council))
    activity: list[dict[str, Any]] = []
    series: dict[str, list[dict[str, Any]]] = {k: [] for k in INDICATORS}
    for q in quarters:
        rc, cc = by_region.get(q, {}), by_council.get(q, {})
        assessed = rc.get("assessments", [])
        needs = top_needs([a for aq, a in dated if aq <= q])
        need_ids = {n["need"] for n in needs}
        suggested = rc.get("suggested", [])
        bookings = _bookings(rc, sme_orgs, uni_people, uni_orgs)
        initiatives = _initiatives(cc, council["region"])
        row = {
            "quarter": q,
            "smes_assessed": len({a["sme"] for a in assessed}),
            "smes_of_council_assessed": len(
                {a["sme"] for a in assessed if names & {c.casefold() for c in a["councils"]}}
            ),
            "region_top_needs": needs,
            "bookings": bookings,
            "challenges_posted": rc.get("challenges_posted", 0),
            "challenges_suggested_by_assessments": len(suggested),
            "challenges_on_top_needs": sum(1 for s in suggested if greatest.get(s["assessment"]) in need_ids),
            "matches_accepted": rc.get("matches_accepted", 0),
            "matches_cross_region": rc.get("matches_cross_region", 0),
            "engagements_completed": rc.get("engagements_completed", 0),
            "engagements_cross_region": rc.get("engagements_cross_region", 0),
            "meetings_held": cc.get("meetings_held", 0),
            "meetings_quorate": cc.get("meetings_quorate", 0),
            "attendees": cc.get("attendees", 0),
            "attendance": dict(sorted(cc.get("attendance", {}).items())),
            "decisions": cc.get("decisions", 0),
            "meetings_sme_and_university": cc.get("meetings_sme_and_university", 0),
            "meetings_with_government": cc.get("meetings_with_government", 0),
            "initiatives": {stage: initiatives[f"initiatives_{stage}"] for stage in STAGES},
            "cross_border_initiatives_launched": initiatives["cross_border_initiatives_launched"],
        }
        activity.append(row)
        inputs = {
            SME_UNIVERSITY: {
                "engagements_completed": row["engagements_completed"],
                "sme_bookings_at_university_sites": bookings["by_smes_at_university_sites"],
                "meetings_attended_by_smes_and_universities": row["meetings_sme_and_university"],
            },
            CLUSTER_CLUSTER: {
                "cross_border_initiatives_launched": row["cross_border_initiatives_launched"],
                "bookings_by_people_from_other_regions": bookings["by_people_from_other_regions"],
                "engagements_of_candidates_from_other_regions": row["engagements_cross_region"],
            },
            CLUSTER_SPECIFIC: {"challenges_on_top_needs": row["challenges_on_top_needs"]},
            NATIONAL_IMPACT: {
                "initiatives_completed": row["initiatives"]["completed"],
                "meetings_attended_by_government": row["meetings_with_government"],
            },
        }
        context = {
            CLUSTER_SPECIFIC: {
                "region_top_needs": [n["need"] for n in needs],
                "challenges_posted": row["challenges_posted"],
                "challenges_suggested_by_assessments": row["challenges_suggested_by_assessments"],
                "council_themes_among_top_needs": sorted(themes & need_ids),
            }
        }
        for k in INDICATORS:
            value = sum(inputs[k].values())
            series[k].append({"quarter": q, "value": value, "inputs": inputs[k], **context.get(k, {})})
    indicators: dict[str, Indicator] = {k: {**DEFINITIONS[k], "by_quarter": series[k]} for k in INDICATORS}
    indicators[NATIONAL_IMPACT]["cannot_answer"] = NATIONAL_IMPACT_CANNOT
    return {
        "council_id": cid,
        "region": council["region"],
        "city": council.get("city"),
        "themes": sorted(themes),
        "members_by_constituency": dict(
            sorted(Counter(m["constituency"] for m in council.get("members", []) if m["active"]).items())
        ),
        "quarters": quarters,
        "indicators": indicators,
        "activity": activity,
        "self_check": SELF_CHECK,
        "rules": RULES,
    }
