"""iCalendar (RFC 5545) feeds, written by the ``icalendar`` library.

One VEVENT per single booking (stable UID, STATUS:CANCELLED once cancelled, SEQUENCE bumped on each
change). A series is one VEVENT with its RRULE in the resource's time zone (DTSTART;TZID=..., with the
VTIMEZONE), an EXDATE for every occurrence that is not (or no longer) booked (skipped, cancelled, its
booking cancelled or rejected), and an override (same UID, RECURRENCE-ID) for every booked occurrence
whose slot or status differs from what the rule says (moved, or awaiting approval).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from icalendar import Calendar, Event

from services.facilities.domain.model import Booking
from services.facilities.series.model import Series

PRODID = "-//SME Cluster Growth//Facilities//EN"
DOMAIN = "facilities.smeclustergrowth.eu"
STATUS = {"confirmed": "CONFIRMED", "pending_approval": "TENTATIVE"}


def _status(b: Booking) -> str:
    return STATUS.get(b.status, "CANCELLED")


def _event(uid: str, stamp: datetime, start: datetime, end: datetime, summary: str, status: str, seq: int) -> Event:
    e = Event()
    e.add("uid", uid)
    e.add("dtstamp", stamp)
    e.add("dtstart", start)
    e.add("dtend", end)
    e.add("summary", summary)
    e.add("status", status)
    e.add("sequence", seq)
    return e


def _series(s: Series, bookings: dict[str, Booking], summary: str) -> list[Event]:
    """The master VEVENT of a series and its overrides."""
    tz, uid = s.tz, f"series-{s.id}@{DOMAIN}"
    duration = s.end - s.start
    cancelled = s.status == "cancelled"
    master = _event(
        uid,
        s.created_at,
        s.start.astimezone(tz),
        s.end.astimezone(tz),
        summary,
        "CANCELLED" if cancelled else "CONFIRMED",
        s.sequence,
    )
    master.add("rrule", s.rule.to_ical())
    overrides: list[Event] = []
    excluded: list[datetime] = []
    for o in s.occurrences:
        b = bookings.get(o.booking_id or "")
        if o.status != "booked" or b is None or not b.active:
            excluded.append(o.rid.astimezone(tz))
            continue
        if b.start != o.rid or b.end != o.rid + duration or _status(b) != "CONFIRMED":
            e = _event(uid, b.created_at, b.start.astimezone(tz), b.end.astimezone(tz), summary, _status(b), s.sequence)
            e.add("recurrence-id", o.rid.astimezone(tz))
            overrides.append(e)
    if excluded:
        master.add("exdate", excluded)
    return [master, *overrides]


def calendar(
    name: str, bookings: Iterable[Booking], resource_names: dict[str, str], series: Iterable[Series] = ()
) -> str:
    """A VCALENDAR of single bookings and series (a series' own bookings are shown through it)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    by_id = {b.id: b for b in bookings}
    of_series: set[str] = set()
    for s in series:
        of_series.update(s.bookings)
        for e in _series(s, by_id, resource_names.get(s.resource_id, s.resource_id)):
            cal.add_component(e)
    for b in by_id.values():
        if b.id in of_series:
            continue
        summary = resource_names.get(b.resource_id, b.resource_id)
        cal.add_component(_event(f"{b.id}@{DOMAIN}", b.created_at, b.start, b.end, summary, _status(b), b.sequence))
    cal.add_missing_timezones()
    return bytes(cal.to_ical()).decode()
