"""One contract for the document-store port, run against every adapter (SQLite, real MongoDB protocol)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import PyMongoError

from clustergrowth.store.mongo import MongoStore
from clustergrowth.store.port import (
    OUTBOX,
    PENDING,
    Doc,
    DocumentStore,
    DuplicateKey,
    UnportableDocument,
    page_key,
    put,
)
from clustergrowth.store.sqlite import SqliteStore
from tests.backends import free_port


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


def ev(id: str) -> Doc:
    return {"id": id, "type": "t"}


async def test_drop_outbox_takes_out_the_named_events_and_keeps_those_added_since(store: DocumentStore) -> None:
    await store.insert("aggs", {"_id": "a", "n": 1, OUTBOX: [ev("e1")], PENDING: True})
    read = await store.get("aggs", "a")
    assert read is not None
    assert await store.replace_with_outbox("aggs", {**read, "n": 2}, [ev("e2"), ev("e3")], read["version"])
    await store.drop_outbox("aggs", "a", {"e1", "e9"})  # e9: not there, no matter
    doc = await store.get("aggs", "a")
    assert doc is not None and (doc["n"], doc[OUTBOX], doc[PENDING]) == (2, [ev("e2"), ev("e3")], True)
    await store.drop_outbox("aggs", "a", {"e2", "e3"})
    doc = await store.get("aggs", "a")
    assert doc is not None and (doc["n"], doc[OUTBOX], doc[PENDING]) == (2, [], False)
    await store.drop_outbox("aggs", "missing", {"e1"})  # a document deleted meanwhile: nothing to do
    assert await store.get("aggs", "missing") is None


async def test_a_write_read_before_a_drop_never_brings_the_dropped_events_back(store: DocumentStore) -> None:
    """Whether the store's drop moves the version (then the write is refused and made again from a new read,
    as ``aggregate.update`` does) or not (then it goes through with the stored outbox), e1 stays dropped."""
    await store.insert("aggs", {"_id": "a", "n": 1, OUTBOX: [ev("e1")], PENDING: True})
    read = await store.get("aggs", "a")
    assert read is not None
    await store.drop_outbox("aggs", "a", {"e1"})
    for _ in range(2):
        if await store.replace_with_outbox("aggs", {**read, "n": read["n"] + 1}, [ev("e2")], read["version"]):
            break
        read = await store.get("aggs", "a")
        assert read is not None
    else:
        pytest.fail("the write never went through")
    doc = await store.get("aggs", "a")
    assert doc is not None and (doc["n"], doc[OUTBOX], doc[PENDING]) == (2, [ev("e2")], True)


async def test_replace_with_outbox_is_compare_and_set_on_version(store: DocumentStore) -> None:
    await store.insert("aggs", {"_id": "a", "n": 1, OUTBOX: [], PENDING: False})
    assert await store.replace_with_outbox("aggs", {"_id": "a", "n": 2}, [ev("e1")], 1)
    assert not await store.replace_with_outbox("aggs", {"_id": "a", "n": 3}, [ev("e2")], 1)
    assert not await store.replace_with_outbox("aggs", {"_id": "missing", "n": 3}, [ev("e2")], 1)
    assert await store.replace_with_outbox("aggs", {"_id": "a", "n": 4, OUTBOX: [ev("e1")]}, [], 2)
    doc = await store.get("aggs", "a")
    assert doc is not None and (doc["n"], doc[OUTBOX], doc[PENDING], doc["version"]) == (4, [ev("e1")], True, 3)
    results = await asyncio.gather(
        *[store.replace_with_outbox("aggs", {"_id": "a"}, [ev(f"r{i}")], 3) for i in range(10)]
    )
    assert results.count(True) == 1


async def test_unique_index_refuses_a_second_document(store: DocumentStore) -> None:
    await store.ensure_index("slots", ["resource", "start"], unique=True)
    await store.insert("slots", {"_id": "1", "resource": "r", "start": "09:00"})
    await store.insert("slots", {"_id": "2", "resource": "r", "start": "10:00"})
    with pytest.raises(DuplicateKey):
        await store.insert("slots", {"_id": "3", "resource": "r", "start": "09:00"})


async def index_keys(store: DocumentStore, collection: str) -> set[tuple[str, ...]]:
    """The fields of each index the adapter keeps on ``collection`` (read from the database itself)."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            sqls = [
                sql
                for (sql,) in db.execute(
                    "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name=? AND sql IS NOT NULL",
                    (f"c_{collection}",),
                )
            ]
        # each index's own columns, read from its CREATE statement: json_extract(ix, '$.f'), or id for _id
        columns = [re.findall(r"json_extract\(ix, '\$\.(\w+)'\)|\bid\b", sql.split(" ON ", 1)[1]) for sql in sqls]
        return {tuple(f or "_id" for f in cols) for cols in columns}
    assert isinstance(store, MongoStore)
    info = await store._db[collection].index_information()
    return {tuple(k for k, _ in spec["key"]) for name, spec in info.items() if name != "_id_"}


