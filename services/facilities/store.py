"""How facilities aggregates map onto documents of the service's own database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import orjson

from clustergrowth.store.port import Doc, DocumentStore
from services.facilities.domain.model import (
    Booking,
    BookingPolicy,
    OpeningHours,
    Resource,
    ResourceDay,
    Site,
    WaitEntry,
    day_of,
    iso,
    parse_iso,
)

SITES = "sites"
RESOURCES = "resources"
SCHEDULES = "schedules"  # one ResourceDay per document
TRAININGS = "trainings"
USAGE = "usage"  # projection fed by facilities.events
COUNCIL_MEMBERS = "council_members"  # projection fed by councils.events: a person's memberships
NO_SHOWS = "no_shows"  # projection fed by facilities.events (BookingReleased): per site and person
SERIES = "series"  # recurring bookings: one document per series (services/facilities/series)
OUTBOX_COLLECTIONS = (SITES, RESOURCES, SCHEDULES, SERIES)


async def ensure_indexes(store: DocumentStore) -> None:
    await store.ensure_index(RESOURCES, ["site_id"])
    # a resource's days are found by the (resource_id, day, _id) index below (its first field); the index on
    # resource_id alone, which stores made before kept, was one more for every booking's write to update
    await store.drop_index(SCHEDULES, ["resource_id"])
    await store.ensure_index(SCHEDULES, ["day"])
    # the sort keys of the list routes' pages
    await store.ensure_index(SITES, ["name", "_id"])
    await store.ensure_index(RESOURCES, ["site_id", "name", "_id"])
    await store.ensure_index(SCHEDULES, ["resource_id", "day", "_id"])
    await store.ensure_index(USAGE, ["site_id", "day", "resource_id", "_id"])
    await store.ensure_index(TRAININGS, ["person"])
    await store.ensure_index(SERIES, ["person"])
    await store.ensure_index(SERIES, ["resource_id"])
    await store.ensure_index(SCHEDULES, ["next_due"])  # the waitlist sweeper's query
    await store.ensure_index(NO_SHOWS, ["site_id", "person", "_id"])
    for c in OUTBOX_COLLECTIONS:
        await store.ensure_index(c, ["outbox_pending"])


def site_to_doc(s: Site) -> Doc:
    return {
        "_id": s.id,
        "name": s.name,
        "kind": s.kind,
        "region": s.region,
        "city": s.city,
        "address": s.address,
        "timezone": s.timezone,
        "opening_hours": s.opening_hours.to_doc(),
        "organisation": s.organisation,
    }


def site_from_doc(d: Doc) -> Site:
    return Site(
        id=d["_id"],
        name=d["name"],
        kind=d["kind"],
        region=d["region"],
        city=d["city"],
        address=d["address"],
        timezone=d["timezone"],
        opening_hours=OpeningHours.from_doc(d["opening_hours"]),
        organisation=d.get("organisation"),
    )


def resource_to_doc(r: Resource) -> Doc:
    return {
        "_id": r.id,
        "site_id": r.site_id,
        "name": r.name,
        "kind": r.kind,
        "capacity": r.capacity,
        "policy": r.policy.to_doc(),
        "region": r.region,
        "timezone": r.timezone,
        "opening_hours": r.opening_hours.to_doc(),
        "organisation": r.organisation,
    }


RESOURCES_KEPT = 1024
_TEXT_ONLY = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS  # those raise: not taken for text
_resources: dict[bytes, Resource] = {}


def resource_from_doc(d: Doc) -> Resource:
    """The Resource a stored one is, kept by the document's JSON text (orjson's, about a microsecond): every
    booking reads its resource, and its policy and opening hours were parsed each time (ten times that).
    Resources are frozen and the one read from equal text is equal; at most ``RESOURCES_KEPT`` are kept
    (all let go when that many are). A value JSON has no type for (a datetime, a store's own type) is read
    without keeping."""
    try:
        key = orjson.dumps(d, option=_TEXT_ONLY)
    except TypeError:
        return _resource_from_doc(d)
    r = _resources.get(key)
    if r is None:
        if len(_resources) >= RESOURCES_KEPT:
            _resources.clear()
        r = _resources[key] = _resource_from_doc(d)
    return r


def _resource_from_doc(d: Doc) -> Resource:
    return Resource(
        id=d["_id"],
        site_id=d["site_id"],
        name=d["name"],
        kind=d["kind"],
        capacity=d["capacity"],
        policy=BookingPolicy.from_doc(d["policy"]),
        region=d["region"],
        timezone=d["timezone"],
        opening_hours=OpeningHours.from_doc(d["opening_hours"]),
        organisation=d.get("organisation"),
    )


def booking_to_doc(b: Booking) -> dict[str, Any]:
    doc = {
        "id": b.id,
        "resource_id": b.resource_id,
        "site_id": b.site_id,
        "resource_kind": b.resource_kind,
        "person": b.person,
        "organisation": b.organisation,
        "person_region": b.person_region,
        "region": b.region,
        "start": iso(b.start),
        "end": iso(b.end),
        "status": b.status,
        "created_at": iso(b.created_at),
        "sequence": b.sequence,
        "changed_by": b.changed_by,
    }
    if b.cause is not None:  # only on the few the platform withdrew; older documents have no such field
        doc["cause"] = b.cause
    if b.check_in_by is not None:  # only where the resource asks for check-in
        doc["check_in_by"] = iso(b.check_in_by)
        doc["checked_in_at"] = None if b.checked_in_at is None else iso(b.checked_in_at)
    return doc


_new = object.__new__


READ_KEPT = 4096  # stored bookings kept read (about 2 KB each): the busy days' bookings, read again on each booking
_read: dict[tuple[tuple[str, Any], ...], Booking] = {}


def booking_from_doc(d: dict[str, Any]) -> Booking:
    """The Booking a stored one is, kept by its stored fields and values: a day's document is read whole on
    every booking of that day, so each of its bookings was read up to two dozen times, three times parsed
    to datetimes each time. Bookings are frozen, and the one read from equal fields is equal, so one object
    serves every read of them; at most ``READ_KEPT`` are kept (all let go when that many are). A value
    that cannot be a key (not one a stored booking holds) is read without keeping."""
    try:
        key = tuple(d.items())
        b = _read.get(key)
    except TypeError:
        return _booking_from_doc(d)
    if b is None:
        if len(_read) >= READ_KEPT:
            _read.clear()
        b = _read[key] = _booking_from_doc(d)
    return b


def _booking_from_doc(d: dict[str, Any]) -> Booking:
    """The Booking a stored one is. Made as its frozen dataclass's ``__init__`` makes it (every field, in
    declaration order), with one ``__dict__`` update instead of that ``__init__``'s 17 ``object.__setattr__``
    calls: a day's schedule is read whole on every booking of that day (up to ~two dozen bookings), and
    this took 2.4x as long. ``tests/unit/test_facilities_store_docs.py`` holds it to the constructor."""
    b = _new(Booking)
    b.__dict__.update(
        id=d["id"],
        resource_id=d["resource_id"],
        site_id=d["site_id"],
        resource_kind=d["resource_kind"],
        person=d["person"],
        organisation=d.get("organisation"),
        person_region=d["person_region"],
        region=d["region"],
        start=parse_iso(d["start"]),
        end=parse_iso(d["end"]),
        status=d["status"],
        created_at=parse_iso(d["created_at"]),
        sequence=d.get("sequence", 0),
        changed_by=d.get("changed_by"),
        cause=d.get("cause"),
        check_in_by=_instant(d.get("check_in_by")),
        checked_in_at=_instant(d.get("checked_in_at")),
    )
    return b


def _instant(s: str | None) -> datetime | None:
    return None if s is None else parse_iso(s)


def _stamp(dt: datetime | None) -> str | None:
    return None if dt is None else iso(dt)


ENTRY_TIMES = ("offer_start", "offer_end", "offered_at", "expires_at", "changed_at")


def entry_to_doc(e: WaitEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "resource_id": e.resource_id,
        "person": e.person,
        "person_region": e.person_region,
        "organisation": e.organisation,
        "start": iso(e.start),
        "end": iso(e.end),
        "joined_at": iso(e.joined_at),
        "status": e.status,
        **{k: _stamp(getattr(e, k)) for k in ENTRY_TIMES},
        "freed_booking": e.freed_booking,
        "booking_id": e.booking_id,
    }


def entry_from_doc(d: dict[str, Any]) -> WaitEntry:
    return WaitEntry(
        id=d["id"],
        resource_id=d["resource_id"],
        person=d["person"],
        person_region=d["person_region"],
        organisation=d.get("organisation"),
        start=parse_iso(d["start"]),
        end=parse_iso(d["end"]),
        joined_at=parse_iso(d["joined_at"]),
        status=d["status"],
        **{k: _instant(d.get(k)) for k in ENTRY_TIMES},
        freed_booking=d.get("freed_booking"),
        booking_id=d.get("booking_id"),
    )


@dataclass
class StoredDay(ResourceDay):
    """A ResourceDay read from its document, keeping each booking's stored form beside it. Bookings are
    frozen: a change makes a new object, so writing the day back re-encodes only the bookings that
    changed and copies the others as they were stored (a day's document holds every booking of it, and
    encoding them all on every booking was a tenth of the booking route's time)."""

    stored: dict[int, tuple[Booking, dict[str, Any]]] = field(default_factory=dict, repr=False, compare=False)


async def day_holding(store: DocumentStore, kind: Literal["bookings", "waitlist"], item: str) -> Doc | None:
    """The stored day that holds the booking (``kind`` "bookings") or waitlist entry ("waitlist") ``item``:
    read by the key its id names (``day_of``); an id made before that (a UUID) is looked for in every
    day, as it was then."""
    key = day_of(item)
    if key is None:
        docs = await store.find(SCHEDULES, {f"{kind}.id": item}, limit=1)
        return docs[0] if docs else None
    doc = await store.get(SCHEDULES, key)
    return doc if doc is not None and any(x.get("id") == item for x in doc.get(kind) or []) else None


DAYS_KEPT = 128  # days whose bookings are kept read: a copy of each one's stored fields (~1.5 KB), and its Booking
DAY_BOOKINGS_KEPT = 4096  # and the bookings those days hold, at most
_days: dict[str, tuple[list[dict[str, Any]], tuple[Booking, ...]]] = {}
_days_held = 0  # bookings in _days


def bookings_from_doc(key: Any, raw: Any) -> list[Booking]:
    """The Bookings a day's stored ones are, for a write of the day. A day's document is read whole on every
    booking of that day and gains one booking each time: the bookings it held when read last (kept by the
    document's id, with copies of their stored fields) are the ones it still starts with when those fields
    are equal, and only the rest are read (``booking_from_doc``). One equality test of the kept fields
    instead of a key made and hashed for each booking: the keys took most of the time of reading a day. At
    most ``DAYS_KEPT`` days and ``DAY_BOOKINGS_KEPT`` bookings are kept (all let go when more would be)."""
    global _days_held
    if not isinstance(key, str) or not isinstance(raw, list):
        return [booking_from_doc(b) for b in raw]
    kept = _days.get(key)
    n = len(kept[0]) if kept is not None else 0
    if kept is None or n > len(raw) or raw[:n] != kept[0]:
        n = 0
    fields, bookings = (kept[0][:n], list(kept[1][:n])) if kept is not None and n else ([], [])
    for b in raw[n:]:
        bookings.append(booking_from_doc(b))
        fields.append(dict(b))  # a copy: whoever holds the document read may change it
    if len(fields) > DAY_BOOKINGS_KEPT:  # one day holding more than may be kept: read, not kept
        dropped = _days.pop(key, None)
        _days_held -= len(dropped[0]) if dropped is not None else 0
        return bookings
    held = _days_held - (len(kept[0]) if kept is not None else 0) + len(fields)
    if (len(_days) >= DAYS_KEPT and kept is None) or held > DAY_BOOKINGS_KEPT:
        _days.clear()
        held = len(fields)
    _days[key] = (fields, tuple(bookings))
    _days_held = held
    return bookings


def schedule_from_doc(d: Doc, *, writing: bool = False) -> ResourceDay:
    """A day's schedule from its document; ``writing`` for the read of a write (``change_schedule``), which
    keeps the day's bookings for the next one (``bookings_from_doc``). Lists and pages of many days read
    each booking through ``booking_from_doc`` alone, and leave the days kept for writes as they are."""
    raw = d.get("bookings", [])
    bookings = bookings_from_doc(d.get("_id"), raw) if writing else [booking_from_doc(b) for b in raw]
    return StoredDay(
        resource_id=d["resource_id"],
        day=date.fromisoformat(d["day"]),
        bookings=bookings,
        waitlist=[entry_from_doc(e) for e in d.get("waitlist", [])],
        stored={id(b): (b, r) for b, r in zip(bookings, raw, strict=True)},
    )


def _bookings_doc(s: ResourceDay) -> list[dict[str, Any]]:
    stored = s.stored if isinstance(s, StoredDay) else {}
    out = []
    for b in s.bookings:
        kept = stored.get(id(b))
        out.append(kept[1] if kept is not None and kept[0] is b else booking_to_doc(b))
    return out


def schedule_to_doc(s: ResourceDay, previous: Doc | None) -> Doc:
    """The new document state, keeping the outbox and version fields of the previous one. ``next_due``
    (present only while something is due: an offer to lapse, a check-in deadline) is what the waitlist
    sweeper queries."""
    base = dict(previous or {})
    base.update(
        {
            "_id": ResourceDay.key(s.resource_id, s.day),
            "resource_id": s.resource_id,
            "day": s.day.isoformat(),
            "bookings": _bookings_doc(s),
        }
    )
    base.pop("waitlist", None)
    if s.waitlist:
        base["waitlist"] = [entry_to_doc(e) for e in s.waitlist]
    due = s.next_due()
    base.pop("next_due", None)
    if due is not None:
        base["next_due"] = iso(due)
    return base
