"""The waitlist through the embedded gateway (SQLite store and log), with the facilities service's clock set
by hand: joining a taken slot or a window, the place in line, offers made when a booking is cancelled or
rejected, the claim window (default 30 min, half the time left before the slot, never under 5 min, never
past the slot's end) at its boundaries, lapses passing the slot to the next in line, leaving, and issue
16's done-when story (a claim racing a direct booking: exactly one holds the slot).

The sweeper's background loop is slowed to once an hour here, so time moves only when a test says so:
``run_due`` (the sweeper's step) is called with the clock set by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.problems import Conflict
from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from services.facilities.domain.model import MAX_WAITLIST, Booker, OfferRules, ResourceDay, WaitEntry
from services.facilities.handlers import waitlist as wl
from services.facilities.handlers.context import Facilities
from services.facilities.store import resource_from_doc
from tests.component.facilities_fixtures import assert_problem, events, wait_for_events
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, pid

API = "/api/v1/facilities"
DESK = "ork-rubicon-desk-1"  # Cork: Europe/Dublin, on UTC (GMT) until the end of March; open 08:00-20:00
MON = datetime(2027, 3, 1, tzinfo=UTC)  # a Monday
FRIDAY_NOON = datetime(2027, 2, 26, 12, tzinfo=UTC)  # "now" unless a test moves it
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)


def at(hour: int, minute: int = 0) -> datetime:
    return MON.replace(hour=hour, minute=minute)


def body(start: datetime, end: datetime, resource: str = DESK) -> dict[str, str]:
    return {"resource_id": resource, "start": start.isoformat(), "end": end.isoformat()}


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    clock: Clock
    settings: RuntimeSettings
    token: TokenFactory

    @property
    def facilities(self) -> Facilities:
        f: Facilities = self.app.state.facilities
        return f

    def who(self, sub: str, *roles: str, org: str | None = None) -> dict[str, str]:
        return {"Authorization": self.token(sub, *(roles or ("student",)), org=org)}

    async def book(self, sub: str, start: datetime, end: datetime, resource: str = DESK) -> httpx.Response:
        return await self.client.post(f"{API}/bookings", json=body(start, end, resource), headers=self.who(sub))

    async def join(self, sub: str, start: datetime, end: datetime, resource: str = DESK) -> httpx.Response:
        return await self.client.post(f"{API}/waitlist", json=body(start, end, resource), headers=self.who(sub))

    async def entry(self, sub: str, entry_id: str) -> dict[str, Any]:
        r = await self.client.get(f"{API}/waitlist/{entry_id}", headers=self.who(sub))
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def claim(self, sub: str, entry_id: str) -> httpx.Response:
        return await self.client.post(f"{API}/waitlist/{entry_id}/claim", headers=self.who(sub))

    async def cancel(self, sub: str, booking_id: str) -> None:
        r = await self.client.post(f"{API}/bookings/{booking_id}/cancel", headers=self.who(sub))
        assert r.status_code == 200, r.text

    async def holders(self, start: datetime, end: datetime, resource: str = DESK) -> list[str]:
        """Who holds an active booking overlapping [start, end) of the resource (as its managers see it)."""
        manager = self.who("mgr", "facility_manager", org="Munster Technological University")
        r = await self.client.get(f"{API}/resources/{resource}/bookings", params={"limit": 200}, headers=manager)
        assert r.status_code == 200, r.text
        return [
            b["person"]
            for b in r.json()
            if b["status"] in ("confirmed", "pending_approval")
            and datetime.fromisoformat(b["start"]) < end
            and start < datetime.fromisoformat(b["end"])
        ]

    async def offered(self, sub: str, start: datetime, end: datetime, when: datetime) -> str:
        """``sub`` joins the line for a slot another person booked; that booking is cancelled at ``when``:
        the offer is ``sub``'s. Returns the entry's id."""
        clock, self.clock.now = self.clock.now, FRIDAY_NOON
        r = await self.book(f"holder-{sub}", start, end)
        assert r.status_code == 201, r.text
        joined = await self.join(sub, start, end)
        assert joined.status_code == 201, joined.text
        self.clock.now = when
        await self.cancel(f"holder-{sub}", r.json()["id"])
        self.clock.now = clock
        entry_id: str = joined.json()["id"]
        return entry_id


@pytest.fixture
async def world(
    settings: RuntimeSettings, token: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    monkeypatch.setenv("CG_FACILITIES_SWEEP_INTERVAL_S", "3600")
    app = create_app(settings)
    async for client in asgi_client(app):
        clock = Clock(FRIDAY_NOON)
        app.state.facilities.clock = clock
        yield World(app, client, clock, settings, token)


async def test_the_services_sweeper_lapses_offers_on_its_own(
    settings: RuntimeSettings, token: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring: the service's background loop (every CG_FACILITIES_SWEEP_INTERVAL_S) runs the step, so
    once the clock passes an offer's expiry it lapses and the next in line is offered, with no test call."""
    monkeypatch.setenv("CG_FACILITIES_SWEEP_INTERVAL_S", "0.05")
    app = create_app(settings)
    async for client in asgi_client(app):
        clock = Clock(FRIDAY_NOON)
        app.state.facilities.clock = clock
        w = World(app, client, clock, settings, token)
        entry = await w.offered("b", at(10), at(11), FRIDAY_NOON)
        nxt = (await w.join("c", at(10), at(11))).json()["id"]
        clock.now = FRIDAY_NOON + 30 * MIN

        async def passed_on(w: World = w, nxt: str = nxt) -> bool:
            return (await w.entry("c", nxt))["status"] == "offered"

        await eventually(passed_on, timeout_s=30, what="the sweeper")
        assert (await w.entry("b", entry))["status"] == "lapsed"


