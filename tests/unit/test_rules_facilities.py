"""The facilities booking rules at their edges, with the exact answer each refusal gives.

Every expected value below is written out by hand from the rule (a 422's field and reason, a 409's
``requested`` slot, a 403's eligibility list), not taken from the code under test.
"""

from __future__ import annotations

import time as systime
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from clustergrowth.problems import Conflict, Forbidden, NotFound, Unprocessable
from services.facilities.domain.model import (
    Booker,
    BookingPolicy,
    OpeningHours,
    Resource,
    ResourceDay,
    validate_timezone,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday
MON = date(2026, 11, 30)  # Dublin is on UTC in November
HOURS = OpeningHours({d: [(time(8), time(20))] for d in ("mon", "tue", "wed", "thu", "fri")})
ALICE = Booker("alice", frozenset({"student"}), "IE05", "MTU")
BOB = Booker("bob", frozenset({"academic"}), "ITH5", "UNIBO")


def resource(capacity: int = 1, **policy: object) -> Resource:
    return Resource("r1", "s1", "Desk", "hot_desk", capacity, BookingPolicy(**policy), "IE05", "Europe/Dublin", HOURS)  # type: ignore[arg-type]


def at(h: int, m: int = 0, day: date = MON) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, tzinfo=UTC)


def refused(r: Resource, start: datetime, end: datetime, now: datetime = NOW) -> Unprocessable:
    day = ResourceDay("r1", start.date())
    with pytest.raises(Unprocessable) as e:
        day.book(r, ALICE, start, end, now)
    assert day.bookings == []
    return e.value


# -- zero-length and reversed slots ------------------------------------------------------------


def test_a_zero_length_booking_is_refused_as_end_not_after_start() -> None:
    e = refused(resource(), at(9), at(9))
    assert e.extensions["errors"] == [{"field": "end", "reason": "must be after start"}]
    assert e.detail == "end: must be after start"


def test_a_zero_length_booking_outside_opening_hours_names_only_the_end() -> None:
    # 21:00 is after closing; the opening-hours rule is for real slots only (end after start)
    e = refused(resource(), at(21), at(21))
    assert e.extensions["errors"] == [{"field": "end", "reason": "must be after start"}]


def test_a_one_minute_booking_is_the_shortest_accepted() -> None:
    day = ResourceDay("r1", MON)
    b = day.book(resource(), ALICE, at(9), at(9, 1), NOW)
    assert (b.start, b.end) == (at(9), at(9, 1))


def test_every_broken_rule_is_named_and_the_detail_joins_them_in_order() -> None:
    # reversed and in the past: two errors, joined with "; "
    start, end = datetime(2026, 11, 25, 10, 0, tzinfo=UTC), datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    e = refused(resource(), start, end)
    assert e.extensions["errors"] == [
        {"field": "end", "reason": "must be after start"},
        {"field": "start", "reason": "is in the past"},
    ]
    assert e.detail == "end: must be after start; start: is in the past"


# -- capacity: touching intervals --------------------------------------------------------------


def test_a_booking_that_ends_frees_exactly_one_place_at_capacity_two() -> None:
    # capacity 2; the new 09:00-12:00 overlaps A 09-10 (2 at a time), then A ends (1), B starts at
    # 10:30 (2), C starts at 11:00 (3): refused. An end must free one place, not two.
    r, day = resource(capacity=2), ResourceDay("r1", MON)
    day.book(r, ALICE, at(9), at(10), NOW)
    day.book(r, ALICE, at(10, 30), at(12), NOW)
    day.book(r, ALICE, at(11), at(12), NOW)
    with pytest.raises(Conflict) as e:
        day.book(r, BOB, at(9), at(12), NOW)
    assert e.value.detail == "the requested slot is already booked"
    assert e.value.extensions == {
        "conflicting": [
            {"start": "2026-11-30T09:00:00.000000Z", "end": "2026-11-30T10:00:00.000000Z"},
            {"start": "2026-11-30T10:30:00.000000Z", "end": "2026-11-30T12:00:00.000000Z"},
            {"start": "2026-11-30T11:00:00.000000Z", "end": "2026-11-30T12:00:00.000000Z"},
        ],
        "requested": {"start": "2026-11-30T09:00:00.000000Z", "end": "2026-11-30T12:00:00.000000Z"},
    }


