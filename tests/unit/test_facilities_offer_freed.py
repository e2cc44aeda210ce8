"""What a booking gives back goes to the line (``ResourceDay.offer_freed``): its whole slot, or, when its
holder moved it within the day (``kept``: the new booking), only the parts of the old slot the new one
does not cover, each offered to the first person waiting whose window holds it. Every slot is written
out by hand; time is a fixed instant."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

from services.facilities.domain.model import (
    Booking,
    BookingPolicy,
    BookingStatus,
    OfferRules,
    OpeningHours,
    Resource,
    ResourceDay,
    WaitEntry,
)

NOW = datetime(2027, 2, 26, 12, tzinfo=UTC)  # a Friday
MON = date(2027, 3, 1)
HOURS = OpeningHours({d: [(time(8), time(20))] for d in ("mon", "tue", "wed", "thu", "fri")})
DESK = Resource("desk", "site", "Desk", "hot_desk", 1, BookingPolicy(), "IE05", "UTC", HOURS)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, 1, hour, minute, tzinfo=UTC)


def booking(booking_id: str, start: datetime, end: datetime, status: BookingStatus = "confirmed") -> Booking:
    return Booking(
        booking_id,
        "desk",
        "site",
        "hot_desk",
        "alice",
        None,
        "IE05",
        "IE05",
        start,
        end,
        status,
        NOW,
    )


def waiting(person: str, start: datetime, end: datetime) -> WaitEntry:
    return WaitEntry(f"entry-{person}", "desk", person, "IE05", None, start, end, NOW)


def day_after_move(
    old: tuple[datetime, datetime], new: tuple[datetime, datetime]
) -> tuple[ResourceDay, Booking, Booking]:
    """Alice's booking ``old`` cancelled and ``new`` booked in its place; Carol then Dave wait for 10-12."""
    gone = booking("old", *old, status="cancelled")
    kept = booking("new", *new)
    day = ResourceDay("desk", MON, [gone, kept], [waiting("carol", at(10), at(12)), waiting("dave", at(10), at(12))])
    return day, gone, kept


def offered(
    day: ResourceDay, freed: Booking, kept: Booking | None
) -> list[tuple[str, datetime | None, datetime | None]]:
    return [(e.person, e.offer_start, e.offer_end) for e in day.offer_freed(DESK, freed, NOW, OfferRules(), kept)]


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        # inside the old slot: what is left either side, each to the next in line
        ((at(10, 30), at(11)), [("carol", at(10), at(10, 30)), ("dave", at(11), at(12))]),
        ((at(11), at(13)), [("carol", at(10), at(11))]),  # later, overlapping: its first hour
        ((at(9), at(11)), [("carol", at(11), at(12))]),  # earlier, overlapping: its last hour
        ((at(12), at(13)), [("carol", at(10), at(12))]),  # touching its end: all of it
        ((at(9), at(10)), [("carol", at(10), at(12))]),  # touching its start: all of it
        ((at(11, 59), at(13)), [("carol", at(10), at(11, 59))]),  # a minute inside its end
        ((at(10), at(12)), []),  # the same slot: nothing given back
        ((at(9), at(13)), []),  # covering it: nothing given back
    ],
)
def test_a_move_offers_what_it_leaves_of_the_old_slot(
    new: tuple[datetime, datetime], expected: list[tuple[str, datetime, datetime]]
) -> None:
    day, gone, kept = day_after_move((at(10), at(12)), new)
    assert offered(day, gone, kept) == expected


def test_a_cancellation_offers_the_whole_slot_once() -> None:
    day, gone, _ = day_after_move((at(10), at(12)), (at(14), at(15)))
    assert offered(day, gone, None) == [("carol", at(10), at(12))]
    assert offered(day, replace(gone, id="again"), None) == []  # held by carol's offer now: not offered twice
