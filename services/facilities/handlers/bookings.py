"""Bookings: book, read, cancel, approve or reject, and pages of a person's or a resource's bookings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from clustergrowth import aggregate
from clustergrowth.auth import Principal
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Forbidden, NotFound, field_error
from clustergrowth.store.port import Doc
from contracts import facilities as ev
from services.facilities import commands as c
from services.facilities import store as st
from services.facilities.consumers import councils_of
from services.facilities.domain.model import (
    Booker,
    Booking,
    Resource,
    ResourceDay,
    iso,
    parse_iso,
)
from services.facilities.handlers import waitlist_events as we
from services.facilities.handlers.context import MAX_WRITE_ATTEMPTS, Facilities, may_manage
from services.facilities.handlers.sites import get_resource
from services.facilities.handlers.trainings import qualifications


# Bookings ------------------------------------------------------------------------------------------
async def _trainings(f: Facilities, person: str, organisation: str | None, now: datetime) -> dict[str, datetime]:
    """The person's valid trainings that count at a resource of ``organisation``, each with when it
    expires (``trainings.qualifications``)."""
    return await qualifications(f, person, organisation, now)


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
        cause=b.cause,
    )
    return f.event(data, key=b.resource_id, subject=b.id)


def offer_freed(
    f: Facilities, schedule: ResourceDay, resource: Resource, freed: Booking, kept: Booking | None = None
) -> list[CloudEvent]:
    """The slot a booking gave back goes to the first in line (in the same write): its SlotOffered. Every
    path that takes a booking off a schedule (a cancellation, a rejection, a series' cancellation, move
    or compensation) calls this in its guarded write; ``kept`` is a move's new booking of the day."""
    return we.entry_events(f, schedule.offer_freed(resource, freed, f.clock(), f.offers, kept), resource)


T = TypeVar("T")
BUSY = "the resource is too busy right now"


async def change_schedule(
    f: Facilities,
    schedule_id: str,
    change: Callable[[ResourceDay], Awaitable[tuple[T, list[CloudEvent]]]],
    empty: Callable[[], ResourceDay] | None = None,
) -> T:
    """The one guarded write of a ResourceDay: apply a domain change and save the day with its events
    (``empty`` makes the day's schedule when it has none yet; without it a missing day is 404); a lost
    race re-reads and decides again. Every handler that changes a day's bookings or waitlist uses it."""

    async def step(doc: Doc | None) -> tuple[Doc, list[CloudEvent], T]:
        if doc is not None:
            schedule = st.schedule_from_doc(doc, writing=True)
        elif empty is not None:
            schedule = empty()
        else:
            raise NotFound(f"no schedule {schedule_id}")
        result, events = await change(schedule)
        return st.schedule_to_doc(schedule, doc), events, result

    return await aggregate.update(
        f.store, st.SCHEDULES, schedule_id, step, on_saved=f.notify, attempts=MAX_WRITE_ATTEMPTS, busy=BUSY
    )


async def booker_of(f: Facilities, who: Principal, resource: Resource, now: datetime) -> Booker:
    """The caller as the booking rules see her at ``resource``: her token's roles, region and organisation,
    her trainings counting there and, when its policy asks, her councils."""
    trainings: dict[str, datetime] = {}
    if resource.policy.required_training:  # read only when the policy asks (bookings are the hot path)
        trainings = await _trainings(f, who.id, resource.organisation, now)
    councils = frozenset[str]()
    if resource.policy.member_of_councils:
        councils = councils_of(await f.store.get(st.COUNCIL_MEMBERS, who.id))
    return Booker(who.id, who.roles, who.region, who.org, frozenset(trainings), councils, trainings)


async def book(f: Facilities, cmd: c.BookResource, who: Principal) -> Booking:
    """Book a slot; the schedule document's version guard makes concurrent bookings exclusive."""
    resource = await get_resource(f, cmd.resource_id)
    now = f.clock()
    booker = await booker_of(f, who, resource, now)
    day = cmd.start.astimezone(resource.tz).date()

    async def change(schedule: ResourceDay) -> tuple[Booking, list[CloudEvent]]:
        booking = schedule.book(resource, booker, cmd.start, cmd.end, now)
        return booking, [_booked_event(f, booking)] if booking.status == "confirmed" else []

    key = ResourceDay.key(resource.id, day)
    return await change_schedule(f, key, change, empty=lambda: ResourceDay(resource.id, day))


async def _load_booking(f: Facilities, booking_id: str) -> tuple[dict[str, Any], ResourceDay]:
    doc = await st.day_holding(f.store, "bookings", booking_id)
    if doc is None:
        raise NotFound(f"no booking {booking_id}")
    return doc, st.schedule_from_doc(doc)


async def _schedule_of(f: Facilities, booking_id: str) -> str:
    """The id of the ResourceDay that holds a booking (a booking never moves to another day)."""
    doc, _ = await _load_booking(f, booking_id)
    return str(doc["_id"])


