"""The SQLite adapter's guards: names, the insert, the versioned replace and the SQL part of a filter.

The embedded store in a temporary directory; what it wrote is read back through the port and, where the
guard is the row itself (the version column the compare-and-set tests), with a second, plain SQLite
connection to the same file. The SQL of ``_where`` is written out by hand: it is what decides, for an
exact filter, which rows a page returns without a second look in Python.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clustergrowth import jsontext
from clustergrowth.store import sqlite as sqlite_store
from clustergrowth.store.port import Doc, DuplicateKey, UnportableDocument
from clustergrowth.store.sqlite import SqliteStore, _expr, _param, _table


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "guards.sqlite")
    yield s
    await s.close()


def rows(store: SqliteStore, table: str) -> list[tuple[str, int, Doc]]:
    """(id, version column, stored document) of every row, read with a connection of our own."""
    with sqlite3.connect(store.path) as c:
        return [(i, v, json.loads(d)) for i, v, d in c.execute(f'SELECT id, version, doc FROM "{table}" ORDER BY id')]


# _table / _expr / _param ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["things", "_x", "A1_b"])
def test_a_collection_is_a_table_with_a_prefix(name: str) -> None:
    assert _table(name) == f"c_{name}"


@pytest.mark.parametrize("name", ["", "1x", "bad-name", "a b", "a.b", 'x";drop', "x\n"])
def test_a_bad_collection_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError) as e:
        _table(name)
    assert str(e.value) == f"bad collection name {name!r}"


async def test_the_store_refuses_a_bad_collection_name_and_uses_the_prefixed_table(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="bad collection name 'a-b'"):
        await store.insert("a-b", {"_id": "x"})
    await store.insert("things", {"_id": "x"})
    with sqlite3.connect(store.path) as c:
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["c_things"]


@pytest.mark.parametrize(
    ("field", "sql"),
    [
        ("_id", "id"),
        ("n", "json_extract(doc, '$.n')"),
        ("a.b_c.D9", "json_extract(doc, '$.a.b_c.D9')"),
        ("_x", "json_extract(doc, '$._x')"),
    ],
)
def test_a_field_is_the_id_column_or_its_json_value(field: str, sql: str) -> None:
    assert _expr(field) == sql


@pytest.mark.parametrize("field", ["a-b", "a..b", "$a", "a.1", "a.", "", "a'b", "a.b)", "a\n", "a\n.b"])
def test_a_bad_field_is_refused(field: str) -> None:
    with pytest.raises(ValueError) as e:
        _expr(field)
    assert str(e.value) == f"bad field {field!r}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, 1), (False, 0), (1, 1), (0, 0), (2.5, 2.5), ("x", "x"), ("", "")],
)
def test_a_parameter_is_the_value_with_booleans_as_integers(value: Any, expected: Any) -> None:
    got = _param(value)
    assert got == expected and type(got) is type(expected)  # JSON true is 1 in SQLite, and an int here


@pytest.mark.parametrize("field", ["a.b", "a-b", "k\n"])
async def test_only_top_level_named_fields_can_be_indexed(store: SqliteStore, field: str) -> None:
    with pytest.raises(ValueError) as e:
        await store.ensure_index("things", ["k", field])
    assert str(e.value) == f"only top-level fields can be indexed here: {field!r}"


# insert --------------------------------------------------------------------------------------------


async def test_insert_stores_the_whole_document_at_version_one(store: SqliteStore) -> None:
    doc = {"_id": "a", "n": 1, "tags": ["x"], "version": 7}  # a version the caller sent is overwritten
    await store.insert("things", doc)
    assert await store.get("things", "a") == {"_id": "a", "n": 1, "tags": ["x"], "version": 1}
    assert rows(store, "c_things") == [("a", 1, {"_id": "a", "n": 1, "tags": ["x"], "version": 1})]
    assert doc == {"_id": "a", "n": 1, "tags": ["x"], "version": 7}  # the caller's dict is not changed


async def test_insert_of_an_existing_id_is_a_duplicate_key(store: SqliteStore) -> None:
    await store.insert("things", {"_id": "a", "n": 1})
    with pytest.raises(DuplicateKey) as e:
        await store.insert("things", {"_id": "a", "n": 2})
    assert str(e.value) == "UNIQUE constraint failed: c_things.id"
    assert rows(store, "c_things") == [("a", 1, {"_id": "a", "n": 1, "version": 1})]


async def test_insert_colliding_on_a_unique_index_is_a_duplicate_key(store: SqliteStore) -> None:
    await store.ensure_index("slots", ["k"], unique=True)
    await store.insert("slots", {"_id": "a", "k": 1})
    with pytest.raises(DuplicateKey) as e:
        await store.insert("slots", {"_id": "b", "k": 1})
    assert str(e.value) == "UNIQUE constraint failed: index 'ix_c_slots(k)'"
    assert [r[0] for r in rows(store, "c_slots")] == ["a"]


async def test_an_index_named_as_before_is_made_anew_under_its_bracketed_name(tmp_path: Path) -> None:
    """Indexes were once named with their fields joined by "_"; a start on such a store drops that one."""
    path = tmp_path / "before.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE c_slots (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)")
        db.execute("CREATE UNIQUE INDEX ix_c_slots_k_j ON c_slots (json_extract(doc, '$.k'), json_extract(doc, '$.j'))")
    store = SqliteStore(path)
    await store.ensure_index("slots", ["k", "j"], unique=True)
    with sqlite3.connect(path) as db:
        names = db.execute("SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'ix_%'").fetchall()
    assert names == [("ix_c_slots(k,j)",)]
    await store.insert("slots", {"_id": "a", "k": 1, "j": 2})
    with pytest.raises(DuplicateKey) as e:
        await store.insert("slots", {"_id": "b", "k": 1, "j": 2})
    assert str(e.value) == "UNIQUE constraint failed: index 'ix_c_slots(k,j)'"
    await store.drop_index("slots", ["k", "j"])
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'ix_%'").fetchall() == []


def ix_of(path: Path, table: str) -> dict[str, Any]:
    """Each row's ``ix`` column (its indexed fields), read with a connection of our own."""
    with sqlite3.connect(path) as c:
        return {i: None if x is None else json.loads(x) for i, x in c.execute(f'SELECT id, ix FROM "{table}"')}


