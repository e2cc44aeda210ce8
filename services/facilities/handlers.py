"""One async function per use case: load aggregates, apply domain rules, save state with its events."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from clustergrowth import aggregate
from clustergrowth.auth import Principal
from clustergrowth.context import Context
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Forbidden, NotFound, Unprocessable, field_error
from clustergrowth.store.port import Doc, put
from contracts import facilities as ev
from services.facilities import commands as c
from services.facilities import store as st
from services.facilities.domain.model import (
    Booker,
    Booking,
    BookingPolicy,
    OpeningHours,
    Resource,
    ResourceDay,
    Site,
    iso,
    parse_iso,
    validate_timezone,
)

MAX_WRITE_ATTEMPTS = 50
MAX_WINDOW = timedelta(days=31)
MANAGERS = ("facility_manager", "region_admin")


@dataclass
class Facilities(Context):
    """The facilities service's handler context."""

    service: str = "facilities"


# Sites and resources -------------------------------------------------------------------------------
async def create_site(f: Facilities, cmd: c.CreateSite, who: Principal, site_id: str | None = None) -> Site:
    who.require(*MANAGERS)
    validate_timezone(cmd.timezone)
    site = Site(
        id=site_id or f"site-{uuid.uuid4().hex[:12]}",
        name=cmd.name,
        kind=cmd.kind,
        region=f.region,
        city=cmd.city,
        address=cmd.address,
        timezone=cmd.timezone,
        opening_hours=OpeningHours({d: [(w.open, w.close) for w in ws] for d, ws in cmd.opening_hours.items()}),
        organisation=_site_organisation(cmd, who),
    )
    await aggregate.save(f.store, st.SITES, st.site_to_doc(site), [], expected_version=None)
    return site


async def get_site(f: Facilities, site_id: str) -> Site:
    d = await f.store.get(st.SITES, site_id)
    if d is None:
        raise NotFound(f"no site {site_id}")
    return st.site_from_doc(d)


async def list_sites(f: Facilities, page: PageRequest) -> list[Site]:
    """One page of the region's sites by name (the store seeks to the cursor)."""
    return [st.site_from_doc(d) for d in await page.query(f.store, st.SITES, {}, [("name", 1)])]


def _site_organisation(cmd: c.CreateSite, who: Principal) -> str | None:
    """A site belongs to the manager's own organisation; only the region's staff may name another one."""
    if cmd.organisation is None or cmd.organisation == who.org:
        return who.org
    if not who.has("region_admin"):
        raise Forbidden(
            "a facility manager registers sites of their own organisation only",
            errors=[{"field": "organisation", "reason": f"is not your organisation ({who.org})"}],
        )
    return cmd.organisation


def _may_manage(who: Principal, organisation: str | None) -> bool:
    """The region's staff manage every resource; a facility manager only their organisation's."""
    if who.has("region_admin"):
        return True
    return who.has("facility_manager") and who.org is not None and organisation == who.org


async def list_resource(f: Facilities, cmd: c.ListResource, who: Principal, resource_id: str | None = None) -> Resource:
    who.require(*MANAGERS)
    site_doc = await f.store.get(st.SITES, cmd.site_id)
    if site_doc is None:
        raise field_error("site_id", f"no site {cmd.site_id}")
    site = st.site_from_doc(site_doc)
    if not _may_manage(who, site.organisation):
        raise Forbidden(f"only managers of {site.organisation} may list resources at this site")
    p = cmd.policy
    resource = Resource(
        id=resource_id or f"res-{uuid.uuid4().hex[:12]}",
        site_id=site.id,
        name=cmd.name,
        kind=cmd.kind,
        capacity=cmd.capacity,
        policy=BookingPolicy(
            max_duration_minutes=p.max_duration_minutes,
            max_days_ahead=p.max_days_ahead,
            eligible_regions=tuple(p.eligible_regions),
            eligible_roles=tuple(p.eligible_roles),
            requires_approval=p.requires_approval,
            required_training=p.required_training,
        ),
        region=site.region,
        timezone=site.timezone,
        opening_hours=site.opening_hours,
        organisation=site.organisation,
    )
    event = f.event(
        ev.ResourceListed(
            resource_id=resource.id,
            site_id=site.id,
            resource_name=resource.name,
            kind=resource.kind,
            capacity=resource.capacity,
            region=resource.region,
            timezone=resource.timezone,
        ),
        key=resource.id,
        subject=resource.id,
    )
    await aggregate.save(
        f.store, st.RESOURCES, st.resource_to_doc(resource), [event], expected_version=None, on_saved=f.notify
    )
    return resource


