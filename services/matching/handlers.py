"""Matching use cases: challenges, candidate profiles, rankings, allocation rounds, and the lifecycle
of a match from proposal to rated engagement.

Who may do what (services check this themselves; the gateway is not the only guard):
- post a challenge: ``sme_member`` (for their organisation) or ``region_admin``; publish or rank it:
  its organisation, the person who posted it, its supervising academic (ranking only), ``region_admin``;
- keep a candidate profile and ranking: ``student`` (consultancy) or ``academic`` (change of perspective),
  each only their own;
- run an allocation round: ``region_admin`` (the programme coordinator); read a round's report:
  ``region_admin`` or ``analyst``; a candidate reads only their own explanation;
- answer a proposal: the candidate, or the host side (the challenge's organisation or its supervisor);
  milestones and completion: the host side; ratings: either side, once each.
Objects outside these rules are 404, as if they did not exist (drafts, profiles, matches).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clustergrowth import aggregate, etags
from clustergrowth.auth import Principal
from clustergrowth.context import Context, public, stamp
from clustergrowth.envelope import CloudEvent
from clustergrowth.problems import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    Unprocessable,
    field_error,
)
from clustergrowth.store.port import Doc, put
from contracts import matching as ev
from services.matching import commands as c
from services.matching import store as st
from services.matching.allocation.instance import parse
from services.matching.allocation.optimal import optimal
from services.matching.allocation.report import explain_all, report
from services.matching.allocation.stable import stable
from services.matching.domain import fit
from services.matching.reads import Assessed

COORDINATOR = ("region_admin",)
READERS = ("region_admin", "analyst")
LIVE = ["proposed", "active", "completed"]  # matches that hold a place
ATTEMPTS = 20
NEED_SKILLS = {
    "innovation": ["product development", "innovation management"],
    "digitalisation": ["software", "data analysis"],
    "internationalisation": ["market research", "export strategy"],
    "talent": ["human resources", "training design"],
    "finance": ["finance", "business planning"],
    "rnd_facilities": ["research methods", "lab work"],
    "collaboration": ["partnership building", "stakeholder analysis"],
    "sustainability": ["life-cycle assessment", "energy efficiency"],
}


@dataclass
class Matching(Context):
    """The matching service's handler context, with its proposal lifetime and draft threshold."""

    service: str = "matching"
    proposal_ttl_hours: float = 7 * 24
    draft_need_below: float = 2.5


def _ranking_errors(ids: list[str], known: Callable[[str], str | None]) -> list[dict[str, str]]:
    """Each repeated id, and each id ``known`` objects to (it returns the reason), by position."""
    errors, seen = [], set()
    for i, x in enumerate(ids):
        if x in seen:
            errors.append({"field": f"ranking[{i}]", "reason": f"{x!r} is ranked twice"})
        elif (why := known(x)) is not None:
            errors.append({"field": f"ranking[{i}]", "reason": why})
        seen.add(x)
    return errors


# Challenges ---------------------------------------------------------------------------------------
def _manages(who: Principal, doc: Doc) -> bool:
    return (
        who.has(*COORDINATOR)
        or doc.get("created_by") == who.id
        or (who.org is not None and doc.get("organisation") == who.org)
    )


def _posted(m: Matching, doc: Doc) -> CloudEvent:
    return m.event(
        ev.ChallengePosted(
            challenge_id=doc["_id"],
            programme=doc["programme"],
            sme_id=doc.get("sme_id"),
            organisation=doc.get("organisation"),
            region=doc["region"],
            term=doc["term"],
            work_mode=doc["work_mode"],
            skills=doc["skills"],
            capacity=doc["capacity"],
            ip_template=doc["ip_template"],
            suggested_from=doc.get("suggested_from"),
        ),
        key=doc["_id"],
    )


def _challenge_fields(cmd: c.PostChallenge) -> Doc:
    body = cmd.model_dump(mode="json")
    body["skills"] = sorted({s.lower() for s in body["skills"]})
    body["ip_terms"] = c.IP_TEMPLATES[cmd.ip_template]
    return body


