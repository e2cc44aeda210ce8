"""The waitlist (join, see one's place, claim an offer, leave), check-in, and the time-driven step that
lapses due offers and releases no-shows. Every change is one guarded write of a ResourceDay with its
events, so an offer, a claim and a direct booking of the same slot are decided by the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta

from clustergrowth import aggregate
from clustergrowth.auth import Principal
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Forbidden, NotFound
from clustergrowth.store.port import Doc
from services.facilities import commands as c
from services.facilities import store as st
from services.facilities.domain.model import Booking, Resource, ResourceDay, WaitEntry, iso
from services.facilities.handlers import waitlist_events as we
from services.facilities.handlers.bookings import (
    BUSY,
    WITHDRAWN_BY,
    _booked_event,
    booker_of,
    change_schedule,
)
from services.facilities.handlers.context import MAX_WRITE_ATTEMPTS, Facilities, may_manage
from services.facilities.handlers.sites import get_resource, get_site

SWEEP_BATCH = 100  # day documents one sweep step handles (the next step takes the rest)


@dataclass(frozen=True)
class Place:
    """A waitlist entry and the person's place in line (None once it no longer waits)."""

    entry: WaitEntry
    position: int | None


async def _load_entry(f: Facilities, entry_id: str) -> tuple[str, ResourceDay]:
    doc = await st.day_holding(f.store, "waitlist", entry_id)
    if doc is None:
        raise NotFound(f"no waitlist entry {entry_id}")
    return str(doc["_id"]), st.schedule_from_doc(doc)


async def join(f: Facilities, cmd: c.JoinWaitlist, who: Principal) -> Place:
    """Join the line for a taken slot, or for any slot freed within a window of one day."""
    resource = await get_resource(f, cmd.resource_id)
    now = f.clock()
    booker = await booker_of(f, who, resource, now)
    day = cmd.start.astimezone(resource.tz).date()

    async def change(schedule: ResourceDay) -> tuple[Place, list[CloudEvent]]:
        entry = schedule.join(resource, booker, cmd.start, cmd.end, now)
        return Place(entry, schedule.position(entry.id)), [we.joined(f, entry, resource)]

    key = ResourceDay.key(resource.id, day)
    return await change_schedule(f, key, change, empty=lambda: ResourceDay(resource.id, day))


async def get_entry(f: Facilities, entry_id: str, who: Principal) -> Place:
    """One's own entry with its place in line (or a manager of the resource); 404 for anyone else."""
    _, schedule = await _load_entry(f, entry_id)
    e = schedule.entry(entry_id)
    if e.person != who.id and not may_manage(who, (await get_resource(f, e.resource_id)).organisation):
        raise NotFound(f"no waitlist entry {entry_id}")
    return Place(e, schedule.position(entry_id))


async def my_entries(f: Facilities, who: Principal, page: PageRequest) -> list[Place]:
    """One page of the caller's entries still in line (waiting or offered), by window start then id."""
    clock = f.clock()
    now = iso(clock)
    since = (clock.astimezone(UTC).date() - timedelta(days=1)).isoformat()  # a day's document is its local date
    docs = await f.store.find(st.SCHEDULES, {"waitlist.person": who.id, "day": {"$gte": since}}, sort=[("day", 1)])
    places = [
        Place(e, s.position(e.id))
        for d in docs
        for s in [st.schedule_from_doc(d)]
        for e in s.waitlist
        if e.person == who.id and e.live and iso(e.end) > now
    ]
    return page.of(places, lambda p: (iso(p.entry.start), p.entry.id))


async def claim(f: Facilities, entry_id: str, who: Principal) -> Booking:
    """Claim one's offer: it becomes a booking of the offered slot in the same guarded write (409 if it
    has lapsed, or the slot has no room: a direct booking and a claim never both win)."""
    key, schedule = await _load_entry(f, entry_id)
    entry = schedule.entry(entry_id)
    if entry.person != who.id:
        raise NotFound(f"no waitlist entry {entry_id}")
    resource = await get_resource(f, entry.resource_id)
    now = f.clock()
    booker = await booker_of(f, who, resource, now)

    async def change(schedule: ResourceDay) -> tuple[Booking, list[CloudEvent]]:
        e, b = schedule.claim(resource, entry_id, booker, now)
        events = [we.claimed(f, e, b, resource)]
        return b, events + ([_booked_event(f, b)] if b.status == "confirmed" else [])

    return await change_schedule(f, key, change)