# -- the claim window: hand-computed -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "held"),
    [
        (timedelta(hours=3), timedelta(minutes=30)),  # far ahead: the default
        (timedelta(minutes=61), timedelta(minutes=30)),  # half of 61 min is over 30: the default
        (timedelta(minutes=60), timedelta(minutes=30)),  # half the time left is the default exactly
        (timedelta(minutes=59), timedelta(minutes=29, seconds=30)),  # half the time left
        (timedelta(minutes=40), timedelta(minutes=20)),
        (timedelta(minutes=11), timedelta(minutes=5, seconds=30)),
        (timedelta(minutes=10), timedelta(minutes=5)),  # half the time left is the floor exactly
        (timedelta(minutes=9), timedelta(minutes=5)),  # the floor
        (timedelta(minutes=2), timedelta(minutes=5)),  # the floor, past the start (the claim books from then)
        (timedelta(0), timedelta(minutes=5)),  # a released slot that has started
    ],
)
def test_an_offer_is_held_30_minutes_or_half_the_time_left_never_under_5(left: timedelta, held: timedelta) -> None:
    now = FRIDAY_NOON
    start, end = now + left, now + left + timedelta(hours=2)
    assert OfferRules().expiry(start, end, now) == now + held


def test_an_offer_is_never_held_past_its_slot_and_the_settings_move_it() -> None:
    now = FRIDAY_NOON
    assert OfferRules().expiry(now, now + 3 * MIN, now) == now + 3 * MIN  # the slot ends before the floor
    assert (
        OfferRules(claim_minutes=10, min_claim_minutes=2).expiry(now + timedelta(hours=1), MON, now) == now + 10 * MIN
    )
    assert OfferRules(claim_minutes=10, min_claim_minutes=2).expiry(now + 3 * MIN, MON, now) == now + 2 * MIN


# -- issue 16's done-when, through the gateway -------------------------------------------------------