async def _own_sme(m: Matching, sme_id: str | None, who: Principal) -> None:
    """A challenge names only an SME of the poster's organisation (known here from its assessments);
    the coordinator may name any SME of the region."""
    if sme_id is None or who.has(*COORDINATOR):
        return
    known = await m.store.get(st.SMES, sme_id)
    if known is None or who.org is None or known.get("organisation") != who.org:
        raise field_error("sme_id", "is not an SME of your organisation (as known here from its assessments)")


async def post_challenge(m: Matching, cmd: c.PostChallenge, who: Principal) -> Doc:
    who.require("sme_member", *COORDINATOR)
    await _own_sme(m, cmd.sme_id, who)
    doc: Doc = {
        "_id": f"ch-{uuid.uuid4().hex[:12]}",
        **_challenge_fields(cmd),
        "status": "open",
        "organisation": who.org,
        "created_by": who.id,
        "posted_at": m.now(),
        "applicant_ranking": [],
        "suggested_from": None,
    }
    await aggregate.save(m.store, st.CHALLENGES, doc, [_posted(m, doc)], expected_version=None, on_saved=m.notify)
    return public(doc)


async def get_challenge(m: Matching, cid: str, who: Principal) -> Doc:
    """Open challenges are for everyone to browse; drafts only for their SME and the coordinator."""
    doc = await m.store.get(st.CHALLENGES, cid)
    if doc is None or (doc["status"] == "draft" and not _manages(who, doc)):
        raise NotFound(f"no challenge {cid}")
    return doc


async def list_challenges(
    m: Matching, who: Principal, *, programme: str | None, term: str | None, status: str | None
) -> list[Doc]:
    q: Doc = {}
    for k, v in (("programme", programme), ("term", term), ("status", status)):
        if v is not None:
            q[k] = v
    docs = await m.store.find(st.CHALLENGES, q, sort=[("posted_at", -1), ("_id", 1)])
    return [public(d) for d in docs if d["status"] != "draft" or _manages(who, d)]


async def publish_draft(
    m: Matching, cid: str, cmd: c.PostChallenge, who: Principal, if_match: str | None
) -> tuple[Doc, str]:
    """Complete a suggested draft (term, dates, team, terms) and post it; returns it with its new ETag."""
    doc = await get_challenge(m, cid, who)
    if not _manages(who, doc):
        raise Forbidden("only the SME that owns this challenge or the coordinator may publish it")
    etags.check(if_match, doc)
    if doc["status"] != "draft":
        raise Conflict(f"challenge {cid} is already {doc['status']}")
    if cmd.sme_id not in (None, doc.get("sme_id")):
        await _own_sme(m, cmd.sme_id, who)
    fields = _challenge_fields(cmd)
    fields["sme_id"] = cmd.sme_id or doc.get("sme_id")
    new = {**doc, **fields, "status": "open", "posted_at": m.now(), "published_by": who.id}
    try:
        await aggregate.save(
            m.store, st.CHALLENGES, new, [_posted(m, new)], expected_version=doc["version"], on_saved=m.notify
        )
    except aggregate.ConcurrentUpdate as e:
        raise PreconditionFailed("the challenge changed while you published it; read it again") from e
    return public(new), etags.etag(doc["version"] + 1)


async def rank_applicants(
    m: Matching, cid: str, ranking: list[str], who: Principal, if_match: str | None
) -> tuple[Doc, str]:
    """The host's ranking of candidates for one challenge (best first); returns it with its new ETag."""
    doc = await get_challenge(m, cid, who)
    if not (_manages(who, doc) or doc.get("supervisor") == who.id):
        raise Forbidden("only the challenge's SME, its supervisor or the coordinator may rank applicants")
    etags.check(if_match, doc)
    kind = "student" if doc["programme"] == "consultancy" else "academic"
    profiles = {d["_id"]: d for d in await m.store.find(st.CANDIDATES, {"_id": {"$in": ranking}})}

    def known(x: str) -> str | None:
        if x not in profiles:
            return f"no candidate profile {x!r}"
        return None if profiles[x]["kind"] == kind else f"{x!r} is not a {kind}"

    if errors := _ranking_errors(ranking, known):
        raise Unprocessable(f"{len(errors)} problem(s) in the ranking; nothing was saved", errors)
    new = {**doc, "applicant_ranking": ranking}
    try:
        await aggregate.save(m.store, st.CHALLENGES, new, [], expected_version=doc["version"])
    except aggregate.ConcurrentUpdate as e:
        raise PreconditionFailed("the challenge changed while you ranked; read it again") from e
    return public(new), etags.etag(doc["version"] + 1)


