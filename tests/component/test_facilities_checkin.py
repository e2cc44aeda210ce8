"""Check-in and no-show release through the embedded gateway, with the facilities service's clock set by
hand: a resource whose policy asks for check-in (``check_in_grace_minutes``) takes check-ins from 15
minutes before a booking's start until start + grace (inclusive); the sweeper's step (``run_due``) releases
a booking not checked in once that deadline has passed (``BookingReleased``, reason no_show), offers the
rest of its slot to the waitlist, and the site's managers see no-shows per person."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from services.facilities.handlers import waitlist as wl
from tests.component.facilities_fixtures import assert_problem, wait_for_events
from tests.component.test_facilities_waitlist import API, FRIDAY_NOON, MIN, SEC, World, at, body
from tests.component.test_facilities_waitlist import world as world  # the fixture, shared
from tests.helpers import eventually, pid

MTU = "Munster Technological University"
GRACE = 15  # minutes
START, END = at(10), at(12)
DEADLINE = START + GRACE * MIN  # 10:15


def manager(w: World) -> dict[str, str]:
    return w.who("mgr", "facility_manager", org=MTU)


async def checkin_desk(w: World, grace: int | None = GRACE) -> str:
    policy = {} if grace is None else {"check_in_grace_minutes": grace}
    res = {"site_id": "ork-rubicon", "name": "Desk with check-in", "kind": "hot_desk", "policy": policy}
    r = await w.client.post(f"{API}/resources", json=res, headers=manager(w))
    assert r.status_code == 201, r.text
    assert r.json()["policy"].get("check_in_grace_minutes") == grace
    rid: str = r.json()["id"]
    return rid


async def booked(w: World, desk: str, sub: str = "a") -> dict[str, Any]:
    r = await w.book(sub, START, END, resource=desk)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def check_in(w: World, booking_id: str, headers: dict[str, str]) -> httpx.Response:
    return await w.client.post(f"{API}/bookings/{booking_id}/check-in", headers=headers)


async def status(w: World, booking_id: str) -> str:
    r = await w.client.get(f"{API}/bookings/{booking_id}", headers=manager(w))
    assert r.status_code == 200, r.text
    s: str = r.json()["status"]
    return s


@pytest.mark.parametrize(
    ("when", "code"),
    [
        (START - 15 * MIN - SEC, 409),  # before check-in opens
        (START - 15 * MIN, 200),  # it opens 15 minutes before the start
        (DEADLINE - SEC, 200),  # just inside the grace period
        (DEADLINE, 200),  # at its end: still in (the deadline is inclusive)
        (DEADLINE + SEC, 409),  # just outside, even before the sweeper has released it
    ],
)
async def test_check_in_is_taken_from_15_minutes_before_until_the_grace_period_ends(
    world: World, when: datetime, code: int
) -> None:
    w = world
    b = await booked(w, await checkin_desk(w))
    assert b["check_in_by"] == "2027-03-01T10:15:00.000000Z" and b["checked_in_at"] is None
    w.clock.now = when
    r = await check_in(w, b["id"], w.who("a"))
    assert r.status_code == code, r.text
    if code == 200:
        assert datetime.fromisoformat(r.json()["checked_in_at"]) == when
    elif when < START:
        assert r.json()["opens_at"] == "2027-03-01T09:45:00.000000Z"
    else:
        assert r.json()["closed_at"] == "2027-03-01T10:15:00.000000Z"


@pytest.mark.parametrize(
    ("when", "released"),
    [
        (DEADLINE - SEC, 0),  # just inside the grace period
        (DEADLINE, 0),  # at its end
        (DEADLINE + SEC, 1),  # just outside
    ],
)
async def test_a_booking_not_checked_in_is_released_only_after_the_grace_period(
    world: World, when: datetime, released: int
) -> None:
    w = world
    b = await booked(w, await checkin_desk(w))
    w.clock.now = when
    assert (await wl.run_due(w.facilities))["released"] == released
    assert await status(w, b["id"]) == ("released" if released else "confirmed")


async def test_done_when_a_desk_not_checked_in_is_released_and_offered_to_the_waitlist(world: World) -> None:
    """A books a desk that asks for check-in, B joins its waitlist; nobody checks in: one second after
    the grace period the sweeper releases it (a no-show), offers the rest of the slot to B (from the
    release's minute, held for the 5-minute floor since the slot has started) and B claims it."""
    w = world
    desk = await checkin_desk(w)
    a = await booked(w, desk)
    b = await w.join("b", START, END, resource=desk)
    assert b.status_code == 201, b.text
    w.clock.now = DEADLINE + SEC
    assert await wl.run_due(w.facilities) == {"released": 1, "lapsed": 0, "offered": 1}
    assert await wl.run_due(w.facilities) == {"released": 0, "lapsed": 0, "offered": 0}  # once
    offer = (await w.entry("b", b.json()["id"]))["offer"]
    assert offer == {
        "start": "2027-03-01T10:15:00.000000Z",
        "end": "2027-03-01T12:00:00.000000Z",
        "offered_at": "2027-03-01T10:15:01.000000Z",
        "expires_at": "2027-03-01T10:20:01.000000Z",
    }
    late = assert_problem(await check_in(w, a["id"], w.who("a")), 409)
    assert "released as a no-show" in late["detail"]
    w.clock.now = DEADLINE + 3 * MIN
    claim = await w.claim("b", b.json()["id"])
    assert claim.status_code == 201, claim.text
    assert (claim.json()["start"], claim.json()["end"]) == (
        "2027-03-01T10:18:00.000000Z",
        "2027-03-01T12:00:00.000000Z",
    )
    assert claim.json()["check_in_by"] == "2027-03-01T10:33:00.000000Z"  # the claim's own grace period
    assert (await check_in(w, claim.json()["id"], w.who("b"))).status_code == 200
    released = await wait_for_events(w.settings, "BookingReleased", 1)
    assert [(e["booking_id"], e["reason"], e["check_in_by"]) for e in released] == [
        (a["id"], "no_show", "2027-03-01T10:15:00.000000Z")
    ]
    offered = await wait_for_events(w.settings, "SlotOffered", 1)
    assert [(e["person"], e["freed_booking_id"]) for e in offered] == [(pid("b"), a["id"])]
    checked = await wait_for_events(w.settings, "BookingCheckedIn", 1)
    assert [(e["booking_id"], e["person"], e["by_manager"]) for e in checked] == [(claim.json()["id"], pid("b"), False)]

    # the usage projection: A's 120 minutes booked, given back at the release, B's 102 (10:18-12:00)
    async def usage() -> list[dict[str, Any]]:
        r = await w.client.get(f"{API}/sites/ork-rubicon/usage", headers=manager(w))
        return [u for u in r.json() if u["resource_id"] == desk]

    async def settled() -> bool:
        return await usage() == [{"resource_id": desk, "day": "2027-03-01", "bookings": 1, "booked_minutes": 102}]

    await eventually(settled, timeout_s=20, what="the usage projection")


async def test_checked_in_bookings_stay_and_a_second_check_in_changes_nothing(world: World) -> None:
    w = world
    b = await booked(w, await checkin_desk(w))
    w.clock.now = START
    first = await check_in(w, b["id"], w.who("a"))
    w.clock.now = START + 5 * MIN
    again = await check_in(w, b["id"], w.who("a"))
    assert again.status_code == 200 and again.json()["checked_in_at"] == first.json()["checked_in_at"]
    w.clock.now = END
    assert await wl.run_due(w.facilities) == {"released": 0, "lapsed": 0, "offered": 0}
    assert await status(w, b["id"]) == "confirmed"
    assert len(await wait_for_events(w.settings, "BookingCheckedIn", 1)) == 1


async def test_a_manager_checks_in_for_the_holder_and_nobody_else_may(world: World) -> None:
    w = world
    b = await booked(w, await checkin_desk(w))
    w.clock.now = START
    assert_problem(await check_in(w, b["id"], w.who("c")), 404)
    other = w.who("mgr2", "facility_manager", org="University College Cork")
    assert_problem(await check_in(w, b["id"], other), 404)
    r = await check_in(w, b["id"], manager(w))
    assert r.status_code == 200, r.text
    checked = await wait_for_events(w.settings, "BookingCheckedIn", 1)
    assert checked[0]["by_manager"] is True and checked[0]["person"] == pid("a")


async def test_check_in_where_none_is_asked_or_on_a_cancelled_booking_is_409(world: World) -> None:
    w = world
    plain = await booked(w, await checkin_desk(w, grace=None))
    assert plain["check_in_by"] is None
    w.clock.now = START
    assert "asks for no check-in" in assert_problem(await check_in(w, plain["id"], w.who("a")), 409)["detail"]
    w.clock.now = FRIDAY_NOON
    b = await booked(w, await checkin_desk(w), sub="d")
    await w.cancel("d", b["id"])
    w.clock.now = START
    assert "cancelled" in assert_problem(await check_in(w, b["id"], w.who("d")), 409)["detail"]
    assert_problem(await check_in(w, "nope", w.who("d")), 404)


async def test_no_shows_per_person_are_for_the_sites_managers(world: World) -> None:
    w = world
    desk = await checkin_desk(w)
    first = await booked(w, desk, sub="a")
    w.clock.now = at(14)  # A's 10:00 booking was not checked in; the sweeper runs at 14:00
    assert (await wl.run_due(w.facilities))["released"] == 1
    r = await w.book("a", at(15), at(16), resource=desk)
    assert r.status_code == 201, r.text
    w.clock.now = at(16)
    assert (await wl.run_due(w.facilities))["released"] == 1
    url = f"{API}/sites/ork-rubicon/no-shows"

    async def counted() -> bool:
        got = (await w.client.get(url, headers=manager(w))).json()
        return bool(got) and got[0]["no_shows"] == 2

    await eventually(counted, timeout_s=20, what="the no-show projection")
    rows = (await w.client.get(url, headers=manager(w))).json()
    assert rows == [
        {"person": pid("a"), "site_id": "ork-rubicon", "no_shows": 2, "last_start": "2027-03-01T15:00:00.000000Z"}
    ]
    assert first["person"] == pid("a")
    assert_problem(await w.client.get(url, headers=w.who("a")), 403)
    assert_problem(
        await w.client.get(url, headers=w.who("mgr2", "facility_manager", org="University College Cork")), 403
    )
    assert_problem(await w.client.get(f"{API}/sites/nope/no-shows", headers=manager(w)), 404)


async def test_a_claim_is_checked_against_the_policy_like_a_booking(world: World) -> None:
    """B joined with a token that may book the academics' desk; she claims with one that may not: 403
    naming the rule, and the offer stays hers until it lapses."""
    w = world
    policy = {"eligible_roles": ["academic"]}
    res = {"site_id": "ork-rubicon", "name": "Academics' desk", "kind": "hot_desk", "policy": policy}
    desk = (await w.client.post(f"{API}/resources", json=res, headers=manager(w))).json()["id"]
    academic_a, academic_b = w.who("a", "academic"), w.who("b", "academic")
    a = await w.client.post(f"{API}/bookings", json=body(START, END, desk), headers=academic_a)
    assert a.status_code == 201, a.text
    assert_problem(await w.client.post(f"{API}/waitlist", json=body(START, END, desk), headers=w.who("b")), 403)
    entry = (await w.client.post(f"{API}/waitlist", json=body(START, END, desk), headers=academic_b)).json()
    assert (await w.client.post(f"{API}/bookings/{a.json()['id']}/cancel", headers=academic_a)).is_success
    refused = assert_problem(await w.claim("b", entry["id"]), 403)
    assert refused["eligible_roles"] == ["academic"]
    assert (await w.entry("b", entry["id"]))["status"] == "offered"
    claimed = await w.client.post(f"{API}/waitlist/{entry['id']}/claim", headers=academic_b)
    assert claimed.status_code == 201, claimed.text


@pytest.mark.parametrize("grace", [0, 241, "soon", 1.5])
async def test_bad_check_in_grace_is_422_naming_the_field(world: World, grace: Any) -> None:
    res = {"site_id": "ork-rubicon", "name": "D", "kind": "hot_desk", "policy": {"check_in_grace_minutes": grace}}
    p = assert_problem(await world.client.post(f"{API}/resources", json=res, headers=manager(world)), 422)
    assert [e["field"] for e in p["errors"]] == ["policy.check_in_grace_minutes"]


@pytest.mark.parametrize("grace", [1, 240])
async def test_the_grace_periods_bounds_are_accepted(world: World, grace: int) -> None:
    assert await checkin_desk(world, grace=grace)
