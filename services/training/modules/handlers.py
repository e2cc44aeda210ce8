"""Module, enrolment and credential handlers: each step loads the module, asks the domain
(``domain.py``) and saves the new state with its events in one guarded write (``aggregate``).

A credential is kept in the enrolment it was issued for (inside the module's document), so completing
and issuing are one write; its revocation is a bit in the region's status list, one document of its own.
Taking a status index before the completion write may leave an index unused if that write loses: an
unused index is never set, so it revokes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from clustergrowth import aggregate, ids
from clustergrowth.auth import Principal
from clustergrowth.context import Context, stamp
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import EventData
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Conflict, Forbidden, NotFound, ServiceUnavailable
from clustergrowth.store.port import Doc, DocumentStore
from services.training.modules import badges
from services.training.modules import commands as c
from services.training.modules import domain as dm

MODULES = "modules"
CREDENTIAL_STATUS = "credential_status"
OUTBOX_COLLECTIONS = (MODULES,)
STATUS_ID = "revocation"
STAFF = ("region_admin", "council_secretary")  # the region's coordinator of the programme
MAX_SCAN = 1000  # a person's modules, read to list their enrolments


@dataclass
class ModuleDesk:
    """What the modules routes work with: the training service's handler context (store, region, clock,
    relay wake-up) and the region as an issuer of badges."""

    ctx: Context
    issuer: badges.RegionIssuer
    valid_years: int = 5

    @property
    def store(self) -> DocumentStore:
        return self.ctx.store

    @property
    def region(self) -> str:
        return self.ctx.region

    def now(self) -> str:
        return self.ctx.now()

    def events(self, data: Sequence[EventData], key: str) -> list[CloudEvent]:
        return [self.ctx.event(d, key=key) for d in data]


async def ensure_indexes(store: DocumentStore) -> None:
    await store.ensure_index(MODULES, ["region"])
    await store.ensure_index(MODULES, ["starts"])
    await store.ensure_index(MODULES, ["ends"])
    await store.ensure_index(MODULES, ["outbox_pending"])


SUGGESTED = 5  # modules suggested for a plan


def catalogue_query(clock: Callable[[], datetime]) -> Callable[[DocumentStore, list[str]], Awaitable[list[str]]]:
    """The plans' hook: ids of this region's modules that address any of the practices and still run
    (their last session not over), soonest first, at most five."""

    async def modules_for(store: DocumentStore, practices: list[str]) -> list[str]:
        if not practices:
            return []
        q = {"practices": {"$in": list(practices)}, "ends": {"$gt": stamp(clock())}}
        return [d["_id"] for d in await store.find(MODULES, q, sort=[("starts", 1), ("_id", 1)], limit=SUGGESTED)]

    return modules_for


def is_manager(who: Principal, doc: Doc) -> bool:
    """The coordinator of the module's region (a partner's staff coordinate their own region's modules)."""
    return who.has(*STAFF) and who.region == doc["region"]


def require_manager(who: Principal, doc: Doc) -> None:
    if not is_manager(who, doc):
        raise Forbidden(f"only the coordinators of region {doc['region']} manage its modules")


def view(who: Principal, doc: Doc) -> Doc:
    """A module as the catalogue shows it (places taken, waitlist length); its roster only for managers."""
    out = {k: v for k, v in doc.items() if k != "enrolments"}
    out["confirmed"] = dm.holding(doc)
    out["waitlisted"] = len(dm.waitlist(doc))
    out["free"] = max(0, doc["capacity"] - dm.holding(doc))
    out["required_sessions"] = dm.required_sessions(doc)
    return out


def enrolment_view(doc: Doc, e: Doc) -> Doc:
    """An enrolment with its module named; the credential shown by id (read it at /credentials/{id})."""
    queue = [x["id"] for x in dm.waitlist(doc)]
    cred = e.get("credential")
    return {
        **{k: v for k, v in e.items() if k != "credential"},
        "module_id": doc["_id"],
        "module_title": doc["title"],
        "waitlist_position": queue.index(e["id"]) + 1 if e["id"] in queue else None,
        "credential_id": cred["id"] if cred else None,
        "display_name": e.get("display_name"),  # None for enrolments made without one (and before names)
    }


