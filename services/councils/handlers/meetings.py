"""Meetings: schedule, reschedule, cancel; registration with its waitlist; check-in; draft minutes; closing.
Each step loads the meeting, asks the domain (``domain/meeting.py``) and saves the new state with its
events in one guarded write; the council is read for who may act and for its quorum rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clustergrowth import aggregate, etags
from clustergrowth.auth import Principal
from clustergrowth.context import stamp
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Forbidden, NotFound, field_error
from clustergrowth.store.port import Doc
from services.councils import commands as c
from services.councils import store as st
from services.councils.domain import council as cn
from services.councils.domain import meeting as mt
from services.councils.handlers.context import Councils
from services.councils.handlers.councils import _id, get_council


def _tagged(doc: Doc) -> Doc:
    """What a meeting's ETag is a digest of: the meeting without its registrations, which members change
    on their own (a registration is not a change the secretary's update could overwrite: it is kept, and a
    change of seats is checked against the registrations as they are when written)."""
    return {k: v for k, v in doc.items() if k != "registrations"}


def tag(doc: Doc) -> str:
    """The meeting's ETag (``etags.tag`` of ``_tagged``)."""
    return etags.tag(_tagged(doc))


async def get_meeting(f: Councils, cid: str, mid: str) -> Doc:
    """A meeting of the council (its times and place are public)."""
    doc = await f.store.get(st.MEETINGS, mid)
    if doc is None or doc["council_id"] != cid:
        raise NotFound(f"no meeting {mid} of council {cid}")
    return doc


async def list_meetings(f: Councils, cid: str, page: PageRequest, status: str | None) -> list[Doc]:
    await get_council(f, cid)
    q: Doc = {"council_id": cid, **({"status": status} if status else {})}
    return await page.query(f.store, st.MEETINGS, q, [("start", 1)])


def view(who: Principal, council: Doc, doc: Doc, region: str) -> Doc:
    """A meeting as the caller may see it: its minutes and private part only for the council's members and
    managers (anyone sees that it was held, its attendee count, quorum and the decisions' ids)."""
    regs = mt.standing(doc, cn.active_since(council))
    out = {
        **doc,
        "seats_taken": sum(1 for r in regs if r["status"] == "registered"),
        "waitlisted": sum(1 for r in regs if r["status"] == "waitlisted"),
        "minutes": None,
        "private": None,
    }
    if cn.sees_private(who, council, region):
        present = {a["person"] for a in doc["attendance"]}
        out["minutes"] = doc.get("minutes")
        out["private"] = {**doc, "registrations": regs, "quorum_now": cn.quorum(council, present)}
    return out


async def schedule(f: Councils, cid: str, cmd: c.ScheduleMeeting, who: Principal) -> tuple[Doc, str]:
    """The new meeting as the caller may see it, and its ETag (of the stored meeting, not of the view)."""
    council = await get_council(f, cid)
    cn.require_manager(who, council, f.region)
    fields = {**cmd.model_dump(mode="json"), "start": stamp(cmd.start), "end": stamp(cmd.end)}
    doc, scheduled = mt.schedule(_id("mtg"), council, fields, f.now())
    await aggregate.save(
        f.store, st.MEETINGS, doc, f.events([scheduled], doc["_id"]), expected_version=None, on_saved=f.notify
    )
    return view(who, council, doc, f.region), tag(doc)


async def reschedule(
    f: Councils, cid: str, mid: str, cmd: c.UpdateMeeting, who: Principal, if_match: str | None
) -> tuple[Doc, str]:
    """A new version of the meeting (SEQUENCE + 1), guarded by the ETag the secretary read; returns it as the
    caller may see it, with its new ETag. ``place: null`` clears the place; another field sent as null is
    left as it is."""
    council = await get_council(f, cid)
    cn.require_manager(who, council, f.region)
    sent = cmd.model_dump(mode="json", exclude_unset=True)
    fields = {k: v for k, v in sent.items() if v is not None or k == "place"}
    for k in ("start", "end"):
        when = getattr(cmd, k)
        if when is not None:
            fields[k] = stamp(when)

    def step(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        etags.check(if_match, _tagged(doc))
        new, scheduled = mt.reschedule(doc, fields, cn.active_since(council), f.now())
        return new, [scheduled], new

    new: Doc = await _change(f, cid, mid, step)
    return view(who, council, new, f.region), tag(new)


Step = Callable[[Doc], tuple[Doc, list[Any], Any]]


async def _change(f: Councils, cid: str, mid: str, step: Step) -> Any:
    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Any]:
        if doc is None or doc["council_id"] != cid:
            raise NotFound(f"no meeting {mid} of council {cid}")
        new, data, result = step(doc)
        return new, f.events(data, mid), result

    return await aggregate.update(f.store, st.MEETINGS, mid, change, on_saved=f.notify, busy="the meeting is busy")


