"""Module rules: a catalogue entry with dated sessions, enrolment with a capacity and a waitlist promoted
in order when a place frees, attendance per session, and completion (enough sessions attended, the last
session over). A module's enrolments live in its document, so a place is taken by one guarded write.

Pure: documents in, documents and event data out; ``now`` is given (a UTC stamp).
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from clustergrowth.problems import Conflict, NotFound, field_error
from contracts import training as ev

Doc = dict[str, Any]
MAX_WAITLIST = 100
OPEN = ("confirmed", "waitlisted")  # an enrolment that holds a place or a place in the queue


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def check_sessions(sessions: list[Doc], min_sessions: int | None) -> None:
    """Each session ends after it starts; sessions do not overlap; ``min_sessions`` is at most their number."""
    for i, s in enumerate(sessions):
        if parse(s["end"]) <= parse(s["start"]):
            raise field_error(f"sessions.{i}.end", "must be after start")
    ordered = sorted(range(len(sessions)), key=lambda i: sessions[i]["start"])
    for a, b in itertools.pairwise(ordered):
        if parse(sessions[b]["start"]) < parse(sessions[a]["end"]):
            raise field_error(f"sessions.{b}.start", f"overlaps session {a}")
    if min_sessions is not None and min_sessions > len(sessions):
        raise field_error("min_sessions", f"the module has {len(sessions)} sessions")


def numbered(sessions: list[Doc]) -> list[Doc]:
    """Sessions in time order, numbered from 1 (attendance names them by number)."""
    return [{**s, "n": n} for n, s in enumerate(sorted(sessions, key=lambda s: s["start"]), start=1)]


def create(mid: str, region: str, fields: Doc, who: str, now: str) -> Doc:
    check_sessions(fields["sessions"], fields.get("min_sessions"))
    return {
        "_id": mid,
        "region": region,
        **fields,
        "sessions": numbered(fields["sessions"]),
        "enrolments": [],
        "created_by": who,
        "created_at": now,
        "updated_at": now,
    }


def required_sessions(doc: Doc) -> int:
    return int(doc.get("min_sessions") or len(doc["sessions"]))


def confirmed(doc: Doc) -> list[Doc]:
    return [e for e in doc["enrolments"] if e["status"] in ("confirmed", "completed")]


def waitlist(doc: Doc) -> list[Doc]:
    """The waitlist in its order: who asked first is promoted first."""
    return [e for e in doc["enrolments"] if e["status"] == "waitlisted"]


def holding(doc: Doc) -> int:
    """Places taken: confirmed and completed participants both keep theirs."""
    return len(confirmed(doc))


def confirmed_event(doc: Doc, e: Doc, from_waitlist: bool, now: str) -> ev.EnrolmentConfirmed:
    return ev.EnrolmentConfirmed(
        enrolment_id=e["id"],
        module_id=doc["_id"],
        person=e["person"],
        organisation=e.get("organisation"),
        sme_id=None,
        region=doc["region"],
        practices=doc["practices"],
        from_waitlist=from_waitlist,
        confirmed_at=now,
    )


def _promote(doc: Doc, now: str) -> tuple[list[Doc], list[ev.EnrolmentConfirmed]]:
    """Fill free places from the head of the waitlist; an EnrolmentConfirmed for each one promoted."""
    free = doc["capacity"] - holding(doc)
    out, events = [], []
    for e in doc["enrolments"]:
        if free > 0 and e["status"] == "waitlisted":
            e = {**e, "status": "confirmed", "confirmed_at": now, "from_waitlist": True}
            events.append(confirmed_event(doc, e, True, now))
            free -= 1
        out.append(e)
    return out, events


def last_end(doc: Doc) -> str:
    return max(s["end"] for s in doc["sessions"])


def enrol(doc: Doc, eid: str, person: str, organisation: str | None, now: str) -> tuple[Doc, Doc, list[Any]]:
    """A confirmed place while one is free, else a place at the end of the waitlist; nobody enrols in a
    module whose last session is over. A cancelled enrolment of the same person is replaced."""
    if last_end(doc) <= now:
        raise Conflict(f"module {doc['_id']} is over")
    if any(e["person"] == person and e["status"] in (*OPEN, "completed") for e in doc["enrolments"]):
        raise Conflict(f"you are enrolled in module {doc['_id']} already")
    if holding(doc) < doc["capacity"]:
        status = "confirmed"
    elif len(waitlist(doc)) < MAX_WAITLIST:
        status = "waitlisted"
    else:
        raise Conflict(f"module {doc['_id']} is full and so is its waitlist ({MAX_WAITLIST})")
    e: Doc = {
        "id": eid,
        "person": person,
        "organisation": organisation,
        "status": status,
        "requested_at": now,
        "confirmed_at": now if status == "confirmed" else None,
        "from_waitlist": False,
        "attended": [],
        "cancelled_at": None,
        "completed_at": None,
        "credential": None,
    }
    others = [x for x in doc["enrolments"] if x["person"] != person]
    new = {**doc, "enrolments": [*others, e], "updated_at": now}
    events = [confirmed_event(new, e, False, now)] if status == "confirmed" else []
    return new, e, events


def find(doc: Doc, eid: str) -> Doc:
    e = next((x for x in doc["enrolments"] if x["id"] == eid), None)
    if e is None:
        raise NotFound(f"no enrolment {eid}")
    return e


def cancel(doc: Doc, eid: str, now: str) -> tuple[Doc, list[ev.EnrolmentConfirmed]]:
    """Cancel an open enrolment; a freed place goes to the head of the waitlist."""
    e = find(doc, eid)
    if e["status"] not in OPEN:
        raise Conflict(f"enrolment {eid} is {e['status']}")
    regs = [{**x, "status": "cancelled", "cancelled_at": now} if x["id"] == eid else x for x in doc["enrolments"]]
    promoted, events = _promote({**doc, "enrolments": regs}, now)
    return {**doc, "enrolments": promoted, "updated_at": now}, events


def update(doc: Doc, fields: Doc, now: str) -> tuple[Doc, list[ev.EnrolmentConfirmed]]:
    """Change title, description, capacity or sessions; a larger capacity promotes from the waitlist."""
    merged = {**doc, **fields}
    if "sessions" in fields or "min_sessions" in fields:
        check_sessions(merged["sessions"], merged.get("min_sessions"))
    if "sessions" in fields:
        if any(e["attended"] for e in doc["enrolments"]):
            raise Conflict("attendance is recorded already; sessions can no longer change")
        merged["sessions"] = numbered(fields["sessions"])
    if merged["capacity"] < holding(doc):
        raise field_error("capacity", f"{holding(doc)} people hold a place already")
    promoted, events = _promote(merged, now)
    return {**merged, "enrolments": promoted, "updated_at": now}, events


def record_attendance(doc: Doc, n: int, present: list[str], now: str) -> Doc:
    """Who attended session ``n`` (it has started): the confirmed participants named present, the others absent."""
    session = next((s for s in doc["sessions"] if s["n"] == n), None)
    if session is None:
        raise NotFound(f"module {doc['_id']} has no session {n}")
    if session["start"] > now:
        raise Conflict(f"session {n} has not started yet")
    holders = {e["person"] for e in doc["enrolments"] if e["status"] == "confirmed"}
    strangers = sorted(set(present) - holders)
    if strangers:
        raise field_error("present", f"not confirmed participants of the module: {strangers}")
    out = []
    for e in doc["enrolments"]:
        if e["status"] == "confirmed":
            days = set(e["attended"]) - {n}
            if e["person"] in present:
                days.add(n)
            e = {**e, "attended": sorted(days)}
        out.append(e)
    return {**doc, "enrolments": out, "updated_at": now}


def check_completion(doc: Doc, eid: str, now: str) -> Doc:
    """A confirmed participant completes once the last session is over and enough sessions were attended."""
    e = find(doc, eid)
    if e["status"] != "confirmed":
        raise Conflict(f"enrolment {eid} is {e['status']}")
    if last_end(doc) > now:
        raise Conflict(f"module {doc['_id']} is not over yet (its last session ends {last_end(doc)})")
    need = required_sessions(doc)
    if len(e["attended"]) < need:
        raise Conflict(f"attended {len(e['attended'])} of the {need} sessions required", attended=len(e["attended"]))
    return e


def complete(doc: Doc, eid: str, credential: Doc, now: str) -> tuple[Doc, ev.ModuleCompleted]:
    """Mark the enrolment completed with its credential (the caller checked ``check_completion``)."""
    e = check_completion(doc, eid, now)
    done = {**e, "status": "completed", "completed_at": now, "credential": credential}
    regs = [done if x["id"] == eid else x for x in doc["enrolments"]]
    event = ev.ModuleCompleted(
        enrolment_id=eid,
        module_id=doc["_id"],
        person=e["person"],
        sme_id=None,
        region=doc["region"],
        practices=doc["practices"],
        credential_id=credential["id"],
        completed_at=now,
    )
    return {**doc, "enrolments": regs, "updated_at": now}, event