def _fields(cmd: c.CreateModule | c.UpdateModule, *, partial: bool) -> Doc:
    fields = cmd.model_dump(mode="json", exclude_unset=partial)
    if partial:
        fields = {k: v for k, v in fields.items() if v is not None}
    sessions = getattr(cmd, "sessions", None)
    if sessions is not None:
        fields["sessions"] = [
            {**s.model_dump(mode="json"), "start": stamp(s.start), "end": stamp(s.end)} for s in sessions
        ]
        fields["starts"] = min(s["start"] for s in fields["sessions"])
        fields["ends"] = max(s["end"] for s in fields["sessions"])
    return fields


async def create_module(d: ModuleDesk, cmd: c.CreateModule, who: Principal) -> Doc:
    if not who.has(*STAFF) or who.region != d.region:
        raise Forbidden(f"only the coordinators of region {d.region} create its modules")
    doc = dm.create(f"mod-{ids.uuid4().hex[:20]}", d.region, _fields(cmd, partial=False), who.id, d.now())
    await aggregate.save(d.store, MODULES, doc, [], expected_version=None, on_saved=d.ctx.notify)
    return view(who, doc)


async def get_module(d: ModuleDesk, mid: str) -> Doc:
    doc = await d.store.get(MODULES, mid)
    if doc is None:
        raise NotFound(f"no module {mid}")
    return doc


async def list_modules(d: ModuleDesk, page: PageRequest, practice: str | None, language: str | None) -> list[Doc]:
    q: Doc = {"region": d.region}
    if practice:
        q["practices"] = practice
    if language:
        q["language"] = language
    return await page.query(d.store, MODULES, q, [("starts", 1)])


Step = Callable[[Doc], tuple[Doc, Sequence[EventData], Any]]


async def _change(d: ModuleDesk, mid: str, step: Step) -> Any:
    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], Any]:
        if doc is None:
            raise NotFound(f"no module {mid}")
        new, data, result = step(doc)
        return new, d.events(data, mid), result

    return await aggregate.update(d.store, MODULES, mid, change, on_saved=d.ctx.notify, busy="the module is busy")


async def update_module(d: ModuleDesk, mid: str, cmd: c.UpdateModule, who: Principal) -> Doc:
    require_manager(who, await get_module(d, mid))
    fields = _fields(cmd, partial=True)

    def step(doc: Doc) -> tuple[Doc, Sequence[EventData], Doc]:
        new, promoted = dm.update(doc, fields, d.now())
        return new, promoted, new

    return view(who, await _change(d, mid, step))


async def enrol(d: ModuleDesk, mid: str, who: Principal, display_name: str | None = None) -> Doc:
    """The caller takes a place, or a place on the waitlist when the module is full; the name given is
    kept with the enrolment for its roster (never put in an event)."""
    eid = f"enr-{ids.uuid4().hex[:20]}"

    def step(doc: Doc) -> tuple[Doc, Sequence[EventData], Doc]:
        new, e, events = dm.enrol(doc, eid, who.id, who.org, d.now())
        if display_name is not None:
            e["display_name"] = display_name
        return new, events, enrolment_view(new, e)

    result: Doc = await _change(d, mid, step)
    return result


async def roster(d: ModuleDesk, mid: str, who: Principal, page: PageRequest) -> list[Doc]:
    """Enrolments in the order people asked (the waitlist's order), for the module's managers."""
    doc = await get_module(d, mid)
    require_manager(who, doc)
    rows = [{**enrolment_view(doc, e), "n": n} for n, e in enumerate(doc["enrolments"])]
    return page.of(rows, lambda r: (r["n"],))