async def suggest_draft(m: Matching, d: Assessed) -> bool:
    """An assessment whose greatest need scores low suggests a draft challenge to that SME (once)."""
    await put(m.store, st.SMES, {"_id": d.sme_id, "organisation": d.organisation, "region": d.region})
    if not d.top_needs:
        return False
    need = d.top_needs[0]
    score = float(d.scores[need])
    if score >= m.draft_need_below:
        return False
    doc: Doc = {
        "_id": f"draft-{d.assessment_id}",
        "programme": "consultancy",
        "status": "draft",
        "title": f"Student consultancy on {need.replace('_', ' ')}",
        "scope": (
            f"Suggested because the growth-needs assessment of {d.assessed_at[:10]} scored "
            f"{need.replace('_', ' ')} at {score:.1f} of 5, the SME's greatest need. Edit and publish it."
        ),
        "skills": NEED_SKILLS.get(need, [need]),
        "languages": [],
        "region": d.region,
        "sme_id": d.sme_id,
        "organisation": d.organisation,
        "created_by": None,
        "suggested_from": d.assessment_id,
        "need": {"dimension": need, "score": score},
        "suggested_at": m.now(),
        "applicant_ranking": [],
    }
    try:
        await aggregate.save(m.store, st.CHALLENGES, doc, [], expected_version=None)
    except aggregate.ConcurrentUpdate:
        return False  # suggested already (the same event again)
    return True


# Candidates ---------------------------------------------------------------------------------------
async def put_profile(m: Matching, cmd: c.Profile, who: Principal) -> Doc:
    kind = cmd.kind
    who.require(kind)
    for _ in range(ATTEMPTS):
        old = await m.store.get(st.CANDIDATES, who.id)
        if old is not None and old["kind"] != kind:
            raise Conflict(f"your profile is an {old['kind']} profile; one profile per person")
        doc: Doc = {
            **(old or {}),
            "_id": who.id,
            "issuer": who.issuer,
            "subject": who.sub,
            **cmd.model_dump(mode="json"),
            "skills": sorted({s.lower() for s in cmd.skills}),
            "home_region": who.region,
            "organisation": who.org,
            "updated_at": m.now(),
        }
        doc.setdefault("preferences", [])
        try:
            await aggregate.save(
                m.store, st.CANDIDATES, doc, [], expected_version=None if old is None else old["version"]
            )
            return public(doc)
        except aggregate.ConcurrentUpdate:
            continue
    raise ServiceUnavailable("your profile is busy; try again")


async def get_profile(m: Matching, sub: str, who: Principal) -> Doc:
    doc = await m.store.get(st.CANDIDATES, sub)
    if doc is None or not (doc["_id"] == who.id or who.has(*COORDINATOR)):
        raise NotFound(f"no candidate profile {sub}")
    return doc


async def set_preferences(m: Matching, ranking: list[str], who: Principal) -> Doc:
    """A candidate ranks open challenges of their programme, best first."""
    for _ in range(ATTEMPTS):
        doc = await m.store.get(st.CANDIDATES, who.id)
        if doc is None:
            raise NotFound("you have no candidate profile yet; create it with PUT /candidates/me")
        programme = "consultancy" if doc["kind"] == "student" else "change_of_perspective"
        challenges = {d["_id"]: d for d in await m.store.find(st.CHALLENGES, {"_id": {"$in": ranking}})}

        def known(x: str, challenges: dict[str, Doc] = challenges, programme: str = programme) -> str | None:
            ch = challenges.get(x)
            if ch is None or ch["status"] == "draft":
                return f"no open challenge {x!r}"
            if ch["programme"] != programme:
                return f"{x!r} is a {ch['programme']} challenge, not {programme}"
            return None

        if errors := _ranking_errors(ranking, known):
            raise Unprocessable(f"{len(errors)} problem(s) in the ranking; nothing was saved", errors)
        new = {**doc, "preferences": ranking, "updated_at": m.now()}
        try:
            await aggregate.save(m.store, st.CANDIDATES, new, [], expected_version=doc["version"])
            return public(new)
        except aggregate.ConcurrentUpdate:
            continue
    raise ServiceUnavailable("your profile is busy; try again")


