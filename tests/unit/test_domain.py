"""Booking rules of the facilities domain: overlaps, capacity, opening hours, policy, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from clustergrowth.problems import Conflict, Forbidden, NotFound, Unprocessable
from services.facilities.domain.model import (
    Booker,
    BookingPolicy,
    OpeningHours,
    Resource,
    ResourceDay,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday
MON = date(2026, 11, 30)
HOURS = OpeningHours({d: [(time(8), time(20))] for d in ("mon", "tue", "wed", "thu", "fri")})
ALICE = Booker("alice", frozenset({"student"}), "IE05", "MTU")
BOB = Booker("bob", frozenset({"academic"}), "ITH5", "UNIBO")


def resource(capacity: int = 1, tz: str = "Europe/Dublin", **policy: object) -> Resource:
    return Resource("r1", "s1", "Desk", "hot_desk", capacity, BookingPolicy(**policy), "IE05", tz, HOURS)  # type: ignore[arg-type]


def at(h: int, m: int = 0, day: date = MON) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, tzinfo=UTC)


def test_overlapping_booking_is_refused_and_names_the_slot() -> None:
    day = ResourceDay("r1", MON)
    day.book(resource(), ALICE, at(9), at(11), NOW)
    with pytest.raises(Conflict) as e:
        day.book(resource(), BOB, at(10), at(12), NOW)
    slot = {"start": "2026-11-30T09:00:00.000000Z", "end": "2026-11-30T11:00:00.000000Z"}
    assert e.value.extensions["conflicting"] == [slot]


def test_back_to_back_bookings_do_not_conflict() -> None:
    day = ResourceDay("r1", MON)
    day.book(resource(), ALICE, at(9), at(11), NOW)
    day.book(resource(), BOB, at(11), at(12), NOW)
    assert len(day.bookings) == 2


def test_capacity_allows_that_many_overlaps_and_no_more() -> None:
    day, r = ResourceDay("r1", MON), resource(capacity=2)
    day.book(r, ALICE, at(9), at(12), NOW)
    day.book(r, BOB, at(10), at(11), NOW)
    day.book(r, BOB, at(11), at(12), NOW)  # overlaps only the first: 2 at a time
    with pytest.raises(Conflict):
        day.book(r, ALICE, at(10, 30), at(11, 30), NOW)


def test_cancelled_booking_frees_the_slot() -> None:
    day = ResourceDay("r1", MON)
    b = day.book(resource(), ALICE, at(9), at(11), NOW)
    day.cancel(b.id, "alice", may_manage=False)
    day.book(resource(), BOB, at(9), at(11), NOW)


def test_someone_else_cannot_cancel_and_does_not_learn_the_booking_exists() -> None:
    day = ResourceDay("r1", MON)
    b = day.book(resource(), ALICE, at(9), at(11), NOW)
    with pytest.raises(NotFound):
        day.cancel(b.id, "bob", may_manage=False)
    assert day.cancel(b.id, "manager", may_manage=True).status == "cancelled"
    with pytest.raises(Conflict):
        day.cancel(b.id, "alice", may_manage=False)


def test_opening_hours_are_local_time() -> None:
    # 08:00 in Madrid is 07:00 UTC in winter: booking 07:00-08:00 UTC is inside the Madrid hours
    madrid = resource(tz="Europe/Madrid")
    ResourceDay("r1", MON).book(madrid, ALICE, at(7), at(8), NOW)
    with pytest.raises(Unprocessable) as e:
        ResourceDay("r1", MON).book(resource(tz="Europe/Dublin"), ALICE, at(7), at(8), NOW)
    assert e.value.extensions["errors"][0]["field"] == "start"
    assert "opening hours" in e.value.extensions["errors"][0]["reason"]


def test_closed_day_is_refused_with_the_reason() -> None:
    sat = date(2026, 11, 28)
    with pytest.raises(Unprocessable) as e:
        ResourceDay("r1", sat).book(resource(), ALICE, at(9, day=sat), at(10, day=sat), NOW)
    assert "closed" in e.value.detail


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (at(11), at(9), "end"),
        (NOW - timedelta(days=1), NOW - timedelta(days=1) + timedelta(hours=1), "start"),
        (at(8), at(19), "end"),  # longer than 8 hours
        (at(9) + timedelta(days=70), at(10) + timedelta(days=70), "start"),  # too far ahead
    ],
)
def test_time_and_policy_rules_name_the_field(start: datetime, end: datetime, field: str) -> None:
    with pytest.raises(Unprocessable) as e:
        ResourceDay("r1", start.date()).book(resource(), ALICE, start, end, NOW)
    assert field in [x["field"] for x in e.value.extensions["errors"]]


def test_eligibility_by_region_role_and_training() -> None:
    with pytest.raises(Forbidden, match="region ITH5"):
        ResourceDay("r1", MON).book(resource(eligible_regions=("IE05",)), BOB, at(9), at(10), NOW)
    with pytest.raises(Forbidden, match="roles"):
        ResourceDay("r1", MON).book(resource(eligible_roles=("academic",)), ALICE, at(9), at(10), NOW)
    with pytest.raises(Forbidden, match="laser"):
        ResourceDay("r1", MON).book(resource(required_training="laser"), ALICE, at(9), at(10), NOW)
    trained = Booker("alice", ALICE.roles, "IE05", "MTU", frozenset({"laser"}))
    ResourceDay("r1", MON).book(resource(required_training="laser"), trained, at(9), at(10), NOW)


def test_approval_flow_holds_the_slot_until_decided() -> None:
    r, day = resource(requires_approval=True), ResourceDay("r1", MON)
    b = day.book(r, ALICE, at(9), at(10), NOW)
    assert b.status == "pending_approval"
    with pytest.raises(Conflict):
        day.book(r, BOB, at(9), at(10), NOW)
    assert day.decide(b.id, "mgr", approve=False).status == "rejected"
    assert day.book(r, BOB, at(9), at(10), NOW).status == "pending_approval"
    with pytest.raises(Conflict):
        day.decide(b.id, "mgr", approve=True)
