"""Placement handlers: applicants, hosts, screening, suggestions from the allocation engine, and the
placement's lifecycle. Each step loads one document, asks the domain (``domain.py``) and saves it with
its events in one guarded write (``aggregate``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from clustergrowth import aggregate, ids
from clustergrowth.auth import Principal
from clustergrowth.context import Context
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import EventData
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Conflict, Forbidden, NotFound, field_error
from clustergrowth.store.port import Doc, DocumentStore
from services.training.placements import commands as c
from services.training.placements import domain as dm
from services.training.placements import matching

APPLICANTS = "mobility_applicants"
HOSTS = "mobility_hosts"
PLACEMENTS = "placements"
OUTBOX_COLLECTIONS = (PLACEMENTS,)
MAX_POOL = 500  # applicants and hosts in one matching run


@dataclass
class PlacementDesk:
    """What the placements routes work with: the training service's handler context."""

    ctx: Context

    @property
    def store(self) -> DocumentStore:
        return self.ctx.store

    def now(self) -> str:
        return self.ctx.now()

    def today(self) -> date:
        return self.ctx.clock().date()

    def events(self, data: Sequence[EventData], key: str) -> list[CloudEvent]:
        return [self.ctx.event(d, key=key) for d in data]


async def ensure_indexes(store: DocumentStore) -> None:
    for collection, field in ((APPLICANTS, "region"), (HOSTS, "status"), (PLACEMENTS, "status")):
        await store.ensure_index(collection, [field])
    await store.ensure_index(PLACEMENTS, ["applicant_id"])
    await store.ensure_index(PLACEMENTS, ["created_at"])
    await store.ensure_index(PLACEMENTS, ["outbox_pending"])


# Applicants --------------------------------------------------------------------------------------------
def applicant_id(who: Principal) -> str:
    return "apl-" + who.id.removeprefix("p-")


async def apply(d: PlacementDesk, cmd: c.ApplyForPlacement, who: Principal) -> Doc:
    """The caller's application (one per person): screened by the intermediary of the caller's region."""
    doc = dm.new_applicant(applicant_id(who), who, cmd.model_dump(mode="json"), d.today(), d.now())
    try:
        await aggregate.save(d.store, APPLICANTS, doc, [], expected_version=None)
    except aggregate.ConcurrentUpdate as e:
        raise Conflict("you have applied already; see /applicants/mine") from e
    return doc


async def _applicant_visible(d: PlacementDesk, doc: Doc, who: Principal) -> bool:
    """Its applicant; the intermediary of its region; once accepted, any intermediary; the host of one
    of its placements."""
    if doc["person"] == who.id or dm.is_intermediary(who, doc["region"]):
        return True
    if doc["status"] == "accepted" and who.has(*dm.STAFF):
        return True
    if who.org is None:
        return False
    return await d.store.count(PLACEMENTS, {"applicant_id": doc["_id"], "host_organisation": who.org}) > 0


async def get_applicant(d: PlacementDesk, aid: str, who: Principal) -> Doc:
    doc = await d.store.get(APPLICANTS, aid)
    if doc is None or not await _applicant_visible(d, doc, who):
        raise NotFound(f"no applicant {aid}")
    return doc


async def my_application(d: PlacementDesk, who: Principal) -> Doc:
    doc = await d.store.get(APPLICANTS, applicant_id(who))
    if doc is None:
        raise NotFound("you have not applied")
    return doc


async def list_applicants(d: PlacementDesk, who: Principal, page: PageRequest, status: str | None) -> list[Doc]:
    """The applicants of the caller's region (its intermediary)."""
    q: Doc = {"region": who.region, **({"status": status} if status else {})}
    return await page.query(d.store, APPLICANTS, q, [("created_at", 1)])


async def _screen(d: PlacementDesk, collection: str, oid: str, cmd: c.Screen, who: Principal) -> Doc:
    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Doc]:
        if doc is None:
            raise NotFound(f"no {collection.removeprefix('mobility_')[:-1]} {oid}")
        new = dm.screen(doc, who, cmd.decision, cmd.note, d.now())
        return new, [], new

    return await aggregate.update(d.store, collection, oid, change)


async def screen_applicant(d: PlacementDesk, aid: str, cmd: c.Screen, who: Principal) -> Doc:
    await get_applicant(d, aid, who)  # 404 for those who may not see it
    return await _screen(d, APPLICANTS, aid, cmd, who)