# Rounds -------------------------------------------------------------------------------------------
def match_id(round_id: str, candidate: str) -> str:
    return "m-" + hashlib.sha256(f"{round_id}\0{candidate}".encode()).hexdigest()[:20]


async def run_round(m: Matching, cmd: c.RunRound, who: Principal) -> Doc:
    """Allocate the places left in a programme's term and propose each assignment.

    One round per programme and term at a time: the round id carries a sequence number, so two
    coordinators starting together collide on insert, and a round still proposing blocks the next.
    """
    who.require(*COORDINATOR)
    prior = await m.store.find(st.ROUNDS, {"programme": cmd.programme, "term": cmd.term})
    if any(r["status"] == "proposing" for r in prior):
        raise Conflict("a round for this programme and term is still writing its proposals; try again shortly")
    round_id = f"{cmd.programme.replace('_', '-')}-{cmd.term}-r{len(prior) + 1}"
    kind = "student" if cmd.programme == "consultancy" else "academic"
    live = await m.store.find(st.MATCHES, {"programme": cmd.programme, "term": cmd.term, "status": {"$in": LIVE}})
    taken: dict[str, int] = {}
    held_by_host: dict[str, int] = {}
    for x in live:
        taken[x["challenge_id"]] = taken.get(x["challenge_id"], 0) + 1
        held_by_host[x["host"]] = held_by_host.get(x["host"], 0) + 1
    busy = {x["candidate"] for x in live}
    open_docs = await m.store.find(
        st.CHALLENGES, {"status": "open", "programme": cmd.programme, "term": cmd.term}, sort=[("_id", 1)]
    )
    people = await m.store.find(st.CANDIDATES, {"kind": kind}, sort=[("_id", 1)])
    candidates = [fit.Candidate.of(p) for p in people if p["_id"] not in busy]
    supervisors = {d["supervisor"] for d in open_docs if d.get("supervisor")}
    sup_profiles = {d["_id"]: d for d in await m.store.find(st.CANDIDATES, {"_id": {"$in": sorted(supervisors)}})}
    challenges, host_capacity = [], {}
    for d in open_docs:
        ch = fit.Challenge.of(d, d["capacity"] - taken.get(d["_id"], 0))
        if ch.host.startswith("host:"):
            cap = ch.capacity
        else:
            cap = int(sup_profiles.get(ch.host, {}).get("supervision_capacity", 6)) - held_by_host.get(ch.host, 0)
        if ch.capacity > 0 and cap > 0:
            challenges.append(ch)
            host_capacity[ch.host] = cap
    ended = await m.store.find(
        st.MATCHES, {"programme": cmd.programme, "term": cmd.term, "status": {"$in": ["declined", "expired"]}}
    )
    excluded = frozenset((x["candidate"], x["challenge_id"]) for x in ended)
    data, source = fit.instance(challenges, candidates, host_capacity, excluded)
    inst = parse(data)
    assigned = stable(inst) if cmd.mode == "stable" else optimal(inst, supervisor_ties=True)
    result = report(inst, assigned, cmd.mode)
    by_id = {ch.id: ch for ch in challenges}
    by_person = {p.id: p for p in candidates}
    explanations = []
    for pid, e in zip(inst.student_ids, explain_all(inst, assigned), strict=True):
        e["preferences_from"] = source[pid]
        if e["project"] is not None:
            e["fit"] = fit.fit(by_id[e["project"]], by_person[pid])
        explanations.append(e)
    listed = set(inst.student_ids)
    for p in candidates:  # eligible for nothing: say so rather than leave them out
        if p.id not in listed:
            explanations.append(
                {
                    "student": p.id,
                    "project": None,
                    "rank": None,
                    "why_not": [],
                    "preferences_from": "no eligible challenge (programme, language, dates or region)",
                }
            )
    ttl = cmd.proposal_ttl_hours or m.proposal_ttl_hours
    doc: Doc = {
        "_id": round_id,
        "programme": cmd.programme,
        "term": cmd.term,
        "mode": cmd.mode,
        "status": "proposing",
        "run_by": who.id,
        "run_at": m.now(),
        "expires_at": stamp(m.clock() + timedelta(hours=ttl)),
        "challenges": len(challenges),
        "candidates": len(candidates),
        "assignments": result["assignments"],
        "unassigned": result["unassigned"] + [p.id for p in candidates if p.id not in listed],
        "metrics": result["metrics"],
        "explanations": explanations,
    }
    try:
        await aggregate.save(m.store, st.ROUNDS, doc, [], expected_version=None)
    except aggregate.ConcurrentUpdate as e:
        raise Conflict("another round for this programme and term started at the same moment") from e
    await materialise(m, doc)
    return round_summary(doc | {"status": "proposed"})


