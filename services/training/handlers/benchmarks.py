"""Benchmarks: an SME's assessment against its peers (the SME taken out), and, for analysts and the
region's coordinators, one peer group's statistics; both read a few group documents of the projection,
never the firms, and show only what disclosure control allows (``domain.benchmark``)."""

from __future__ import annotations

from typing import Any

from clustergrowth.auth import Principal
from clustergrowth.problems import Unprocessable
from services.training import projection as pj
from services.training import store as st
from services.training.domain import benchmark as bm
from services.training.handlers.assessments import visible
from services.training.handlers.context import Training

REQUIRED = {
    "division_region_size": ("nace_division", "region", "size_class"),
    "section_region_size": ("nace_section", "region", "size_class"),
    "section_country_size": ("nace_section", "country", "size_class"),
    "council": ("council",),
    "network": (),
}


async def _groups(t: Training, collection: str, gids: list[str]) -> dict[str, Any]:
    """The group documents (each carries its own disclosure judgement, ``domain.benchmark.judge``)."""
    docs = {}
    for gid in gids:
        doc = await t.store.get(collection, gid)
        if doc is not None:
            docs[gid] = doc
    return docs


async def of_assessment(t: Training, aid: str, who: Principal) -> dict[str, Any]:
    a = await visible(t, aid, who)
    latest = await latest_of(t, a["sme_id"], a["instrument"])
    if latest is not None and latest["_id"] != aid:
        return {
            "assessment_id": aid,
            "instrument": a["instrument"],
            "status": "superseded",
            "superseded_by": latest["_id"],
            "detail": "only the SME's latest assessment of an instrument is benchmarked",
            "group": None,
            "overall": None,
            "practices": {},
            "passed_over": [],
        }
    return await against_peers(t, a)


async def latest_of(t: Training, sme_id: str, instrument: str) -> dict[str, Any] | None:
    """The SME's latest assessment of an instrument (by time, then id, as the projection orders them)."""
    found = await t.store.find(
        st.ASSESSMENTS, {"sme_id": sme_id, "instrument": instrument}, sort=[("assessed_at", -1), ("_id", -1)], limit=1
    )
    return found[0] if found else None


async def against_peers(t: Training, a: dict[str, Any]) -> dict[str, Any]:
    """The benchmark of a stored assessment ``a`` (whoever may see it was checked by the caller)."""
    aid = a["_id"]
    collection = await pj.live_collection(t.store)
    org = a.get("organisation") or pj.own_org(a["sme_id"])
    org_docs = await pj.org_contributions(t.store, collection, org, a["instrument"])
    facts = bm.Facts(
        a["nace_division"], a["nace_section"], a["region"], a["country"], a["size_class"], tuple(a["councils"])
    )
    rungs = bm.ladder(a["instrument"], facts)
    docs = await _groups(t, collection, [g for _, g in rungs])
    mine = {"overall": a["overall"], "scores": a["scores"]}
    return {
        "assessment_id": aid,
        "instrument": a["instrument"],
        "status": "current",
        "scale": a["scale"],
        "rules": RULES,
        **bm.benchmark(rungs, docs, org, [d["contribution"] for d in org_docs], mine),
    }


RULES = {
    "mean_min_peers": bm.MEAN_MIN,
    "quartiles_min_peers": bm.QUARTILE_MIN,
    "own_answers_excluded": True,
    "own_organisation_excluded": True,
    "thresholds_count": "firms and distinct organisations (an SME without an organisation counts as its own)",
    "dominance": "no statistic when one organisation has more than half of the firms",
    "ladder": list(bm.LEVELS),
    "confidence_interval": "95 %, Student's t on the peers' sample standard deviation",
    "rounding": "means, confidence bounds and quartiles to the nearest 0.1 (WMS, 1-5) or 0.05 (MOPS, 0-1)",
    "position": "the SME's score as a quartile band (below Q1, Q1 to median, median to Q3, Q3 and above), for "
    "its latest assessment of the instrument only",
    "releases": f"statistics change only when contributions of {bm.RELEASE_MIN} organisations changed since the "
    "last release (its number, date and n are given)",
    "differencing": "complementary suppression: a group is shown only when the shown groups nested in it "
    "leave 0 or at least 10 of its firms outside them",
}


async def of_group(t: Training, instrument: str, level: str, params: dict[str, str | None]) -> dict[str, Any]:
    """One group's statistics as analysts may see them: whole (nobody taken out), withheld when the group
    may not be shown (``domain.benchmark.judge``: too few firms, or differencing against the shown groups
    nested in it)."""
    missing = [{"field": p, "reason": f"required for level {level}"} for p in REQUIRED[level] if not params.get(p)]
    if missing:
        raise Unprocessable(f"level {level} needs {', '.join(REQUIRED[level])}", missing)
    gid = bm.group_id(instrument, level, *(str(params[p]) for p in REQUIRED[level]))
    collection = await pj.live_collection(t.store)
    docs = await _groups(t, collection, [gid])
    doc = docs.get(gid) or {"_id": gid, **bm.identity(gid)}
    release = doc.get("release") or {"n": 0, "org_sizes": {}, "overall": bm.empty(), "practices": {}}
    n = int(release["n"])
    orgs, _ = bm.organisations(release["org_sizes"])
    out: dict[str, Any] = {
        "group": {"level": level, "id": gid, "about": bm.identity(gid)["about"], "n": n, "organisations": orgs},
        "release": bm.release_of(doc),
        "rules": {**RULES, "own_answers_excluded": False, "own_organisation_excluded": False},
    }
    state = doc.get("state") or bm.judge(doc)
    if not state["shown"]:
        why = state["why"]
        out["overall"] = {"n": n, "withheld": why}
        out["practices"] = {p: {"n": int(m["n"]), "withheld": why} for p, m in sorted(release["practices"].items())}
        return out
    step = bm.step_of(instrument)
    out["overall"] = bm.shown(release["overall"], None, orgs, step)
    out["practices"] = {p: bm.shown(m, None, orgs, step) for p, m in sorted(release["practices"].items())}
    return out


async def region_summary(t: Training) -> dict[str, Any]:
    """Counts for this region's coordinators: SMEs known, assessments and re-assessments, plans."""
    r = {"region": t.region}
    return {
        "region": t.region,
        "smes_known": await t.store.count(st.SMES, r),
        "assessments": await t.store.count(st.ASSESSMENTS, r),
        "reassessments": await t.store.count(st.ASSESSMENTS, {**r, "previous_assessment_id": {"$ne": None}}),
        "plans": await t.store.count(st.PLANS, r),
        "plans_invited_to_reassess": await t.store.count(st.PLANS, {**r, "invited_at": {"$ne": None}}),
        "benchmarks": "GET /benchmarks (statistics that pass disclosure control)",
    }