# Hosts -------------------------------------------------------------------------------------------------
def host_id(organisation: str) -> str:
    return "host-" + hashlib.sha256(organisation.encode()).hexdigest()[:20]


async def register_host(d: PlacementDesk, cmd: c.RegisterHost, who: Principal) -> Doc:
    """The caller's organisation as a host (one entry per organisation), in the organisation's region."""
    if who.org is None:
        raise Forbidden("hosting is offered by an organisation, and your token names none")
    doc = dm.new_host(host_id(who.org), who.org, cmd.model_dump(mode="json"), who.id, d.now())
    try:
        await aggregate.save(d.store, HOSTS, doc, [], expected_version=None)
    except aggregate.ConcurrentUpdate as e:
        raise Conflict("your organisation is registered as a host already") from e
    return doc


def _host_visible(doc: Doc, who: Principal) -> bool:
    """Accepted hosts are the catalogue; the others only for their organisation and their intermediary."""
    return doc["status"] == "accepted" or who.org == doc["organisation"] or dm.is_intermediary(who, doc["region"])


async def get_host(d: PlacementDesk, hid: str, who: Principal) -> Doc:
    doc = await d.store.get(HOSTS, hid)
    if doc is None or not _host_visible(doc, who):
        raise NotFound(f"no host {hid}")
    return doc


async def list_hosts(d: PlacementDesk, who: Principal, page: PageRequest, status: str, region: str | None) -> list[Doc]:
    """Accepted hosts of every region (the catalogue); others only the caller's region's (intermediary) or
    the caller's organisation's."""
    q: Doc = {"status": status, **({"region": region} if region else {})}
    if status != "accepted":
        if who.has(*dm.STAFF):
            q["region"] = who.region
        else:
            q["organisation"] = who.org or "-"
    return await page.query(d.store, HOSTS, q, [("created_at", 1)])


async def screen_host(d: PlacementDesk, hid: str, cmd: c.Screen, who: Principal) -> Doc:
    await get_host(d, hid, who)
    return await _screen(d, HOSTS, hid, cmd, who)


# Placements --------------------------------------------------------------------------------------------
async def _open_count(d: PlacementDesk, field: str, value: str) -> int:
    return await d.store.count(PLACEMENTS, {field: value, "status": {"$in": list(dm.OPEN)}})


async def suggest(d: PlacementDesk, cmd: c.Suggest, who: Principal) -> Doc:
    """The engine's suggestion for the caller's region's accepted applicants without an open placement,
    over accepted hosts of every region with free places. Nothing is written."""
    applicants = await d.store.find(
        APPLICANTS, {"region": who.region, "status": "accepted"}, sort=[("created_at", 1)], limit=MAX_POOL
    )
    busy = {
        p["applicant_id"]
        for p in await d.store.find(
            PLACEMENTS, {"applicant_region": who.region, "status": {"$in": list(dm.OPEN)}}, limit=5 * MAX_POOL
        )
    }
    hosts = await d.store.find(HOSTS, {"status": "accepted"}, sort=[("created_at", 1)], limit=MAX_POOL)
    taken: dict[str, int] = {}
    for p in await d.store.find(PLACEMENTS, {"status": {"$in": list(dm.OPEN)}}, limit=5 * MAX_POOL):
        taken[p["host_id"]] = taken.get(p["host_id"], 0) + 1
    free = {h["_id"]: h["places"] - taken.get(h["_id"], 0) for h in hosts}
    return matching.suggest([a for a in applicants if a["_id"] not in busy], hosts, free, cmd.mode)


async def propose(d: PlacementDesk, cmd: c.Propose, who: Principal) -> Doc:
    applicant = await d.store.get(APPLICANTS, cmd.applicant_id)
    host = await d.store.get(HOSTS, cmd.host_id)
    # a body pointer the caller may not follow is bad input (422 naming it), worded as for an id that does
    # not exist, so that a proposal tells nothing about another region's applicants and hosts
    if applicant is None or not await _applicant_visible(d, applicant, who):
        raise field_error("applicant_id", f"no applicant {cmd.applicant_id} that you may propose")
    if host is None or not _host_visible(host, who):
        raise field_error("host_id", f"no host {cmd.host_id} that you may propose")
    if await _open_count(d, "applicant_id", applicant["_id"]):
        raise Conflict(f"applicant {applicant['_id']} has an open placement already")
    if await _open_count(d, "host_id", host["_id"]) >= host["places"]:
        raise Conflict(f"host {host['_id']} has no free place")
    terms = cmd.model_dump(mode="json", include={"objectives", "activity_plan", "parts"})
    doc, proposed = dm.propose(f"plc-{ids.uuid4().hex[:20]}", applicant, host, terms, who, d.today(), d.now())
    await aggregate.save(
        d.store, PLACEMENTS, doc, d.events([proposed], doc["_id"]), expected_version=None, on_saved=d.ctx.notify
    )
    return view(doc, who, d.today())