def round_summary(doc: Doc) -> Doc:
    return {k: v for k, v in public(doc).items() if k != "explanations"}


async def materialise(m: Matching, rnd: Doc) -> None:
    """Write one match per assignment with its MatchProposed (idempotent), then mark the round proposed."""
    challenges = {
        d["_id"]: d
        for d in await m.store.find(st.CHALLENGES, {"_id": {"$in": [a["project"] for a in rnd["assignments"]]}})
    }
    people = {
        d["_id"]: d
        for d in await m.store.find(st.CANDIDATES, {"_id": {"$in": [a["student"] for a in rnd["assignments"]]}})
    }
    ranks = {e["student"]: e["rank"] for e in rnd["explanations"]}
    for a in rnd["assignments"]:
        ch, person = challenges[a["project"]], people[a["student"]]
        mid = match_id(rnd["_id"], a["student"])
        doc: Doc = {
            "_id": mid,
            "round_id": rnd["_id"],
            "challenge_id": ch["_id"],
            "challenge_title": ch["title"],
            "programme": rnd["programme"],
            "term": rnd["term"],
            "candidate": person["_id"],
            "candidate_region": person["home_region"],
            "organisation": ch.get("organisation"),
            "supervisor": ch.get("supervisor"),
            "host": ch.get("supervisor") or f"host:{ch['_id']}",
            "region": ch["region"],
            "ip_template": ch["ip_template"],
            "status": "proposed",
            "responses": {"candidate": None, "host": None},
            "proposed_at": rnd["run_at"],
            "expires_at": rnd["expires_at"],
            "preference_rank": ranks[person["_id"]],
            "milestones": [],
            "ratings": {"candidate": None, "host": None},
        }
        event = m.event(
            ev.MatchProposed(
                **_match_fields(doc),
                mode=rnd["mode"],
                preference_rank=doc["preference_rank"],
                expires_at=doc["expires_at"],
            ),
            key=mid,
        )
        try:
            await aggregate.save(m.store, st.MATCHES, doc, [event], expected_version=None, on_saved=m.notify)
        except aggregate.ConcurrentUpdate:
            pass  # written by an earlier attempt
    for _ in range(ATTEMPTS):
        current = await m.store.get(st.ROUNDS, rnd["_id"])
        if current is None or current["status"] != "proposing":
            return
        if await m.store.replace(st.ROUNDS, {**current, "status": "proposed"}, current["version"]):
            return


async def get_round(m: Matching, rid: str, who: Principal) -> Doc:
    doc = await m.store.get(st.ROUNDS, rid)
    if doc is None:
        raise NotFound(f"no round {rid}")
    if who.has(*READERS):
        return public(doc)
    mine = [e for e in doc["explanations"] if e["student"] == who.id]
    if not mine:
        raise NotFound(f"no round {rid}")
    return {"id": rid, "programme": doc["programme"], "term": doc["term"], "mode": doc["mode"], "explanation": mine[0]}


async def list_rounds(m: Matching, who: Principal) -> list[Doc]:
    who.require(*READERS)
    docs = await m.store.find(st.ROUNDS, {}, sort=[("run_at", -1)])
    return [round_summary(d) for d in docs]


