"""A council desk is not reachable by a former member: approval re-checks the holder's standing under the
resource's policy (409 naming the policy, the booking stays pending), and a consumed ``MemberLeft``
cancels the person's future bookings of resources that required that council, once, through the
schedule aggregate with its events.

Every expected value is written out by hand from the rule; time comes from a fixed clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.auth import Principal
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.problems import Conflict
from clustergrowth.store.sqlite import SqliteStore
from contracts import councils as cev
from services.facilities import commands as c
from services.facilities import consumers
from services.facilities import handlers as h
from services.facilities import store as st
from services.facilities.domain.model import (
    Booker,
    Booking,
    BookingPolicy,
    OpeningHours,
    Resource,
    ResourceDay,
)

BOOKED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday: when the bookings were made
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday: when the membership ends / a manager decides
THU = date(2026, 11, 26)
HOURS = OpeningHours({d: [(time(8), time(20))] for d in ("mon", "tue", "wed", "thu", "fri")})
CORK, BOLOGNA = "council-cork", "council-bologna"
CAROL, DAN = "p-" + "c" * 26, "p-" + "d" * 26
PLATFORM = "service:facilities"  # who the platform's own withdrawals are recorded as


def resource(rid: str = "r1", *councils: str, capacity: int = 6, **policy: Any) -> Resource:
    p = BookingPolicy(member_of_councils=councils, **policy)
    return Resource(rid, "s1", f"Desk {rid}", "hot_desk", capacity, p, "IE05", "Europe/Dublin", HOURS)


def member(
    person: str = CAROL, *councils: str, region: str = "IE05", trainings: frozenset[str] = frozenset()
) -> Booker:
    return Booker(person, frozenset({"sme_member"}), region, "IE05:acme", trainings, frozenset(councils))


def at(h: int, m: int = 0, us: int = 0) -> datetime:
    return datetime(2026, 11, 26, h, m, 0, us, tzinfo=UTC)


def pending(r: Resource, who: Booker | None = None) -> tuple[ResourceDay, Booking]:
    day = ResourceDay(r.id, THU)
    b = day.book(r, who or member(CAROL, *r.policy.member_of_councils), at(14), at(15), BOOKED_AT)
    assert b.status == "pending_approval"
    return day, b


# Approval re-checks the holder's standing -------------------------------------------------------------
def test_approval_confirms_when_the_holder_is_still_a_member() -> None:
    r = resource("r1", CORK, requires_approval=True)
    day, b = pending(r)
    d = day.approve(b.id, "mgr", r, member(CAROL, CORK))
    assert (d.status, d.sequence, d.changed_by) == ("confirmed", 1, "mgr")


def test_approval_of_a_former_member_is_a_409_naming_the_policy_and_the_booking_stays_pending() -> None:
    r = resource("r1", CORK, requires_approval=True)
    day, b = pending(r)
    with pytest.raises(Conflict) as e:
        day.approve(b.id, "mgr", r, member(CAROL))
    assert e.value.detail == (
        f"booking {b.id} cannot be approved: this resource's policy member_of_councils admits members of the "
        "councils ['council-cork'] only"
    )
    assert e.value.extensions == {"member_of_councils": [CORK], "status_now": "pending_approval"}
    assert day.bookings == [b]  # unchanged: still pending, same sequence, nobody recorded


def test_approval_accepts_membership_of_any_named_council_and_no_other() -> None:
    r = resource("r1", CORK, BOLOGNA, requires_approval=True)
    day, b = pending(r)
    assert day.approve(b.id, "mgr", r, member(CAROL, BOLOGNA)).status == "confirmed"
    day, b = pending(r)
    with pytest.raises(Conflict, match="member_of_councils"):
        day.approve(b.id, "mgr", r, member(CAROL, "council-madrid"))


def test_approval_re_checks_the_region_and_the_training_but_not_the_roles() -> None:
    regional = resource("r1", requires_approval=True, eligible_regions=("IE05",))
    day, b = pending(regional)
    with pytest.raises(Conflict) as e:
        day.approve(b.id, "mgr", regional, member(CAROL, region="ITH5"))
    assert e.value.extensions == {"eligible_regions": ["IE05"], "status_now": "pending_approval"}

    trained = resource("r1", requires_approval=True, required_training="laser")
    day, b = pending(trained, member(CAROL, trainings=frozenset({"laser"})))
    with pytest.raises(Conflict) as e:
        day.approve(b.id, "mgr", trained, member(CAROL))  # the training expired since
    assert e.value.extensions == {"required_training": "laser", "status_now": "pending_approval"}
    assert day.approve(b.id, "mgr", trained, member(CAROL, trainings=frozenset({"laser"}))).status == "confirmed"

    by_role = resource("r1", requires_approval=True, eligible_roles=("sme_member",))
    day, b = pending(by_role)
    roles_unknown = Booker(CAROL, frozenset(), "IE05", "IE05:acme")  # no token at approval: roles not known
    assert day.approve(b.id, "mgr", by_role, roles_unknown).status == "confirmed"


def test_a_request_that_is_no_longer_pending_answers_its_status_before_any_eligibility() -> None:
    r = resource("r1", CORK, requires_approval=True)
    day, b = pending(r)
    day.cancel(b.id, CAROL, may_manage=False)
    with pytest.raises(Conflict) as e:
        day.approve(b.id, "mgr", r, member(CAROL))
    assert e.value.detail == f"booking {b.id} is cancelled, not awaiting approval"


def test_a_former_members_request_can_still_be_rejected() -> None:
    r = resource("r1", CORK, requires_approval=True)
    day, b = pending(r)
    assert day.decide(b.id, "mgr", approve=False).status == "rejected"


# MemberLeft withdraws future bookings (domain) --------------------------------------------------------
def schedule(r: Resource) -> tuple[ResourceDay, dict[str, Booking]]:
    """Carol's bookings around NOW (12:00) and one of Dan's, all made the day before."""
    councils = r.policy.member_of_councils
    day, carol, dan = ResourceDay(r.id, THU), member(CAROL, *councils), member(DAN, *councils)
    slots = {
        "past": (carol, at(9), at(10)),
        "started": (carol, at(11, 30), at(12, 30)),
        "at_now": (carol, at(12), at(13)),  # starts at the very moment: under way, kept
        "just_after": (carol, at(12, 0, 1), at(13)),  # one microsecond later: future
        "later": (carol, at(16), at(17)),
        "dans": (dan, at(16), at(17)),
    }
    return day, {k: day.book(r, who, s, e, BOOKED_AT) for k, (who, s, e) in slots.items()}


def test_the_persons_future_confirmed_bookings_are_cancelled_and_the_rest_kept() -> None:
    r = resource("r1", CORK)
    day, b = schedule(r)
    changed = day.end_membership(CAROL, CORK, frozenset(), r, NOW, PLATFORM)
    assert [(was, x.id) for was, x in changed] == [("confirmed", b["just_after"].id), ("confirmed", b["later"].id)]
    for k in ("just_after", "later"):
        x = day.find(b[k].id)
        assert (x.status, x.sequence, x.changed_by, x.cause) == ("cancelled", 1, PLATFORM, "membership_ended")
    for k in ("past", "started", "at_now", "dans"):
        assert day.find(b[k].id) == b[k]


def test_a_pending_request_is_withdrawn_too() -> None:
    r = resource("r1", CORK, requires_approval=True)
    day, b = pending(r)
    changed = day.end_membership(CAROL, CORK, frozenset(), r, NOW, PLATFORM)
    assert [(was, x.id, x.status) for was, x in changed] == [("pending_approval", b.id, "cancelled")]


@pytest.mark.parametrize(
    ("policy_councils", "still_in", "left"),
    [
        ((CORK, BOLOGNA), {BOLOGNA}, CORK),  # still a member of another council the desk admits
        ((BOLOGNA,), set(), CORK),  # the desk never asked for the council she left
        ((), set(), CORK),  # an open desk
    ],
)
def test_nothing_is_cancelled_where_the_person_stays_eligible(
    policy_councils: tuple[str, ...], still_in: set[str], left: str
) -> None:
    r = resource("r1", *policy_councils)
    day, b = schedule(r)
    assert day.end_membership(CAROL, left, frozenset(still_in), r, NOW, PLATFORM) == []
    assert day.bookings == list(b.values())


def test_a_second_end_of_the_same_membership_cancels_nothing_again() -> None:
    r = resource("r1", CORK)
    day, _ = schedule(r)
    assert len(day.end_membership(CAROL, CORK, frozenset(), r, NOW, PLATFORM)) == 2
    after = list(day.bookings)
    assert day.end_membership(CAROL, CORK, frozenset(), r, NOW, PLATFORM) == []
    assert day.bookings == after


def test_the_cause_round_trips_through_the_stored_document() -> None:
    r = resource("r1", CORK)
    day, b = schedule(r)
    day.end_membership(CAROL, CORK, frozenset(), r, NOW, PLATFORM)
    again = st.schedule_from_doc(st.schedule_to_doc(day, None))
    assert again.find(b["later"].id).cause == "membership_ended"
    assert again.find(b["dans"].id).cause is None


# Through the handlers and the store ----------------------------------------------------------------------
def joined(member_id: str, council: str = CORK, person: str = CAROL) -> CloudEvent:
    data = cev.MemberJoined(
        council_id=council,
        member_id=member_id,
        person=person,
        organisation="IE05:acme",
        constituency="sme",
        position="member",
        region="IE05",
        joined_at="2026-10-01T00:00:00.000000Z",
    )
    return make_event(data, key=council, region="IE05", source="/regions/IE05/councils")


def left(member_id: str, council: str = CORK, person: str = CAROL) -> CloudEvent:
    data = cev.MemberLeft(
        council_id=council,
        member_id=member_id,
        person=person,
        constituency="sme",
        region="IE05",
        left_at="2026-11-26T00:00:00.000000Z",
        reason="resigned",
    )
    return make_event(data, key=council, region="IE05", source="/regions/IE05/councils")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(BOOKED_AT)


@pytest.fixture
async def f(tmp_path: Path, clock: Clock) -> h.Facilities:
    store = SqliteStore(tmp_path / "facilities.sqlite")
    ctx = h.Facilities(store, "IE05", clock=clock)
    for r in (
        resource("desk", CORK),
        resource("room", CORK, requires_approval=True),
        resource("open"),
        resource("lab", requires_approval=True, required_training="laser"),
    ):
        await store.insert(st.RESOURCES, st.resource_to_doc(r))
    return ctx


CAROL_P = Principal("carol", frozenset({"sme_member"}), "IE05", "IE05:acme")
MANAGER = Principal("mgr", frozenset({"region_admin"}), "IE05")


async def book(f: h.Facilities, rid: str, hour: int) -> Booking:
    cmd = c.BookResource(resource_id=rid, start=at(hour), end=at(hour + 1))
    return await h.book(f, cmd, CAROL_P)


def cancellations(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for d in docs for e in d.get("outbox", []) if e["type"].endswith(".BookingCancelled.v1")]


async def test_member_left_cancels_the_future_bookings_with_their_events_once(f: h.Facilities, clock: Clock) -> None:
    carol = CAROL_P.id
    projection = h.membership_projection(f)
    await projection.handle(joined("m1", person=carol))
    desk, room, open_ = await book(f, "desk", 14), await book(f, "room", 14), await book(f, "open", 14)
    assert (desk.status, room.status, open_.status) == ("confirmed", "pending_approval", "confirmed")

    clock.now = NOW
    gone = left("m1", person=carol)
    await projection.handle(gone)
    statuses = {b.resource_id: b.status for b in await h.my_bookings(f, CAROL_P)}
    assert statuses == {"desk": "cancelled", "room": "cancelled", "open": "confirmed"}
    docs = await f.store.find(st.SCHEDULES, {})
    common = {"person": carol, "cancelled_by": PLATFORM, "cause": "membership_ended", "region": "IE05"}
    common |= {"start": "2026-11-26T14:00:00.000000Z", "end": "2026-11-26T15:00:00.000000Z", "site_id": "s1"}
    assert sorted(cancellations(docs), key=lambda d: d["resource_id"]) == [
        {**common, "booking_id": desk.id, "resource_id": "desk", "reason": "cancelled"},  # was confirmed
        {**common, "booking_id": room.id, "resource_id": "room", "reason": "rejected"},  # was never confirmed
    ]

    versions = {d["_id"]: d["version"] for d in docs}
    await projection.handle(gone)  # redelivered
    docs = await f.store.find(st.SCHEDULES, {})
    assert {d["_id"]: d["version"] for d in docs} == versions
    assert len(cancellations(docs)) == 2


async def test_member_left_keeps_the_bookings_of_a_person_who_rejoined_before_it_was_redelivered(
    f: h.Facilities, clock: Clock
) -> None:
    carol = CAROL_P.id
    projection = h.membership_projection(f)
    await projection.handle(joined("m1", person=carol))
    await projection.handle(left("m1", person=carol))
    await projection.handle(joined("m2", person=carol))
    b = await book(f, "desk", 14)
    clock.now = NOW
    await projection.handle(left("m1", person=carol))  # the old membership's end, delivered again
    assert (await h.get_booking(f, b.id, CAROL_P)).status == "confirmed"


async def test_approval_after_the_projection_lost_the_membership_is_refused_and_writes_nothing(
    f: h.Facilities, clock: Clock
) -> None:
    carol = CAROL_P.id
    await h.membership_projection(f).handle(joined("m1", person=carol))
    b = await book(f, "room", 14)
    await consumers.MembershipProjection(f.store).handle(left("m1", person=carol))  # not yet swept
    before = await f.store.find(st.SCHEDULES, {})
    with pytest.raises(Conflict) as e:
        await h.decide(f, b.id, MANAGER, approve=True)
    assert "member_of_councils" in e.value.detail and CORK in e.value.detail
    assert await f.store.find(st.SCHEDULES, {}) == before
    assert (await h.decide(f, b.id, MANAGER, approve=False)).status == "rejected"


async def test_approval_after_a_rejoin_confirms(f: h.Facilities) -> None:
    carol = CAROL_P.id
    plain = consumers.MembershipProjection(f.store)
    await plain.handle(joined("m1", person=carol))
    b = await book(f, "room", 14)
    await plain.handle(left("m1", person=carol))
    await plain.handle(joined("m2", person=carol))
    assert (await h.decide(f, b.id, MANAGER, approve=True)).status == "confirmed"


EXPIRED_AT_NOW = {"required_training": "laser", "status_now": "pending_approval"}


def ends_after(until: str) -> dict[str, Any]:
    reason = f"after your training 'laser' expires at {until}"
    return {
        "errors": [{"field": "end", "reason": reason}],
        "required_training": "laser",
        "valid_until": until,
        "status_now": "pending_approval",
    }


@pytest.mark.parametrize(
    ("valid_until", "refusal"),
    [
        (at(15, us=1), None),  # the slot [14:00, 15:00) ends before it expires
        (at(15), None),  # ends exactly as it expires: covered (both half-open)
        (at(15) - timedelta(microseconds=1), ends_after("2026-11-26T14:59:59.999999Z")),
        (NOW + timedelta(microseconds=1), ends_after("2026-11-26T12:00:00.000001Z")),  # valid now, not to 15:00
        (NOW, EXPIRED_AT_NOW),  # no longer valid when the manager decides
        (NOW - timedelta(microseconds=1), EXPIRED_AT_NOW),
    ],
)
async def test_approval_needs_the_training_to_cover_the_slot_when_the_manager_decides(
    f: h.Facilities, clock: Clock, valid_until: datetime, refusal: dict[str, Any] | None
) -> None:
    """The training covered the slot when the request was made (the day before); before the manager
    decides it is recorded again (renewed or corrected) to expire at ``valid_until``: the approval
    confirms while it still covers the slot to its end, and is a 409 naming the rule (and the date)."""
    covering = c.GrantTraining(person=CAROL_P.id, training="laser", valid_until=at(15) + timedelta(days=1))
    await h.grant_training(f, covering, MANAGER)
    b = await book(f, "lab", 14)
    await h.grant_training(f, c.GrantTraining(person=CAROL_P.id, training="laser", valid_until=valid_until), MANAGER)
    clock.now = NOW
    if refusal is None:
        assert (await h.decide(f, b.id, MANAGER, approve=True)).status == "confirmed"
    else:
        with pytest.raises(Conflict) as e:
            await h.decide(f, b.id, MANAGER, approve=True)
        assert e.value.extensions == refusal