def plan(path: Path, sql: str, args: tuple[Any, ...]) -> str:
    """SQLite's query plan for ``sql``: which index, if any, it reads."""
    with sqlite3.connect(path) as c:
        return " ".join(str(r[3]) for r in c.execute(f"EXPLAIN QUERY PLAN {sql}", args))


async def test_a_store_made_before_ix_gets_the_column_and_its_indexes_are_made_on_it(tmp_path: Path) -> None:
    """A table of three columns with an index on the document under today's name (what the code wrote
    before): the column is added, and until the index is made anew the fields are read from the
    document; ``ensure_index`` fills every row's ``ix`` and makes the index on it, and queries find the
    rows written before and after."""
    path = tmp_path / "before.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE c_days (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)")
        db.execute("""CREATE INDEX "ix_c_days(day)" ON c_days (json_extract(doc, '$.day'))""")
        for i, day in enumerate(["d1", "d2", "d1"]):
            db.execute("INSERT INTO c_days VALUES (?, 1, ?)", (f"k{i}", json.dumps({"_id": f"k{i}", "day": day})))
    store = SqliteStore(path)
    try:
        assert {d["_id"] for d in await store.find("days", {"day": "d1"})} == {"k0", "k2"}  # the document's
        assert ix_of(path, "c_days") == {"k0": None, "k1": None, "k2": None}  # the column, not filled yet
        await store.ensure_index("days", ["day"])
        assert ix_of(path, "c_days") == {"k0": {"day": "d1"}, "k1": {"day": "d2"}, "k2": {"day": "d1"}}
        await store.insert("days", {"_id": "k3", "day": "d1", "other": [1]})
        await store.insert("days", {"_id": "k4"})  # no day: left out of ix, NULL to the index as it was
        assert ix_of(path, "c_days")["k3"] == {"day": "d1"} and ix_of(path, "c_days")["k4"] == {}
        assert {d["_id"] for d in await store.find("days", {"day": "d1"})} == {"k0", "k2", "k3"}
        page = await store.page("days", {}, [("day", -1), ("_id", 1)], None, 10)
        assert [d["_id"] for d in page] == ["k1", "k0", "k2", "k3", "k4"]  # NULL last, descending, as before
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        (sql,) = db.execute("""SELECT sql FROM sqlite_master WHERE name = 'ix_c_days(day)'""").fetchone()
    assert sql.endswith("(json_extract(ix, '$.day'))")
    query = """SELECT doc FROM c_days WHERE json_extract(ix, '$.day') = ?"""
    assert "USING INDEX ix_c_days(day)" in plan(path, query, ("d1",))