async def get_resource(f: Facilities, resource_id: str) -> Resource:
    d = await f.store.get(st.RESOURCES, resource_id)
    if d is None:
        raise NotFound(f"no resource {resource_id}")
    return st.resource_from_doc(d)


async def list_resources(
    f: Facilities,
    kind: str | None,
    site_id: str | None,
    page: PageRequest | None = None,
    sort: list[tuple[str, int]] | None = None,
) -> list[Resource]:
    """The resources (of a kind, at a site), by site and name unless ``sort`` says otherwise; with
    ``page``, one page of them (the store seeks to the cursor), else all of them."""
    q: dict[str, Any] = {}
    if kind:
        q["kind"] = kind
    if site_id:
        q["site_id"] = site_id
    sort = sort or [("site_id", 1), ("name", 1)]
    if page is not None:
        docs = await page.query(f.store, st.RESOURCES, q, sort)
    else:
        docs = await f.store.find(st.RESOURCES, q, sort=sort)
    return [st.resource_from_doc(d) for d in docs]


# Bookings ------------------------------------------------------------------------------------------
async def _trainings(f: Facilities, person: str, organisation: str | None, now: datetime) -> frozenset[str]:
    """The person's valid trainings that count at a resource of ``organisation``: those its own managers
    granted, and those the region's staff granted (region-wide); never another organisation's."""
    docs = await f.store.find(st.TRAININGS, {"person": person})
    return frozenset(
        d["training"] for d in docs if d["valid_until"] > iso(now) and d.get("organisation") in (None, organisation)
    )


def _booked_event(f: Facilities, b: Booking) -> CloudEvent:
    cls = ev.DeskBooked if b.resource_kind == "hot_desk" else ev.FacilityBooked
    data = cls(
        booking_id=b.id,
        resource_id=b.resource_id,
        site_id=b.site_id,
        resource_kind=b.resource_kind,
        person=b.person,
        organisation=b.organisation,
        person_region=b.person_region,
        region=b.region,
        start=iso(b.start),
        end=iso(b.end),
    )
    return f.event(data, key=b.resource_id, subject=b.id)


def _cancelled_event(f: Facilities, b: Booking, reason: str) -> CloudEvent:
    data = ev.BookingCancelled(
        booking_id=b.id,
        resource_id=b.resource_id,
        site_id=b.site_id,
        person=b.person,
        region=b.region,
        start=iso(b.start),
        end=iso(b.end),
        cancelled_by=b.changed_by or b.person,
        reason=reason,  # type: ignore[arg-type]
    )
    return f.event(data, key=b.resource_id, subject=b.id)


Change = Callable[[ResourceDay], Awaitable[tuple[Booking, list[CloudEvent]]]]


async def _change_schedule(
    f: Facilities, schedule_id: str, change: Change, empty: Callable[[], ResourceDay] | None = None
) -> Booking:
    """Apply a domain change to one ResourceDay and save it with its events (``empty`` makes the day's
    schedule when it has none yet); a lost race re-reads and decides again."""

    async def step(doc: dict[str, Any] | None) -> tuple[dict[str, Any], list[CloudEvent], Booking]:
        if doc is None and empty is None:
            raise NotFound(f"no schedule {schedule_id}")
        schedule = st.schedule_from_doc(doc) if doc else empty()  # type: ignore[misc]
        booking, events = await change(schedule)
        return st.schedule_to_doc(schedule, doc), events, booking

    return await aggregate.update(
        f.store,
        st.SCHEDULES,
        schedule_id,
        step,
        on_saved=f.notify,
        attempts=MAX_WRITE_ATTEMPTS,
        busy="the resource is too busy right now",
    )


async def book(f: Facilities, cmd: c.BookResource, who: Principal) -> Booking:
    """Book a slot; the schedule document's version guard makes concurrent bookings exclusive."""
    resource = await get_resource(f, cmd.resource_id)
    now = f.clock()
    booker = Booker(who.id, who.roles, who.region, who.org, await _trainings(f, who.id, resource.organisation, now))
    day = cmd.start.astimezone(resource.tz).date()

    async def change(schedule: ResourceDay) -> tuple[Booking, list[CloudEvent]]:
        booking = schedule.book(resource, booker, cmd.start, cmd.end, now)
        return booking, [_booked_event(f, booking)] if booking.status == "confirmed" else []

    key = ResourceDay.key(resource.id, day)
    return await _change_schedule(f, key, change, empty=lambda: ResourceDay(resource.id, day))