async def test_drop_index_drops_that_index_only_and_a_missing_one_is_no_error(store: DocumentStore) -> None:
    for i, (res, day) in enumerate([("r1", "d2"), ("r1", "d1"), ("r2", "d1")]):
        await store.insert("days", {"_id": f"k{i}", "res": res, "day": day})
    await store.ensure_index("days", ["res"])
    await store.ensure_index("days", ["res", "day"])
    await store.ensure_index("days", ["day"])
    assert await index_keys(store, "days") == {("res",), ("res", "day"), ("day",)}
    await store.drop_index("days", ["res"])
    assert await index_keys(store, "days") == {("res", "day"), ("day",)}
    await store.drop_index("days", ["res"])  # dropped already: nothing to do
    await store.drop_index("never_made", ["res"])  # no such collection
    # what the dropped index served is still answered (by the other's first field), pages included
    assert [d["_id"] for d in await store.find("days", {"res": "r1"}, sort=[("day", 1)])] == ["k1", "k0"]
    assert [d["_id"] for d in await store.page("days", {"res": "r1"}, [("day", 1), ("_id", 1)], None, 1)] == ["k1"]


async def test_indexes_on_fields_whose_names_join_alike_are_two_indexes(store: DocumentStore) -> None:
    await store.ensure_index("pairs", ["a", "b"])
    await store.ensure_index("pairs", ["a_b"], unique=True)  # "a" + "_" + "b" reads as "a_b"
    assert await index_keys(store, "pairs") == {("a", "b"), ("a_b",)}
    await store.insert("pairs", {"_id": "p1", "a": 1, "b": 2, "a_b": 3})
    await store.insert("pairs", {"_id": "p2", "a": 1, "b": 2, "a_b": 4})  # (a, b) is not unique
    with pytest.raises(DuplicateKey):
        await store.insert("pairs", {"_id": "p3", "a": 5, "b": 6, "a_b": 3})  # a_b is
    await store.drop_index("pairs", ["a", "b"])
    assert await index_keys(store, "pairs") == {("a_b",)}


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


# What "down" may look like when pinged: the adapter's own errors, or no answer in time (readiness gives up
# after 3 s). Not AssertionError, TypeError, AttributeError: a bug is not an outage.
DOWN = (OSError, RuntimeError, TimeoutError, PyMongoError)


def _another(store: DocumentStore, request: pytest.FixtureRequest, where: Path) -> DocumentStore:
    """A second store of the same kind: at `where` (SQLite) or in another database of the same server."""
    if isinstance(store, SqliteStore):
        return SqliteStore(where)
    return MongoStore(request.getfixturevalue("mongo_url"), f"contract_{uuid.uuid4().hex[:10]}")