async def test_done_when_a_claim_racing_a_direct_booking_leaves_exactly_one_and_a_lapse_passes_on(
    world: World,
) -> None:
    """A books a desk, B joins the waitlist, A cancels, B gets the offer and claims it while C tries to
    book the same slot directly: exactly one of B and C holds it (B: the offer holds the slot for her).
    Then an unclaimed offer lapses to the next in line."""
    w = world
    start, end = at(10), at(11)
    a = await w.book("a", start, end)
    assert a.status_code == 201, a.text
    b = await w.join("b", start, end)
    assert b.status_code == 201, b.text
    assert (b.json()["status"], b.json()["position"], b.json()["offer"]) == ("waiting", 1, None)
    assert b.headers["location"].endswith(b.json()["id"])
    c_entry = await w.join("c", start, end)
    assert c_entry.json()["position"] == 2
    w.clock.now = FRIDAY_NOON + timedelta(hours=1)
    await w.cancel("a", a.json()["id"])
    mine = await w.entry("b", b.json()["id"])
    assert mine["status"] == "offered" and mine["position"] is None
    assert mine["offer"] == {
        "start": "2027-03-01T10:00:00.000000Z",
        "end": "2027-03-01T11:00:00.000000Z",
        "offered_at": "2027-02-26T13:00:00.000000Z",
        "expires_at": "2027-02-26T13:30:00.000000Z",
    }
    assert (await w.entry("c", c_entry.json()["id"]))["position"] == 1  # B no longer waits
    claim, direct = await asyncio.gather(w.claim("b", b.json()["id"]), w.book("c", start, end))
    assert claim.status_code == 201, claim.text
    assert_problem(direct, 409)
    assert await w.holders(start, end) == [pid("b")]
    assert claim.json()["person"] == pid("b") and (claim.json()["start"], claim.json()["end"]) == (
        "2027-03-01T10:00:00.000000Z",
        "2027-03-01T11:00:00.000000Z",
    )
    assert (await w.entry("b", b.json()["id"]))["booking_id"] == claim.json()["id"]

    # an unclaimed offer lapses to the next in line (C), who claims it
    await w.cancel("b", claim.json()["id"])  # B gives it back: C is next
    offer_c = (await w.entry("c", c_entry.json()["id"]))["offer"]
    assert offer_c["expires_at"] == "2027-02-26T13:30:00.000000Z"
    d = await w.join("d", start, end)  # D joins while the slot is held for C: not free, so she may
    assert d.status_code == 201, d.text
    w.clock.now = FRIDAY_NOON + timedelta(hours=1, minutes=30)
    assert await wl.run_due(w.facilities) == {"released": 0, "lapsed": 1, "offered": 1}
    assert (await w.entry("c", c_entry.json()["id"]))["status"] == "lapsed"
    assert_problem(await w.claim("c", c_entry.json()["id"]), 409)
    offer_d = (await w.entry("d", d.json()["id"]))["offer"]
    assert (offer_d["offered_at"], offer_d["expires_at"]) == (
        "2027-02-26T13:30:00.000000Z",
        "2027-02-26T14:00:00.000000Z",
    )
    assert (await w.claim("d", d.json()["id"])).status_code == 201
    assert await w.holders(start, end) == [pid("d")]
    assert await wl.run_due(w.facilities) == {"released": 0, "lapsed": 0, "offered": 0}  # nothing due twice

    names = ["WaitlistJoined", "SlotOffered", "OfferClaimed", "OfferLapsed"]
    got = {n: await wait_for_events(w.settings, n, 1) for n in names}
    assert len(await wait_for_events(w.settings, "OfferClaimed", 2)) == 2
    assert [e["person"] for e in got["WaitlistJoined"]] == [pid("b"), pid("c"), pid("d")]
    assert [e["person"] for e in await events(w.settings, "SlotOffered")] == [pid("b"), pid("c"), pid("d")]
    assert [e["person"] for e in await events(w.settings, "OfferLapsed")] == [pid("c")]
    assert [e["person"] for e in await events(w.settings, "OfferClaimed")] == [pid("b"), pid("d")]
    lapsed = (await events(w.settings, "OfferLapsed"))[0]
    assert lapsed["expired_at"] == "2027-02-26T13:30:00.000000Z" and lapsed["entry_id"] == c_entry.json()["id"]


