"""Who may be proposed for what, and in which order when nobody said.

Eligibility (hard rules): the candidate's programme matches the challenge's; they share a language;
their availability overlaps the challenge's dates; an on-site challenge in another region needs a
candidate willing to work across borders.

Fit score in [0, 1] (orders choices where a ranking is missing), the weighted sum of
- skills, weight 0.5: the share of the challenge's skills the candidate has (1 when none are listed);
- calendar, weight 0.3: the share of the challenge's days inside the candidate's availability;
- region, weight 0.2: 1 in the candidate's home region, 0.5 elsewhere (they are willing, or the work
  is remote or hybrid).
Language is part of eligibility, not of the score. Ties break on ids, so orders are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

WEIGHTS = {"skills": 0.5, "calendar": 0.3, "region": 0.2}


@dataclass(frozen=True)
class Challenge:
    id: str
    programme: str
    region: str
    work_mode: str
    skills: frozenset[str]
    languages: frozenset[str]
    starts_on: date
    ends_on: date
    capacity: int
    host: str  # who ranks applicants: the supervising academic, or the SME for change of perspective
    ranking: tuple[str, ...] = ()

    @classmethod
    def of(cls, doc: dict[str, Any], capacity: int) -> Challenge:
        host = doc.get("supervisor") or f"host:{doc['_id']}"
        return cls(
            id=doc["_id"],
            programme=doc["programme"],
            region=doc["region"],
            work_mode=doc["work_mode"],
            skills=frozenset(s.lower() for s in doc["skills"]),
            languages=frozenset(doc["languages"]),
            starts_on=date.fromisoformat(doc["starts_on"]),
            ends_on=date.fromisoformat(doc["ends_on"]),
            capacity=capacity,
            host=host,
            ranking=tuple(doc.get("applicant_ranking") or ()),
        )


@dataclass(frozen=True)
class Candidate:
    id: str
    programme: str
    region: str
    skills: frozenset[str]
    languages: frozenset[str]
    available_from: date
    available_until: date
    cross_border: bool
    preferences: tuple[str, ...] = ()

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Candidate:
        return cls(
            id=doc["_id"],
            programme="consultancy" if doc["kind"] == "student" else "change_of_perspective",
            region=doc["home_region"],
            skills=frozenset(s.lower() for s in doc["skills"]),
            languages=frozenset(doc["languages"]),
            available_from=date.fromisoformat(doc["available_from"]),
            available_until=date.fromisoformat(doc["available_until"]),
            cross_border=bool(doc["cross_border"]),
            preferences=tuple(doc.get("preferences") or ()),
        )


def overlap_share(c: Challenge, p: Candidate) -> float:
    days = (c.ends_on - c.starts_on).days + 1
    inside = (min(c.ends_on, p.available_until) - max(c.starts_on, p.available_from)).days + 1
    return max(0, inside) / days


def eligible(c: Challenge, p: Candidate) -> bool:
    return (
        c.programme == p.programme
        and bool(c.languages & p.languages)
        and overlap_share(c, p) > 0
        and (c.region == p.region or p.cross_border or c.work_mode != "on_site")
    )


def fit(c: Challenge, p: Candidate) -> float:
    skills = len(c.skills & p.skills) / len(c.skills) if c.skills else 1.0
    region = 1.0 if c.region == p.region else 0.5
    score = WEIGHTS["skills"] * skills + WEIGHTS["calendar"] * overlap_share(c, p) + WEIGHTS["region"] * region
    return round(score, 4)


def instance(
    challenges: list[Challenge],
    candidates: list[Candidate],
    host_capacity: dict[str, int],
    excluded: frozenset[tuple[str, str]] = frozenset(),
) -> tuple[dict[str, Any], dict[str, str]]:
    """The allocation instance for a round, and for each candidate where their list came from.

    ``challenges`` are those with places left (capacity = places left); ``host_capacity`` is positive;
    ``excluded`` (candidate, challenge) pairs were proposed before and declined or lapsed.

    A candidate's list is their own ranking (eligible challenges only, in their order) or, if they
    ranked none of the eligible ones, every eligible challenge by fit. A host ranks the candidates who
    listed one of their challenges: first by their rankings on those challenges, then by the best fit
    among the challenges of theirs the candidate listed.
    """
    by_id = {c.id: c for c in challenges}
    students, source = [], {}
    applicants: dict[str, set[str]] = {}
    for p in candidates:
        ok = [c for c in challenges if (p.id, c.id) not in excluded and eligible(c, p)]
        ok_ids = {c.id for c in ok}
        own = [x for x in p.preferences if x in ok_ids]
        if own:
            prefs, source[p.id] = own, "your ranking"
        else:
            prefs = [c.id for c in sorted(ok, key=lambda c: (-fit(c, p), c.id))]
            source[p.id] = "fit score (you ranked none of the eligible challenges)"
        if prefs:
            students.append({"id": p.id, "preferences": prefs, "region": p.region})
        for cid in prefs:
            applicants.setdefault(by_id[cid].host, set()).add(p.id)
    people = {p.id: p for p in candidates}
    listed = {s["id"]: set(s["preferences"]) for s in students}
    supervisors = []
    for host in sorted({c.host for c in challenges}):
        mine = [c for c in challenges if c.host == host]
        explicit: dict[str, int] = {}
        for c in mine:
            for pos, pid in enumerate(c.ranking):
                explicit[pid] = min(explicit.get(pid, pos), pos)

        def order(pid: str, mine: list[Challenge] = mine, explicit: dict[str, int] = explicit) -> tuple[Any, ...]:
            if pid in explicit:
                return (0, explicit[pid], pid)
            best = max(fit(c, people[pid]) for c in mine if c.id in listed[pid])
            return (1, -best, pid)

        ranked = sorted(applicants.get(host, set()), key=order)
        supervisors.append({"id": host, "capacity": host_capacity[host], "preferences": ranked})
    projects = [{"id": c.id, "capacity": c.capacity, "supervisor": c.host, "region": c.region} for c in challenges]
    return {"students": students, "projects": projects, "supervisors": supervisors}, source