def test_touching_bookings_at_capacity_two_leave_room_for_a_second() -> None:
    # A 09-10 and B 10-11 touch at 10:00; with the new 09:30-10:30 there are 2 at any instant
    r, day = resource(capacity=2), ResourceDay("r1", MON)
    day.book(r, ALICE, at(9), at(10), NOW)
    day.book(r, ALICE, at(10), at(11), NOW)
    day.book(r, BOB, at(9, 30), at(10, 30), NOW)
    assert len(day.bookings) == 3


# -- the booking and its later changes ---------------------------------------------------------


def test_a_booking_records_who_booked_for_which_organisation() -> None:
    b = ResourceDay("r1", MON).book(resource(), BOB, at(9), at(10), NOW)
    assert (b.person, b.organisation, b.person_region, b.region) == ("bob", "UNIBO", "ITH5", "IE05")
    assert (b.resource_id, b.site_id, b.resource_kind, b.status, b.sequence, b.changed_by) == (
        "r1",
        "s1",
        "hot_desk",
        "confirmed",
        0,
        None,
    )
    assert b.created_at == NOW


@pytest.fixture
def tokyo_local_time() -> Iterator[None]:
    """The process's local zone set to UTC+9, so that "local" and "UTC" differ."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "Asia/Tokyo")
    systime.tzset()
    yield
    mp.undo()
    systime.tzset()


@pytest.mark.usefixtures("tokyo_local_time")
def test_a_booking_is_kept_in_utc_whatever_the_servers_local_zone() -> None:
    madrid = ZoneInfo("Europe/Madrid")  # UTC+1 in November: 10:00 Madrid is 09:00Z
    b = ResourceDay("r1", MON).book(
        resource(),
        ALICE,
        datetime(2026, 11, 30, 10, 0, tzinfo=madrid),
        datetime(2026, 11, 30, 11, 0, tzinfo=madrid),
        NOW,
    )
    assert (b.start.utcoffset(), b.end.utcoffset(), b.created_at.utcoffset()) == (timedelta(0),) * 3
    assert (b.start.hour, b.end.hour) == (9, 10)


def test_cancelling_one_booking_leaves_the_others_as_they_were() -> None:
    day = ResourceDay("r1", MON)
    a = day.book(resource(), ALICE, at(9), at(10), NOW)
    b = day.book(resource(), BOB, at(10), at(11), NOW)
    c = day.cancel(a.id, "alice", may_manage=False)
    assert (c.status, c.sequence, c.changed_by) == ("cancelled", 1, "alice")
    assert day.bookings == [c, b]
    assert day.find(b.id) is b


def test_a_manager_cancelling_is_recorded_as_the_one_who_changed_it() -> None:
    day = ResourceDay("r1", MON)
    a = day.book(resource(), ALICE, at(9), at(10), NOW)
    assert day.cancel(a.id, "manager", may_manage=True).changed_by == "manager"


def test_cancelling_twice_answers_the_current_status() -> None:
    day = ResourceDay("r1", MON)
    a = day.book(resource(), ALICE, at(9), at(10), NOW)
    day.cancel(a.id, "alice", may_manage=False)
    with pytest.raises(Conflict) as e:
        day.cancel(a.id, "alice", may_manage=False)
    assert e.value.detail == f"booking {a.id} is already cancelled"
    assert e.value.extensions == {"status_now": "cancelled"}


def test_deciding_records_the_decider_and_bumps_the_sequence() -> None:
    r, day = resource(requires_approval=True), ResourceDay("r1", MON)
    a = day.book(r, ALICE, at(9), at(10), NOW)
    b = day.book(r, BOB, at(10), at(11), NOW)
    d = day.decide(a.id, "mgr", approve=True)
    assert (d.status, d.sequence, d.changed_by) == ("confirmed", 1, "mgr")
    assert day.bookings == [d, b]
    with pytest.raises(Conflict) as e:
        day.decide(a.id, "mgr", approve=False)
    assert e.value.detail == f"booking {a.id} is confirmed, not awaiting approval"
    assert e.value.extensions == {"status_now": "confirmed"}


def test_an_unknown_booking_is_not_found_by_id() -> None:
    with pytest.raises(NotFound) as e:
        ResourceDay("r1", MON).find("b-404")
    assert e.value.detail == "no booking b-404"


# -- who may book: the 403 bodies --------------------------------------------------------------


def test_a_refused_region_is_told_the_eligible_regions() -> None:
    with pytest.raises(Forbidden) as e:
        ResourceDay("r1", MON).book(resource(eligible_regions=("IE05", "IE04")), BOB, at(9), at(10), NOW)
    assert e.value.detail == "people from region ITH5 may not book this resource"
    assert e.value.extensions == {"eligible_regions": ["IE05", "IE04"]}


def test_a_refused_role_is_told_the_eligible_roles() -> None:
    with pytest.raises(Forbidden) as e:
        ResourceDay("r1", MON).book(resource(eligible_roles=("academic", "staff")), ALICE, at(9), at(10), NOW)
    assert e.value.detail == "your roles may not book this resource"
    assert e.value.extensions == {"eligible_roles": ["academic", "staff"]}


def test_a_missing_training_is_named() -> None:
    with pytest.raises(Forbidden) as e:
        ResourceDay("r1", MON).book(resource(required_training="laser"), ALICE, at(9), at(10), NOW)
    assert e.value.detail == "this resource requires valid training 'laser'"
    assert e.value.extensions == {"required_training": "laser"}


# -- policy documents, opening hours, time zones -----------------------------------------------


def test_a_policy_with_every_field_set_survives_the_store_round_trip() -> None:
    p = BookingPolicy(
        max_duration_minutes=90,
        max_days_ahead=7,
        eligible_regions=("IE05", "ITH5"),
        eligible_roles=("academic",),
        requires_approval=True,
        required_training="laser",
        member_of_councils=("cork-council",),
    )
    doc = p.to_doc()
    assert doc == {
        "max_duration_minutes": 90,
        "max_days_ahead": 7,
        "eligible_regions": ["IE05", "ITH5"],
        "eligible_roles": ["academic"],
        "requires_approval": True,
        "required_training": "laser",
        "member_of_councils": ["cork-council"],
    }
    assert BookingPolicy.from_doc(doc) == p


def test_a_policy_document_without_the_optional_fields_means_anyone() -> None:
    p = BookingPolicy.from_doc({"max_duration_minutes": 60, "max_days_ahead": 3})
    assert p == BookingPolicy(60, 3, (), (), False, None, ())


def test_opening_hours_of_a_day_with_two_windows_are_listed_with_a_comma() -> None:
    split = OpeningHours({"mon": [(time(8), time(12)), (time(13), time(17))]})
    assert split.describe(MON) == "08:00-12:00, 13:00-17:00"
    assert split.describe(MON + timedelta(days=1)) == "closed"


def test_an_unknown_time_zone_is_named_in_the_reason() -> None:
    with pytest.raises(Unprocessable) as e:
        validate_timezone("Mars/Olympus_Mons")
    assert e.value.extensions["errors"] == [
        {"field": "timezone", "reason": "unknown IANA time zone 'Mars/Olympus_Mons'"}
    ]
    validate_timezone("Europe/Dublin")  # a known zone passes
