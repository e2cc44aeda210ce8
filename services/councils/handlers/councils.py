"""Councils and membership: form, read, update; invitations, applications, ending a membership; the
composition report; a member's data exported and erased. Each use case loads the council, asks the domain
(``domain/council.py``) and saves the new state with its events in one guarded write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from clustergrowth import aggregate, etags, ids
from clustergrowth.auth import Principal
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import NotFound, field_error
from clustergrowth.store.port import Doc
from services.councils import commands as c
from services.councils import store as st
from services.councils.domain import council as cn
from services.councils.handlers.context import ERASERS, EXPORTERS, Councils


def _id(prefix: str) -> str:
    return f"{prefix}-{ids.uuid4().hex[:12]}"


async def get_council(f: Councils, cid: str) -> Doc:
    doc = await f.store.get(st.COUNCILS, cid)
    if doc is None:
        raise NotFound(f"no council {cid}")
    return doc


async def list_councils(f: Councils, page: PageRequest, region: str | None = None) -> list[Doc]:
    """One page of the councils' public profiles, by city."""
    q: Doc = {"region": region} if region else {}
    return await page.query(f.store, st.COUNCILS, q, [("city", 1)])


async def form(f: Councils, cmd: c.FormCouncil, who: Principal) -> Doc:
    who.require(*cn.REGION_STAFF)
    doc, formed = cn.form(_id("cnl"), cmd.model_dump(mode="json"), f.region, who, f.now())
    await aggregate.save(
        f.store, st.COUNCILS, doc, f.events([formed], doc["_id"]), expected_version=None, on_saved=f.notify
    )
    return doc


