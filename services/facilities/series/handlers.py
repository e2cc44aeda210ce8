"""Recurring bookings: book a series, move or cancel one occurrence, this and following, or all.

Each occurrence is an ordinary booking in its ResourceDay (one versioned document per resource and
local day); the series document (collection ``series``) records which. The store has no transaction
over several documents, so "on_conflict=fail books nothing" is done in three steps:

1. every occurrence is checked against the current schedules (rules, opening hours, policy, taken);
   any refusal and nothing is written: the answer names every refused occurrence and why;
2. the series is written (status ``booking``), then each day is booked in its own guarded write;
3. if a day was taken meanwhile, the occurrences already booked are cancelled again (compensation)
   and the series ends ``failed``; else it becomes ``active`` with its ``SeriesBooked``.

What a concurrent reader can see: between 2 and 3 the occurrences written so far are real bookings
(availability shows them busy, their DeskBooked/FacilityBooked are published); after a compensation
each of them is followed by its BookingCancelled, so the usage projection nets out. A crash between
the steps leaves a series ``booking`` whose bookings stand (to be cancelled by its holder). With
``on_conflict=skip`` an occurrence taken meanwhile is skipped like one refused at the check.

Moving (another time of the same local day) is one guarded write per day: the old booking is
cancelled and the new one booked together. Every targeted occurrence is checked first (any refusal:
nothing moves); one taken meanwhile stays where it was and is listed as ``not_moved``.

Every slot a series gives back (an occurrence cancelled, one, following or all; the part of the old slot
a move leaves; a compensation's cancellation) goes to the first in line in the same guarded write, as a
single booking's cancellation does (``bookings.offer_freed``): its ``SlotOffered`` with the cancellation.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from dataclasses import replace
from datetime import datetime
from typing import Any

from clustergrowth import aggregate, ids
from clustergrowth.auth import Principal
from clustergrowth.envelope import CloudEvent
from clustergrowth.paging import PageRequest
from clustergrowth.problems import Conflict, Forbidden, NotFound, Problem, Unprocessable, field_error
from clustergrowth.store.port import Doc
from contracts import facilities as ev
from services.facilities import store as st
from services.facilities.domain.model import ACTIVE, Booker, Booking, Resource, ResourceDay, iso
from services.facilities.handlers.bookings import (
    _booked_event,
    _cancelled_event,
    booker_of,
    change_schedule,
    offer_freed,
)
from services.facilities.handlers.context import MAX_WRITE_ATTEMPTS, Facilities, may_manage
from services.facilities.handlers.sites import get_resource
from services.facilities.series import commands as sc
from services.facilities.series import model as sm
from services.facilities.series.rules import MAX_OCCURRENCES, parse_rule

SERIES = st.SERIES
MAX_BOOKINGS = (
    4 * MAX_OCCURRENCES
)  # bookings a series may have held (each move makes new ones): its document stays bounded
BUSY = "the series is too busy right now"


def _refusal(resource: Resource, start: datetime, problem: Problem) -> tuple[sm.Reason, str]:
    """Why an occurrence cannot be booked: taken, closed (no opening hours that day), outside opening
    hours, or policy (any other rule: horizon, duration, region, roles, councils, training)."""
    if isinstance(problem, Conflict):
        return "taken", problem.detail
    if isinstance(problem, Unprocessable) and "outside opening hours" in problem.detail:
        day = start.astimezone(resource.tz).date()
        closed = not resource.opening_hours.on(day, resource.tz)
        return ("closed" if closed else "outside_opening_hours"), problem.detail
    return "policy", problem.detail


def _try(
    schedule: ResourceDay, resource: Resource, who: Booker, start: datetime, end: datetime, now: datetime
) -> tuple[sm.Reason, str] | None:
    """Whether the slot could be booked in this schedule now (on a copy: nothing changes)."""
    copy = deepcopy(schedule)
    try:
        copy.book(resource, who, start, end, now)
    except Problem as p:
        return _refusal(resource, start, p)
    return None


async def _schedules(f: Facilities, resource: Resource, starts: Sequence[datetime]) -> dict[str, ResourceDay]:
    out: dict[str, ResourceDay] = {}
    for s in starts:
        day = s.astimezone(resource.tz).date()
        key = ResourceDay.key(resource.id, day)
        if key not in out:
            doc = await f.store.get(st.SCHEDULES, key)
            out[key] = st.schedule_from_doc(doc) if doc else ResourceDay(resource.id, day)
    return out


def _key(resource: Resource, start: datetime) -> str:
    return ResourceDay.key(resource.id, start.astimezone(resource.tz).date())


def _refused(o: sm.Occurrence, reason: str, detail: str) -> dict[str, str]:
    return {"recurrence_id": iso(o.rid), "start": iso(o.start), "end": iso(o.end), "reason": reason, "detail": detail}


async def _book_day(f: Facilities, resource: Resource, who: Booker, o: sm.Occurrence) -> Booking:
    now = f.clock()
    day = o.start.astimezone(resource.tz).date()

    async def change(schedule: ResourceDay) -> tuple[Booking, list[CloudEvent]]:
        b = schedule.book(resource, who, o.start, o.end, now)
        return b, [_booked_event(f, b)] if b.status == "confirmed" else []

    return await change_schedule(
        f, ResourceDay.key(resource.id, day), change, empty=lambda: ResourceDay(resource.id, day)
    )


async def _cancel_day(f: Facilities, resource: Resource, booking_id: str, start: datetime, by: str) -> Booking | None:
    """Cancel one booking of the series (None when it was no longer active: cancelled on its own); its
    slot goes to the first in line in the same write, as a single booking's cancellation does."""

    async def change(schedule: ResourceDay) -> tuple[Booking | None, list[CloudEvent]]:
        b = schedule.find(booking_id)
        if not b.active:
            return None, []
        was = b.status
        b = schedule.cancel(booking_id, by, may_manage=True)
        events = [_cancelled_event(f, b, "cancelled" if was == "confirmed" else "rejected")]
        return b, events + offer_freed(f, schedule, resource, b)

    return await change_schedule(f, _key(resource, start), change)


