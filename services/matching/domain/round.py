"""An allocation round: the places left, the allocation with its explanations, and the proposals it makes.

A round is decided from what is stored (open challenges, candidates, the matches that hold or ended
places) and kept as one document, ``proposing``, with its assignments. Its proposals are derived from
that document alone (a match id comes from the round id and the candidate), so writing them can be
repeated until every one exists; then the round is ``proposed``.

Places left: a challenge's capacity minus the live matches on it; a supervisor's supervision capacity
(6 without a profile) minus the live matches they host; an SME hosting itself is bounded by its
challenge. A candidate with a live match is not offered again, and a pair that was declined or lapsed
is never proposed again.

Pure: documents in, documents and event data out; no store, no clock of its own.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from allocation.instance import parse
from allocation.optimal import optimal
from allocation.report import explain_all, report
from allocation.stable import stable
from clustergrowth.context import stamp
from clustergrowth.problems import Conflict
from services.matching.domain import fit
from services.matching.domain import match as mx
from services.matching.domain.challenge import kind_for

Doc = dict[str, Any]
LIVE = ("proposed", "active", "completed")  # matches that hold a place
ENDED = ("declined", "expired")  # pairs never proposed again
DEFAULT_SUPERVISION = 6
NOTHING_ELIGIBLE = "no eligible challenge (programme, language, dates or region)"


def match_id(round_id: str, candidate: str) -> str:
    """The id of a round's proposal to a candidate: the same every time it is written."""
    return "m-" + hashlib.sha256(f"{round_id}\0{candidate}".encode()).hexdigest()[:20]


def next_id(programme: str, term: str, prior: list[Doc]) -> str:
    """The id of a programme's next round in a term; refused while one is still writing its proposals.
    (Two coordinators starting together get the same id, and the second insert collides.)"""
    if any(r["status"] == "proposing" for r in prior):
        raise Conflict("a round for this programme and term is still writing its proposals; try again shortly")
    return f"{programme.replace('_', '-')}-{term}-r{len(prior) + 1}"


@dataclass(frozen=True)
class Held:
    """What the live matches of a programme's term hold: places per challenge and per host, and people."""

    by_challenge: Mapping[str, int]
    by_host: Mapping[str, int]
    candidates: frozenset[str]

    @classmethod
    def of(cls, live: Iterable[Doc]) -> Held:
        live = list(live)
        return cls(
            Counter(x["challenge_id"] for x in live),
            Counter(x["host"] for x in live),
            frozenset(x["candidate"] for x in live),
        )


def offer(
    open_challenges: Iterable[Doc], supervisors: Mapping[str, Doc], held: Held
) -> tuple[list[fit.Challenge], dict[str, int]]:
    """The challenges with places left (capacity = places left) and each host's capacity left;
    a challenge whose host has no capacity left is not offered."""
    challenges, host_capacity = [], {}
    for d in open_challenges:
        ch = fit.Challenge.of(d, d["capacity"] - held.by_challenge.get(d["_id"], 0))
        if ch.host.startswith("host:"):
            cap = ch.capacity
        else:
            own = int(supervisors.get(ch.host, {}).get("supervision_capacity", DEFAULT_SUPERVISION))
            cap = own - held.by_host.get(ch.host, 0)
        if ch.capacity > 0 and cap > 0:
            challenges.append(ch)
            host_capacity[ch.host] = cap
    return challenges, host_capacity


def excluded(ended: Iterable[Doc]) -> frozenset[tuple[str, str]]:
    return frozenset((x["candidate"], x["challenge_id"]) for x in ended)


@dataclass(frozen=True)
class Allocation:
    assignments: list[dict[str, str]]
    unassigned: list[str]
    metrics: dict[str, Any]
    explanations: list[dict[str, Any]]


