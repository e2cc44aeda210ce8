"""Booking rules of the facilities domain: overlaps, capacity, opening hours, policy, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

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
    with pytest.raises(Conflict):  # taken while Alice holds it
        day.book(resource(), BOB, at(9), at(11), NOW)
    day.cancel(b.id, "alice", may_manage=False)
    again = day.book(resource(), BOB, at(9), at(11), NOW)
    assert again.status == "confirmed" and [x.status for x in day.bookings] == ["cancelled", "confirmed"]


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


# Boundaries of each rule: at the limit, just inside, just outside. The clock is the `now` argument, and
# every expected instant below is written out by hand (not derived with the product's arithmetic).


def accepted(r: Resource, start: datetime, end: datetime, now: datetime = NOW, who: Booker = ALICE) -> None:
    day = ResourceDay("r1", start.date())
    b = day.book(r, who, start, end, now)
    assert (b.start, b.end, day.bookings) == (start, end, [b])


def refusal(r: Resource, start: datetime, end: datetime, now: datetime = NOW) -> list[dict[str, str]]:
    """The (field, reason) list of the 422, which must name this one rule and nothing else."""
    with pytest.raises(Unprocessable) as e:
        ResourceDay("r1", start.date()).book(r, ALICE, start, end, now)
    errors: list[dict[str, str]] = e.value.extensions["errors"]
    return errors


def test_max_duration_is_inclusive_of_exactly_eight_hours() -> None:
    accepted(resource(), at(9), at(17))  # 480 min, the default maximum
    accepted(resource(), at(9), at(16, 59))  # 479 min
    assert refusal(resource(), at(9), at(17, 1)) == [  # 481 min
        {"field": "end", "reason": "longer than the maximum of 480 minutes"}
    ]


def test_a_custom_max_duration_is_inclusive_of_its_limit() -> None:
    r = resource(max_duration_minutes=90)
    accepted(r, at(9), at(10, 30))  # 90 min
    accepted(r, at(9), at(10, 29))  # 89 min
    assert refusal(r, at(9), at(10, 31)) == [{"field": "end", "reason": "longer than the maximum of 90 minutes"}]


def test_start_may_be_one_minute_in_the_past_and_no_more() -> None:
    # NOW is Thu 2026-11-26 12:00Z; the grace is one minute
    accepted(resource(), datetime(2026, 11, 26, 11, 59, tzinfo=UTC), at(12, 30, day=NOW.date()))
    accepted(resource(), datetime(2026, 11, 26, 11, 59, 1, tzinfo=UTC), at(12, 30, day=NOW.date()))
    assert refusal(resource(), datetime(2026, 11, 26, 11, 58, 59, tzinfo=UTC), at(12, 30, day=NOW.date())) == [
        {"field": "start", "reason": "is in the past"}
    ]


def test_booking_horizon_is_inclusive_of_exactly_max_days_ahead() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # Monday; 30 days later is Wed 2026-12-30 12:00Z
    limit = datetime(2026, 12, 30, 12, 0, tzinfo=UTC)
    accepted(resource(), limit, datetime(2026, 12, 30, 13, 0, tzinfo=UTC), now)
    accepted(resource(), datetime(2026, 12, 30, 11, 59, tzinfo=UTC), limit, now)
    over = datetime(2026, 12, 30, 12, 0, 1, tzinfo=UTC)
    assert refusal(resource(), over, datetime(2026, 12, 30, 13, 0, tzinfo=UTC), now) == [
        {"field": "start", "reason": "more than 30 days ahead"}
    ]
    # a custom horizon: 4 days after Thu 2026-11-26 12:00Z is Mon 2026-11-30 12:00Z
    r = resource(max_days_ahead=4)
    accepted(r, at(12), at(13))
    assert refusal(r, at(12, 1), at(13)) == [{"field": "start", "reason": "more than 4 days ahead"}]


def test_a_booking_may_end_exactly_at_closing_time_and_start_exactly_at_opening() -> None:
    accepted(resource(), at(19), at(20))  # Dublin is on UTC in November: 20:00Z is closing time
    accepted(resource(), at(8), at(9))
    reason = "outside opening hours (08:00-20:00 Europe/Dublin on 2026-11-30)"
    assert refusal(resource(), at(19), at(20, 1)) == [{"field": "start", "reason": reason}]
    assert refusal(resource(), at(7, 59), at(9)) == [{"field": "start", "reason": reason}]


def test_opening_hours_are_the_sites_local_time_across_the_dst_change() -> None:
    # Dublin leaves summer time (UTC+1) on Sun 2026-10-25: Friday 23rd closes at 19:00Z, Monday 26th at 20:00Z
    now = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
    fri, mon = date(2026, 10, 23), date(2026, 10, 26)
    dublin, utc_site = resource(), resource(tz="UTC")
    accepted(dublin, at(18, day=fri), at(19, day=fri), now)  # ends 20:00 Irish summer time
    accepted(dublin, at(7, day=fri), at(8, day=fri), now)  # starts 08:00 Irish summer time
    reason = "outside opening hours (08:00-20:00 Europe/Dublin on 2026-10-23)"
    assert refusal(dublin, at(18, day=fri), at(19, 1, day=fri), now) == [{"field": "start", "reason": reason}]
    assert refusal(dublin, at(6, 59, day=fri), at(8, day=fri), now) == [{"field": "start", "reason": reason}]
    accepted(utc_site, at(19, day=fri), at(20, day=fri), now)  # the same UTC slot at a site on UTC
    accepted(dublin, at(19, day=mon), at(20, day=mon), now)  # after the change, 20:00Z is closing time
    assert refusal(dublin, at(7, day=mon), at(8, day=mon), now) == [
        {"field": "start", "reason": "outside opening hours (08:00-20:00 Europe/Dublin on 2026-10-26)"}
    ]


def test_the_local_date_picks_the_days_opening_hours() -> None:
    # Istanbul is UTC+3 all year: Sun 2026-11-29 22:00Z is Mon 2026-11-30 01:00 there, inside Monday's 00:00-06:00
    night = OpeningHours({"mon": [(time(0), time(6))]})
    r = Resource("r1", "s1", "Lab", "lab", 1, BookingPolicy(), "TR10", "Europe/Istanbul", night)
    sun = date(2026, 11, 29)
    accepted(r, at(22, day=sun), at(23, day=sun))
    accepted(r, at(21, day=sun), at(22, day=sun))  # 00:00-01:00 local: starts at opening
    assert refusal(r, at(20, 59, day=sun), at(22, day=sun)) == [
        {"field": "start", "reason": "outside opening hours (closed Europe/Istanbul on 2026-11-29)"}
    ]


def test_overlap_exactly_at_capacity_is_accepted_and_one_more_is_refused() -> None:
    r, day = resource(capacity=3), ResourceDay("r1", MON)
    for who in (ALICE, BOB, ALICE):
        day.book(r, who, at(9), at(10), NOW)
    with pytest.raises(Conflict) as e:
        day.book(r, BOB, at(9, 30), at(9, 45), NOW)
    assert len(e.value.extensions["conflicting"]) == 3
    assert len(day.bookings) == 3
    day.book(r, BOB, at(10), at(11), NOW)  # starts as the three end: free


@pytest.mark.parametrize(("start", "end"), [(at(11), at(12)), (at(8), at(9))], ids=["after", "before"])
def test_back_to_back_with_capacity_one_either_side(start: datetime, end: datetime) -> None:
    day = ResourceDay("r1", MON)
    day.book(resource(), ALICE, at(9), at(11), NOW)
    day.book(resource(), BOB, start, end, NOW)
    assert len(day.bookings) == 2


def test_a_conflict_names_the_overlapping_booking_and_not_its_back_to_back_neighbours() -> None:
    day = ResourceDay("r1", MON)
    for start, end in ((at(9), at(10)), (at(10), at(11)), (at(11), at(12))):
        day.book(resource(), ALICE, start, end, NOW)  # back to back at capacity 1
    with pytest.raises(Conflict) as e:
        day.book(resource(), BOB, at(10), at(11), NOW)
    assert e.value.extensions["conflicting"] == [
        {"start": "2026-11-30T10:00:00.000000Z", "end": "2026-11-30T11:00:00.000000Z"}
    ]


def test_a_slot_spanning_two_back_to_back_bookings_counts_them_as_one_at_a_time() -> None:
    # capacity 2: 09:00-10:30 and 10:30-12:00 never overlap, so 10:00-11:00 makes at most 2 at any instant
    r, day = resource(capacity=2), ResourceDay("r1", MON)
    day.book(r, ALICE, at(9), at(10, 30), NOW)
    day.book(r, ALICE, at(10, 30), at(12), NOW)
    day.book(r, BOB, at(10), at(11), NOW)
    with pytest.raises(Conflict):  # and now 10:15-10:45 would make 3 from 10:15 to 10:30
        day.book(r, BOB, at(10, 15), at(10, 45), NOW)


TRAINED = Booker("carol", frozenset({"student", "staff"}), "ITH5", "UNIBO", frozenset({"laser"}))


@pytest.mark.parametrize(
    ("policy", "who", "refused"),
    [
        ({"eligible_regions": ("IE05", "ITH5")}, BOB, None),
        ({"eligible_regions": ("IE05",)}, BOB, "region ITH5"),
        ({"eligible_regions": ()}, BOB, None),
        ({"eligible_roles": ("academic", "staff")}, TRAINED, None),  # one role of two is enough
        ({"eligible_roles": ("academic", "staff")}, ALICE, "roles"),
        ({"eligible_roles": ()}, ALICE, None),
        ({"required_training": "laser"}, TRAINED, None),
        ({"required_training": "laser"}, Booker("dan", frozenset(), "IE05", None, frozenset({"lathe"})), "laser"),
        ({"required_training": "laser"}, ALICE, "laser"),
        ({"required_training": None}, ALICE, None),
    ],
)
def test_eligibility_at_each_rule(policy: dict[str, Any], who: Booker, refused: str | None) -> None:
    day = ResourceDay("r1", MON)
    if refused is None:
        day.book(resource(**policy), who, at(9), at(10), NOW)
        assert len(day.bookings) == 1
    else:
        with pytest.raises(Forbidden, match=refused):
            day.book(resource(**policy), who, at(9), at(10), NOW)
        assert day.bookings == []
