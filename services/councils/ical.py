"""iCalendar (RFC 5545) feeds of council meetings, written with the icalendar library: one VEVENT per
meeting with a stable UID, times in the meeting's own time zone (with its VTIMEZONE), SEQUENCE from the
meeting (every change bumps it) and STATUS:CANCELLED for a cancelled one. No personal data."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

PRODID = "-//SME Cluster Growth//Councils//EN"
STATUS = {"scheduled": "CONFIRMED", "held": "CONFIRMED", "cancelled": "CANCELLED"}


def _at(stamp: str, tz: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(ZoneInfo(tz))


def calendar(name: str, meetings: Iterable[dict[str, Any]], councils: dict[str, str]) -> bytes:
    """A VCALENDAR of the meetings; ``councils`` names each meeting's council for its summary."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for m in meetings:
        event = icalendar.Event()
        event.add("uid", f"{m['_id']}@councils.smeclustergrowth.eu")
        event.add("dtstamp", _at(m["updated_at"], "UTC"))
        event.add("dtstart", _at(m["start"], m["timezone"]))
        event.add("dtend", _at(m["end"], m["timezone"]))
        council = councils.get(m["council_id"], m["council_id"])
        event.add("summary", f"{council}: {m['title']}")
        if m.get("place"):
            event.add("location", m["place"])
        if m.get("agenda"):
            event.add("description", "\n".join(f"{n}. {a['title']}" for n, a in enumerate(m["agenda"], 1)))
        event.add("status", STATUS[m["status"]])
        event.add("sequence", m["sequence"])
        event.add("categories", [m["mode"]])
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