# Matches ------------------------------------------------------------------------------------------
def _match_fields(doc: Doc) -> dict[str, Any]:
    keys = ("round_id", "challenge_id", "candidate", "programme", "region", "candidate_region")
    return {"match_id": doc["_id"], **{k: doc[k] for k in keys}}


def side_of(who: Principal, doc: Doc) -> str | None:
    if doc["candidate"] == who.id:
        return "candidate"
    if doc.get("supervisor") == who.id or (who.org is not None and doc.get("organisation") == who.org):
        return "host"
    return None


async def get_match(m: Matching, mid: str, who: Principal) -> Doc:
    doc = await m.store.get(st.MATCHES, mid)
    if doc is None or (side_of(who, doc) is None and not who.has(*READERS)):
        raise NotFound(f"no match {mid}")
    return doc


async def list_matches(m: Matching, who: Principal, status: str | None) -> list[Doc]:
    base: Doc = {"status": status} if status else {}
    if who.has(*READERS):
        docs = await m.store.find(st.MATCHES, base)
    else:
        found: dict[str, Doc] = {}
        queries = [{"candidate": who.id}, {"supervisor": who.id}]
        if who.org is not None:
            queries.append({"organisation": who.org})
        for q in queries:
            for d in await m.store.find(st.MATCHES, {**base, **q}):
                found[d["_id"]] = d
        docs = list(found.values())
    docs.sort(key=lambda d: (d["proposed_at"], d["_id"]), reverse=True)
    return [public(d) for d in docs]


def _expire(m: Matching, doc: Doc) -> tuple[Doc, CloudEvent]:
    answered = [s for s, r in doc["responses"].items() if r == "accepted"]
    new = {**doc, "status": "expired", "expired_at": m.now()}
    event = m.event(
        ev.MatchExpired(**_match_fields(doc), expired_at=doc["expires_at"], answered_by=answered), key=doc["_id"]
    )
    return new, event


def _lapsed(m: Matching, doc: Doc) -> bool:
    return doc["status"] == "proposed" and datetime.fromisoformat(doc["expires_at"]) <= m.clock()


async def _change(
    m: Matching, mid: str, who: Principal, step: Callable[[Doc, str | None], tuple[Doc, list[CloudEvent]]]
) -> Doc:
    """Load, check, apply ``step(doc, side)``, save with its events; retried on a concurrent change."""
    for _ in range(ATTEMPTS):
        doc = await get_match(m, mid, who)
        if _lapsed(m, doc):  # expire it now, then tell the caller
            new, event = _expire(m, doc)
            try:
                await aggregate.save(
                    m.store, st.MATCHES, new, [event], expected_version=doc["version"], on_saved=m.notify
                )
            except aggregate.ConcurrentUpdate:
                continue
            raise Conflict(f"the proposal expired at {doc['expires_at']}")
        new, events = step(doc, side_of(who, doc))
        try:
            await aggregate.save(m.store, st.MATCHES, new, events, expected_version=doc["version"], on_saved=m.notify)
            return public(new)
        except aggregate.ConcurrentUpdate:
            continue
    raise ServiceUnavailable("the match is busy; try again")


def _need_side(side: str | None, *allowed: str) -> str:
    if side is None or side not in allowed:
        raise Forbidden(f"only the {' or '.join(allowed)} side of this match may do this")
    return side


def _need_status(doc: Doc, status: str) -> None:
    if doc["status"] != status:
        raise Conflict(f"the match is {doc['status']}, not {status}")


def _answering_side(doc: Doc, side: str | None) -> str:
    """The caller's side, if it may still answer this proposal."""
    s = _need_side(side, "candidate", "host")
    _need_status(doc, "proposed")
    if doc["responses"][s] is not None:
        raise Conflict(f"the {s} side has already answered")
    return s


async def accept(m: Matching, mid: str, who: Principal) -> Doc:
    def step(doc: Doc, side: str | None) -> tuple[Doc, list[CloudEvent]]:
        s = _answering_side(doc, side)
        responses = {**doc["responses"], s: "accepted"}
        new = {**doc, "responses": responses}
        if all(r == "accepted" for r in responses.values()):
            new |= {"status": "active", "accepted_at": m.now()}
            return new, [m.event(ev.MatchAccepted(**_match_fields(doc), accepted_at=new["accepted_at"]), key=mid)]
        return new, []

    return await _change(m, mid, who, step)