def _nowhere(store: DocumentStore, tmp_path: Path) -> DocumentStore:
    """A store of the same kind that cannot be reached: a path under a regular file; a closed port."""
    if isinstance(store, SqliteStore):
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        return SqliteStore(blocker / "contract.sqlite")
    return MongoStore(f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=500", "contract_nowhere")


async def test_ping_answers_while_up_and_raises_when_unreachable_or_closed(
    store: DocumentStore, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    await store.ping()  # answers (no exception)
    nowhere = _nowhere(store, tmp_path)
    try:
        with pytest.raises(DOWN):
            async with asyncio.timeout(10):
                await nowhere.ping()
    finally:
        await nowhere.close()
    closed = _another(store, request, tmp_path / "closed.sqlite")
    await closed.ping()
    await closed.close()
    with pytest.raises(DOWN):
        async with asyncio.timeout(10):
            await closed.ping()


# Pages (keyset pagination) -------------------------------------------------------------------------
def _things() -> list[Doc]:
    """Ties on every field, missing and null values, ints and floats, a nested field."""
    docs = []
    for i in range(23):
        d: Doc = {"_id": f"t{(i * 7) % 23:02d}", "n": [3, 1, 2.5, 1, 0][i % 5], "kind": "xy"[i % 3 == 0]}
        if i % 4:
            d["g"] = "abc"[i % 3]
        elif i % 8 == 0:
            d["g"] = None
        d["s"] = f"s{i % 6}"
        d["meta"] = {"rank": i % 4}
        docs.append(d)
    return docs


def _reference(docs: list[Doc], sort: list[tuple[str, int]]) -> list[str]:
    """The order by hand: nothing sorts first ascending, last descending; _id breaks ties."""

    def value(d: Any, path: str) -> Any:
        for part in path.split("."):
            d = d.get(part) if isinstance(d, dict) else None
        return d

    out = list(docs)
    fields = sort if sort[-1][0] == "_id" else [*sort, ("_id", 1)]
    for field, direction in reversed(fields):  # stable sorts, least significant field first
        out.sort(key=lambda d: (0, 0) if value(d, field) is None else (1, value(d, field)), reverse=direction < 0)
    return [d["_id"] for d in out]


async def _walk(store: DocumentStore, filter: Doc | None, sort: list[tuple[str, int]], limit: int) -> list[str]:
    seen: list[str] = []
    after: list[Any] | None = None
    for _ in range(100):
        got = await store.page("things", filter, sort, after, limit)
        assert len(got) <= limit
        seen += [d["_id"] for d in got]
        if len(got) < limit:
            return seen
        after = page_key(got[-1], sort)
    raise AssertionError("the walk did not end")


SORTS = [
    [("n", 1)],
    [("n", -1)],
    [("g", 1), ("n", -1)],
    [("g", -1), ("s", 1)],
    [("n", -1), ("_id", -1)],
    [("meta.rank", 1), ("g", -1)],
    [("s", -1), ("n", 1), ("g", 1)],
]
FILTERS: list[Doc | None] = [None, {"kind": "x"}, {"$or": [{"kind": "x"}, {"n": {"$gte": 2.5}}]}]


@pytest.mark.parametrize("indexed", [False, True], ids=["unindexed", "indexed"])
async def test_walking_every_page_yields_each_match_once_in_order(store: DocumentStore, indexed: bool) -> None:
    if indexed:
        await store.ensure_index("things", ["kind"])
        await store.ensure_index("things", ["n", "_id"])
        await store.ensure_index("things", ["g", "s"])
    docs = _things()
    for d in docs:
        await store.insert("things", d)
    for filter in FILTERS:
        wanted = [d for d in docs if filter is None or d["kind"] == "x" or (filter.get("$or") and d["n"] >= 2.5)]
        for sort in SORTS:
            expected = _reference(wanted, sort)
            for limit in (1, 4, len(expected), len(expected) + 1):
                assert await _walk(store, filter, sort, limit) == expected, (filter, sort, limit)


async def test_a_page_of_an_empty_collection_or_after_the_last_item_is_empty(store: DocumentStore) -> None:
    assert await store.page("things", None, [("n", 1)], None, 10) == []
    for d in _things():
        await store.insert("things", d)
    assert await store.page("things", None, [("n", 1)], [99, "zz"], 10) == []
    assert await store.page("things", None, [("n", -1)], [-1, "zz"], 10) == []
    last = (await store.page("things", {}, [("g", -1), ("n", 1)], None, 100))[-1]
    assert await store.page("things", {}, [("g", -1), ("n", 1)], page_key(last, [("g", -1), ("n", 1)]), 5) == []
    # a key between stored ones seeks to the next stored one
    got = await store.page("things", None, [("n", 1)], [2, "t00"], 100)
    assert {d["n"] for d in got} == {2.5, 3}


async def test_a_page_carries_the_whole_document(store: DocumentStore) -> None:
    await store.insert("things", {"_id": "a", "n": 1, "tags": ["x"], "meta": {"rank": 2}})
    assert await store.page("things", {"tags": "x"}, [("n", 1)], None, 1) == [
        {"_id": "a", "n": 1, "tags": ["x"], "meta": {"rank": 2}, "version": 1}
    ]


@pytest.mark.parametrize(
    ("sort", "after", "limit"),
    [
        ([], None, 10),  # no sort: no order to seek in
        ([("n", 0)], None, 10),
        ([("n", 1), ("n", -1)], None, 10),
        ([("$n", 1)], None, 10),
        ([("a..b", 1)], None, 10),
        ([("n", 1)], [1], 10),  # the key has a value per field of the total order (n, _id)
        ([("n", 1)], [1, "a", "b"], 10),
        ([("n", 1)], [{"$gt": 1}, "a"], 10),
        ([("n", 1)], [[1], "a"], 10),
        ([("n", 1)], [1, None], 10),
        ([("n", 1)], [float("nan"), "a"], 10),
        ([("n", 1)], [2**63, "a"], 10),
        ([("n", 1)], [True, "a"], 10),
        ([("n", 1)], None, 0),
    ],
)
async def test_a_page_with_bad_arguments_is_refused(
    store: DocumentStore, sort: list[tuple[str, int]], after: list[Any] | None, limit: int
) -> None:
    await store.insert("things", {"_id": "a", "n": 1})
    with pytest.raises(ValueError):
        await store.page("things", None, sort, after, limit)


async def test_null_equality_matches_a_missing_field_as_in_mongodb(store: DocumentStore) -> None:
    for d in ({"_id": "a", "x": None}, {"_id": "b"}, {"_id": "c", "x": 1}):
        await store.insert("things", d)
    assert {d["_id"] for d in await store.find("things", {"x": None})} == {"a", "b"}
    assert {d["_id"] for d in await store.find("things", {"x": {"$ne": None}})} == {"c"}
    assert {d["_id"] for d in await store.find("things", {"x": {"$in": [None, 2]}})} == {"a", "b"}
    assert {d["_id"] for d in await store.find("things", {"$or": [{"x": 1}, {"_id": "a"}]})} == {"a", "c"}
    assert {d["_id"] for d in await store.find("things", {"$and": [{"x": None}, {"_id": {"$ne": "a"}}]})} == {"b"}
