"""bench.bare_booking, the baseline of bench.contention: its write is the platform's store write.

The oracle is the platform itself: one slot booked through the bare endpoint and through the platform's
booking handler (``services.facilities.handlers.bookings.book``) on a store seeded alike, the two stored
day documents' text compared key by key, in order, with only the random values (ids, times, trace
context) and the platform's request id taken out; and the two rows' index columns. Bad bodies, an
unknown resource and an overlap get the endpoint's 422, 404 and 409; the lighter write still books; the
relay beside the endpoint empties its days' outboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.bare_booking import WRITES, app, relay, seed
from clustergrowth.auth import Principal
from clustergrowth.store.sqlite import SqliteStore
from services.facilities.commands import BookResource
from services.facilities.handlers import bookings
from services.facilities.handlers.context import Facilities
from tests.helpers import eventually

DAY = "2030-03-04"
SLOT = {"resource_id": "desk-0", "start": f"{DAY}T09:00:00+01:00", "end": f"{DAY}T09:30:00+01:00"}
NOW = datetime(2030, 3, 1, tzinfo=UTC)  # the platform's rules: the slot within the resource's 365 days ahead


@contextlib.asynccontextmanager
async def bare(tmp_path: Path, write: str) -> AsyncIterator[tuple[SqliteStore, httpx.AsyncClient]]:
    store = SqliteStore(tmp_path / "bare.sqlite")
    await seed(store, ["desk-0", "desk-1"], write)
    transport = httpx.ASGITransport(app=app(store, write=write))
    async with httpx.AsyncClient(transport=transport, base_url="http://bare") as client:
        yield store, client
    await store.close()


@pytest.fixture(params=WRITES)
async def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SqliteStore, httpx.AsyncClient]]:
    async with bare(tmp_path, request.param) as both:
        yield both


def rows(path: Path) -> list[tuple[str, str, str]]:
    """(id, stored text, index column text) of every stored day, read with a connection of our own."""
    with sqlite3.connect(path) as c:
        if not c.execute("SELECT 1 FROM sqlite_master WHERE name = 'c_schedules'").fetchone():
            return []  # the lighter write makes the table with its first booking
        return list(c.execute("SELECT id, doc, COALESCE(ix, '{}') FROM \"c_schedules\" ORDER BY id"))


def stored(store: SqliteStore) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(i, json.loads(d), json.loads(x)) for i, d, x in rows(store.path)]


RANDOM = re.compile(r"[0-9a-f]{32}")


def steady(text: str) -> str:
    """A stored day's text without what is random or made per request: the document's keys in order."""
    doc = json.loads(text)
    for b in doc["bookings"]:
        b["created_at"] = "T"
    for e in doc["outbox"]:
        e |= {"id": "I", "time": "T", "traceparent": "P"}
        e.pop("requestid", None)  # the platform's request id: the bare endpoint has no request-id middleware
    return RANDOM.sub("H", json.dumps(doc))  # the booking ids' random part


async def test_the_same_write_stores_what_the_platform_stores(tmp_path: Path) -> None:
    async with bare(tmp_path, "same") as (store, client):
        r = await client.post("/api/v1/facilities/bookings", json=SLOT)
        assert r.status_code == 201, r.text
    platform = SqliteStore(tmp_path / "platform.sqlite")
    await seed(platform, ["desk-0", "desk-1"], "same")
    who = Principal("bench-user", frozenset({"student"}), "IE05", issuer="https://bench.invalid")
    await bookings.book(Facilities(platform, "IE05", clock=lambda: NOW), BookResource.model_validate(SLOT), who)
    await platform.close()
    [(key, text, ix)] = rows(store.path)
    [(platform_key, platform_text, platform_ix)] = rows(platform.path)
    assert key == platform_key == f"desk-0@{DAY}"
    assert steady(text) == steady(platform_text)
    assert ix == platform_ix
    assert '"start": "2030-03-04T08:00:00.000000Z"' in steady(text)  # the oracle read what it compared
    assert json.loads(text)["bookings"][0] == r.json()


async def test_the_minimal_write_is_lighter(tmp_path: Path) -> None:
    async with bare(tmp_path, "minimal") as (store, client):
        r = await client.post("/api/v1/facilities/bookings", json=SLOT)
    assert r.status_code == 201, r.text
    [(_, doc, ix)] = stored(store)
    assert set(doc["bookings"][0]) == {"id", "resource_id", "start", "end", "status", "created_at"}
    assert "day" not in doc and ix == {"outbox_pending": True}  # the relay's index alone


async def test_an_overlap_is_refused_and_the_next_slot_booked(served: tuple[SqliteStore, httpx.AsyncClient]) -> None:
    store, client = served
    assert (await client.post("/api/v1/facilities/bookings", json=SLOT)).status_code == 201
    later = {**SLOT, "start": f"{DAY}T09:29:00+01:00", "end": f"{DAY}T10:00:00+01:00"}
    r = await client.post("/api/v1/facilities/bookings", json=later)  # one minute inside the first
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    after = {**SLOT, "start": f"{DAY}T09:30:00+01:00", "end": f"{DAY}T10:00:00+01:00"}  # where the first ends
    assert (await client.post("/api/v1/facilities/bookings", json=after)).status_code == 201
    [(_, doc, _)] = stored(store)
    assert len(doc["bookings"]) == 2 and len(doc["outbox"]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SLOT, "start": "not a time"}, "start"),
        ({k: v for k, v in SLOT.items() if k != "end"}, "end"),
        ({**SLOT, "resource_id": 7}, "resource_id"),
    ],
)
async def test_a_bad_body_is_refused_naming_the_field(
    served: tuple[SqliteStore, httpx.AsyncClient], body: dict[str, Any], field: str
) -> None:
    store, client = served
    r = await client.post("/api/v1/facilities/bookings", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]
    assert stored(store) == []


async def test_an_unknown_resource_is_not_found(served: tuple[SqliteStore, httpx.AsyncClient]) -> None:
    store, client = served
    r = await client.post("/api/v1/facilities/bookings", json={**SLOT, "resource_id": "no-such-desk"})
    assert r.status_code == 404
    assert stored(store) == []


async def test_the_relay_beside_the_endpoint_empties_the_outboxes(tmp_path: Path) -> None:
    async with bare(tmp_path, "same") as (store, client):
        for hour in ("09", "10"):
            slot = {**SLOT, "start": f"{DAY}T{hour}:00:00+01:00", "end": f"{DAY}T{hour}:30:00+01:00"}
            assert (await client.post("/api/v1/facilities/bookings", json=slot)).status_code == 201
        [(_, doc, _)] = stored(store)
        events = [e["id"] for e in doc["outbox"]]
        assert len(events) == 2
        running = asyncio.create_task(relay(tmp_path))

        async def emptied() -> bool:
            return not stored(store)[0][1]["outbox"]

        try:
            await eventually(emptied, 30, "the relay empties the day's outbox")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        [(_, doc, _)] = stored(store)
        assert len(doc["bookings"]) == 2 and doc["outbox_pending"] is False
        with sqlite3.connect(tmp_path / "events.sqlite") as c:  # what it removed, it published first
            published = [json.loads(t)["id"] for (t,) in c.execute("SELECT event FROM log ORDER BY seq")]
        assert published == events