async def record_attendance(d: ModuleDesk, mid: str, n: int, cmd: c.Attendance, who: Principal) -> Doc:
    """A session's attendance (a manager); never her own: a coordinator enrolled in her module is recorded
    present by another coordinator of the region."""
    require_manager(who, await get_module(d, mid))
    if who.id in cmd.present:
        raise Forbidden("you may not record your own attendance: another coordinator of the region records it")

    def step(doc: Doc) -> tuple[Doc, Sequence[EventData], Doc]:
        new = dm.record_attendance(doc, n, cmd.present, d.now())
        return new, [], new

    doc = await _change(d, mid, step)
    present = sorted(e["person"] for e in doc["enrolments"] if n in e.get("attended", []))
    return {"module_id": mid, "session": n, "present": present}


async def _module_of_enrolment(d: ModuleDesk, eid: str, who: Principal) -> Doc:
    """The module holding enrolment ``eid``, if the caller is its participant or a manager; 404 otherwise."""
    found = await d.store.find(MODULES, {"enrolments.id": eid}, limit=1)
    if not found:
        raise NotFound(f"no enrolment {eid}")
    doc = found[0]
    if dm.find(doc, eid)["person"] != who.id and not is_manager(who, doc):
        raise NotFound(f"no enrolment {eid}")
    return doc


async def my_enrolments(d: ModuleDesk, who: Principal, page: PageRequest) -> list[Doc]:
    docs = await d.store.find(MODULES, {"enrolments.person": who.id}, limit=MAX_SCAN)
    rows = [enrolment_view(doc, e) for doc in docs for e in doc["enrolments"] if e["person"] == who.id]
    return page.of(rows, lambda r: (r["requested_at"], r["id"]), newest_first=True)


async def get_enrolment(d: ModuleDesk, eid: str, who: Principal) -> Doc:
    doc = await _module_of_enrolment(d, eid, who)
    return enrolment_view(doc, dm.find(doc, eid))


async def cancel_enrolment(d: ModuleDesk, eid: str, who: Principal) -> Doc:
    """Cancel an enrolment (the participant, or a manager); the head of the waitlist takes the place."""
    mid = (await _module_of_enrolment(d, eid, who))["_id"]

    def step(doc: Doc) -> tuple[Doc, Sequence[EventData], Doc]:
        new, promoted = dm.cancel(doc, eid, d.now())
        mine = enrolment_view(new, dm.find(new, eid))
        return new, promoted, {**mine, "promoted": [p.enrolment_id for p in promoted]}

    result: Doc = await _change(d, mid, step)
    return result


async def _status(d: ModuleDesk) -> Doc:
    doc = await d.store.get(CREDENTIAL_STATUS, STATUS_ID)
    return doc or {"_id": STATUS_ID, "region": d.region, "next_index": 0, "revoked": []}


async def _take_index(d: ModuleDesk) -> int:
    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], int]:
        doc = doc or await _status(d)
        index = int(doc["next_index"])
        if index >= badges.STATUS_BITS:
            raise ServiceUnavailable("the region's status list is full; a new list is needed")
        return {**doc, "next_index": index + 1}, [], index

    return await aggregate.update(d.store, CREDENTIAL_STATUS, STATUS_ID, change, busy="the status list is busy")


async def complete(d: ModuleDesk, eid: str, who: Principal) -> Doc:
    """Mark an enrolment completed (a manager) and issue its Open Badges 3.0 credential (ModuleCompleted)."""
    doc = await _module_of_enrolment(d, eid, who)
    require_manager(who, doc)
    if dm.find(doc, eid)["person"] == who.id:
        raise Forbidden("you may not complete your own enrolment: another coordinator of the region issues your badge")
    dm.check_completion(doc, eid, d.now())  # refuse early, before an index is taken
    index = await _take_index(d)
    cid = str(ids.uuid4())

    def step(doc: Doc) -> tuple[Doc, Sequence[EventData], Doc]:
        now = d.now()
        e = dm.check_completion(doc, eid, now)
        until = stamp(d.ctx.clock() + timedelta(days=365 * d.valid_years))
        _, token = d.issuer.badge(cid, doc, e, index, now, until)
        cred = {"id": cid, "status_index": index, "jwt": token, "issued_at": now, "valid_until": until}
        new, completed = dm.complete(doc, eid, cred, now)
        return new, [completed], enrolment_view(new, dm.find(new, eid))

    result: Doc = await _change(d, doc["_id"], step)
    return result


