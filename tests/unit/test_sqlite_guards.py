"""The SQLite adapter's guards: names, the insert, the versioned replace and the SQL part of a filter.

The embedded store in a temporary directory; what it wrote is read back through the port and, where the
guard is the row itself (the version column the compare-and-set tests), with a second, plain SQLite
connection to the same file. The SQL of ``_where`` is written out by hand: it is what decides, for an
exact filter, which rows a page returns without a second look in Python.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

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

K = "json_extract(doc, '$.k')"
J = "json_extract(doc, '$.j')"


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
    assert indexed._where("other", {"u": 1}) == (["json_extract(doc, '$.u') = ?"], [1], True)
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