async def _save(f: Facilities, series: sm.Series, events: list[CloudEvent], *, new: bool = False) -> None:
    """Write the series document with its events (an insert when ``new``; else the version read)."""

    async def step(doc: Doc | None) -> tuple[Doc, list[CloudEvent], None]:
        if new and doc is not None:
            raise Conflict(f"series {series.id} exists")
        return sm.to_doc(series, doc), events, None

    await aggregate.update(f.store, SERIES, series.id, step, on_saved=f.notify, attempts=MAX_WRITE_ATTEMPTS, busy=BUSY)


def _event(f: Facilities, series: sm.Series, data: Any) -> CloudEvent:
    return f.event(data, key=series.resource_id, subject=series.id)


def _ids(series: sm.Series) -> dict[str, str]:
    return {
        "series_id": series.id,
        "resource_id": series.resource_id,
        "site_id": series.site_id,
        "person": series.person,
        "region": series.region,
    }


async def book_series(f: Facilities, cmd: sc.BookSeries, who: Principal) -> sm.Series:
    """Check every occurrence, then book them day by day (see the module's docstring)."""
    resource = await get_resource(f, cmd.resource_id)
    rule = parse_rule(cmd.rrule)
    if cmd.end - cmd.start > sm.MAX_DURATION:
        raise field_error("end", f"an occurrence may last at most {sm.MAX_DURATION}")
    now = f.clock()
    booker = await booker_of(f, who, resource, now)
    where = (resource.id, resource.site_id, resource.region, resource.timezone)
    series = sm.plan(str(ids.uuid4()), rule, where, who.id, cmd.start, cmd.end, cmd.on_conflict, now)
    schedules = await _schedules(f, resource, [o.start for o in series.occurrences])
    refused: list[dict[str, str]] = []
    for o in series.occurrences:
        why = _try(schedules[_key(resource, o.start)], resource, booker, o.start, o.end, now)
        if why:
            refused.append(_refused(o, *why))
            series.set(sm.skipped(o, *why))
    total = len(series.occurrences)
    if refused and (cmd.on_conflict == "fail" or len(refused) == total):
        raise Conflict(
            f"{len(refused)} of {total} occurrences cannot be booked; nothing was booked",
            conflicts=refused,
            on_conflict=cmd.on_conflict,
        )
    await _save(f, series, [], new=True)
    for o in list(series.occurrences):
        if o.status != "planned":
            continue
        try:
            b = await _book_day(f, resource, booker, o)
        except Problem as p:
            reason, detail = _refusal(resource, o.start, p)
            if cmd.on_conflict == "skip":
                series.set(sm.skipped(o, reason, f"{detail} (taken meanwhile)"))
                continue
            await _compensate(f, resource, series, who.id)
            raise Conflict(
                "an occurrence was taken while the series was being booked; nothing stays booked",
                conflicts=[_refused(o, reason, detail)],
                on_conflict=cmd.on_conflict,
            ) from p
        series.set(sm.booked(o, b))
    series.status = "active"
    data = ev.SeriesBooked(
        **_ids(series),
        rrule=series.rrule,
        timezone=series.timezone,
        on_conflict=series.on_conflict,
        booked=[o.out() for o in series.occurrences if o.status == "booked"],
        skipped=[o.out() for o in series.occurrences if o.status == "skipped"],
    )
    await _save(f, series, [_event(f, series, data)])
    return series