async def test_a_write_carries_the_fields_another_process_indexed_since(tmp_path: Path) -> None:
    """Two stores on one file, as the split API and its worker are: the first read the schema before the
    second made an index; its next writes put that field in ``ix`` all the same, and its queries use it."""
    path = tmp_path / "shared.sqlite"
    first, second = SqliteStore(path), SqliteStore(path)
    try:
        await first.insert("days", {"_id": "a", "day": "d1", "res": "r1"})  # first has read the schema: no index
        await second.ensure_index("days", ["res"])
        await first.insert("days", {"_id": "b", "day": "d1", "res": "r2"})
        doc = (await first.find("days", {"_id": "a"}))[0]
        await first.replace("days", {**doc, "res": "r3"}, doc["version"])
        assert ix_of(path, "c_days") == {"a": {"res": "r3"}, "b": {"res": "r2"}}
        assert [d["_id"] for d in await first.find("days", {"res": "r3"})] == ["a"]
        assert first._where("days", {"res": "r3"}) == (["json_extract(ix, '$.res') = ?"], ["r3"], True)
        await second.drop_index("days", ["res"])
        await first.insert("days", {"_id": "c", "res": "r3"})
        assert ix_of(path, "c_days")["c"] is None  # nothing indexed any more: no ix written
        assert {d["_id"] for d in await first.find("days", {"res": "r3"})} == {"a", "c"}  # from the document
    finally:
        await first.close()
        await second.close()


async def test_the_outbox_flag_in_ix_follows_the_events_written_and_dropped(store: SqliteStore) -> None:
    """``outbox_pending`` indexed, as the relay's query has it: set by the write that adds events, cleared
    in ``ix`` too by the relay's ``drop_outbox``."""
    await store.ensure_index("aggs", ["outbox_pending"])
    await store.insert("aggs", {"_id": "a", "outbox": [], "outbox_pending": False})
    assert await store.replace_with_outbox("aggs", {"_id": "a", "n": 1}, [{"id": "e1"}, {"id": "e2"}], 1)
    assert ix_of(store.path, "c_aggs") == {"a": {"outbox_pending": True}}
    assert [d["_id"] for d in await store.find("aggs", {"outbox_pending": True})] == ["a"]
    await store.drop_outbox("aggs", "a", {"e1"})
    assert ix_of(store.path, "c_aggs") == {"a": {"outbox_pending": True}}  # e2 still waits
    await store.drop_outbox("aggs", "a", {"e2"})
    assert ix_of(store.path, "c_aggs") == {"a": {"outbox_pending": False}}
    assert await store.find("aggs", {"outbox_pending": True}) == []
    assert [d["_id"] for d in await store.find("aggs", {"outbox_pending": False})] == ["a"]
    assert rows(store, "c_aggs")[0][2]["outbox_pending"] is False  # the document says the same


async def test_a_write_with_events_writes_ix_anew_only_when_an_indexed_field_changed(store: SqliteStore) -> None:
    """The booking's write leaves ``ix`` out of its UPDATE when it would be the same text; when an indexed
    field changes, the new value is there and the index finds the document by it, not by the old one."""
    await store.ensure_index("aggs", ["k", "outbox_pending"])
    await store.insert("aggs", {"_id": "a", "k": "x", "outbox": [], "outbox_pending": False})
    assert await store.replace_with_outbox("aggs", {"_id": "a", "k": "y"}, [{"id": "e1"}], 1)
    assert ix_of(store.path, "c_aggs") == {"a": {"k": "y", "outbox_pending": True}}
    assert await store.replace_with_outbox("aggs", {"_id": "a", "k": "y", "n": 1}, [{"id": "e2"}], 2)  # same ix
    assert await store.replace_with_outbox("aggs", {"_id": "a", "k": "z", "n": 2}, [], 3)
    assert ix_of(store.path, "c_aggs") == {"a": {"k": "z", "outbox_pending": True}}
    assert await store.find("aggs", {"k": "y"}) == []
    (found,) = await store.find("aggs", {"k": "z"})
    assert (found["version"], found["n"], [e["id"] for e in found["outbox"]]) == (4, 2, ["e1", "e2"])


class _Between:
    """``jsontext`` for the store module, whose first ``dumps`` after ``arm`` runs ``then`` first: another
    process's write landing between the store's read of a row and its UPDATE of it."""

    def __init__(self, then: Callable[[], None]) -> None:
        self.then, self.armed = then, False
        self.loads = jsontext.loads

    def dumps(self, value: Any) -> str:
        if self.armed:
            self.armed = False
            self.then()
        return jsontext.dumps(value)


@contextlib.contextmanager
def landing_between(monkeypatch: pytest.MonkeyPatch, write: Callable[[], None]) -> Iterator[None]:
    """``write`` (another process's) lands between the store's read of a row and its UPDATE of it, within
    the block; that it did land is checked at the block's end."""
    between = _Between(write)
    monkeypatch.setattr(sqlite_store, "jsontext", between)
    between.armed = True
    yield
    assert not between.armed


def other_process(path: Path, sql: str, *args: Any) -> Callable[[], None]:
    def write() -> None:
        with sqlite3.connect(path) as c:
            c.execute(sql, args)

    return write