async def decline(m: Matching, mid: str, cmd: c.Decline, who: Principal) -> Doc:
    def step(doc: Doc, side: str | None) -> tuple[Doc, list[CloudEvent]]:
        s = _answering_side(doc, side)
        new = {**doc, "status": "declined", "responses": {**doc["responses"], s: "declined"}, "reason": cmd.reason}
        data = ev.MatchDeclined(**_match_fields(doc), declined_by=s, reason=cmd.reason)  # type: ignore[arg-type]
        return new, [m.event(data, key=mid)]

    return await _change(m, mid, who, step)


async def add_milestone(m: Matching, mid: str, cmd: c.Milestone, who: Principal) -> Doc:
    def step(doc: Doc, side: str | None) -> tuple[Doc, list[CloudEvent]]:
        _need_side(side, "host")
        _need_status(doc, "active")
        if len(doc["milestones"]) >= 50:
            raise Conflict("an engagement has at most 50 milestones")
        ms = {"n": len(doc["milestones"]) + 1, "title": cmd.title, "due_on": cmd.due_on.isoformat(), "done_at": None}
        return {**doc, "milestones": [*doc["milestones"], ms]}, []

    return await _change(m, mid, who, step)


async def milestone_done(m: Matching, mid: str, n: int, who: Principal) -> Doc:
    def step(doc: Doc, side: str | None) -> tuple[Doc, list[CloudEvent]]:
        _need_side(side, "candidate", "host")
        _need_status(doc, "active")
        if not 1 <= n <= len(doc["milestones"]):
            raise NotFound(f"no milestone {n} in match {mid}")
        ms = [dict(x) for x in doc["milestones"]]
        ms[n - 1]["done_at"] = ms[n - 1]["done_at"] or m.now()
        return {**doc, "milestones": ms}, []

    return await _change(m, mid, who, step)


async def complete(m: Matching, mid: str, who: Principal) -> Doc:
    def step(doc: Doc, side: str | None) -> tuple[Doc, list[CloudEvent]]:
        _need_side(side, "host")
        _need_status(doc, "active")
        now = m.now()
        done = sum(1 for x in doc["milestones"] if x["done_at"])
        data = ev.EngagementCompleted(
            **_match_fields(doc), completed_at=now, milestones=len(doc["milestones"]), milestones_done=done
        )
        return {**doc, "status": "completed", "completed_at": now}, [m.event(data, key=mid)]

    return await _change(m, mid, who, step)


async def rate(m: Matching, mid: str, cmd: c.Rating, who: Principal) -> Doc:
    def step(doc: Doc, side: str | None) -> tuple[Doc, list[CloudEvent]]:
        s = _need_side(side, "candidate", "host")
        _need_status(doc, "completed")
        if doc["ratings"][s] is not None:
            raise Conflict(f"the {s} side has already rated this engagement")
        rating = {"score": cmd.score, "comment": cmd.comment, "by": who.id, "at": m.now()}
        data = ev.EngagementRated(**_match_fields(doc), rated_by=s, score=cmd.score)  # type: ignore[arg-type]
        return {**doc, "ratings": {**doc["ratings"], s: rating}}, [m.event(data, key=mid)]

    return await _change(m, mid, who, step)


# Housekeeping -------------------------------------------------------------------------------------
async def sweep(m: Matching) -> dict[str, int]:
    """Expire lapsed proposals and finish rounds interrupted while writing proposals."""
    expired = 0
    for doc in await m.store.find(st.MATCHES, {"status": "proposed", "expires_at": {"$lte": m.now()}}):
        new, event = _expire(m, doc)
        try:
            await aggregate.save(m.store, st.MATCHES, new, [event], expected_version=doc["version"], on_saved=m.notify)
            expired += 1
        except aggregate.ConcurrentUpdate:
            pass  # answered or expired meanwhile; the next sweep looks again
    resumed = 0
    for rnd in await m.store.find(st.ROUNDS, {"status": "proposing"}):
        await materialise(m, rnd)
        resumed += 1
    return {"expired": expired, "rounds_resumed": resumed}