async def _compensate(f: Facilities, resource: Resource, series: sm.Series, by: str) -> None:
    """``fail``: cancel what was booked of the series so far; the series ends ``failed``."""
    for o in series.occurrences:
        if o.status == "booked" and o.booking_id:
            await _cancel_day(f, resource, o.booking_id, o.start, by)
            series.set(sm.skipped(o, "taken", "cancelled again: another occurrence was taken meanwhile"))
    series.status = "failed"
    await _save(f, series, [])


async def get_series(f: Facilities, series_id: str, who: Principal) -> sm.Series:
    doc = await f.store.get(SERIES, series_id)
    if doc is None:
        raise NotFound(f"no series {series_id}")
    series = sm.from_doc(doc)
    if series.person != who.id and not may_manage(who, (await get_resource(f, series.resource_id)).organisation):
        raise NotFound(f"no series {series_id}")
    return series


def _targets(series: sm.Series, cmd: sc.SeriesTarget, now: datetime) -> list[sm.Occurrence]:
    if cmd.scope != "all" and cmd.occurrence is None:
        raise field_error("occurrence", f"is required for scope {cmd.scope}")
    rid = cmd.occurrence
    if rid is not None and not any(o.rid == rid for o in series.occurrences):
        raise field_error("occurrence", "is not a recurrence id of this series")
    targets = series.select(cmd.scope, rid, now)
    if cmd.scope == "one" and targets and targets[0].start <= now:
        raise Conflict("the occurrence has already started", recurrence_id=iso(targets[0].rid))
    if not targets:
        raise Conflict(f"no booked occurrence of the series to change for scope {cmd.scope}")
    return targets


async def cancel_series(f: Facilities, series_id: str, cmd: sc.SeriesTarget, who: Principal) -> sm.Series:
    """Cancel one occurrence, it and the following ones, or all not started yet (the series ends)."""
    series = await get_series(f, series_id, who)
    if series.status != "active":
        raise Conflict(f"series {series_id} is {series.status}", status_now=series.status)
    resource = await get_resource(f, series.resource_id)
    targets = _targets(series, cmd, f.clock())
    done = []
    for o in targets:
        await _cancel_day(f, resource, o.booking_id or "", o.start, who.id)
        gone = replace(o, status="cancelled")
        series.set(gone)
        done.append(gone)
    if cmd.scope == "all":
        series.status = "cancelled"
    series.sequence += 1
    data = ev.SeriesCancelled(
        **_ids(series),
        scope=cmd.scope,
        cancelled=[o.out() for o in done],
        cancelled_by=who.id,
    )
    await _save(f, series, [_event(f, series, data)])
    return series


