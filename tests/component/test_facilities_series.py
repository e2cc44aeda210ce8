"""Recurring bookings through the embedded gateway (SQLite store and log).

Time is the service's injected clock: Monday 2 March 2026 08:00 UTC. The series are weekly on
Tuesdays 10:00-11:00 Cork time from 3 March 2026: 10:00 UTC until Ireland's clocks go forward on
29 March, 09:00 UTC from then on (every expected instant below is written by hand)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.auth import Principal
from clustergrowth.settings import RuntimeSettings
from services.facilities import handlers as h
from services.facilities.commands import BookResource
from services.facilities.series import handlers as series_handlers
from tests.component.facilities_fixtures import API, assert_problem, events, wait_for_events
from tests.component.facilities_fixtures import alice as alice  # a shared fixture
from tests.component.facilities_fixtures import app as app  # a shared fixture
from tests.component.facilities_fixtures import bob as bob  # a shared fixture
from tests.component.facilities_fixtures import client as client  # a shared fixture
from tests.component.facilities_fixtures import manager as manager  # a shared fixture
from tests.component.facilities_fixtures import room as room  # a shared fixture
from tests.conftest import TokenFactory
from tests.helpers import pid

TEN_TUESDAYS = [
    "2026-03-03T10:00:00.000000Z",
    "2026-03-10T10:00:00.000000Z",
    "2026-03-17T10:00:00.000000Z",
    "2026-03-24T10:00:00.000000Z",
    "2026-03-31T09:00:00.000000Z",
    "2026-04-07T09:00:00.000000Z",
    "2026-04-14T09:00:00.000000Z",
    "2026-04-21T09:00:00.000000Z",
    "2026-04-28T09:00:00.000000Z",
    "2026-05-05T09:00:00.000000Z",
]
WEEKLY = {"start": "2026-03-03T10:00:00+00:00", "end": "2026-03-03T11:00:00+00:00", "rrule": "FREQ=WEEKLY;COUNT=10"}


async def two_taken(client: httpx.AsyncClient, room: str, bob: dict[str, str]) -> None:
    """Bob holds the third Tuesday's slot and half of the seventh's (10:30-11:30 local)."""
    for start, end in [
        ("2026-03-17T10:00:00Z", "2026-03-17T11:00:00Z"),
        ("2026-04-14T09:30:00Z", "2026-04-14T10:30:00Z"),
    ]:
        r = await client.post(f"{API}/bookings", json={"resource_id": room, "start": start, "end": end}, headers=bob)
        assert r.status_code == 201, r.text


async def mine(client: httpx.AsyncClient, who: dict[str, str]) -> list[str]:
    r = await client.get(f"{API}/bookings/mine", params={"limit": 100}, headers=who)
    return [b["start"] for b in r.json() if b["status"] == "confirmed"]


async def test_fail_books_nothing_and_names_both_conflicts(
    client: httpx.AsyncClient, settings: RuntimeSettings, room: str, alice: dict[str, str], bob: dict[str, str]
) -> None:
    await two_taken(client, room, bob)
    r = await client.post(f"{API}/series", json={"resource_id": room, **WEEKLY, "on_conflict": "fail"}, headers=alice)
    p = assert_problem(r, 409)
    assert [(c["recurrence_id"], c["reason"]) for c in p["conflicts"]] == [
        ("2026-03-17T10:00:00.000000Z", "taken"),
        ("2026-04-14T09:00:00.000000Z", "taken"),
    ]
    assert await mine(client, alice) == []
    await wait_for_events(settings, "FacilityBooked", 2)
    assert [e["person"] for e in await events(settings, "FacilityBooked")] == [pid("bob")] * 2
    assert await events(settings, "SeriesBooked") == []


async def test_skip_books_eight_and_names_the_two(
    client: httpx.AsyncClient, settings: RuntimeSettings, room: str, alice: dict[str, str], bob: dict[str, str]
) -> None:
    await two_taken(client, room, bob)
    r = await client.post(f"{API}/series", json={"resource_id": room, **WEEKLY, "on_conflict": "skip"}, headers=alice)
    assert r.status_code == 201, r.text
    s = r.json()
    assert r.headers["location"].endswith(s["id"])
    assert s["booked"] == 8 and s["status"] == "active"
    assert [(x["recurrence_id"], x["reason"]) for x in s["skipped"]] == [
        ("2026-03-17T10:00:00.000000Z", "taken"),
        ("2026-04-14T09:00:00.000000Z", "taken"),
    ]
    expected = [t for i, t in enumerate(TEN_TUESDAYS) if i not in (2, 6)]
    assert await mine(client, alice) == expected
    booked = await wait_for_events(settings, "SeriesBooked", 1)
    assert [o["start"] for o in booked[0]["booked"]] == expected
    assert [o["recurrence_id"] for o in booked[0]["skipped"]] == [TEN_TUESDAYS[2], TEN_TUESDAYS[6]]
    facility = await wait_for_events(settings, "FacilityBooked", 10)  # bob's two and alice's eight
    assert sorted(e["start"] for e in facility if e["person"] != pid("bob")) == expected


async def test_reasons_closed_outside_hours_and_policy(
    client: httpx.AsyncClient, room: str, alice: dict[str, str]
) -> None:
    """Daily 17:00-21:00... Saturdays close at 13:00, Sundays are closed, and the 90-day horizon."""
    body = {"resource_id": room, "start": "2026-03-06T09:00:00Z", "end": "2026-03-06T12:00:00Z", "on_conflict": "fail"}
    p = assert_problem(
        await client.post(f"{API}/series", json={**body, "rrule": "FREQ=DAILY;COUNT=3"}, headers=alice), 409
    )
    assert [(c["recurrence_id"][:10], c["reason"]) for c in p["conflicts"]] == [("2026-03-08", "closed")]
    late = {**body, "start": "2026-03-06T11:00:00Z", "end": "2026-03-06T14:00:00Z", "rrule": "FREQ=DAILY;COUNT=2"}
    p = assert_problem(await client.post(f"{API}/series", json=late, headers=alice), 409)
    assert [(c["recurrence_id"][:10], c["reason"]) for c in p["conflicts"]] == [("2026-03-07", "outside_opening_hours")]
    far = {**body, "rrule": "FREQ=WEEKLY;INTERVAL=4;COUNT=5"}  # 6 Mar + 16 weeks = 26 June: > 90 days ahead
    p = assert_problem(await client.post(f"{API}/series", json=far, headers=alice), 409)
    assert [(c["recurrence_id"][:10], c["reason"]) for c in p["conflicts"]] == [("2026-06-26", "policy")]
    assert await mine(client, alice) == []


async def book_weekly(
    client: httpx.AsyncClient, room: str, who: dict[str, str], rrule: str = "FREQ=WEEKLY;COUNT=10"
) -> dict[str, Any]:
    r = await client.post(f"{API}/series", json={"resource_id": room, **WEEKLY, "rrule": rrule}, headers=who)
    assert r.status_code == 201, r.text
    s: dict[str, Any] = r.json()
    return s


async def test_cancel_one_then_following_then_all(
    client: httpx.AsyncClient, settings: RuntimeSettings, room: str, alice: dict[str, str], bob: dict[str, str]
) -> None:
    s = await book_weekly(client, room, alice)
    url = f"{API}/series/{s['id']}/cancel"
    assert_problem(await client.post(url, json={"scope": "one", "occurrence": TEN_TUESDAYS[1]}, headers=bob), 404)
    r = await client.post(url, json={"scope": "one", "occurrence": TEN_TUESDAYS[1]}, headers=alice)
    assert r.status_code == 200, r.text
    assert await mine(client, alice) == [t for i, t in enumerate(TEN_TUESDAYS) if i != 1]
    r = await client.post(url, json={"scope": "following", "occurrence": TEN_TUESDAYS[7]}, headers=alice)
    assert r.status_code == 200, r.text
    assert await mine(client, alice) == [TEN_TUESDAYS[i] for i in (0, 2, 3, 4, 5, 6)]
    r = await client.post(url, json={"scope": "all"}, headers=alice)
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    assert await mine(client, alice) == []
    cancelled = await wait_for_events(settings, "SeriesCancelled", 3)
    assert [(e["scope"], len(e["cancelled"])) for e in cancelled] == [("one", 1), ("following", 3), ("all", 6)]
    assert len(await wait_for_events(settings, "BookingCancelled", 10)) == 10
    assert_problem(await client.post(url, json={"scope": "all"}, headers=alice), 409)


async def test_move_one_following_and_all(
    client: httpx.AsyncClient, settings: RuntimeSettings, room: str, alice: dict[str, str], bob: dict[str, str]
) -> None:
    s = await book_weekly(client, room, alice, "FREQ=WEEKLY;COUNT=4")
    url = f"{API}/series/{s['id']}/move"
    r = await client.post(
        url,
        json={"scope": "one", "occurrence": TEN_TUESDAYS[1], "start_time": "14:00", "end_time": "15:00"},
        headers=alice,
    )
    assert r.status_code == 200, r.text
    assert await mine(client, alice) == [
        TEN_TUESDAYS[0],
        "2026-03-10T14:00:00.000000Z",
        TEN_TUESDAYS[2],
        TEN_TUESDAYS[3],
    ]
    # bob takes 16:00 on the 24th: moving the following ones there fails as a whole
    b = {"resource_id": room, "start": "2026-03-24T16:00:00Z", "end": "2026-03-24T17:00:00Z"}
    assert (await client.post(f"{API}/bookings", json=b, headers=bob)).status_code == 201
    body = {"scope": "following", "occurrence": TEN_TUESDAYS[2], "start_time": "16:00", "end_time": "17:00"}
    p = assert_problem(await client.post(url, json=body, headers=alice), 409)
    assert [(c["recurrence_id"], c["reason"]) for c in p["conflicts"]] == [(TEN_TUESDAYS[3], "taken")]
    assert await mine(client, alice) == [
        TEN_TUESDAYS[0],
        "2026-03-10T14:00:00.000000Z",
        TEN_TUESDAYS[2],
        TEN_TUESDAYS[3],
    ]
    r = await client.post(url, json={"scope": "all", "start_time": "08:00", "end_time": "09:30"}, headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["start"] == "2026-03-03T08:00:00.000000Z"
    assert await mine(client, alice) == [f"2026-03-{d}T08:00:00.000000Z" for d in ("03", "10", "17", "24")]
    changed = await wait_for_events(settings, "SeriesChanged", 2)
    assert [e["scope"] for e in changed] == ["one", "all"]


BAD_SERIES = [
    ({"rrule": "FREQ=MONTHLY;COUNT=3"}, "rrule"),
    ({"rrule": "not a rule"}, "rrule"),
    ({"rrule": "FREQ=WEEKLY;COUNT=3;UNTIL=20260401T000000Z"}, "rrule"),  # COUNT and UNTIL both
    ({"rrule": "FREQ=WEEKLY"}, "rrule"),  # unbounded
    ({"rrule": "FREQ=WEEKLY;COUNT=0"}, "rrule"),
    ({"rrule": "FREQ=WEEKLY;COUNT=5;COUNT=6"}, "rrule"),
    ({"rrule": "FREQ=DAILY;COUNT=367"}, "rrule"),  # one more than 366
    ({"rrule": "FREQ=DAILY;UNTIL=20270304T235959Z"}, "rrule"),  # 3 Mar 2026 .. 4 Mar 2027: 367 occurrences
    ({"rrule": "FREQ=WEEKLY;INTERVAL=52;COUNT=3"}, "rrule"),  # the third is 728 days on: beyond 366
    ({"rrule": "FREQ=WEEKLY;INTERVAL=53;COUNT=2"}, "rrule"),
    ({"rrule": "FREQ=WEEKLY;COUNT=3;BYDAY=1TU"}, "rrule"),
    ({"rrule": "FREQ=WEEKLY;COUNT=3;BYHOUR=9"}, "rrule"),
    ({"rrule": "FREQ=WEEKLY;COUNT=3;BYDAY=WE"}, "start"),  # 3 March 2026 is a Tuesday
    ({"rrule": "x" * 201}, "rrule"),
    ({"on_conflict": "ignore"}, "on_conflict"),
    ({"end": "2026-03-03T09:00:00+00:00"}, "end"),
    ({"end": "2026-03-04T10:00:01+00:00"}, "end"),  # an occurrence of more than a day
    ({"start": "2026-03-03T10:00:00"}, "start"),
    ({"series": "mine"}, "series"),
]
AT_THE_BOUNDS = [  # accepted as input, then refused occurrence by occurrence (409): the room's horizon
    "FREQ=DAILY;COUNT=366",
    "FREQ=DAILY;UNTIL=20270303T235959Z",  # 366 occurrences
    "FREQ=WEEKLY;INTERVAL=52;COUNT=2",  # the second is 364 days on
]


async def test_bad_series_input_is_422_naming_the_field(
    client: httpx.AsyncClient, room: str, alice: dict[str, str]
) -> None:
    for change, field in BAD_SERIES:
        body = {"resource_id": room, **WEEKLY, **change}
        p = assert_problem(await client.post(f"{API}/series", json=body, headers=alice), 422)
        assert [e["field"] for e in p["errors"]] == [field], (change, p)
    for rrule in AT_THE_BOUNDS:
        body = {"resource_id": room, **WEEKLY, "rrule": rrule}
        p = assert_problem(await client.post(f"{API}/series", json=body, headers=alice), 409)
        assert {c["reason"] for c in p["conflicts"]} <= {"policy", "closed"}, rrule  # 90 days ahead; Sundays
    assert await mine(client, alice) == []


async def test_bad_change_input_is_422(client: httpx.AsyncClient, room: str, alice: dict[str, str]) -> None:
    s = await book_weekly(client, room, alice, "FREQ=WEEKLY;COUNT=2")
    for path, body, field in [
        ("cancel", {"scope": "one"}, "occurrence"),
        ("cancel", {"scope": "some"}, "scope"),
        ("cancel", {"scope": "one", "occurrence": "2026-03-04T10:00:00Z"}, "occurrence"),
        ("move", {"scope": "all", "start_time": "15:00", "end_time": "14:00"}, "end_time"),
        ("move", {"scope": "all", "start_time": "25:00", "end_time": "26:00"}, "start_time"),
    ]:
        p = assert_problem(await client.post(f"{API}/series/{s['id']}/{path}", json=body, headers=alice), 422)
        assert p["errors"][0]["field"] == field, (path, body, p)


class RacingStore:
    """The service's own store, unchanged but for one thing: right after a series document is first
    written (after every occurrence was checked, before any day is booked), ``race`` runs: another
    person books one of the series' slots, as a concurrent request could at that moment."""

    def __init__(self, real: Any, race: Any) -> None:
        self._real, self._race, self.raced = real, race, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def insert(self, collection: str, doc: dict[str, Any]) -> None:
        await self._real.insert(collection, doc)
        if collection == "series" and not self.raced:
            self.raced = True
            await self._race()