async def test_twenty_racing_direct_bookings_never_take_a_claimed_slot(world: World) -> None:
    """The claim and many direct bookings at once: the offer holds the slot, so the claim alone wins."""
    w = world
    start, end = at(12), at(13)
    entry = await w.offered("b", start, end, FRIDAY_NOON)
    outcomes = await asyncio.gather(w.claim("b", entry), *[w.book(f"c{i}", start, end) for i in range(20)])
    assert sorted(r.status_code for r in outcomes) == [201] + [409] * 20
    assert await w.holders(start, end) == [pid("b")]


# -- the claim window through the API, at its boundaries ------------------------------------------------


@pytest.mark.parametrize(
    ("claim_after", "status"),
    [
        (timedelta(minutes=30) - SEC, 201),  # the last second of the window
        (timedelta(minutes=30), 409),  # the window is [offered_at, expires_at)
        (timedelta(minutes=30) + SEC, 409),  # one second after
    ],
)
async def test_a_claim_counts_until_the_last_second_of_its_window(
    world: World, claim_after: timedelta, status: int
) -> None:
    w = world
    start, end = at(14), at(15)
    entry = await w.offered("b", start, end, FRIDAY_NOON)
    w.clock.now = FRIDAY_NOON + claim_after
    r = await w.claim("b", entry)
    assert r.status_code == status, r.text
    if status == 409:
        assert r.json()["expired_at"] == "2027-02-26T12:30:00.000000Z"
        assert await w.holders(start, end) == []


@pytest.mark.parametrize(
    ("before_start", "expires_after"),
    [
        (timedelta(minutes=40), timedelta(minutes=20)),  # half the time left
        (timedelta(minutes=8), timedelta(minutes=5)),  # the floor
    ],
)
async def test_near_the_start_the_window_is_shorter(
    world: World, before_start: timedelta, expires_after: timedelta
) -> None:
    w = world
    start, end = at(16), at(17)
    offered_at = start - before_start
    entry = await w.offered("b", start, end, offered_at)
    got = (await w.entry("b", entry))["offer"]
    assert datetime.fromisoformat(got["expires_at"]) == offered_at + expires_after
    w.clock.now = offered_at + expires_after - SEC
    assert (await w.claim("b", entry)).status_code == 201


async def test_a_claim_after_the_start_books_from_that_minute(world: World) -> None:
    """Offered 2 minutes before the start, held for the 5-minute floor: claimed 4 min 30 s later (the
    slot started 2 min 30 s ago), the booking runs from the claim's minute to the slot's end."""
    w = world
    start, end = at(17), at(18)
    entry = await w.offered("b", start, end, start - 2 * MIN)
    w.clock.now = start + 2 * MIN + 30 * SEC
    r = await w.claim("b", entry)
    assert r.status_code == 201, r.text
    assert (r.json()["start"], r.json()["end"]) == ("2027-03-01T17:02:00.000000Z", "2027-03-01T18:00:00.000000Z")


async def test_a_held_slot_refuses_others_until_its_last_second_and_frees_at_expiry(world: World) -> None:
    w = world
    start, end = at(9), at(10)
    entry = await w.offered("b", start, end, FRIDAY_NOON)
    w.clock.now = FRIDAY_NOON + 30 * MIN - SEC
    held = assert_problem(await w.book("c", start, end), 409)
    assert held["held"] == [
        {
            "start": "2027-03-01T09:00:00.000000Z",
            "end": "2027-03-01T10:00:00.000000Z",
            "until": "2027-02-26T12:30:00.000000Z",
        }
    ]
    assert_problem(await w.book("c", at(9, 30), at(11)), 409)  # an overlap is refused too
    w.clock.now = FRIDAY_NOON + 30 * MIN  # the offer has lapsed, whether or not the sweeper ran
    assert (await w.book("c", start, end)).status_code == 201
    assert await wl.run_due(w.facilities) == {"released": 0, "lapsed": 1, "offered": 0}  # nobody next: no offer
    assert (await w.entry("b", entry))["status"] == "lapsed"
    assert await w.holders(start, end) == [pid("c")]


