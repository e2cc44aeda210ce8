"""Matching applicants to hosts with the allocation engine (``allocation``: the same stable and optimal
algorithms the matching service runs). Applicants are the engine's students, hosts its projects, and
each host is also its own supervisor (it ranks applicants, and its free places are both capacities).

Who ranks whom: an applicant's own preferences first (hosts it named), then every other host that offers
something it seeks, most topics in common first; a host likewise with what it seeks and applicants offer.
Nobody is matched without a language in common. Pure: documents in, the engine's report out.
"""

from __future__ import annotations

from typing import Any

from allocation.instance import parse
from allocation.optimal import optimal
from allocation.report import report
from allocation.stable import stable
from services.training.placements.domain import country

Doc = dict[str, Any]


def _speak(a: Doc, h: Doc) -> bool:
    return bool(set(a["languages"]) & set(h["languages"]))


def _ranked(own: list[str], candidates: list[Doc], fit: Any) -> list[str]:
    """The ids of ``candidates`` in order: named in ``own`` first (in that order), then by fit, then by id."""
    by_id = {c["_id"]: c for c in candidates}
    named = [i for i in own if i in by_id]
    rest = [c for c in candidates if c["_id"] not in named and fit(c) > 0]
    return named + [c["_id"] for c in sorted(rest, key=lambda c: (-fit(c), c["_id"]))]


def instance(applicants: list[Doc], hosts: list[Doc], free: dict[str, int]) -> Doc:
    """The allocation instance (its JSON form) for the applicants and the hosts with free places."""
    open_hosts = [h for h in hosts if free.get(h["_id"], 0) > 0]
    students = []
    for a in applicants:
        reachable = [h for h in open_hosts if _speak(a, h) and h["organisation"] != a.get("organisation")]
        prefs = _ranked(a.get("preferences", []), reachable, lambda h, a=a: len(set(a["seeks"]) & set(h["offers"])))
        students.append({"id": a["_id"], "preferences": prefs, "region": a["region"]})
    projects, supervisors = [], []
    for h in open_hosts:
        projects.append({"id": h["_id"], "capacity": free[h["_id"]], "supervisor": h["_id"], "region": h["region"]})
        asking = [a for a in applicants if any(s["id"] == a["_id"] and h["_id"] in s["preferences"] for s in students)]
        prefs = _ranked(h.get("preferences", []), asking, lambda a, h=h: len(set(h["seeks"]) & set(a["offers"])) + 1)
        supervisors.append({"id": h["_id"], "capacity": free[h["_id"]], "preferences": prefs})
    return {"students": students, "projects": projects, "supervisors": supervisors}


def suggest(applicants: list[Doc], hosts: list[Doc], free: dict[str, int], mode: str) -> Doc:
    """Suggested placements (nothing is written): the engine's assignments, who is left out, its metrics,
    and the cross-border share counted by country (the engine's own share compares regions)."""
    data = instance(applicants, hosts, free)
    inst = parse(data)
    assigned = stable(inst) if mode == "stable" else optimal(inst, supervisor_ties=True)
    result = report(inst, assigned, mode)
    a_by, h_by = {a["_id"]: a for a in applicants}, {h["_id"]: h for h in hosts}
    suggestions = []
    for pair in result["assignments"]:
        a, h = a_by[pair["student"]], h_by[pair["project"]]
        rank = next(s["preferences"] for s in data["students"] if s["id"] == a["_id"]).index(h["_id"]) + 1
        suggestions.append(
            {
                "applicant_id": a["_id"],
                "host_id": h["_id"],
                "applicant_region": a["region"],
                "host_region": h["region"],
                "cross_border": country(a["region"]) != country(h["region"]),
                "rank": rank,
            }
        )
    cross = sum(1 for s in suggestions if s["cross_border"])
    return {
        "mode": mode,
        "suggestions": suggestions,
        "unassigned": result["unassigned"],
        "metrics": {
            "applicants": len(applicants),
            "hosts": len([h for h in hosts if free.get(h["_id"], 0) > 0]),
            "matched": len(suggestions),
            "mean_rank": result["metrics"]["mean_rank"],
            "blocking_pairs": result["metrics"]["blocking_pairs"],
            "cross_border": cross,
            "cross_border_share": round(cross / len(suggestions), 4) if suggestions else None,
        },
    }