async def test_a_write_with_events_reads_the_outbox_again_when_the_relay_took_events_out_meanwhile(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay (another process) drops the published e1 after the booking's write read the outbox: the
    write is made again on the outbox as it is now, so e1 is not put back to be published twice."""
    await store.ensure_index("aggs", ["outbox_pending"])
    await store.insert("aggs", {"_id": "a", "outbox": [{"id": "e1"}], "outbox_pending": True})
    drop = other_process(store.path, """UPDATE c_aggs SET doc = json_set(doc, '$.outbox', json('[]')) WHERE id = 'a'""")
    with landing_between(monkeypatch, drop):
        assert await store.replace_with_outbox("aggs", {"_id": "a", "n": 1}, [{"id": "e2"}], 1)
    ((_, version, doc),) = rows(store, "c_aggs")
    assert (version, doc["outbox"], doc["outbox_pending"], doc["n"]) == (2, [{"id": "e2"}], True, 1)


async def test_a_write_that_keeps_ix_reads_again_when_the_relay_changed_ix_meanwhile(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored outbox is empty but marked pending (a mark the relay corrects): the booking's write finds
    its ix unchanged and leaves it out; the relay sets the mark false (doc and ix, outbox text the same)
    in between: the write is made again, and its event is found pending, not left unseen by the relay."""
    await store.ensure_index("aggs", ["outbox_pending"])
    await store.insert("aggs", {"_id": "a", "outbox": [], "outbox_pending": True})
    fix = other_process(
        store.path,
        """UPDATE c_aggs SET doc = json_set(doc, '$.outbox_pending', json('false')),"""
        """ ix = json_set(ix, '$.outbox_pending', json('false')) WHERE id = 'a'""",
    )
    with landing_between(monkeypatch, fix):
        assert await store.replace_with_outbox("aggs", {"_id": "a"}, [{"id": "e1"}], 1)
    assert ix_of(store.path, "c_aggs") == {"a": {"outbox_pending": True}}
    assert [d["_id"] for d in await store.find("aggs", {"outbox_pending": True})] == ["a"]


async def test_the_relay_keeps_the_events_a_booking_added_after_it_read_the_outbox(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A booking (another process) adds e2 after the relay read [e1] and before it writes the outbox
    without e1: the relay's write is made again on [e1, e2], so e2 stays to be published, not lost."""
    await store.ensure_index("aggs", ["outbox_pending"])
    await store.insert("aggs", {"_id": "a", "outbox": [{"id": "e1"}], "outbox_pending": True})
    add = other_process(
        store.path,
        """UPDATE c_aggs SET version = 2, doc = json_set(doc, '$.outbox', json(?), '$.version', 2) WHERE id = 'a'""",
        json.dumps([{"id": "e1"}, {"id": "e2"}]),
    )
    with landing_between(monkeypatch, add):
        await store.drop_outbox("aggs", "a", {"e1"})
    ((_, version, doc),) = rows(store, "c_aggs")
    assert (version, doc["outbox"], doc["outbox_pending"]) == (2, [{"id": "e2"}], True)
    assert ix_of(store.path, "c_aggs") == {"a": {"outbox_pending": True}}
    assert [d["_id"] for d in await store.find("aggs", {"outbox_pending": True})] == ["a"]


async def test_the_id_in_an_index_is_the_id_column_never_a_field_of_ix(store: SqliteStore) -> None:
    """A sort's index ends with ``_id``: that is the row's id column, so a filter on ids stays primary-key
    lookups, and ``ix`` does not hold the id a second time."""
    await store.ensure_index("ch", ["posted_at", "_id"])
    await store.insert("ch", {"_id": "a", "posted_at": "t1"})
    await store.insert("ch", {"_id": "b", "posted_at": "t0"})
    assert store._where("ch", {"_id": {"$in": ["a", "b"]}}) == (["id IN (?, ?)"], ["a", "b"], True)
    assert ix_of(store.path, "c_ch") == {"a": {"posted_at": "t1"}, "b": {"posted_at": "t0"}}
    assert [d["_id"] for d in await store.page("ch", {}, [("posted_at", 1), ("_id", 1)], None, 5)] == ["b", "a"]
    with sqlite3.connect(store.path) as c:
        (sql,) = c.execute("SELECT sql FROM sqlite_master WHERE name = 'ix_c_ch(posted_at,_id)'").fetchone()
    assert sql.endswith("(json_extract(ix, '$.posted_at'), id)")
    (where,), args, _ = store._where("ch", {"_id": {"$in": ["a", "b"]}})
    assert "USING INDEX sqlite_autoindex_c_ch_1 (id=?)" in plan(
        store.path, f"SELECT doc FROM c_ch WHERE {where}", tuple(args)
    )


async def test_rows_written_without_ix_get_it_when_the_index_is_ensured_again(store: SqliteStore) -> None:
    """A row written by something other than this store (an older version of it, a script) has no ``ix``;
    the next start's ``ensure_index`` writes it, and the index finds the row by its field."""
    await store.ensure_index("days", ["day"])
    await store.insert("days", {"_id": "a", "day": "d1"})
    with sqlite3.connect(store.path) as c:
        c.execute("INSERT INTO c_days (id, version, doc) VALUES ('b', 1, ?)", (json.dumps({"_id": "b", "day": "d1"}),))
    assert [d["_id"] for d in await store.find("days", {"day": "d1"})] == ["a"]  # b's ix is missing
    await store.ensure_index("days", ["day"])
    assert ix_of(store.path, "c_days") == {"a": {"day": "d1"}, "b": {"day": "d1"}}
    assert {d["_id"] for d in await store.find("days", {"day": "d1"})} == {"a", "b"}


async def test_an_old_name_shared_by_two_field_lists_is_dropped_only_for_its_own_index(tmp_path: Path) -> None:
    """ix_c_pairs_a_b was the old name of an index on a_b and of one on (a, b): making (a, b) anew leaves a
    unique a_b made before in place, until a_b's own index is made under its new name."""
    path = tmp_path / "before.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE c_pairs (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)")
        db.execute("CREATE UNIQUE INDEX ix_c_pairs_a_b ON c_pairs (json_extract(doc, '$.a_b'))")
    store = SqliteStore(path)
    await store.ensure_index("pairs", ["a", "b"])
    await store.drop_index("pairs", ["a", "b"])
    await store.insert("pairs", {"_id": "p1", "a_b": 1})
    with pytest.raises(DuplicateKey):  # still unique
        await store.insert("pairs", {"_id": "p2", "a_b": 1})
    await store.ensure_index("pairs", ["a_b"], unique=False)  # not the same index: a unique one stays
    with pytest.raises(DuplicateKey):
        await store.insert("pairs", {"_id": "p2", "a_b": 1})
    await store.ensure_index("pairs", ["a_b"], unique=True)
    await store.close()
    with sqlite3.connect(path) as db:
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'ix_%'")}
    assert names == {"ix_c_pairs(a_b)"}  # the old one gone once its own index was made


async def test_insert_refuses_an_unportable_document_and_stores_nothing(store: SqliteStore) -> None:
    await store.insert("things", {"_id": "ok"})
    with pytest.raises(UnportableDocument):
        await store.insert("things", {"_id": "a", "a.b": 1})
    assert [r[0] for r in rows(store, "c_things")] == ["ok"]


# replace -------------------------------------------------------------------------------------------


async def test_replace_is_a_compare_and_set_that_moves_the_version_by_one(store: SqliteStore) -> None:
    await store.insert("things", {"_id": "a", "n": 1})
    assert await store.replace("things", {"_id": "a", "n": 2}, 1) is True
    assert rows(store, "c_things") == [("a", 2, {"_id": "a", "n": 2, "version": 2})]
    assert await store.replace("things", {"_id": "a", "n": 3}, 1) is False  # stale: nothing written
    assert rows(store, "c_things") == [("a", 2, {"_id": "a", "n": 2, "version": 2})]
    assert await store.replace("things", {"_id": "a", "n": 4, "version": 99}, 2) is True
    assert await store.get("things", "a") == {"_id": "a", "n": 4, "version": 3}
    assert await store.replace("things", {"_id": "a", "n": 5}, 4) is False  # ahead of the stored one
    assert rows(store, "c_things") == [("a", 3, {"_id": "a", "n": 4, "version": 3})]


async def test_replace_of_a_missing_document_writes_nothing(store: SqliteStore) -> None:
    await store.insert("things", {"_id": "a", "n": 1})
    assert await store.replace("things", {"_id": "b", "n": 1}, 1) is False
    assert await store.replace("things", {"_id": "b", "n": 1}, 0) is False
    assert rows(store, "c_things") == [("a", 1, {"_id": "a", "n": 1, "version": 1})]


async def test_replace_touches_only_the_document_named(store: SqliteStore) -> None:
    for i in ("a", "b"):
        await store.insert("things", {"_id": i, "n": 0})
    assert await store.replace("things", {"_id": "b", "n": 1}, 1) is True
    assert rows(store, "c_things") == [
        ("a", 1, {"_id": "a", "n": 0, "version": 1}),
        ("b", 2, {"_id": "b", "n": 1, "version": 2}),
    ]


async def test_replace_colliding_on_a_unique_index_is_a_duplicate_key(store: SqliteStore) -> None:
    await store.ensure_index("slots", ["k"], unique=True)
    await store.insert("slots", {"_id": "a", "k": 1})
    await store.insert("slots", {"_id": "b", "k": 2})
    with pytest.raises(DuplicateKey) as e:
        await store.replace("slots", {"_id": "b", "k": 1}, 1)
    assert str(e.value) == "UNIQUE constraint failed: index 'ix_c_slots(k)'"
    assert rows(store, "c_slots")[1] == ("b", 1, {"_id": "b", "k": 2, "version": 1})


async def test_replace_refuses_an_unportable_document_and_keeps_the_stored_one(store: SqliteStore) -> None:
    await store.insert("things", {"_id": "a", "n": 1})
    with pytest.raises(UnportableDocument):
        await store.replace("things", {"_id": "a", "l": [[1]]}, 1)
    assert rows(store, "c_things") == [("a", 1, {"_id": "a", "n": 1, "version": 1})]


# _where --------------------------------------------------------------------------------------------

K = "json_extract(ix, '$.k')"  # indexed: the row's ix, what the index is on
J = "json_extract(ix, '$.j')"


@pytest.fixture
async def indexed(store: SqliteStore) -> SqliteStore:
    """``things`` with k and j indexed (u is not); ``other`` with u indexed."""
    await store.ensure_index("things", ["k"])
    await store.ensure_index("things", ["j"])
    await store.ensure_index("other", ["u"])
    return store


@pytest.mark.parametrize(
    ("filter", "where", "args", "exact"),
    [
        ({}, [], [], True),
        ({"_id": "a"}, ["id = ?"], ["a"], True),
        ({"_id": 5}, [], [], False),  # ids are strings: a number matches nothing SQL should decide
        ({"_id": {"$in": ["a", "b"]}}, ["id IN (?, ?)"], ["a", "b"], True),
        ({"k": "x"}, [f"{K} = ?"], ["x"], True),
        ({"k": 3}, [f"{K} = ?"], [3], True),
        ({"k": 2.5}, [f"{K} = ?"], [2.5], True),
        ({"k": True}, [f"{K} = ?"], [1], True),
        ({"k": None}, [], [], False),  # null also matches a missing field: Python decides
        ({"k": ["x"]}, [], [], False),
        ({"k": {"$in": ["a", 2, 1.5, False]}}, [f"{K} IN (?, ?, ?, ?)"], ["a", 2, 1.5, 0], True),
        ({"k": {"$in": ["a"]}}, [f"{K} IN (?)"], ["a"], True),
        ({"k": {"$in": []}}, ["0"], [], True),  # nothing is in the empty list
        ({"k": {"$in": ["a", None]}}, [], [], False),
        ({"k": {"$in": [["a"]]}}, [], [], False),
        ({"k": {"$in": "ab"}}, [], [], False),
        ({"k": {"$in": ["a"], "$ne": "b"}}, [], [], False),
        ({"k": {"$gt": 1}}, [], [], False),
        ({"u": 1}, [], [], False),  # not indexed here (only in "other"): may hold arrays
        ({"u": 1, "k": "x"}, [f"{K} = ?"], ["x"], False),
        ({"k": "x", "u": 1}, [f"{K} = ?"], ["x"], False),
        ({"_id": "a", "k": "x", "j": 2}, ["id = ?", f"{K} = ?", f"{J} = ?"], ["a", "x", 2], True),
        ({"$and": [{"_id": "a"}, {"k": "x"}]}, ["id = ?", f"{K} = ?"], ["a", "x"], True),
        ({"$and": [{"_id": "a"}, {"u": 1}]}, ["id = ?"], ["a"], False),
        ({"$and": [{"_id": "a"}, "junk"]}, ["id = ?"], ["a"], False),  # a branch it cannot read
        ({"$and": []}, [], [], True),
        ({"$and": "junk"}, [], [], False),
        ({"u": 1, "$and": [{"_id": "a"}]}, ["id = ?"], ["a"], False),  # inexact before stays inexact
        ({"$or": [{"_id": "a"}, {"k": "x"}]}, [f"((id = ?) OR ({K} = ?))"], ["a", "x"], True),
        ({"$or": [{"_id": "a"}]}, ["((id = ?))"], ["a"], True),
        ({"$or": [{"_id": "a"}, {"u": 1}]}, [], [], False),  # an unbounded branch bounds nothing
        ({"$or": [{"u": 1}, {"_id": "a"}]}, [], [], False),
        ({"$or": []}, [], [], False),
        ({"$or": [{"_id": "a"}, {"_id": "b", "u": 1}]}, ["((id = ?) OR (id = ?))"], ["a", "b"], False),
        ({"$or": [{"_id": "b", "u": 1}, {"_id": "a"}]}, ["((id = ?) OR (id = ?))"], ["b", "a"], False),
        ({"$or": [{"_id": "a"}, "junk"]}, ["((id = ?))"], ["a"], False),
        ({"_id": [{"_id": "a"}]}, [], [], False),  # a list under a field is a value, not branches
        ({"k": [{"_id": "a"}]}, [], [], False),
        ({"_id": "a", "k": {"$in": ["x"]}}, ["id = ?", f"{K} IN (?)"], ["a", "x"], True),  # arguments add up
        (
            {"k": "y", "$or": [{"_id": "a"}, {"_id": "b"}]},
            [f"{K} = ?", "((id = ?) OR (id = ?))"],
            ["y", "a", "b"],
            True,
        ),
        (
            {"$or": [{"$and": [{"_id": "a"}, {"k": "x"}]}, {"_id": "b", "j": 1}], "k": "y"},
            [f"((id = ? AND {K} = ?) OR (id = ? AND {J} = ?))", f"{K} = ?"],
            ["a", "x", "b", 1, "y"],
            True,
        ),
    ],
)
def test_where_is_the_sql_every_match_meets(
    indexed: SqliteStore, filter: Doc, where: list[str], args: list[Any], exact: bool
) -> None:
    got = indexed._where("things", filter)
    assert got == (where, args, exact)
    assert [type(a) for a in got[1]] == [type(a) for a in args]  # booleans bound as integers


def test_where_knows_the_indexes_of_each_collection(indexed: SqliteStore) -> None:
    assert indexed._where("other", {"u": 1}) == (["json_extract(ix, '$.u') = ?"], [1], True)
    assert indexed._where("other", {"k": 1}) == ([], [], False)
    assert indexed._where("nothing_indexed", {"_id": "a", "k": 1}) == (["id = ?"], ["a"], False)


async def test_an_exact_filter_decides_a_page_by_sql_alone(indexed: SqliteStore) -> None:
    """What the exact flag buys: a page of an exact filter is the rows SQL returns, cut at the limit."""
    for i, k in enumerate(["x", "y", "x", "x", True, 1]):
        await indexed.insert("things", {"_id": f"d{i}", "k": k})
    page = await indexed.page("things", {"k": "x"}, [("_id", 1)], None, 2)
    assert [d["_id"] for d in page] == ["d0", "d2"]
    page = await indexed.page("things", {"k": {"$in": ["y", "x"]}}, [("_id", -1)], ["d3"], 5)
    assert [d["_id"] for d in page] == ["d2", "d1", "d0"]
    page = await indexed.page("things", {"k": True}, [("_id", 1)], None, 5)
    assert [d["_id"] for d in page] == ["d4", "d5"]  # JSON true is 1 in SQLite, and True == 1 in Python too
    assert await indexed.count("things", {"$or": [{"_id": "d1"}, {"k": "x"}]}) == 4


async def test_the_relay_keeps_a_change_made_meanwhile_that_left_the_outbox_as_it_was(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay writes the whole document it read, less the published events: a write (another process)
    that changed the document after the relay read it, leaving the outbox as it was, is not overwritten.
    The relay's write holds only while the stored text is the one it read, so it reads again."""
    await store.ensure_index("aggs", ["outbox_pending"])
    await store.insert("aggs", {"_id": "a", "n": 1, "outbox": [{"id": "e1"}], "outbox_pending": True})
    change = other_process(
        store.path, """UPDATE c_aggs SET version = 2, doc = json_set(doc, '$.n', 2, '$.version', 2) WHERE id = 'a'"""
    )
    with landing_between(monkeypatch, change):
        await store.drop_outbox("aggs", "a", {"e1"})
    ((_, version, doc),) = rows(store, "c_aggs")
    assert (version, doc["n"], doc["outbox"], doc["outbox_pending"]) == (2, 2, [], False)
    assert ix_of(store.path, "c_aggs") == {"a": {"outbox_pending": False}}


async def test_the_relay_leaves_a_document_without_published_events_alone(store: SqliteStore) -> None:
    """Nothing of the named events in the outbox and the mark already right: no write at all (the
    document's text, byte for byte, is the one stored)."""
    await store.insert("aggs", {"_id": "a", "n": 1, "outbox": [{"id": "e2"}], "outbox_pending": True})
    with sqlite3.connect(store.path) as c:
        (before,) = c.execute("SELECT doc FROM c_aggs WHERE id = 'a'").fetchone()
    await store.drop_outbox("aggs", "a", {"e1"})
    await store.drop_outbox("aggs", "missing", {"e1"})
    with sqlite3.connect(store.path) as c:
        (after,) = c.execute("SELECT doc FROM c_aggs WHERE id = 'a'").fetchone()
    assert after == before


def written_by_json_dumps(store: SqliteStore, doc: dict[str, Any], ix: dict[str, Any] | None) -> None:
    """A row of ``aggs`` as an older version of the store wrote it: ``json.dumps``'s text (``NaN``, a lone
    surrogate's escape, spaces after separators), beside the store's own rows (the table exists)."""
    with sqlite3.connect(store.path) as c:
        c.execute(
            "INSERT INTO c_aggs (id, version, doc, ix) VALUES (?, 1, ?, ?)",
            (doc["_id"], json.dumps(doc), None if ix is None else json.dumps(ix)),
        )


def stored_doc(store: SqliteStore, id: str) -> dict[str, Any]:
    """The row's document as the standard library reads its text."""
    with sqlite3.connect(store.path) as c:
        (text,) = c.execute("SELECT doc FROM c_aggs WHERE id = ?", (id,)).fetchone()
    return dict(json.loads(text))


async def test_the_relay_edits_text_it_did_not_write_in_place_leaving_its_other_values_as_they_are(
    store: SqliteStore,
) -> None:
    """A document written by ``json.dumps`` (an older version of the store): spaces after separators, a lone
    surrogate's escape (which orjson cannot write back), an integer beyond 64 bits (which orjson reads as
    a float). The relay takes the published event out with SQLite's ``json_set`` and every other value is
    the one stored, as the standard library reads it."""
    await store.ensure_index("aggs", ["outbox_pending"])
    await store.insert("aggs", {"_id": "seed"})  # the table, at this schema
    old = {"_id": "a", "version": 1, "name": "\ud800x", "big": 2**64, "outbox": [{"id": "e1"}, {"id": "e2"}]}
    old["outbox_pending"] = True
    written_by_json_dumps(store, old, {"outbox_pending": True})
    await store.drop_outbox("aggs", "a", {"e1"})
    await store.drop_outbox("aggs", "a", {"e2"})
    doc = stored_doc(store, "a")
    assert (doc["name"], doc["big"], doc["version"]) == ("\ud800x", 2**64, 1)
    assert (doc["outbox"], doc["outbox_pending"]) == ([], False)
    assert ix_of(store.path, "c_aggs")["a"] == {"outbox_pending": False}


async def test_the_relay_writes_again_for_an_index_made_between_its_read_and_its_write(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process adds an index on ``k`` after the relay read the row: the relay's write, made for the
    schema before, changes nothing; it reads the schema and the row again and writes ``ix`` with ``k``."""
    await store.ensure_index("aggs", ["outbox_pending"])
    await store.insert("aggs", {"_id": "a", "k": "x", "outbox": [{"id": "e1"}], "outbox_pending": True})
    index = other_process(store.path, """CREATE INDEX "ix_c_aggs(k)" ON c_aggs (json_extract(ix, '$.k'))""")
    with landing_between(monkeypatch, index):
        await store.drop_outbox("aggs", "a", {"e1"})
    assert ix_of(store.path, "c_aggs") == {"a": {"k": "x", "outbox_pending": False}}
    assert [d["_id"] for d in await store.find("aggs", {"k": "x"})] == ["a"]


@pytest.mark.parametrize("indexed", [[], ["outbox_pending"], ["outbox", "outbox_pending"]])
async def test_the_relay_edits_text_in_place_whatever_the_outbox_fields_indexed(
    store: SqliteStore, indexed: list[str]
) -> None:
    """The in-place edit (text the store did not write) with neither, one or both outbox fields in ``ix``:
    the document and ``ix`` say the same, and the other values are the ones stored."""
    if indexed:
        await store.ensure_index("aggs", indexed)
    await store.insert("aggs", {"_id": "seed"})
    old = {"_id": "a", "version": 1, "big": 2**64, "outbox": [{"id": "e1"}, {"id": "e2"}], "outbox_pending": True}
    written_by_json_dumps(store, old, {f: old[f] for f in sorted(indexed)} if indexed else None)
    await store.drop_outbox("aggs", "a", {"e1"})
    doc = stored_doc(store, "a")
    assert (doc["version"], doc["big"], doc["outbox"], doc["outbox_pending"]) == (1, 2**64, [{"id": "e2"}], True)
    assert ix_of(store.path, "c_aggs").get("a") == ({f: doc[f] for f in indexed} if indexed else None)


async def test_the_relay_writes_anew_text_that_sqlites_json_refuses(store: SqliteStore) -> None:
    """``json.dumps`` wrote ``NaN`` and ``Infinity`` (older versions): SQLite's ``json_set`` refuses the text,
    so the relay writes the document anew, those values as the store writes them now (``null``), and the
    published event is gone, not published again on every pass."""
    await store.ensure_index("aggs", ["outbox_pending"])
    await store.insert("aggs", {"_id": "seed"})
    old = {"_id": "a", "version": 1, "x": float("nan"), "y": float("inf"), "outbox": [{"id": "e1"}]}
    old["outbox_pending"] = True
    written_by_json_dumps(store, old, {"outbox_pending": True})
    await store.drop_outbox("aggs", "a", {"e1"})
    doc = stored_doc(store, "a")
    assert (doc["x"], doc["y"], doc["outbox"], doc["outbox_pending"]) == (None, None, [], False)
    assert ix_of(store.path, "c_aggs")["a"] == {"outbox_pending": False}