async def get_booking(f: Facilities, booking_id: str, who: Principal) -> Booking:
    _, schedule = await _load_booking(f, booking_id)
    b = schedule.find(booking_id)
    if b.person != who.id and not may_manage(who, (await get_resource(f, b.resource_id)).organisation):
        raise NotFound(f"no booking {booking_id}")
    return b


async def cancel(f: Facilities, booking_id: str, who: Principal) -> Booking:
    """The holder or a manager cancels; a confirmed booking's cancellation is published; the slot is
    offered to the first in line."""

    async def change(schedule: ResourceDay) -> tuple[Booking, list[CloudEvent]]:
        target = schedule.find(booking_id)
        resource = await get_resource(f, target.resource_id)
        b = schedule.cancel(booking_id, who.id, may_manage(who, resource.organisation))
        events = [_cancelled_event(f, b, "cancelled")] if target.status == "confirmed" else []
        return b, events + offer_freed(f, schedule, resource, b)

    return await change_schedule(f, await _schedule_of(f, booking_id), change)


async def _holder(f: Facilities, b: Booking, resource: Resource) -> Booker:
    """What this service knows of a booking's holder without their token: the region kept on the booking,
    their trainings valid now and their councils now (roles only a token carries: none)."""
    trainings = await _trainings(f, b.person, resource.organisation, f.clock())
    councils = frozenset[str]()
    if resource.policy.member_of_councils:
        councils = councils_of(await f.store.get(st.COUNCIL_MEMBERS, b.person))
    return Booker(b.person, frozenset(), b.person_region, b.organisation, frozenset(trainings), councils, trainings)


async def decide(f: Facilities, booking_id: str, who: Principal, approve: bool) -> Booking:
    """A manager approves or rejects a booking that waits for approval; an approval re-checks that the
    holder still meets the resource's policy (409 naming the rule; the request stays pending)."""
    who.require("facility_manager", "region_admin")

    async def change(schedule: ResourceDay) -> tuple[Booking, list[CloudEvent]]:
        resource = await get_resource(f, schedule.resource_id)
        if not may_manage(who, resource.organisation):
            raise NotFound(f"no booking {booking_id}")
        if not approve:
            b = schedule.decide(booking_id, who.id, approve=False)
            return b, [_cancelled_event(f, b, "rejected"), *offer_freed(f, schedule, resource, b)]
        b = schedule.approve(booking_id, who.id, resource, await _holder(f, schedule.find(booking_id), resource))
        return b, [_booked_event(f, b)]

    return await change_schedule(f, await _schedule_of(f, booking_id), change)


WITHDRAWN_BY = "service:facilities"  # who the platform's own withdrawals are recorded as (changed_by)


async def end_membership(f: Facilities, person: str, council_id: str) -> list[Booking]:
    """After ``MemberLeft``: withdraw the person's bookings starting from now on at resources whose policy
    asks for that council and for none she still belongs to (``ResourceDay.end_membership``). Each day
    is one guarded write with its events: a withdrawn confirmed booking is published ``cancelled`` (its
    usage is given back), a withdrawn request ``rejected`` (it never counted), both with
    ``cause=membership_ended``. Decided from the current state, so running it again withdraws nothing."""
    now = f.clock()
    councils = councils_of(await f.store.get(st.COUNCIL_MEMBERS, person))
    since = (now.astimezone(UTC).date() - timedelta(days=1)).isoformat()  # a day's document is its local date
    docs = await f.store.find(st.SCHEDULES, {"bookings.person": person, "day": {"$gte": since}}, sort=[("day", 1)])

    async def withdraw(key: str, resource: Resource) -> list[Booking]:
        async def change(schedule: ResourceDay) -> tuple[list[Booking], list[CloudEvent]]:
            changed = schedule.end_membership(person, council_id, councils, resource, now, WITHDRAWN_BY)
            events = [_cancelled_event(f, b, "cancelled" if was == "confirmed" else "rejected") for was, b in changed]
            for _, b in changed:
                events += offer_freed(f, schedule, resource, b)
            return [b for _, b in changed], events

        return await change_schedule(f, key, change)

    resources: dict[str, Resource] = {}
    withdrawn: list[Booking] = []
    for doc in docs:
        rid = doc["resource_id"]
        if rid not in resources:
            resources[rid] = await get_resource(f, rid)
        if st.schedule_from_doc(doc).end_membership(person, council_id, councils, resources[rid], now, WITHDRAWN_BY):
            withdrawn += await withdraw(str(doc["_id"]), resources[rid])  # else nothing of hers here: no write
    return withdrawn


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
    if not may_manage(who, resource.organisation):
        raise Forbidden("only the resource's managers see its bookings; use availability instead")
    return await bookings_page(f, {"resource_id": resource_id}, lambda b: True, page)
