"""iCalendar (RFC 5545) feeds, written by the ``icalendar`` library: one VEVENT per booking, stable
UIDs, cancellations as STATUS:CANCELLED, SEQUENCE bumped on each change."""

from __future__ import annotations

from collections.abc import Iterable

from icalendar import Calendar, Event

from services.facilities.domain.model import Booking

PRODID = "-//SME Cluster Growth//Facilities//EN"
STATUS = {"confirmed": "CONFIRMED", "pending_approval": "TENTATIVE"}


def calendar(name: str, bookings: Iterable[Booking], resource_names: dict[str, str]) -> str:
    """A VCALENDAR; the UID of a booking never changes, SEQUENCE grows with each change."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for b in bookings:
        e = Event()
        e.add("uid", f"{b.id}@facilities.smeclustergrowth.eu")
        e.add("dtstamp", b.created_at)
        e.add("dtstart", b.start)
        e.add("dtend", b.end)
        e.add("summary", resource_names.get(b.resource_id, b.resource_id))
        e.add("status", STATUS.get(b.status, "CANCELLED"))
        e.add("sequence", b.sequence)
        cal.add_component(e)
    return bytes(cal.to_ical()).decode()