async def cancel(f: Councils, cid: str, mid: str, reason: str, who: Principal) -> Doc:
    council = await get_council(f, cid)
    cn.require_manager(who, council, f.region)

    def step(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        new, cancelled = mt.cancel(doc, reason, f.now())
        return new, [cancelled], new

    return view(who, council, await _change(f, cid, mid, step), f.region)


async def register(f: Councils, cid: str, mid: str, who: Principal) -> Doc:
    """The caller, an active member of the council, takes a seat or a place on the waitlist."""
    council = await get_council(f, cid)
    if not cn.is_member(who, council):
        cn.require_private(who, council, f.region, f"registration for meeting {mid}")
        raise Forbidden("only the council's members register for its meetings")

    def step(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        new, reg = mt.register(doc, who.id, cn.active_since(council), f.now())
        return new, [], {"meeting_id": mid, "registration": reg}

    result: Doc = await _change(f, cid, mid, step)
    return result


async def cancel_registration(f: Councils, cid: str, mid: str, who: Principal) -> Doc:
    """Cancel the caller's registration; the head of the waitlist (active members) takes the freed seat."""
    members = cn.active_since(await get_council(f, cid))

    def step(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        new, promoted = mt.cancel_registration(doc, who.id, members, f.now())
        mine = next(r for r in new["registrations"] if r["person"] == who.id)
        return new, [], {"meeting_id": mid, "registration": mine, "promoted": promoted and promoted["person"]}

    result: Doc = await _change(f, cid, mid, step)
    return result


async def registrations(f: Councils, cid: str, mid: str, who: Principal, page: PageRequest) -> list[Doc]:
    council = await get_council(f, cid)
    cn.require_private(who, council, f.region, f"registrations of meeting {mid}")
    doc = await get_meeting(f, cid, mid)
    regs = mt.standing(doc, cn.active_since(council))  # a former member's have lapsed
    in_order = [{**r, "n": n} for n, r in enumerate(regs)]  # the order people asked in
    return page.of(in_order, lambda r: (r["n"],))


async def check_in(f: Councils, cid: str, mid: str, person: str, who: Principal) -> Doc:
    council = await get_council(f, cid)
    cn.require_manager(who, council, f.region)
    member = cn.membership_of(council, person)
    if member is None:
        raise field_error("person", "is not an active member of the council")

    def step(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        new = mt.check_in(doc, member, f.now())
        return new, [], new

    return view(who, council, await _change(f, cid, mid, step), f.region)


async def draft_minutes(f: Councils, cid: str, mid: str, text: str, who: Principal) -> Doc:
    council = await get_council(f, cid)
    cn.require_manager(who, council, f.region)

    def step(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        mt.require_scheduled(doc)
        new = {**doc, "draft_minutes": text}
        return new, [], new

    return view(who, council, await _change(f, cid, mid, step), f.region)


async def close(f: Councils, cid: str, mid: str, cmd: c.CloseMeeting, who: Principal) -> Doc:
    """Close with minutes; the decisions named must be this council's."""
    council = await get_council(f, cid)
    cn.require_manager(who, council, f.region)
    if cmd.decisions:
        found = await f.store.find(st.DECISIONS, {"_id": {"$in": cmd.decisions}, "council_id": cid})
        unknown = sorted(set(cmd.decisions) - {d["_id"] for d in found})
        if unknown:
            raise field_error("decisions", f"not decisions of council {cid}: {unknown}")
    items = [i.model_dump(mode="json") for i in cmd.action_items]

    def step(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        new, held = mt.close(doc, council, cmd.minutes, cmd.decisions, items, f.now())
        return new, [held], new

    return view(who, council, await _change(f, cid, mid, step), f.region)


async def council_feed(f: Councils, cid: str) -> tuple[Doc, list[Doc]]:
    council = await get_council(f, cid)
    return council, await f.store.find(st.MEETINGS, {"council_id": cid}, sort=[("start", 1)], limit=1000)


async def my_feed(f: Councils, who: Principal) -> list[Doc]:
    """Meetings of the councils the caller is an active member of (only members register, so these include
    every meeting she registered for while she is one; a former member's registrations have lapsed)."""
    councils = await f.store.find(st.COUNCILS, {"member_ids": who.id})
    ids = [d["_id"] for d in councils]
    of_mine = await f.store.find(st.MEETINGS, {"council_id": {"$in": ids}}, limit=1000) if ids else []
    return sorted(of_mine, key=lambda d: (d["start"], d["_id"]))