async def move_series(
    f: Facilities, series_id: str, cmd: sc.MoveSeries, who: Principal
) -> tuple[sm.Series, list[dict[str, str]]]:
    """Move occurrences to ``start_time``-``end_time`` of their own local day; returns the series and
    the occurrences taken meanwhile that stayed where they were."""
    series = await get_series(f, series_id, who)
    if series.status != "active":
        raise Conflict(f"series {series_id} is {series.status}", status_now=series.status)
    resource = await get_resource(f, series.resource_id)
    now = f.clock()
    targets = _targets(series, cmd, now)
    if len(series.bookings) + len(targets) > MAX_BOOKINGS:
        raise Conflict(
            f"series {series_id} has been moved too often (at most {MAX_BOOKINGS} bookings in all); "
            "cancel it and book a new one",
            max_bookings=MAX_BOOKINGS,
        )
    if series.person != who.id:
        raise Forbidden("only the holder of a series moves it (its managers may cancel it)")
    booker = await booker_of(f, who, resource, now)
    schedules = await _schedules(f, resource, [o.start for o in targets])
    refused = []
    for o in targets:
        start, end = series.moved_slot(o, cmd.start_time, cmd.end_time)
        schedule = schedules[_key(resource, o.start)]
        without = deepcopy(schedule)
        without.bookings = [b for b in schedule.bookings if b.id != o.booking_id]
        why = _try(without, resource, booker, start, end, now)
        if why:
            refused.append(_refused(replace(o, start=start, end=end), *why))
    if refused:
        raise Conflict(f"{len(refused)} of {len(targets)} occurrences cannot move; nothing moved", conflicts=refused)
    moved, not_moved = [], []
    for o in targets:
        start, end = series.moved_slot(o, cmd.start_time, cmd.end_time)

        async def change(schedule: ResourceDay, o: sm.Occurrence = o, start: datetime = start, end: datetime = end):  # type: ignore[no-untyped-def]
            old = schedule.find(o.booking_id or "")
            events = []
            was = old.status
            if old.active:
                old = schedule.cancel(old.id, who.id, may_manage=True)
                events.append(_cancelled_event(f, old, "cancelled" if was == "confirmed" else "rejected"))
            new = schedule.book(resource, booker, start, end, now)
            events += [_booked_event(f, new)] if new.status == "confirmed" else []
            if was in ACTIVE:  # what of the old slot the new one leaves is offered, after the new one is booked
                events += offer_freed(f, schedule, resource, old, kept=new)
            return new, events

        try:
            b = await change_schedule(f, _key(resource, o.start), change)
        except Problem as p:
            not_moved.append(_refused(o, *_refusal(resource, start, p)))
            continue
        series.bookings.append(b.id)
        now_o = sm.booked(o, b)
        series.set(now_o)
        moved.append(now_o)
    if cmd.scope == "all" and not not_moved:
        series.rebase(cmd.start_time, cmd.end_time)
        moved = [o for o in series.occurrences if o.booking_id in {m.booking_id for m in moved}]
    series.sequence += 1
    data = ev.SeriesChanged(**_ids(series), scope=cmd.scope, moved=[o.out() for o in moved])
    await _save(f, series, [_event(f, series, data)])
    return series, not_moved


async def series_of(f: Facilities, query: Doc) -> list[sm.Series]:
    """The series (active or cancelled: a feed shows both) matching ``query``."""
    docs = await f.store.find(SERIES, {**query, "status": {"$in": ["active", "cancelled"]}}, sort=[("_id", 1)])
    return [sm.from_doc(d) for d in docs]


async def my_series(f: Facilities, who: Principal, page: PageRequest) -> list[sm.Series]:
    """One page of the caller's series, newest first (every status: a failed one says so)."""
    docs = await page.query(f.store, SERIES, {"person": who.id}, [("created_at", -1)])
    return [sm.from_doc(d) for d in docs]