async def leave(f: Facilities, entry_id: str, who: Principal) -> Place:
    """Leave the line (the person, or a manager of the resource); an offer held passes to the next."""
    key, schedule = await _load_entry(f, entry_id)
    resource = await get_resource(f, schedule.entry(entry_id).resource_id)
    manage = may_manage(who, resource.organisation)
    now = f.clock()

    async def change(schedule: ResourceDay) -> tuple[Place, list[CloudEvent]]:
        gone, offers = schedule.leave(entry_id, who.id, manage, resource, now, f.offers)
        events = [we.left(f, gone, resource, who.id), *we.entry_events(f, offers, resource)]
        return Place(gone, None), events

    return await change_schedule(f, key, change)


async def check_in(f: Facilities, booking_id: str, who: Principal) -> Booking:
    """The holder (or a manager) checks in; ``BookingCheckedIn`` once, a repeat changes nothing."""
    doc = await st.day_holding(f.store, "bookings", booking_id)
    if doc is None:
        raise NotFound(f"no booking {booking_id}")
    key = str(doc["_id"])
    resource = await get_resource(f, str(doc["resource_id"]))
    manage = may_manage(who, resource.organisation)
    now = f.clock()

    async def change(schedule: ResourceDay) -> tuple[Booking, list[CloudEvent]]:
        before = schedule.find(booking_id)
        b = schedule.check_in(booking_id, who.id, manage, now)
        return b, [] if b == before else [we.checked_in(f, b, who.id)]

    return await change_schedule(f, key, change)


class _NothingDue(Exception):
    """The day was handled by another replica's step meanwhile: nothing to write."""


async def run_due(f: Facilities) -> dict[str, int]:
    """The sweeper's step at the context's clock: in every day document with something due, release the
    confirmed bookings not checked in by their deadline (their slots to the line) and lapse the offers
    whose time has come (their slots to the next in line). Decided from the stored state at ``now``, so
    running it twice, or on two replicas at once, changes each thing once."""
    now = f.clock()
    docs = await f.store.find(st.SCHEDULES, {"next_due": {"$lte": iso(now)}}, sort=[("next_due", 1)], limit=SWEEP_BATCH)
    done = {"released": 0, "lapsed": 0, "offered": 0}
    for doc in docs:
        resource = await get_resource(f, str(doc["resource_id"]))

        async def step(
            current: Doc | None, resource: Resource = resource
        ) -> tuple[Doc, list[CloudEvent], list[Booking | WaitEntry]]:
            if current is None:
                raise _NothingDue
            schedule = st.schedule_from_doc(current)
            released = schedule.release_no_shows(now, WITHDRAWN_BY)
            events = [we.released(f, b) for b in released]
            changed: list[Booking | WaitEntry] = [*released]
            for b in released:
                offers = schedule.offer(resource, b.start, b.end, now, f.offers, b.id)
                events += we.entry_events(f, offers, resource)
                changed += offers
            moved = schedule.lapse_due(resource, now, f.offers)
            events += we.entry_events(f, moved, resource)
            changed += moved
            if not changed:
                raise _NothingDue
            return st.schedule_to_doc(schedule, current), events, changed

        try:
            changed = await aggregate.update(
                f.store,
                st.SCHEDULES,
                str(doc["_id"]),
                step,
                on_saved=f.notify,
                attempts=MAX_WRITE_ATTEMPTS,
                busy=BUSY,
            )
        except _NothingDue:
            continue
        for x in changed:
            if isinstance(x, Booking):
                done["released"] += 1
            else:
                done[x.status] += 1
    return done


async def no_shows(f: Facilities, site_id: str, who: Principal, page: PageRequest) -> list[Doc]:
    """No-shows per person at a site (from ``BookingReleased``), for the site's managers."""
    site = await get_site(f, site_id)
    if not may_manage(who, site.organisation):
        raise Forbidden(f"only managers of {site.organisation} see this site's no-shows")
    return await page.query(f.store, st.NO_SHOWS, {"site_id": site_id}, [("person", 1)])
