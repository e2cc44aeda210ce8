"""iCalendar output: RFC 5545 line endings and folding, stable UIDs, and each booking's state as a calendar
sees it. Bookings change only through the domain (ResourceDay.book, decide, cancel), and the feed is read
back with a maintained parser (the `icalendar` package), not by searching for the lines we wrote."""

from __future__ import annotations

from datetime import UTC, datetime, time

import icalendar
import pytest

from clustergrowth.problems import Conflict
from services.facilities.domain.model import Booker, Booking, BookingPolicy, OpeningHours, Resource, ResourceDay
from services.facilities.ical import calendar

NOW = datetime(2026, 11, 26, 8, tzinfo=UTC)  # a Thursday; the booking is on the next Monday
START, END = datetime(2026, 11, 30, 9, tzinfo=UTC), datetime(2026, 11, 30, 10, tzinfo=UTC)
HOURS = OpeningHours({d: [(time(8), time(20))] for d in ("mon", "tue", "wed", "thu", "fri")})
ALICE = Booker("alice", frozenset({"student"}), "IE05", None)
NAMES = {"r1": "Hot desk; window, north", "lab": "Lab"}

B = Booking(
    id="b-1",
    resource_id="r1",
    site_id="s1",
    resource_kind="hot_desk",
    person="alice",
    organisation=None,
    person_region="IE05",
    region="IE05",
    start=START,
    end=END,
    status="confirmed",
    created_at=NOW,
)


def resource(requires_approval: bool) -> Resource:
    rid, kind = ("lab", "lab") if requires_approval else ("r1", "hot_desk")
    policy = BookingPolicy(requires_approval=requires_approval)
    return Resource(rid, "s1", NAMES[rid], kind, 1, policy, "IE05", "Europe/Dublin", HOURS)  # type: ignore[arg-type]


def events(text: str) -> dict[str, dict[str, object]]:
    """The feed's VEVENTs as the icalendar parser reads them, by UID."""
    cal = icalendar.Calendar.from_ical(text)
    return {
        str(e["UID"]): {
            "STATUS": str(e["STATUS"]),
            "SEQUENCE": e.decoded("SEQUENCE"),
            "DTSTART": e.decoded("DTSTART"),
            "DTEND": e.decoded("DTEND"),
            "SUMMARY": str(e["SUMMARY"]),
        }
        for e in cal.walk("VEVENT")
    }


def feed(day: ResourceDay) -> dict[str, object]:
    """The one event of a one-booking day, as a calendar client sees it."""
    (event,) = events(calendar("Feed", day.bookings, NAMES)).values()
    return event


def state(day: ResourceDay) -> tuple[object, object]:
    e = feed(day)
    return e["STATUS"], e["SEQUENCE"]


def test_vevent_has_stable_uid_and_utc_times() -> None:
    text = calendar("Desk", [B], NAMES)
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "DTSTART:20261130T090000Z\r\n" in text and "DTEND:20261130T100000Z\r\n" in text  # UTC form
    assert "SUMMARY:Hot desk\\; window\\, north\r\n" in text  # escaped on the wire
    assert events(text) == {
        "b-1@facilities.smeclustergrowth.eu": {
            "STATUS": "CONFIRMED",
            "SEQUENCE": 0,
            "DTSTART": START,
            "DTEND": END,
            "SUMMARY": "Hot desk; window, north",  # and read back as written
        }
    }


def test_a_confirmed_booking_cancelled_through_the_domain_keeps_its_uid_and_bumps_sequence() -> None:
    day = ResourceDay("r1", START.date())
    b = day.book(resource(False), ALICE, START, END, NOW)
    uid = f"{b.id}@facilities.smeclustergrowth.eu"
    before = events(calendar("Feed", day.bookings, NAMES))
    assert list(before) == [uid] and (before[uid]["STATUS"], before[uid]["SEQUENCE"]) == ("CONFIRMED", 0)
    day.cancel(b.id, by="alice", may_manage=False)
    after = events(calendar("Feed", day.bookings, NAMES))
    assert list(after) == [uid] and (after[uid]["STATUS"], after[uid]["SEQUENCE"]) == ("CANCELLED", 1)
    assert {k: v for k, v in after[uid].items() if k not in ("STATUS", "SEQUENCE")} == {
        k: v for k, v in before[uid].items() if k not in ("STATUS", "SEQUENCE")
    }
    with pytest.raises(Conflict):  # a second cancel is refused and changes nothing a calendar sees
        day.cancel(b.id, by="alice", may_manage=False)
    assert state(day) == ("CANCELLED", 1)


def test_a_booking_awaiting_approval_is_tentative_until_decided() -> None:
    approved = ResourceDay("lab", START.date())
    b = approved.book(resource(True), ALICE, START, END, NOW)
    assert b.status == "pending_approval" and state(approved) == ("TENTATIVE", 0)
    approved.decide(b.id, by="manager", approve=True)
    assert state(approved) == ("CONFIRMED", 1)
    approved.cancel(b.id, by="manager", may_manage=True)
    assert state(approved) == ("CANCELLED", 2)

    rejected = ResourceDay("lab", START.date())
    b = rejected.book(resource(True), ALICE, START, END, NOW)
    rejected.decide(b.id, by="manager", approve=False)
    assert state(rejected) == ("CANCELLED", 1)

    withdrawn = ResourceDay("lab", START.date())
    b = withdrawn.book(resource(True), ALICE, START, END, NOW)
    withdrawn.cancel(b.id, by="alice", may_manage=False)
    assert state(withdrawn) == ("CANCELLED", 1)


def test_long_lines_are_folded_at_75_octets() -> None:
    name = "x" * 100 + "é" * 100  # two-octet characters must not be split across a fold
    text = calendar(name, [], {})
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75
    assert "\r\n " in text
    assert str(icalendar.Calendar.from_ical(text)["X-WR-CALNAME"]) == name  # unfolds to the original