def race_for_the_fifth_tuesday(app: FastAPI, room: str) -> RacingStore:
    f = app.state.facilities
    bob = Principal("bob", frozenset({"academic"}), "IE05", "IE05:UCC")
    slot = BookResource(resource_id=room, start="2026-03-31T09:00:00Z", end="2026-03-31T10:00:00Z")  # type: ignore[arg-type]

    async def race() -> None:
        await h.book(f, slot, bob)

    f.store = RacingStore(f.store, race)
    return f.store  # type: ignore[no-any-return]


async def test_fail_compensates_when_a_day_is_taken_while_booking(
    app: FastAPI, client: httpx.AsyncClient, settings: RuntimeSettings, room: str, alice: dict[str, str]
) -> None:
    """The check passes, Bob takes the fifth Tuesday before it is written: the four Tuesdays already
    booked are cancelled again (each DeskBooked/FacilityBooked followed by its BookingCancelled), the
    answer is 409 naming the fifth, and the series is left ``failed``."""
    store = race_for_the_fifth_tuesday(app, room)
    r = await client.post(f"{API}/series", json={"resource_id": room, **WEEKLY, "on_conflict": "fail"}, headers=alice)
    p = assert_problem(r, 409)
    assert store.raced
    assert [(c["recurrence_id"], c["reason"]) for c in p["conflicts"]] == [(TEN_TUESDAYS[4], "taken")]
    assert await mine(client, alice) == []
    booked = [e for e in await wait_for_events(settings, "FacilityBooked", 5) if e["person"] == pid("alice")]
    cancelled = await wait_for_events(settings, "BookingCancelled", 4)
    assert sorted(e["start"] for e in booked) == TEN_TUESDAYS[:4] == sorted(e["start"] for e in cancelled)
    assert {e["booking_id"] for e in booked} == {e["booking_id"] for e in cancelled}
    assert await events(settings, "SeriesBooked") == []
    assert [d["status"] for d in await store.find("series", {})] == ["failed"]