def allocate(
    challenges: list[fit.Challenge],
    candidates: list[fit.Candidate],
    host_capacity: dict[str, int],
    never: frozenset[tuple[str, str]],
    mode: str,
) -> Allocation:
    """Solve the round (stable, or optimal with the supervisors' favourites among equals) and explain it
    to every candidate, also to those eligible for nothing."""
    data, source = fit.instance(challenges, candidates, host_capacity, never)
    inst = parse(data)
    assigned = stable(inst) if mode == "stable" else optimal(inst, supervisor_ties=True)
    result = report(inst, assigned, mode)
    by_id = {ch.id: ch for ch in challenges}
    by_person = {p.id: p for p in candidates}
    explanations = []
    for pid, e in zip(inst.student_ids, explain_all(inst, assigned), strict=True):
        e["preferences_from"] = source[pid]
        if e["project"] is not None:
            e["fit"] = fit.fit(by_id[e["project"]], by_person[pid])
        explanations.append(e)
    listed = set(inst.student_ids)
    left_out = [p.id for p in candidates if p.id not in listed]
    for pid in left_out:  # eligible for nothing: say so rather than leave them out
        explanations.append(
            {"student": pid, "project": None, "rank": None, "why_not": [], "preferences_from": NOTHING_ELIGIBLE}
        )
    return Allocation(result["assignments"], result["unassigned"] + left_out, result["metrics"], explanations)


@dataclass(frozen=True)
class RoundRequest:
    """A coordinator's request for a round."""

    programme: str
    term: str
    mode: str
    ttl_hours: float
    run_by: str


@dataclass(frozen=True)
class Stored:
    """What the round is decided from (the programme's term only)."""

    prior: list[Doc]  # earlier rounds
    live: list[Doc]  # matches holding places
    ended: list[Doc]  # matches declined or lapsed
    open_challenges: list[Doc]  # sorted by id
    people: list[Doc]  # candidate profiles of the programme's kind, sorted by id
    supervisors: Mapping[str, Doc]  # profiles of the open challenges' supervisors


def decide(req: RoundRequest, stored: Stored, now: datetime) -> Doc:
    """The round document: ``proposing``, with its assignments, report and explanations."""
    round_id = next_id(req.programme, req.term, stored.prior)
    held = Held.of(stored.live)
    kind = kind_for(req.programme)
    candidates = [fit.Candidate.of(p) for p in stored.people if p["kind"] == kind and p["_id"] not in held.candidates]
    challenges, host_capacity = offer(stored.open_challenges, stored.supervisors, held)
    done = allocate(challenges, candidates, host_capacity, excluded(stored.ended), req.mode)
    return {
        "_id": round_id,
        "programme": req.programme,
        "term": req.term,
        "mode": req.mode,
        "status": "proposing",
        "run_by": req.run_by,
        "run_at": stamp(now),
        "expires_at": stamp(now + timedelta(hours=req.ttl_hours)),
        "challenges": len(challenges),
        "candidates": len(candidates),
        "assignments": done.assignments,
        "unassigned": done.unassigned,
        "metrics": done.metrics,
        "explanations": done.explanations,
    }


def proposals(rnd: Doc, challenges: Mapping[str, Doc], people: Mapping[str, Doc]) -> list[tuple[mx.Match, mx.Events]]:
    """Each assignment of the round as a proposal with its MatchProposed (``challenges`` and ``people``
    by id hold at least those assigned)."""
    ranks = {e["student"]: e["rank"] for e in rnd["explanations"]}
    out = []
    for a in rnd["assignments"]:
        ch, person = challenges[a["project"]], people[a["student"]]
        match = mx.Match(
            id=match_id(rnd["_id"], person["_id"]),
            round_id=rnd["_id"],
            challenge_id=ch["_id"],
            challenge_title=ch["title"],
            programme=rnd["programme"],
            term=rnd["term"],
            candidate=person["_id"],
            candidate_region=person["home_region"],
            organisation=ch.get("organisation"),
            supervisor=ch.get("supervisor"),
            host=ch.get("supervisor") or f"host:{ch['_id']}",
            region=ch["region"],
            ip_template=ch["ip_template"],
            proposed_at=rnd["run_at"],
            expires_at=rnd["expires_at"],
            preference_rank=ranks[person["_id"]],
        )
        out.append(mx.propose(match, rnd["mode"]))
    return out


def proposed(rnd: Doc) -> Doc | None:
    """The round once all its proposals exist (None: it is not writing proposals)."""
    return {**rnd, "status": "proposed"} if rnd["status"] == "proposing" else None


def summary(rnd: Doc) -> Doc:
    """A round as lists show it: without the explanations."""
    return {k: v for k, v in rnd.items() if k != "explanations"}


def explanation_for(rnd: Doc, person: str) -> Doc | None:
    """A candidate's own explanation in a round (None: they were not in it)."""
    return next((e for e in rnd["explanations"] if e["student"] == person), None)