async def _load_booking(f: Facilities, booking_id: str) -> tuple[dict[str, Any], ResourceDay]:
    docs = await f.store.find(st.SCHEDULES, {"bookings.id": booking_id}, limit=1)
    if not docs:
        raise NotFound(f"no booking {booking_id}")
    return docs[0], st.schedule_from_doc(docs[0])


async def _schedule_of(f: Facilities, booking_id: str) -> str:
    """The id of the ResourceDay that holds a booking (a booking never moves to another day)."""
    doc, _ = await _load_booking(f, booking_id)
    return str(doc["_id"])


async def get_booking(f: Facilities, booking_id: str, who: Principal) -> Booking:
    _, schedule = await _load_booking(f, booking_id)
    b = schedule.find(booking_id)
    if b.person != who.id and not _may_manage(who, (await get_resource(f, b.resource_id)).organisation):
        raise NotFound(f"no booking {booking_id}")
    return b


async def cancel(f: Facilities, booking_id: str, who: Principal) -> Booking:
    """The holder or a manager cancels; a confirmed booking's cancellation is published."""

    async def change(schedule: ResourceDay) -> tuple[Booking, list[CloudEvent]]:
        target = schedule.find(booking_id)
        manage = _may_manage(who, (await get_resource(f, target.resource_id)).organisation)
        b = schedule.cancel(booking_id, who.id, manage)
        return b, [_cancelled_event(f, b, "cancelled")] if target.status == "confirmed" else []

    return await _change_schedule(f, await _schedule_of(f, booking_id), change)


async def decide(f: Facilities, booking_id: str, who: Principal, approve: bool) -> Booking:
    """A manager approves or rejects a booking that waits for approval."""
    who.require("facility_manager", "region_admin")

    async def change(schedule: ResourceDay) -> tuple[Booking, list[CloudEvent]]:
        if not _may_manage(who, (await get_resource(f, schedule.resource_id)).organisation):
            raise NotFound(f"no booking {booking_id}")
        b = schedule.decide(booking_id, who.id, approve)
        return b, [_booked_event(f, b) if approve else _cancelled_event(f, b, "rejected")]

    return await _change_schedule(f, await _schedule_of(f, booking_id), change)


async def my_bookings(f: Facilities, who: Principal) -> list[Booking]:
    docs = await f.store.find(st.SCHEDULES, {"bookings.person": who.id}, sort=[("day", 1)])
    out = [b for d in docs for b in st.schedule_from_doc(d).bookings if b.person == who.id]
    return sorted(out, key=lambda b: b.start)


DAYS_READ = 32  # day documents read per store page while filling a page of bookings


def booking_key(b: Booking) -> tuple[str, str]:
    """Where a booking is in a list of bookings: its start (fixed-width UTC, so text order is time
    order), then its id."""
    return iso(b.start), b.id


async def bookings_page(f: Facilities, days: Doc, keep: Callable[[Booking], bool], page: PageRequest) -> list[Booking]:
    """One page of the bookings (those ``keep`` says) in the day documents matching ``days``, by
    ``booking_key``, read from the store a few days at a time.

    A booking is stored in its resource's document of the day it starts on where the resource is,
    which is within a day of its UTC date. So the reading starts a day before the cursor's start and
    stops once the page (and one more booking, to know that more remain) is before every day not read
    yet: it costs the page and the days it spans, not every booking.
    """
    after: tuple[str, str] | None = None
    seek: list[Any] | None = None
    if page.after is not None:
        try:
            start, booking_id = page.after
            if not isinstance(start, str) or not isinstance(booking_id, str):
                raise TypeError("a booking's key is two strings")
            first_day = parse_iso(start).astimezone(UTC).date() - timedelta(days=1)
        except (TypeError, ValueError) as e:
            raise field_error("cursor", "is not a cursor of this list") from e
        after = (start, booking_id)
        seek = [first_day.isoformat(), ""]  # every day document from that day on (every _id is > "")
    found: list[Booking] = []
    while True:
        docs = await f.store.page(st.SCHEDULES, days, [("day", 1)], seek, DAYS_READ)
        for d in docs:
            found += [
                b for b in st.schedule_from_doc(d).bookings if keep(b) and (after is None or booking_key(b) > after)
            ]
        found = sorted(found, key=booking_key)[: page.limit + 1]
        if len(docs) < DAYS_READ:
            break
        seek = [docs[-1]["day"], docs[-1]["_id"]]
        unread_from = datetime.combine(date.fromisoformat(docs[-1]["day"]), time(), UTC) - timedelta(days=1)
        if len(found) > page.limit and found[-1].start < unread_from:
            break
    return page.cut(found, booking_key)


