"""iCalendar output: RFC 5545 line endings and folding, stable UIDs, cancellations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from services.facilities.domain.model import Booking
from services.facilities.ical import calendar

B = Booking(
    id="b-1",
    resource_id="r1",
    site_id="s1",
    resource_kind="hot_desk",
    person="alice",
    organisation=None,
    person_region="IE05",
    region="IE05",
    start=datetime(2026, 11, 30, 9, tzinfo=UTC),
    end=datetime(2026, 11, 30, 10, tzinfo=UTC),
    status="confirmed",
    created_at=datetime(2026, 11, 26, tzinfo=UTC),
)


def test_vevent_has_stable_uid_and_utc_times() -> None:
    text = calendar("Desk", [B], {"r1": "Hot desk; window, north"})
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "UID:b-1@facilities.smeclustergrowth.eu\r\n" in text
    assert "DTSTART:20261130T090000Z\r\n" in text and "DTEND:20261130T100000Z\r\n" in text
    assert "SUMMARY:Hot desk\\; window\\, north\r\n" in text
    cancelled = calendar("Desk", [replace(B, status="cancelled", sequence=1)], {})
    assert "UID:b-1@facilities.smeclustergrowth.eu\r\n" in cancelled
    assert "STATUS:CANCELLED\r\n" in cancelled and "SEQUENCE:1\r\n" in cancelled


def test_long_lines_are_folded_at_75_octets() -> None:
    text = calendar("x" * 200, [], {})
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75
    assert "\r\n " in text