async def _credential(d: ModuleDesk, cid: str) -> tuple[Doc, Doc]:
    found = await d.store.find(MODULES, {"enrolments.credential.id": cid}, limit=1)
    for doc in found:
        for e in doc["enrolments"]:
            if (e.get("credential") or {}).get("id") == cid:
                return doc, e
    raise NotFound(f"no credential {cid}")


def credential_view(doc: Doc, e: Doc, revoked: dict[int, Doc]) -> Doc:
    cred = e["credential"]
    payload = jwt.decode(cred["jwt"], options={"verify_signature": False})  # our own, as issued
    gone = revoked.get(cred["status_index"])
    return {
        "id": cred["id"],
        "module_id": doc["_id"],
        "enrolment_id": e["id"],
        "person": e["person"],
        "display_name": e.get("display_name"),
        "issued_at": cred["issued_at"],
        "valid_until": cred["valid_until"],
        "revoked": gone is not None,
        "revoked_at": gone and gone["at"],
        "revocation_reason": gone and gone["reason"],
        "jwt": cred["jwt"],
        "credential": {k: v for k, v in payload.items() if k not in ("iss", "sub", "jti", "nbf", "exp")},
    }


def _revoked(status: Doc) -> dict[int, Doc]:
    return {r["index"]: r for r in status["revoked"]}


async def get_credential(d: ModuleDesk, cid: str, who: Principal) -> Doc:
    """A credential, for its holder and the region's managers; 404 for anyone else."""
    doc, e = await _credential(d, cid)
    if e["person"] != who.id and not is_manager(who, doc):
        raise NotFound(f"no credential {cid}")
    return credential_view(doc, e, _revoked(await _status(d)))


async def my_credentials(d: ModuleDesk, who: Principal, page: PageRequest) -> list[Doc]:
    docs = await d.store.find(MODULES, {"enrolments.person": who.id}, limit=MAX_SCAN)
    revoked = _revoked(await _status(d))
    rows = [
        credential_view(doc, e, revoked)
        for doc in docs
        for e in doc["enrolments"]
        if e["person"] == who.id and e.get("credential")
    ]
    return page.of(rows, lambda r: (r["issued_at"], r["id"]), newest_first=True)


async def revoke(d: ModuleDesk, cid: str, reason: str, who: Principal) -> Doc:
    """Revoke a credential (a manager of its region): its bit is set in the status list."""
    doc, e = await _credential(d, cid)
    if not is_manager(who, doc):
        if e["person"] == who.id:
            raise Forbidden("only the region's coordinators revoke a credential")
        raise NotFound(f"no credential {cid}")
    index = e["credential"]["status_index"]

    async def change(status: Doc | None) -> tuple[Doc, list[CloudEvent], Doc]:
        status = status or await _status(d)
        if any(r["index"] == index for r in status["revoked"]):
            raise Conflict(f"credential {cid} is revoked already")
        entry = {"index": index, "credential_id": cid, "reason": reason, "at": d.now(), "by": who.id}
        return {**status, "revoked": [*status["revoked"], entry]}, [], status

    await aggregate.update(d.store, CREDENTIAL_STATUS, STATUS_ID, change, busy="the status list is busy")
    return credential_view(doc, e, _revoked(await _status(d)))


async def status_list(d: ModuleDesk) -> str:
    status = await _status(d)
    return d.issuer.status_list([r["index"] for r in status["revoked"]], d.now())


async def verify(d: ModuleDesk, token: str) -> Doc:
    status = await _status(d)
    return badges.verify(d.issuer, token, {r["index"] for r in status["revoked"]}, d.ctx.clock())