async def test_availability_shows_a_held_slot_busy_until_its_offer_lapses(world: World) -> None:
    """Availability agrees with a direct booking: the slot an offer holds is busy (naming nobody) until
    the instant before ``expires_at``; at it the slot is free; once the sweeper's step passes it to the
    next in line it is busy again, for her window; when her offer lapses with nobody next, free."""
    w = world
    start, end = at(10), at(11)
    entry = await w.offered("b", start, end, FRIDAY_NOON)  # held until 12:30 (30 min, far ahead)
    nxt = await w.join("c", start, end)
    assert nxt.status_code == 201, nxt.text  # the slot is held, so not free: she may join

    async def availability() -> tuple[list[tuple[str, str]], list[dict[str, str]]]:
        q = {"from": at(0).isoformat(), "to": (at(0) + timedelta(days=1)).isoformat()}
        r = await w.client.get(f"{API}/resources/{DESK}/availability", params=q, headers=w.who("d"))
        assert r.status_code == 200, r.text
        a = r.json()
        return [(s["start"][11:16], s["end"][11:16]) for s in a["free"]], a["busy"]

    around = [("08:00", "10:00"), ("11:00", "20:00")]
    held = [{"start": "2027-03-01T10:00:00.000000Z", "end": "2027-03-01T11:00:00.000000Z"}]  # no person in it
    for now in (FRIDAY_NOON, FRIDAY_NOON + 30 * MIN - SEC):
        w.clock.now = now
        assert await availability() == (around, held), now
    assert_problem(await w.book("d", start, end), 409)  # what availability says: not bookable
    w.clock.now = FRIDAY_NOON + 30 * MIN  # expires_at: lapsed, whether or not the step ran
    assert await availability() == ([("08:00", "20:00")], [])
    assert await wl.run_due(w.facilities) == {"released": 0, "lapsed": 1, "offered": 1}  # C is next
    assert (await w.entry("b", entry))["status"] == "lapsed"
    assert await availability() == (around, held)  # C's offer holds it until 13:00
    w.clock.now = FRIDAY_NOON + 60 * MIN - SEC
    assert await availability() == (around, held)
    w.clock.now = FRIDAY_NOON + 60 * MIN
    assert await wl.run_due(w.facilities) == {"released": 0, "lapsed": 1, "offered": 0}  # nobody next
    assert await availability() == ([("08:00", "20:00")], [])
    assert (await w.book("d", start, end)).status_code == 201


# -- joining, the place in line, leaving --------------------------------------------------------------


async def test_joining_refuses_a_free_slot_a_second_place_and_ones_own_booking(world: World) -> None:
    w = world
    start, end = at(11), at(12)
    free = assert_problem(await w.join("b", start, end), 409)
    assert "free" in free["detail"]
    assert (await w.book("a", start, end)).status_code == 201
    own = assert_problem(await w.join("a", start, end), 409)
    assert own["detail"] == "you hold a booking in this window"
    first = await w.join("b", start, end)
    assert first.status_code == 201
    again = assert_problem(await w.join("b", at(11, 30), at(12, 30)), 409)
    assert again["entry_id"] == first.json()["id"]
    assert (await w.join("b", at(12), at(13))).status_code == 409  # 12-13 is free: book it
    # a window of the day: any freed slot within it will do; the list orders by overlap
    wide = await w.join("c", at(8), at(20))
    assert (wide.status_code, wide.json()["position"]) == (201, 2)
    assert (await w.book("a", at(14), at(15))).status_code == 201
    later = await w.join("d", at(14), at(15))
    assert (later.status_code, later.json()["position"]) == (201, 2)  # C's window overlaps hers, B's does not
    last = await w.join("e", at(11), at(12))
    assert (last.status_code, last.json()["position"]) == (201, 3)


