"""One contract for the document-store port, run against every adapter (SQLite, real MongoDB protocol)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clustergrowth.store.mongo import MongoStore
from clustergrowth.store.port import Doc, DocumentStore, DuplicateKey, UnportableDocument, put
from clustergrowth.store.sqlite import SqliteStore


@pytest.fixture(params=["sqlite", pytest.param("mongo", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DocumentStore]:
    if request.param == "sqlite":
        s: DocumentStore = SqliteStore(tmp_path / "contract.sqlite")
    else:
        s = MongoStore(request.getfixturevalue("mongo_url"), f"contract_{uuid.uuid4().hex[:10]}", write_locks=True)
    try:
        yield s
    finally:
        await s.close()


async def test_insert_get_and_duplicate_id(store: DocumentStore) -> None:
    await store.insert("things", {"_id": "a", "n": 1, "tags": ["x"]})
    assert await store.get("things", "a") == {"_id": "a", "n": 1, "tags": ["x"], "version": 1}
    assert await store.get("things", "missing") is None
    with pytest.raises(DuplicateKey):
        await store.insert("things", {"_id": "a", "n": 2})


async def test_replace_is_compare_and_set_on_version(store: DocumentStore) -> None:
    await store.insert("things", {"_id": "a", "n": 1})
    assert await store.replace("things", {"_id": "a", "n": 2}, expected_version=1)
    assert not await store.replace("things", {"_id": "a", "n": 3}, expected_version=1)
    doc = await store.get("things", "a")
    assert doc is not None and (doc["n"], doc["version"]) == (2, 2)


async def test_concurrent_writers_on_one_version_exactly_one_wins(store: DocumentStore) -> None:
    await store.insert("things", {"_id": "a", "n": 0})
    for version in range(1, 31):  # many rounds: a non-atomic compare-and-set loses some of them
        results = await asyncio.gather(*[store.replace("things", {"_id": "a", "n": i}, version) for i in range(10)])
        assert results.count(True) == 1, f"round {version}: {results.count(True)} writers won"


async def test_unique_index_refuses_a_second_document(store: DocumentStore) -> None:
    await store.ensure_index("slots", ["resource", "start"], unique=True)
    await store.insert("slots", {"_id": "1", "resource": "r", "start": "09:00"})
    await store.insert("slots", {"_id": "2", "resource": "r", "start": "10:00"})
    with pytest.raises(DuplicateKey):
        await store.insert("slots", {"_id": "3", "resource": "r", "start": "09:00"})


async def test_find_filters_sort_limit_and_array_paths(store: DocumentStore) -> None:
    await store.ensure_index("days", ["resource_id"])
    for i, (res, day) in enumerate([("r1", "2026-01-02"), ("r1", "2026-01-01"), ("r2", "2026-01-01")]):
        await store.insert(
            "days",
            {
                "_id": f"d{i}",
                "resource_id": res,
                "day": day,
                "pending": i == 2,
                "bookings": [{"id": f"b{i}", "person": "alice" if i else "bob"}],
            },
        )
    got = await store.find("days", {"resource_id": "r1"}, sort=[("day", 1)])
    assert [d["_id"] for d in got] == ["d1", "d0"]
    assert [d["_id"] for d in await store.find("days", {}, sort=[("day", -1), ("_id", 1)], limit=2)] == [
        "d0",
        "d1",
    ]
    assert [d["_id"] for d in await store.find("days", {"bookings.id": "b2"})] == ["d2"]
    assert {d["_id"] for d in await store.find("days", {"bookings.person": "alice"})} == {"d1", "d2"}
    assert [d["_id"] for d in await store.find("days", {"pending": True})] == ["d2"]
    rng = await store.find("days", {"resource_id": "r1", "day": {"$gte": "2026-01-02", "$lte": "2026-01-09"}})
    assert [d["_id"] for d in rng] == ["d0"]
    assert {d["_id"] for d in await store.find("days", {"resource_id": {"$in": ["r2"]}})} == {"d2"}
    assert await store.count("days", {"day": "2026-01-01"}) == 2
    assert await store.delete("days", "d0") and not await store.delete("days", "d0")
    assert await store.count("days") == 2


@pytest.mark.parametrize(
    "doc",
    [{"_id": "x", "pairs": [["08:00", "20:00"]]}, {"_id": "x", "a.b": 1}, {"_id": "x", "n": {"$set": 1}}],
)
async def test_documents_some_servers_cannot_store_are_refused_everywhere(store: DocumentStore, doc: Doc) -> None:
    with pytest.raises(UnportableDocument):
        await store.insert("things", doc)
    assert await store.get("things", "x") is None


async def test_put_creates_then_overwrites_through_the_version_guard(store: DocumentStore) -> None:
    await put(store, "things", {"_id": "a", "n": 1})
    await put(store, "things", {"_id": "a", "n": 2})
    doc = await store.get("things", "a")
    assert doc is not None and (doc["n"], doc["version"]) == (2, 2)
    await asyncio.gather(*[put(store, "things", {"_id": "b", "n": i}) for i in range(10)])
    b = await store.get("things", "b")
    assert b is not None and b["version"] == 10  # every concurrent put landed, none was dropped


async def test_ping(store: DocumentStore) -> None:
    await store.ping()
