"""GET /facilities/series/mine: the caller's series, newest first, each with its resource, rule, next
occurrence and its occurrences counted by status; paged (limit 1 to 200, Link to the next page).

Time is the service's injected clock, from Monday 2 March 2026 08:00 UTC (Cork is on UTC until 29
March). Alice's weekly series on Tuesdays 10:00-11:00 from 3 March has its second Tuesday taken by Bob
(skipped); every expected instant and count below is written by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.component.facilities_fixtures import API, NOW, assert_problem
from tests.component.facilities_fixtures import alice as alice  # a shared fixture
from tests.component.facilities_fixtures import app as app  # a shared fixture
from tests.component.facilities_fixtures import bob as bob  # a shared fixture
from tests.component.facilities_fixtures import client as client  # a shared fixture
from tests.component.facilities_fixtures import manager as manager  # a shared fixture
from tests.component.facilities_fixtures import room as room  # a shared fixture
from tests.helpers import Clock

TUESDAYS = {"start": "2026-03-03T10:00:00+00:00", "end": "2026-03-03T11:00:00+00:00", "rrule": "FREQ=WEEKLY;COUNT=3"}
THURSDAYS = {"start": "2026-03-05T14:00:00+00:00", "end": "2026-03-05T15:00:00+00:00", "rrule": "FREQ=WEEKLY;COUNT=2"}


@pytest.fixture
def clock(app: FastAPI, client: httpx.AsyncClient) -> Clock:
    c = Clock(NOW)
    app.state.facilities.clock = c
    return c


async def book(client: httpx.AsyncClient, who: dict[str, str], body: dict[str, str]) -> str:
    r = await client.post(f"{API}/series", json={**body, "on_conflict": "skip"}, headers=who)
    assert r.status_code == 201, r.text
    sid: str = r.json()["id"]
    return sid


async def test_my_series_newest_first_with_next_occurrence_and_counts(
    client: httpx.AsyncClient, clock: Clock, room: str, alice: dict[str, str], bob: dict[str, str]
) -> None:
    taken = {"resource_id": room, "start": "2026-03-10T10:00:00Z", "end": "2026-03-10T11:00:00Z"}
    assert (await client.post(f"{API}/bookings", json=taken, headers=bob)).status_code == 201
    tuesdays = await book(client, alice, {"resource_id": room, **TUESDAYS})
    clock.now = NOW + timedelta(minutes=1)
    thursdays = await book(client, alice, {"resource_id": room, **THURSDAYS})
    bobs = await book(
        client,
        bob,
        {"resource_id": room, **THURSDAYS, "start": "2026-03-05T16:00:00+00:00"} | {"end": "2026-03-05T17:00:00+00:00"},
    )

    r = await client.get(f"{API}/series/mine", headers=alice)
    assert r.status_code == 200, r.text
    got = r.json()
    assert [s["id"] for s in got] == [thursdays, tuesdays]  # newest first; Bob's is not Alice's
    first = got[1]
    assert first["resource_id"] == room and first["resource_name"] == "Room Tuesday"
    assert first["rrule"] == "FREQ=WEEKLY;COUNT=3" and first["status"] == "active"
    assert first["timezone"] == "Europe/Dublin" and first["created_at"] == "2026-03-02T08:00:00.000000Z"
    assert first["counts"] == {"planned": 0, "booked": 2, "skipped": 1, "cancelled": 0}
    assert first["next_occurrence"]["start"] == "2026-03-03T10:00:00.000000Z"
    assert got[0]["counts"] == {"planned": 0, "booked": 2, "skipped": 0, "cancelled": 0}
    assert [s["id"] for s in (await client.get(f"{API}/series/mine", headers=bob)).json()] == [bobs]

    async def next_of(series_id: str) -> str | None:
        for s in (await client.get(f"{API}/series/mine", headers=alice)).json():
            if s["id"] == series_id:
                nxt = s["next_occurrence"]
                return None if nxt is None else str(nxt["start"])
        raise AssertionError(series_id)

    clock.now = datetime(2026, 3, 3, 10, 59, 59, 999999, tzinfo=UTC)  # a microsecond before the first ends
    assert await next_of(tuesdays) == "2026-03-03T10:00:00.000000Z"
    clock.now = datetime(2026, 3, 3, 11, 0, tzinfo=UTC)  # it has ended: the next booked one (the 10th was skipped)
    assert await next_of(tuesdays) == "2026-03-17T10:00:00.000000Z"
    r = await client.post(f"{API}/series/{tuesdays}/cancel", json={"scope": "all"}, headers=alice)
    assert r.status_code == 200, r.text
    after = next(s for s in (await client.get(f"{API}/series/mine", headers=alice)).json() if s["id"] == tuesdays)
    assert after["status"] == "cancelled" and after["next_occurrence"] is None
    assert after["counts"] == {"planned": 0, "booked": 1, "skipped": 1, "cancelled": 1}  # the 3 March one had started


async def test_my_series_are_paged_and_the_limit_bounded(
    client: httpx.AsyncClient, clock: Clock, room: str, alice: dict[str, str]
) -> None:
    made = []
    for n in range(3):
        clock.now = NOW + timedelta(minutes=n)
        start = datetime(2026, 3, 3, 12 + n, tzinfo=UTC)
        slot = {
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "rrule": "FREQ=WEEKLY;COUNT=2",
        }
        made.append(await book(client, alice, {"resource_id": room, **slot}))
    seen: list[str] = []
    url: str | None = f"{API}/series/mine?limit=1"
    while url:
        r = await client.get(url, headers=alice)
        assert r.status_code == 200 and len(r.json()) == 1
        seen += [s["id"] for s in r.json()]
        url = r.links.get("next", {}).get("url")
    assert seen == made[::-1]
    for bad in (0, 201):
        p = assert_problem(await client.get(f"{API}/series/mine", params={"limit": bad}, headers=alice), 422)
        assert p["errors"][0]["field"].endswith("limit")
    assert (await client.get(f"{API}/series/mine", params={"limit": 200}, headers=alice)).status_code == 200
    p = assert_problem(await client.get(f"{API}/series/mine", params={"cursor": "not-a-cursor"}, headers=alice), 422)
    assert p["errors"][0]["field"] == "cursor"
    assert (await client.get(f"{API}/series/mine")).status_code == 401