def view(doc: Doc, who: Principal, today: date) -> Doc:
    return {**doc, "status": dm.status_on(doc, today), "my_parties": sorted(dm.parties(who, doc))}


async def get_placement(d: PlacementDesk, pid: str, who: Principal) -> Doc:
    doc = await d.store.get(PLACEMENTS, pid)
    if doc is None or not dm.sees(who, doc):
        raise NotFound(f"no placement {pid}")
    return view(doc, who, d.today())


async def list_placements(d: PlacementDesk, who: Principal, page: PageRequest) -> list[Doc]:
    """The placements the caller is a party to (an intermediary: every one touching the region)."""
    mine: list[Doc] = [{"applicant": who.id}]
    if who.org is not None:
        mine.append({"host_organisation": who.org})
    if who.has(*dm.STAFF):
        mine += [{"applicant_region": who.region}, {"host_region": who.region}]
    docs = await page.query(d.store, PLACEMENTS, {"$or": mine}, [("created_at", -1)])
    return [view(x, who, d.today()) for x in docs]


Step = Callable[[Doc], tuple[Doc, Sequence[EventData]]]


async def _change(d: PlacementDesk, pid: str, who: Principal, step: Step) -> Doc:
    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Doc]:
        if doc is None or not dm.sees(who, doc):
            raise NotFound(f"no placement {pid}")
        new, data = step(doc)
        return new, d.events(data, pid), new

    new: Doc = await aggregate.update(
        d.store, PLACEMENTS, pid, change, on_saved=d.ctx.notify, busy="the placement is busy"
    )
    return view(new, who, d.today())


async def revise(d: PlacementDesk, pid: str, cmd: c.Revise, who: Principal) -> Doc:
    terms = cmd.model_dump(mode="json", include={"objectives", "activity_plan", "parts"})
    return await _change(d, pid, who, lambda doc: (dm.revise(doc, cmd.revision, terms, who, d.today(), d.now()), []))


async def accept(d: PlacementDesk, pid: str, cmd: c.AcceptAgreement, who: Principal) -> Doc:
    return await _change(d, pid, who, lambda doc: dm.accept(doc, cmd.party, cmd.revision, who, d.now()))


async def report(d: PlacementDesk, pid: str, cmd: c.Report, who: Principal) -> Doc:
    return await _change(d, pid, who, lambda doc: (dm.report(doc, who, cmd.kind, cmd.text, d.today(), d.now()), []))


async def complete(d: PlacementDesk, pid: str, who: Principal) -> Doc:
    def step(doc: Doc) -> tuple[Doc, Sequence[EventData]]:
        new, done = dm.complete(doc, who, d.today(), d.now())
        return new, [done]

    return await _change(d, pid, who, step)


async def end(d: PlacementDesk, pid: str, reason: str, who: Principal) -> Doc:
    def step(doc: Doc) -> tuple[Doc, Sequence[EventData]]:
        new, ended = dm.end_early(doc, who, reason, d.now())
        return new, [ended]

    return await _change(d, pid, who, step)


async def cross_border(d: PlacementDesk) -> dict[str, Any]:
    """How many placements crossed a border: agreed ones (agreed, completed, ended early), and proposals."""
    agreed: Doc = {"status": {"$in": ["agreed", "completed", "ended_early"]}}
    n = await d.store.count(PLACEMENTS, agreed)
    cross = await d.store.count(PLACEMENTS, {**agreed, "cross_border": True})
    out: dict[str, Any] = {
        "placements": n,
        "cross_border": cross,
        "cross_border_share": round(cross / n, 4) if n else None,
    }
    for status in ("proposed", "agreed", "completed", "ended_early"):
        out[status] = {
            "total": await d.store.count(PLACEMENTS, {"status": status}),
            "cross_border": await d.store.count(PLACEMENTS, {"status": status, "cross_border": True}),
        }
    return out