async def test_the_place_in_line_is_the_persons_own(world: World) -> None:
    w = world
    assert (await w.book("a", at(11), at(12))).status_code == 201
    entry = (await w.join("b", at(11), at(12))).json()["id"]
    r = await w.client.get(f"{API}/waitlist/{entry}", headers=w.who("c"))
    assert_problem(r, 404)
    assert_problem(await w.claim("c", entry), 404)
    assert_problem(await w.client.post(f"{API}/waitlist/{entry}/leave", headers=w.who("c")), 404)
    mine = await w.client.get(f"{API}/waitlist/mine", headers=w.who("b"))
    assert [(e["id"], e["position"]) for e in mine.json()] == [(entry, 1)]
    assert (await w.client.get(f"{API}/waitlist/mine", headers=w.who("c"))).json() == []
    assert_problem(await w.claim("b", entry), 409)  # waiting: nothing to claim yet


async def test_a_window_entry_is_offered_a_slot_inside_it_only(world: World) -> None:
    w = world
    a = (await w.book("a", at(10), at(12))).json()["id"]
    narrow = (await w.join("b", at(10), at(11))).json()["id"]  # wants less than the freed 10-12
    wide = (await w.join("c", at(9), at(13))).json()["id"]
    await w.cancel("a", a)
    assert (await w.entry("b", narrow))["status"] == "waiting"
    assert (await w.entry("c", wide))["offer"]["start"] == "2027-03-01T10:00:00.000000Z"


async def test_leaving_with_an_offer_passes_it_on_and_a_rejection_makes_an_offer(world: World) -> None:
    w = world
    start, end = at(13), at(14)
    a = (await w.book("a", start, end)).json()["id"]
    b = (await w.join("b", start, end)).json()["id"]
    c = (await w.join("c", start, end)).json()["id"]
    await w.cancel("a", a)
    w.clock.now = FRIDAY_NOON + 10 * MIN
    left = await w.client.post(f"{API}/waitlist/{b}/leave", headers=w.who("b"))
    assert (left.status_code, left.json()["status"]) == (200, "left")
    assert (await w.entry("c", c))["offer"]["expires_at"] == "2027-02-26T12:40:00.000000Z"
    assert_problem(await w.client.post(f"{API}/waitlist/{b}/leave", headers=w.who("b")), 409)
    assert [(e["person"], e["by_manager"]) for e in await wait_for_events(w.settings, "WaitlistLeft", 1)] == [
        (pid("b"), False)
    ]

    # a manager's rejection of a request frees its slot too (the lab asks for approval; capacity 4)
    lab = "ork-rubicon-lab-1"
    requests = [await w.book(f"r{i}", at(9), at(10), lab) for i in range(4)]
    assert [r.json()["status"] for r in requests] == ["pending_approval"] * 4
    e = (await w.join("b", at(9), at(10), lab)).json()["id"]
    manager = w.who("mgr", "facility_manager", org="Munster Technological University")
    r = await w.client.post(f"{API}/bookings/{requests[0].json()['id']}/reject", headers=manager)
    assert r.status_code == 200, r.text
    assert (await w.entry("b", e))["status"] == "offered"


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"start": "2027-03-01T10:00:00"}, {"start"}),  # no offset
        ({"start": "monday", "end": 5}, {"start", "end"}),
        ({"resource_id": "has spaces"}, {"resource_id"}),
        ({"position": 1, "status": "offered"}, {"position", "status"}),
        ({"end": "2027-03-01T09:00:00+00:00"}, {"end"}),  # before the start
        ({"end": "2027-03-02T08:30:00+00:00"}, {"end"}),  # another day
        ({"start": "2027-02-26T09:00:00+00:00", "end": "2027-02-26T11:00:00+00:00"}, {"end"}),  # has passed
        ({"start": "2027-04-01T10:00:00+00:00", "end": "2027-04-01T11:00:00+00:00"}, {"start"}),  # beyond 30 days
    ],
)
async def test_bad_waitlist_input_is_422_naming_each_field(
    world: World, change: dict[str, Any], fields: set[str]
) -> None:
    payload = {**body(at(10), at(11)), **change}
    r = await world.client.post(f"{API}/waitlist", json=payload, headers=world.who("b"))
    p = assert_problem(r, 422)
    assert {e["field"] for e in p["errors"]} == fields, p