async def update_profile(f: Councils, cid: str, cmd: c.UpdateCouncil, who: Principal, if_match: str | None) -> Doc:
    """Change the profile of a council the caller manages, guarded by the ETag she read."""
    fields = cmd.model_dump(mode="json", exclude_unset=True)

    def change(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        cn.require_manager(who, doc, f.region)
        etags.check(if_match, doc)
        new = {**doc, **{k: v for k, v in fields.items() if k != "composition" and v is not None}}
        comp = fields.get("composition")
        if comp:  # what is sent, merged into the stored rules
            stored = doc["composition"]
            merged = {
                "min_constituencies": stored["min_constituencies"],
                "quorum_rule": stored["quorum"]["rule"],
                "quorum_fraction": stored["quorum"].get("exact", stored["quorum"]["fraction"]),
                **comp,
            }
            new["composition"] = cn.composition(
                merged["min_constituencies"], merged["quorum_rule"], merged["quorum_fraction"]
            )
        return new, [], new

    result: Doc = await _change(f, cid, change)
    return result


async def private_council(f: Councils, cid: str, who: Principal, what: str) -> Doc:
    """The council, if the caller is one of its members or manages it; 404 for anyone else."""
    doc = await get_council(f, cid)
    cn.require_private(who, doc, f.region, what)
    return doc


async def composition(f: Councils, cid: str, who: Principal) -> Doc:
    """Counts only: for the council's members and managers, and for analysts."""
    doc = await get_council(f, cid)
    if not who.has("analyst"):
        cn.require_private(who, doc, f.region, f"composition of council {cid}")
    return cn.composition_report(doc)


def member_view(who: Principal, council: Doc, m: Doc, region: str) -> Doc:
    """A membership as the caller may see it: the e-mail only for managers and the member herself."""
    shown = m["person"] == who.id or cn.manages(who, council, region)
    return {**m, "email": m.get("email") if shown else None}


async def members(f: Councils, cid: str, who: Principal, page: PageRequest) -> list[Doc]:
    doc = await private_council(f, cid, who, f"members of council {cid}")
    active = cn.active_members(doc)
    return [member_view(who, doc, m, f.region) for m in page.of(active, lambda m: (m["designated_on"], m["id"]))]


Change = Callable[[Doc], tuple[Doc, Sequence[Any], Any]]


async def _change(f: Councils, cid: str, change: Change) -> Any:
    """Read → change → guarded write of one council, retried on a lost race; events keyed by the council.
    A change that answers its new state answers it as stored (its ETag is ``etags.tag`` of it)."""

    async def step(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Any]:
        if doc is None:
            raise NotFound(f"no council {cid}")
        new, data, result = change(doc)
        return new, f.events(data, cid), result

    return await aggregate.update(f.store, st.COUNCILS, cid, step, on_saved=f.notify, busy="the council is busy")


async def invite(f: Councils, cid: str, cmd: c.Invite, who: Principal) -> Doc:
    """The secretary invites a person (by platform id) with her constituency and position."""

    def change(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        cn.require_manager(who, doc, f.region)
        rid, now = _id("req"), f.now()
        new = cn.request(doc, rid, "invitation", cmd.model_dump(mode="json"), who.id, now)
        return new, [], {**cn.request_view(cn.find_request(new, rid), now), "council_id": cid}

    result: Doc = await _change(f, cid, change)
    return result


async def apply(f: Councils, cmd: c.Apply, who: Principal) -> Doc:
    """A person applies to join a council, for her own organisation; a council not known here is a 422
    naming ``council_id`` (it is a field of the body, not the resource addressed)."""
    if await f.store.get(st.COUNCILS, cmd.council_id) is None:
        raise field_error("council_id", "is not a council of this region")

    def change(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        rid, now = _id("req"), f.now()
        fields = {**cmd.model_dump(mode="json"), "person": who.id, "organisation": who.org, "position": "member"}
        new = cn.request(doc, rid, "application", fields, who.id, now)
        return new, [], {**cn.request_view(cn.find_request(new, rid), now), "council_id": doc["_id"]}

    result: Doc = await _change(f, cmd.council_id, change)
    return result


async def requests(f: Councils, cid: str, who: Principal, page: PageRequest, status: str | None) -> list[Doc]:
    """A council's invitations and applications as they stand now (an invitation past its time is
    ``expired``), newest first, for its managers."""
    doc = await get_council(f, cid)
    if not cn.manages(who, doc, f.region):  # members included: the people asking are not theirs to see
        raise NotFound(f"no requests of council {cid} for you")
    now = f.now()
    found = [v for v in (cn.request_view(r, now) for r in doc["requests"]) if status is None or v["status"] == status]
    return [{**r, "council_id": cid} for r in page.of(found, lambda r: (r["created_at"], r["id"]), newest_first=True)]


async def my_requests(f: Councils, who: Principal, page: PageRequest) -> list[Doc]:
    """The caller's invitations and applications in every council as they stand now, newest first."""
    docs = await f.store.find(st.COUNCILS, {"requests.person": who.id})
    now = f.now()
    mine = [
        {**cn.request_view(r, now), "council_id": d["_id"]}
        for d in docs
        for r in d["requests"]
        if r["person"] == who.id
    ]
    return page.of(mine, lambda r: (r["created_at"], r["id"]), newest_first=True)


async def export_my_requests(f: Councils, who: Principal) -> Doc:
    """Everything held about the caller's invitations and applications, in every council, whether or not
    she ever joined: each request with all its fields, newest first."""
    docs = await f.store.find(st.COUNCILS, {"requests.person": who.id})
    now = f.now()
    mine = [
        {**cn.request_view(r, now), "council_id": d["_id"]}
        for d in docs
        for r in d["requests"]
        if r["person"] == who.id
    ]
    return {
        "person": who.id,
        "requests": sorted(mine, key=lambda r: (r["created_at"], r["id"]), reverse=True),
        "exported_at": now,
    }


async def erase_my_request(f: Councils, rid: str, who: Principal) -> None:
    """Forget the caller's name, e-mail and motivation in one of her own requests (withdrawing it if it is
    still pending); anyone else's request, or none, is not found. Repeating it changes nothing more."""
    docs = await f.store.find(st.COUNCILS, {"requests.id": rid})
    cid = next((d["_id"] for d in docs for r in d["requests"] if r["id"] == rid and r["person"] == who.id), None)
    if cid is None:
        raise NotFound(f"no request {rid} of yours")

    def change(doc: Doc) -> tuple[Doc, list[Any], None]:
        new, _ = cn.erase_request(doc, rid, who.id, f.now())
        return new, [], None

    await _change(f, cid, change)


async def answer(f: Councils, cid: str, rid: str, verb: str, who: Principal, extra: Doc | None = None) -> Doc:
    """Accept or decline an invitation (the invitee), approve or reject an application (a manager)."""

    def change(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        mid, now = _id("mem"), f.now()
        new, events, req = cn.answer(doc, rid, who, f.region, verb, now, mid=mid, extra=extra)
        joined = mid if events else None
        return new, events, {**cn.request_view(req, now), "council_id": cid, "member_id": joined}

    result: Doc = await _change(f, cid, change)
    return result


async def withdraw(f: Councils, cid: str, rid: str, who: Principal) -> Doc:
    """A manager withdraws a pending invitation."""

    def change(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        now = f.now()
        new, req = cn.withdraw(doc, rid, who, f.region, now)
        return new, [], {**cn.request_view(req, now), "council_id": cid}

    result: Doc = await _change(f, cid, change)
    return result


async def end_membership(f: Councils, cid: str, mid: str, reason: str, who: Principal) -> Doc:
    def change(doc: Doc) -> tuple[Doc, list[Any], Doc]:
        new, left = cn.end_by(who, doc, mid, reason, f.region, f.now())
        return new, [left], member_view(who, new, cn.find_member(new, mid), f.region)

    result: Doc = await _change(f, cid, change)
    return result


async def _own_or_staff(f: Councils, cid: str, mid: str, who: Principal, staff: tuple[str, ...]) -> tuple[Doc, Doc]:
    """The council and the membership, if it is the caller's own or the caller is region staff with one of
    ``staff``; 404 for anyone else (even other members of the council)."""
    doc = await get_council(f, cid)
    m = next((x for x in doc["members"] if x["id"] == mid), None)
    mine = m is not None and m["person"] == who.id
    region_staff = who.has(*staff) and doc["region"] == f.region
    if m is None or not (mine or region_staff):
        raise NotFound(f"no member {mid}")
    return doc, m


async def export(f: Councils, cid: str, mid: str, who: Principal) -> Doc:
    """Everything held about the member in this council: membership, requests, registrations, attendance,
    action items she owns, votes, initiatives proposed."""
    doc, m = await _own_or_staff(f, cid, mid, who, EXPORTERS)
    person = m["person"]
    meetings = await f.store.find(st.MEETINGS, {"council_id": cid})
    decisions = await f.store.find(st.DECISIONS, {"council_id": cid})
    initiatives = await f.store.find(st.INITIATIVES, {"council_id": cid, "proposed_by": person})
    now = f.now()
    return {
        "council_id": cid,
        "membership": m,
        "requests": [cn.request_view(r, now) for r in doc["requests"] if r["person"] == person],
        "registrations": [
            {"meeting_id": d["_id"], **r} for d in meetings for r in d["registrations"] if r["person"] == person
        ],
        "attendance": [
            {"meeting_id": d["_id"], **a} for d in meetings for a in d["attendance"] if a["person"] == person
        ],
        "action_items": [
            {"meeting_id": d["_id"], **a} for d in meetings for a in d.get("action_items", []) if a["owner"] == person
        ],
        "votes": [{"decision_id": d["_id"], **v} for d in decisions for v in d["votes"] if v["person"] == person],
        "initiatives_proposed": [i["_id"] for i in initiatives],
        "exported_at": now,
    }


async def erase(f: Councils, cid: str, mid: str, who: Principal) -> None:
    """Forget the member's personal data in this council (its membership ends: ``MemberLeft`` with reason
    ``erased``), then the reasons she gave for her votes. Each write is whole; repeating the erasure
    finishes one that was interrupted."""
    _, m = await _own_or_staff(f, cid, mid, who, ERASERS)
    person = m["person"]

    def change(doc: Doc) -> tuple[Doc, list[Any], None]:
        new, events = cn.erase(doc, person, f.now())
        return new, events, None

    await _change(f, cid, change)
    for d in await f.store.find(st.DECISIONS, {"council_id": cid, "votes.person": person}):
        await _forget_reasons(f, d["_id"], person)


async def _forget_reasons(f: Councils, did: str, person: str) -> None:
    async def step(doc: Doc | None) -> tuple[Doc, list[CloudEvent], None]:
        assert doc is not None
        votes = [{**v, "reason": None} if v["person"] == person else v for v in doc["votes"]]
        return {**doc, "votes": votes}, [], None

    await aggregate.update(f.store, st.DECISIONS, did, step, busy="the decision is busy")
