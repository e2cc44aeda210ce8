"""Meeting rules: scheduling and rescheduling (each version bumps the iCalendar SEQUENCE), registration
with a seat limit and a waitlist promoted in order when a seat frees, check-in, and closing with
minutes (required), decisions and action items.

Pure: documents in, documents and event data out; ``now`` is given.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clustergrowth.problems import Conflict, NotFound, Unprocessable, field_error
from contracts import councils as ev
from services.councils.domain import council as cn

Doc = dict[str, Any]
MAX_WAITLIST = 200
MAX_LENGTH = timedelta(hours=12)
MODES_WITH_PLACE = ("in_person", "hybrid")
CHECK_IN_FROM = timedelta(minutes=60)
# icalendar writes a zone's VTIMEZONE as explicit transitions, which zoneinfo knows up to 2037 only (no RRULE
# form): a meeting takes place before this instant, so that its feed's time zone is right
LAST = datetime(2038, 1, 1, tzinfo=ZoneInfo("UTC"))  # check-in opens this long before the start


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def validate_timezone(tz: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise field_error("timezone", f"{tz!r} is not an IANA time zone") from e


def check_times(fields: Doc, now: str, *, new: bool) -> None:
    """End after start, at most 12 hours, a new start in the future; a place for meetings held in a room."""
    start, end = parse(fields["start"]), parse(fields["end"])
    if end <= start:
        raise field_error("end", "must be after start")
    if end - start > MAX_LENGTH:
        raise field_error("end", "a meeting lasts at most 12 hours")
    if start >= LAST:
        raise field_error("start", "must be before 2038-01-01T00:00:00Z (calendar time zones end there)")
    if end > LAST:
        raise field_error("end", "must be at 2038-01-01T00:00:00Z or before (calendar time zones end there)")
    if new and start < parse(now):
        raise field_error("start", "must be in the future")
    if fields["mode"] in MODES_WITH_PLACE and not fields.get("place"):
        raise field_error("place", f"a {fields['mode']} meeting needs a place")
    validate_timezone(fields["timezone"])


def schedule(mid: str, council: Doc, fields: Doc, now: str) -> tuple[Doc, ev.MeetingScheduled]:
    """A new meeting of the council at sequence 0, and its MeetingScheduled."""
    check_times(fields, now, new=True)
    doc: Doc = {
        "_id": mid,
        "council_id": council["_id"],
        "region": council["region"],
        **fields,
        "status": "scheduled",
        "sequence": 0,
        "registrations": [],
        "attendance": [],
        "draft_minutes": None,
        "minutes": None,
        "decisions": [],
        "action_items": [],
        "quorum": None,
        "cancel_reason": None,
        "created_at": now,
        "updated_at": now,
    }
    return doc, scheduled(doc)


def scheduled(doc: Doc) -> ev.MeetingScheduled:
    return ev.MeetingScheduled(
        council_id=doc["council_id"],
        meeting_id=doc["_id"],
        region=doc["region"],
        mode=doc["mode"],
        start=doc["start"],
        end=doc["end"],
        seats=doc["seats"],
        sequence=doc["sequence"],
    )


def require_scheduled(doc: Doc) -> None:
    if doc["status"] != "scheduled":
        raise Conflict(f"meeting {doc['_id']} is {doc['status']}")


Members = dict[str, str]  # the council's active members: person -> designated_on (``cn.active_since``)
HELD = ("registered", "waitlisted")  # the statuses that hold a seat or a place in line


def standing(doc: Doc, members: Members | None = None) -> list[Doc]:
    """The registrations as they stand, in the order people asked: one made by a person who is not an
    active member now, or made under a membership that has ended since (she left and came back), has
    ``lapsed``: it holds no seat and no place on the waitlist, and nobody is promoted into it. Without
    ``members``, the statuses as stored."""
    if members is None:
        return list(doc["registrations"])

    def now_of(r: Doc) -> Doc:
        since = members.get(r["person"])
        if r["status"] in HELD and (since is None or since > r["registered_at"]):
            return {**r, "status": "lapsed"}
        return r

    return [now_of(r) for r in doc["registrations"]]


def registered(doc: Doc, members: Members | None = None) -> list[Doc]:
    return [r for r in standing(doc, members) if r["status"] == "registered"]


def waitlisted(doc: Doc, members: Members | None = None) -> list[Doc]:
    """The waitlist in its order: who asked first is promoted first."""
    return [r for r in standing(doc, members) if r["status"] == "waitlisted"]


def _promote(regs: list[Doc], seats: int, now: str) -> list[Doc]:
    """Fill free seats from the head of the waitlist (``regs`` as they stand: lapsed ones are skipped)."""
    free = seats - sum(1 for r in regs if r["status"] == "registered")
    out = []
    for r in regs:
        if free > 0 and r["status"] == "waitlisted":
            r = {**r, "status": "registered", "promoted_at": now}
            free -= 1
        out.append(r)
    return out


def reschedule(doc: Doc, fields: Doc, members: Members, now: str) -> tuple[Doc, ev.MeetingScheduled]:
    """A new version of a scheduled meeting (SEQUENCE + 1); more seats promote from the waitlist; fewer
    seats than people registered is refused (cancel registrations first)."""
    require_scheduled(doc)
    merged = {**doc, **fields}
    check_times(merged, now, new="start" in fields and fields["start"] != doc["start"])
    seated = len(registered(doc, members))
    if merged["seats"] < seated:
        raise field_error("seats", f"{seated} people are registered already")
    new = {**merged, "sequence": doc["sequence"] + 1, "updated_at": now}
    new["registrations"] = _promote(standing(doc, members), new["seats"], now)
    return new, scheduled(new)


def register(doc: Doc, person: str, members: Members, now: str) -> tuple[Doc, Doc]:
    """Register the person (an active member): a seat while one is free, else a place at the end of the
    waitlist."""
    require_scheduled(doc)
    regs = standing(doc, members)
    if any(r["person"] == person and r["status"] in HELD for r in regs):
        raise Conflict(f"{person} is registered for meeting {doc['_id']} already")
    if sum(1 for r in regs if r["status"] == "registered") < doc["seats"]:
        status = "registered"
    elif sum(1 for r in regs if r["status"] == "waitlisted") < MAX_WAITLIST:
        status = "waitlisted"
    else:
        raise Conflict(f"meeting {doc['_id']} is full and so is its waitlist ({MAX_WAITLIST})")
    reg = {"person": person, "status": status, "registered_at": now, "promoted_at": None, "cancelled_at": None}
    others = [r for r in regs if r["person"] != person]  # a cancelled or lapsed one is replaced
    return {**doc, "registrations": [*others, reg]}, reg


def cancel_registration(doc: Doc, person: str, members: Members, now: str) -> tuple[Doc, Doc | None]:
    """Cancel the person's registration; a freed seat goes to the head of the waitlist (of active members).
    Returns the meeting and the registration that was promoted, if any."""
    require_scheduled(doc)
    regs = standing(doc, members)
    mine = next((r for r in regs if r["person"] == person and r["status"] in HELD), None)
    if mine is None:
        raise NotFound(f"no registration of yours for meeting {doc['_id']}")
    regs = [{**r, "status": "cancelled", "cancelled_at": now} if r is mine else r for r in regs]
    promoted = _promote(regs, doc["seats"], now)
    moved = next((p for p, r in zip(promoted, regs, strict=True) if p["status"] != r["status"]), None)
    return {**doc, "registrations": promoted}, moved


def check_in(doc: Doc, member: Doc, now: str) -> Doc:
    """Record that an active member attends (once; a second check-in changes nothing), from 60 minutes
    before the start on."""
    require_scheduled(doc)
    opens = parse(doc["start"]) - CHECK_IN_FROM
    if parse(now) < opens:
        raise Conflict(f"check-in for meeting {doc['_id']} opens at {opens.isoformat()} (60 minutes before it starts)")
    if any(a["person"] == member["person"] for a in doc["attendance"]):
        return doc
    entry = {"person": member["person"], "constituency": member["constituency"], "checked_in_at": now}
    return {**doc, "attendance": [*doc["attendance"], entry]}


def cancel(doc: Doc, reason: str, now: str) -> tuple[Doc, ev.MeetingCancelled]:
    require_scheduled(doc)
    new = {**doc, "status": "cancelled", "cancel_reason": reason, "sequence": doc["sequence"] + 1, "updated_at": now}
    return new, ev.MeetingCancelled(
        council_id=doc["council_id"], meeting_id=doc["_id"], region=doc["region"], start=doc["start"], reason=reason
    )


def local_date(doc: Doc) -> date:
    """The day the meeting starts on, in its own time zone."""
    return parse(doc["start"]).astimezone(ZoneInfo(doc["timezone"])).date()


def check_action_items(doc: Doc, council: Doc, items: list[Doc]) -> None:
    """Each action item is owned by an active member of the council and due on the meeting's day (in its
    time zone) or later; a 422 names every item's field that is not."""
    day = local_date(doc)
    errors = []
    for n, item in enumerate(items):
        if cn.membership_of(council, item["owner"]) is None:
            errors.append({"field": f"action_items.{n}.owner", "reason": "is not an active member of the council"})
        if date.fromisoformat(item["due_on"]) < day:
            errors.append({"field": f"action_items.{n}.due_on", "reason": f"is before the meeting's day ({day})"})
    if errors:
        raise Unprocessable("action items: " + "; ".join(f"{e['field']} {e['reason']}" for e in errors), errors)