async def my_bookings_page(f: Facilities, who: Principal, page: PageRequest) -> list[Booking]:
    """One page of my bookings by start (the day documents holding one of them, a few at a time)."""
    return await bookings_page(f, {"bookings.person": who.id}, lambda b: b.person == who.id, page)


async def resource_bookings(f: Facilities, resource_id: str, who: Principal, page: PageRequest) -> list[Booking]:
    """One page of a resource's bookings by start, for its managers (its day documents, a few at a time)."""
    resource = await get_resource(f, resource_id)
    if not _may_manage(who, resource.organisation):
        raise Forbidden("only the resource's managers see its bookings; use availability instead")
    return await bookings_page(f, {"resource_id": resource_id}, lambda b: True, page)


# Availability --------------------------------------------------------------------------------------
def _check_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise Unprocessable("from/to need an offset", [{"field": "from", "reason": "needs a UTC offset"}])
    if end <= start:
        raise field_error("to", "must be after from")
    if end - start > MAX_WINDOW:
        raise field_error("to", f"the window may be at most {MAX_WINDOW.days} days")


async def availability(f: Facilities, resource: Resource, start: datetime, end: datetime) -> dict[str, Any]:
    """Free intervals (opening hours minus bookings at capacity) within [start, end)."""
    _check_window(start, end)
    tz = ZoneInfo(resource.timezone)
    d0, d1 = start.astimezone(tz).date(), end.astimezone(tz).date()
    docs = await f.store.find(
        st.SCHEDULES, {"resource_id": resource.id, "day": {"$gte": d0.isoformat(), "$lte": d1.isoformat()}}
    )
    booked = [b for d in docs for b in st.schedule_from_doc(d).bookings if b.active]
    free: list[dict[str, str]] = []
    day: date = d0
    while day <= d1:
        for a, b in resource.opening_hours.on(day, tz):
            lo, hi = max(a, start), min(b, end)
            if lo >= hi:
                continue
            cuts = sorted({lo, hi, *(x for bk in booked for x in (bk.start, bk.end) if lo < x < hi)})
            for s, e in pairwise(cuts):
                used = sum(1 for bk in booked if bk.overlaps(s, e))
                if used < resource.capacity:
                    if free and free[-1]["end"] == iso(s):
                        free[-1]["end"] = iso(e)
                    else:
                        free.append({"start": iso(s), "end": iso(e)})
        day += timedelta(days=1)
    return {
        "resource_id": resource.id,
        "timezone": resource.timezone,
        "from": iso(start),
        "to": iso(end),
        "free": free,
        "busy": [
            {"start": iso(b.start), "end": iso(b.end)}
            for b in sorted(booked, key=lambda b: b.start)
            if b.overlaps(start, end)
        ],
    }


# Trainings -----------------------------------------------------------------------------------------
async def grant_training(f: Facilities, cmd: c.GrantTraining, who: Principal) -> dict[str, Any]:
    """A manager records a training for their own organisation's resources (the region's staff: for every
    resource of the region); one organisation's grant never unlocks, or overwrites, another's."""
    who.require(*MANAGERS)
    organisation = None if who.has("region_admin") else who.org
    if organisation is None and not who.has("region_admin"):
        raise Forbidden("a facility manager without an organisation cannot grant trainings")
    doc = {
        "_id": f"{organisation or '*'}|{cmd.person}|{cmd.training}",
        "person": cmd.person,
        "training": cmd.training,
        "organisation": organisation,
        "valid_until": iso(cmd.valid_until),
        "granted_by": who.id,
    }
    await put(f.store, st.TRAININGS, doc)
    return {k: v for k, v in doc.items() if k != "_id"}
