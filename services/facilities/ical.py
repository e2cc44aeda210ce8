"""iCalendar (RFC 5545) feeds: one VEVENT per booking, stable UIDs, cancellations as STATUS:CANCELLED."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from services.facilities.domain.model import Booking

PRODID = "-//SME Cluster Growth//Facilities//EN"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 §3.1), never splitting a UTF-8 character."""
    out: list[str] = []
    cur = b""
    for ch in line:
        enc = ch.encode()
        if len(cur) + len(enc) > (75 if not out else 74):
            out.append(cur.decode())
            cur = b""
        cur += enc
    out.append(cur.decode())
    return "\r\n ".join(out)


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(name: str, bookings: Iterable[Booking], resource_names: dict[str, str]) -> str:
    """A VCALENDAR; the UID of a booking never changes, SEQUENCE grows with each change."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
    ]
    for b in bookings:
        status = {"confirmed": "CONFIRMED", "pending_approval": "TENTATIVE"}.get(b.status, "CANCELLED")
        lines += [
            "BEGIN:VEVENT",
            f"UID:{b.id}@facilities.smeclustergrowth.eu",
            f"DTSTAMP:{_stamp(b.created_at)}",
            f"DTSTART:{_stamp(b.start)}",
            f"DTEND:{_stamp(b.end)}",
            f"SUMMARY:{_escape(resource_names.get(b.resource_id, b.resource_id))}",
            f"STATUS:{status}",
            f"SEQUENCE:{b.sequence}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