async def test_a_window_ends_by_local_midnight_and_meets_the_opening_hours(world: World) -> None:
    """Cork's Monday is 00:00-24:00 UTC in March (GMT); the desk opens 08:00-20:00."""
    w = world
    assert (await w.book("a", at(10), at(11))).status_code == 201
    midnight = MON + timedelta(days=1)
    assert (await w.join("b", at(9), midnight)).status_code == 201  # to midnight: still this day
    over = assert_problem(await w.join("c", at(9), midnight + SEC), 422)
    assert over["errors"] == [{"field": "end", "reason": "must be on 2027-03-01 (Europe/Dublin), by midnight"}]
    closed = assert_problem(await w.join("c", at(20), at(23)), 422)  # opens again at 08:00 tomorrow
    assert closed["errors"] == [{"field": "start", "reason": "outside opening hours (08:00-20:00 Europe/Dublin)"}]
    assert (await w.join("c", at(19, 59), at(23))).status_code == 201  # one minute of it is open


async def test_the_booking_horizon_bounds_a_window(world: World) -> None:
    """The desk's horizon is 30 days: a window starting at now + 30 days is taken, one second later not.
    Now is Monday 1 March 10:00 UTC; 31 March is in Irish summer time, the desk open 07:00-19:00 UTC."""
    w = world
    w.clock.now = at(10)
    horizon = at(10) + timedelta(days=30)
    assert (await w.book("a", horizon, horizon + timedelta(hours=1))).status_code == 201
    assert (await w.join("b", horizon, horizon + timedelta(hours=1))).status_code == 201
    late = assert_problem(await w.join("c", horizon + SEC, horizon + timedelta(hours=1)), 422)
    assert late["errors"] == [{"field": "start", "reason": "more than 30 days ahead"}]


def test_a_days_list_keeps_200_entries() -> None:
    """The 200th entry of a day joins, the 201st is refused (the document stays bounded); entries that
    left still count (they are kept for the record)."""
    resource = resource_from_doc(
        {
            "_id": DESK,
            "site_id": "ork-rubicon",
            "name": "Desk",
            "kind": "hot_desk",
            "capacity": 1,
            "policy": {"max_duration_minutes": 480, "max_days_ahead": 30},
            "region": "IE05",
            "timezone": "Europe/Dublin",
            "opening_hours": {"mon": [{"open": "08:00", "close": "20:00"}]},
        }
    )
    day = ResourceDay(DESK, MON.date())
    day.book(resource, Booker("p-a", frozenset(), "IE05", None), at(10), at(11), FRIDAY_NOON)
    gone = [
        WaitEntry(f"e{i}", DESK, f"p-{i}", "IE05", None, at(10), at(11), FRIDAY_NOON, status="left")
        for i in range(MAX_WAITLIST - 1)
    ]
    day.waitlist = list(gone)
    last = day.join(resource, Booker("p-b", frozenset(), "IE05", None), at(10), at(11), FRIDAY_NOON)
    assert len(day.waitlist) == 200 and day.position(last.id) == 1
    with pytest.raises(Conflict) as e:
        day.join(resource, Booker("p-c", frozenset(), "IE05", None), at(10), at(11), FRIDAY_NOON)
    assert e.value.detail == "this day's waitlist is full (200 entries)"


async def test_an_unknown_resource_or_entry_is_404(world: World) -> None:
    assert_problem(await world.join("b", at(10), at(11), resource="nope"), 404)
    assert_problem(await world.claim("b", "nope"), 404)
