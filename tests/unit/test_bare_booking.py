"""bench.bare_booking, the baseline of bench.contention: its write is the platform's store write.

The bare endpoint builds its booking record and event by hand; the platform's own readers and writers
are the oracle here: the stored day document read by ``schedule_from_doc`` and written back by
``schedule_to_doc`` is the document stored, the booking record read and written back is the record, and
the event's data read by the contract model and written back is the data. The row's index column holds
the fields of the schedules collection's indexes (written out here from ``ensure_indexes``). Bad bodies,
an unknown resource and an overlap get the endpoint's 422, 404 and 409; the lighter write still books.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.bare_booking import PERSON, WRITES, app, seed
from clustergrowth.store.sqlite import SqliteStore
from contracts import facilities as ev
from services.facilities.store import booking_from_doc, booking_to_doc, schedule_from_doc, schedule_to_doc

DAY = "2030-03-04"
SLOT = {"resource_id": "desk-0", "start": f"{DAY}T09:00:00+01:00", "end": f"{DAY}T09:30:00+01:00"}


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


def stored(store: SqliteStore) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(id, document, index column) of every stored day, read with a connection of our own."""
    with sqlite3.connect(store.path) as c:
        if not c.execute("SELECT 1 FROM sqlite_master WHERE name = 'c_schedules'").fetchone():
            return []  # the lighter write makes the table with its first booking
        return [
            (i, json.loads(d), json.loads(x))
            for i, d, x in c.execute("SELECT id, doc, COALESCE(ix, '{}') FROM \"c_schedules\"")
        ]


async def test_the_same_write_is_the_platforms_document(tmp_path: Path) -> None:
    async with bare(tmp_path, "same") as (store, client):
        r = await client.post("/api/v1/facilities/bookings", json=SLOT)
    assert r.status_code == 201, r.text
    [(key, doc, ix)] = stored(store)
    assert key == doc["_id"] == f"desk-0@{DAY}"  # the platform's id for a resource's day
    assert schedule_to_doc(schedule_from_doc(doc), doc) == doc
    [record] = doc["bookings"]
    assert booking_to_doc(booking_from_doc(record)) == record
    assert record["start"] == f"{DAY}T08:00:00.000000Z" and record["person"] == PERSON
    assert record["site_id"] == "site-bench" and record["resource_kind"] == "hot_desk"
    [event] = doc["outbox"]
    assert event["type"] == ev.DeskBooked.event_type() and event["subject"] == record["id"]
    assert event["partitionkey"] == "desk-0"
    assert ev.DeskBooked.model_validate(event["data"]).to_data() == event["data"]
    assert event["data"]["booking_id"] == record["id"] and event["data"]["end"] == record["end"]
    # the schedules indexes: (resource_id, day, _id), (day), (next_due: absent here), (outbox_pending)
    assert ix == {"resource_id": "desk-0", "day": DAY, "outbox_pending": True}
    assert r.json() == record


async def test_the_minimal_write_is_lighter(tmp_path: Path) -> None:
    async with bare(tmp_path, "minimal") as (store, client):
        r = await client.post("/api/v1/facilities/bookings", json=SLOT)
    assert r.status_code == 201, r.text
    [(_, doc, ix)] = stored(store)
    assert set(doc["bookings"][0]) == {"id", "resource_id", "start", "end", "status", "created_at"}
    assert "day" not in doc and ix == {}


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