def close(
    doc: Doc, council: Doc, minutes: str | None, decisions: list[str], action_items: list[Doc], now: str
) -> tuple[Doc, ev.MeetingHeld]:
    """Close a meeting: minutes are required (given now, or drafted before); action items as
    ``check_action_items`` wants them; the attendee count, attendance by constituency and quorum are recorded
    from the check-ins. Only once it has started (at its start or later)."""
    require_scheduled(doc)
    if parse(now) < parse(doc["start"]):
        raise Conflict(f"meeting {doc['_id']} has not started yet (it starts at {doc['start']})")
    text = minutes if minutes is not None else doc.get("draft_minutes")
    if not text or not text.strip():
        raise Unprocessable(
            "a meeting cannot be closed without minutes",
            [{"field": "minutes", "reason": "is required to close a meeting (send it, or draft it first)"}],
        )
    check_action_items(doc, council, action_items)
    present = {a["person"] for a in doc["attendance"]}
    q = cn.quorum(council, present)
    by = Counter(a["constituency"] for a in doc["attendance"])
    new = {
        **doc,
        "status": "held",
        "minutes": text,
        "draft_minutes": None,
        "decisions": decisions,
        "action_items": action_items,
        "quorum": q,
        "attendees": len(present),
        "closed_at": now,
        "updated_at": now,
    }
    return new, ev.MeetingHeld(
        council_id=doc["council_id"],
        meeting_id=doc["_id"],
        region=doc["region"],
        held_at=doc["start"],
        attendees=len(present),
        attendance=dict(sorted(by.items())),
        quorum_met=q["met"],
        decisions=decisions,
        action_items=len(action_items),
    )