async def test_skip_skips_a_day_taken_while_booking(
    app: FastAPI, client: httpx.AsyncClient, room: str, alice: dict[str, str]
) -> None:
    race_for_the_fifth_tuesday(app, room)
    r = await client.post(f"{API}/series", json={"resource_id": room, **WEEKLY, "on_conflict": "skip"}, headers=alice)
    assert r.status_code == 201, r.text
    assert [(x["recurrence_id"], x["reason"]) for x in r.json()["skipped"]] == [(TEN_TUESDAYS[4], "taken")]
    assert await mine(client, alice) == [t for i, t in enumerate(TEN_TUESDAYS) if i != 4]


async def test_a_series_moved_too_often_is_refused(
    client: httpx.AsyncClient, room: str, alice: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each move makes new bookings, which the series remembers: bounded (4 x 366; here 4, so the
    document of a two-occurrence series holds its two, a move of both takes it to 4, the next is 409)."""
    monkeypatch.setattr(series_handlers, "MAX_BOOKINGS", 4)
    s = await book_weekly(client, room, alice, "FREQ=WEEKLY;COUNT=2")
    url = f"{API}/series/{s['id']}/move"
    r = await client.post(url, json={"scope": "all", "start_time": "12:00", "end_time": "13:00"}, headers=alice)
    assert r.status_code == 200, r.text
    p = assert_problem(
        await client.post(url, json={"scope": "all", "start_time": "14:00", "end_time": "15:00"}, headers=alice), 409
    )
    assert p["max_bookings"] == 4
    assert await mine(client, alice) == ["2026-03-03T12:00:00.000000Z", "2026-03-10T12:00:00.000000Z"]


# -- slots a series gives back go to the waitlist -------------------------------------------------------


async def wait_for(client: httpx.AsyncClient, room: str, who: dict[str, str], start: str, end: str) -> str:
    """``who`` joins the line for [start, end) of the room (taken, so she may); the entry's id."""
    r = await client.post(f"{API}/waitlist", json={"resource_id": room, "start": start, "end": end}, headers=who)
    assert r.status_code == 201, r.text
    entry_id: str = r.json()["id"]
    return entry_id


async def offer_of(client: httpx.AsyncClient, who: dict[str, str], entry_id: str) -> tuple[str, str] | None:
    """The slot offered to the entry, or None while it still waits."""
    r = await client.get(f"{API}/waitlist/{entry_id}", headers=who)
    assert r.status_code == 200, r.text
    e = r.json()
    if e["status"] == "waiting":
        return None
    assert e["status"] == "offered", e
    return e["offer"]["start"], e["offer"]["end"]


@pytest.fixture
def carol(token: TokenFactory) -> dict[str, str]:
    return {"Authorization": token("carol", "student", region="IE05", org="MTU")}


THIRD = ("2026-03-17T10:00:00.000000Z", "2026-03-17T11:00:00.000000Z")  # the third Tuesday's slot, by hand
SIXTH = ("2026-04-07T09:00:00.000000Z", "2026-04-07T10:00:00.000000Z")  # 10:00-11:00 Irish summer time


async def test_cancelling_one_occurrence_offers_its_slot_to_the_first_in_line(
    client: httpx.AsyncClient,
    settings: RuntimeSettings,
    room: str,
    alice: dict[str, str],
    bob: dict[str, str],
    carol: dict[str, str],
) -> None:
    s = await book_weekly(client, room, alice)
    third = next(o for o in s["occurrences"] if o["recurrence_id"] == TEN_TUESDAYS[2])
    bobs = await wait_for(client, room, bob, *THIRD)
    carols = await wait_for(client, room, carol, *THIRD)  # second in line
    r = await client.post(
        f"{API}/series/{s['id']}/cancel", json={"scope": "one", "occurrence": TEN_TUESDAYS[2]}, headers=alice
    )
    assert r.status_code == 200, r.text
    assert await offer_of(client, bob, bobs) == THIRD
    assert await offer_of(client, carol, carols) is None
    offered = await wait_for_events(settings, "SlotOffered", 1)
    assert [(e["person"], e["start"], e["end"], e["freed_booking_id"]) for e in offered] == [
        (pid("bob"), *THIRD, third["booking_id"])
    ]


async def test_cancelling_the_whole_series_offers_each_freed_slot(
    client: httpx.AsyncClient,
    settings: RuntimeSettings,
    room: str,
    alice: dict[str, str],
    bob: dict[str, str],
    carol: dict[str, str],
) -> None:
    s = await book_weekly(client, room, alice)
    bobs = await wait_for(client, room, bob, *THIRD)
    carols = await wait_for(client, room, carol, *SIXTH)
    r = await client.post(f"{API}/series/{s['id']}/cancel", json={"scope": "all"}, headers=alice)
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    assert await offer_of(client, bob, bobs) == THIRD
    assert await offer_of(client, carol, carols) == SIXTH
    offered = await wait_for_events(settings, "SlotOffered", 2)
    assert sorted((e["person"], e["start"]) for e in offered) == [(pid("bob"), THIRD[0]), (pid("carol"), SIXTH[0])]
    assert len(await wait_for_events(settings, "BookingCancelled", 10)) == 10


async def test_a_move_offers_what_it_gives_back_of_the_old_slot(
    client: httpx.AsyncClient,
    settings: RuntimeSettings,
    room: str,
    alice: dict[str, str],
    bob: dict[str, str],
    carol: dict[str, str],
) -> None:
    """Moved to another time of the day, the whole old slot goes to the line; moved half an hour later,
    the half hour it gave back does (10:00-10:30: her new booking holds 10:30-11:00 still)."""
    s = await book_weekly(client, room, alice, "FREQ=WEEKLY;COUNT=2")
    url = f"{API}/series/{s['id']}/move"
    carols = await wait_for(client, room, carol, "2026-03-03T10:00:00Z", "2026-03-03T11:00:00Z")
    bobs = await wait_for(client, room, bob, "2026-03-10T10:00:00Z", "2026-03-10T11:00:00Z")
    later = {"scope": "one", "occurrence": TEN_TUESDAYS[0], "start_time": "10:30", "end_time": "11:30"}
    assert (await client.post(url, json=later, headers=alice)).status_code == 200
    assert await offer_of(client, carol, carols) == ("2026-03-03T10:00:00.000000Z", "2026-03-03T10:30:00.000000Z")
    assert await offer_of(client, bob, bobs) is None
    away = {"scope": "one", "occurrence": TEN_TUESDAYS[1], "start_time": "14:00", "end_time": "15:00"}
    assert (await client.post(url, json=away, headers=alice)).status_code == 200
    assert await offer_of(client, bob, bobs) == ("2026-03-10T10:00:00.000000Z", "2026-03-10T11:00:00.000000Z")
    assert await mine(client, alice) == ["2026-03-03T10:30:00.000000Z", "2026-03-10T14:00:00.000000Z"]
    offered = await wait_for_events(settings, "SlotOffered", 2)
    assert [e["person"] for e in offered] == [pid("carol"), pid("bob")]


async def test_a_fail_compensation_offers_the_slots_it_gives_back(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: RuntimeSettings,
    room: str,
    alice: dict[str, str],
    bob: dict[str, str],
    carol: dict[str, str],
) -> None:
    """Carol waits for any slot of 09:00-11:00 on the first Tuesday (Bob holds 09:00-10:00, so she may
    join); the series books the first four Tuesdays, the fifth is taken meanwhile, and the compensation's
    cancellation of the first offers its 10:00-11:00 to her."""
    early = {"resource_id": room, "start": "2026-03-03T09:00:00Z", "end": "2026-03-03T10:00:00Z"}
    assert (await client.post(f"{API}/bookings", json=early, headers=bob)).status_code == 201
    carols = await wait_for(client, room, carol, "2026-03-03T09:00:00Z", "2026-03-03T11:00:00Z")
    race_for_the_fifth_tuesday(app, room)
    r = await client.post(f"{API}/series", json={"resource_id": room, **WEEKLY, "on_conflict": "fail"}, headers=alice)
    assert_problem(r, 409)
    assert await offer_of(client, carol, carols) == ("2026-03-03T10:00:00.000000Z", "2026-03-03T11:00:00.000000Z")
    offered = await wait_for_events(settings, "SlotOffered", 1)
    assert [e["person"] for e in offered] == [pid("carol")]
