"""Embedded document store: one SQLite file per service database, JSON documents, WAL journal.

All statements run on one worker thread (``SqliteDb``'s ``Statements``, which owns the connection), so the event
loop never blocks on disk and SQLite sees a single writer. Every write is one statement, committed on its own,
so SQLite holds the file's write lock only while that statement runs, never while Python runs (only
``ensure_index``, at start-up, writes every row's ``ix`` in one transaction). A transaction held across
Python statements would wait for the GIL with the lock held, and another process on the file (the split
API's worker) would wait with it in SQLite's busy handler, a millisecond at least. The compare-and-set of
``replace`` is ``UPDATE … WHERE id=? AND version=?``; ``replace_with_outbox`` reads the stored outbox, then
writes on condition that it is still the one read (``json_extract(doc, '$.outbox') IS ?``), and
``drop_outbox`` (the relay's) on condition that the whole stored text is still the one read; each reads
again when it is not. The JSON text is orjson's (``clustergrowth.jsontext``).

Indexes: each row keeps, beside the document, its indexed fields as a small JSON object (column ``ix``,
written by every write from the document in hand), and an index is on ``json_extract(ix, …)``. An index on
``json_extract(doc, …)`` would parse the whole document, old and new, once per indexed field on every write:
for a 10 KB day's schedule with four indexes, three quarters of an update's time. Which fields are
indexed is read from the database's schema (the indexes' names), again whenever its ``schema_version``
moves; a write holds only at the schema version its ``ix`` was made for (``_SCHEMA``, read by the statement
itself), so a process writes the fields another process's new index needs.

Queries: the parts of a filter SQL can answer exactly (``_id``, and indexed fields, which hold scalars)
become a WHERE clause; every row read is checked against the whole filter in Python. A ``page`` sorts
and seeks in SQL (the same expressions as an index's) and reads rows only until the page is full: with an
index on the sort fields, a page costs O(limit).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from clustergrowth import jsontext
from clustergrowth.sqlite_db import SqliteDb
from clustergrowth.store.port import (
    OUTBOX,
    PENDING,
    Doc,
    DuplicateKey,
    check_page,
    check_portable,
    matches,
    seek_segments,
    sort_key,
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _table(collection: str) -> str:
    if not _NAME.fullmatch(collection):
        raise ValueError(f"bad collection name {collection!r}")
    return f"c_{collection}"


def _expr(field: str) -> str:
    """The SQL value of a (checked) dotted field: the id column, or the JSON value; NULL when missing."""
    if field == "_id":
        return "id"
    if not all(_NAME.fullmatch(p) for p in field.split(".")):
        raise ValueError(f"bad field {field!r}")
    return f"json_extract(doc, '$.{field}')"


def _column(field: str, indexed: set[str] | frozenset[str]) -> str:
    """A field's SQL in a query or an index: an indexed field's value in the row's ``ix`` object (what its
    index is on), any other the document's (``_expr``)."""
    if field in indexed:
        return f"json_extract(ix, '$.{field}')"
    return _expr(field)


# the schema's version, read inside a write: a write made for another (its ix holding the fields another
# schema indexes) changes nothing, and is made again for this one
_SCHEMA = "(SELECT schema_version FROM pragma_schema_version)"
_INDEX = re.compile(r"^ix_(c_[A-Za-z0-9_]+)\((.+)\)$")  # ix_<table>(<field>,<field>…), as _index_name makes it


def _indexed_fields(db: sqlite3.Connection) -> dict[str, frozenset[str]]:
    """Each collection's fields in an index on ``ix``, from the schema (``_id`` is the id column, never in ix)."""
    found: dict[str, set[str]] = {}
    for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type='index'"):
        m = _INDEX.match(name)
        if m and "json_extract(ix," in str(sql or ""):  # one made before on the document is not ix's
            found.setdefault(m.group(1)[2:], set()).update(m.group(2).split(","))
    return {c: frozenset(fs - {"_id"}) for c, fs in found.items()}


def _param(v: Any) -> Any:
    return int(v) if isinstance(v, bool) else v  # JSON true is 1 in SQLite


def _reads_back(doc: Doc, text: str) -> bool:
    """Whether ``text`` is what ``jsontext`` writes for ``doc``, the document read from it: then writing the
    document anew changes nothing but what the writer changed."""
    try:
        return jsontext.dumps(doc) == text
    except TypeError:  # a value orjson cannot write (a lone surrogate read by the fallback)
        return False


T = TypeVar("T")


_SEEK = {"eq": "{} = ?", "gt": "{} > ?", "lt": "{} < ?", "null": "{} IS NULL", "notnull": "{} IS NOT NULL"}


class SqliteStore:
    """Document store port over SQLite."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._sqlite = SqliteDb(self.path)
        self._db = self._sqlite.conn
        self._run = self._sqlite.run
        self._tables: set[str] = set()
        self._indexed: dict[str, frozenset[str]] = {}  # a collection's fields in one of its indexes (hold scalars)
        self._schema = -1  # the schema_version ``_indexed`` was read at

    def _fields(self, collection: str) -> frozenset[str]:
        """The collection's indexed fields as the schema says now (re-read when its version moved)."""
        self._schema_moved()
        return self._indexed.get(collection, frozenset())

    def _schema_moved(self) -> bool:
        """Whether the schema's version moved since the indexed fields were read; if so they are read again.
        A write names the version its ``ix`` was made for (``_SCHEMA``) and is not applied at another."""
        (version,) = self._db().execute("PRAGMA schema_version").fetchone()
        moved = version != self._schema
        if moved:
            self._indexed = _indexed_fields(self._db())
            self._schema = version
        return moved

    def _reading(self, collection: str, read: Callable[[frozenset[str]], T]) -> T:
        """``read`` with the collection's indexed fields, in one read transaction with them: the fields it
        queries by are the ones the rows it reads were written for."""
        db = self._db()
        db.execute("BEGIN")
        try:
            return read(self._fields(collection))
        finally:
            db.execute("COMMIT")  # a read transaction: nothing to undo

    @staticmethod
    def _ix(doc: Doc, fields: frozenset[str]) -> str | None:
        """The row's ``ix``: its indexed fields' values as they are in the document (missing ones left out), in
        the fields' order, so that every process writes the same text for the same values."""
        return jsontext.dumps({f: doc[f] for f in sorted(fields) if f in doc}) if fields else None

    def _ensure_table(self, collection: str) -> str:
        t = _table(collection)
        if t not in self._tables:
            db = self._db()
            db.execute(
                f'CREATE TABLE IF NOT EXISTS "{t}" '
                "(id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL, ix TEXT)"
            )
            if "ix" not in {r[1] for r in db.execute(f'PRAGMA table_info("{t}")')}:  # a table made before ix
                try:
                    db.execute(f'ALTER TABLE "{t}" ADD COLUMN ix TEXT')
                except sqlite3.OperationalError as e:  # another process added it meanwhile
                    if "duplicate column" not in str(e):
                        raise
            self._tables.add(t)
        return t

    async def get(self, collection: str, id: str) -> Doc | None:
        def op() -> Doc | None:
            t = self._ensure_table(collection)
            row = self._db().execute(f'SELECT doc FROM "{t}" WHERE id=?', (id,)).fetchone()
            return jsontext.loads(row[0]) if row else None

        return await self._run(op)

    async def insert(self, collection: str, doc: Doc) -> None:
        check_portable(doc)
        doc = {**doc, "version": 1}
        text = jsontext.dumps(doc)

        def op() -> None:
            t = self._ensure_table(collection)
            while True:
                ix = self._ix(doc, self._indexed.get(collection, frozenset()))
                sql = f'INSERT INTO "{t}" (id, version, doc, ix) SELECT ?, 1, ?, ? WHERE {_SCHEMA} = ?'
                try:
                    cur = self._db().execute(sql, (doc["_id"], text, ix, self._schema))
                except sqlite3.IntegrityError as e:
                    raise DuplicateKey(str(e)) from e
                if cur.rowcount == 1:
                    return
                self._schema_moved()  # it did: the fields it indexes now, and again

        await self._run(op)

    async def replace(self, collection: str, doc: Doc, expected_version: int) -> bool:
        check_portable(doc)
        doc = {**doc, "version": expected_version + 1}
        text = jsontext.dumps(doc)

        def op() -> bool:
            t = self._ensure_table(collection)
            while True:
                ix = self._ix(doc, self._indexed.get(collection, frozenset()))
                sql = f'UPDATE "{t}" SET doc=?, version=?, ix=? WHERE id=? AND version=? AND {_SCHEMA} = ?'
                try:
                    cur = self._db().execute(
                        sql, (text, doc["version"], ix, doc["_id"], expected_version, self._schema)
                    )
                except sqlite3.IntegrityError as e:
                    raise DuplicateKey(str(e)) from e
                if cur.rowcount == 1:
                    return True
                if not self._schema_moved():
                    return False  # another version (or no document): the compare-and-set says no

        return await self._run(op)

    async def replace_with_outbox(self, collection: str, doc: Doc, events: list[Doc], expected_version: int) -> bool:
        """The version checked and the stored outbox read, then the new state written with that outbox and
        ``events`` after it, by an UPDATE that holds only while the version and the stored outbox are still
        those read (``drop_outbox`` does not change the version here: when the relay took events out in
        between, the outbox is read again)."""
        check_portable({**doc, OUTBOX: events})
        new = {**doc, "version": expected_version + 1}

        def op() -> bool:
            t = self._ensure_table(collection)
            db = self._db()
            while True:
                row = db.execute(
                    f"SELECT version, json_extract(doc, '$.{OUTBOX}'), ix FROM \"{t}\" WHERE id=?", (doc["_id"],)
                ).fetchone()
                if row is None or row[0] != expected_version:
                    return False
                outbox = (jsontext.loads(row[1]) if row[1] is not None else []) + events
                new[OUTBOX], new[PENDING] = outbox, bool(outbox)
                ix = self._ix(new, self._indexed.get(collection, frozenset()))
                # an ix left as it is is left out of the SET: SQLite then leaves every index of the table alone
                # (a booking seldom changes a day's indexed fields: its pages are not written again)
                # (then on condition that it is still the one read: the relay may have set its outbox_pending)
                same = ix == row[2]
                set_ix, keep_ix = ("", " AND ix IS ?") if same else (", ix=?", "")
                cur = db.execute(
                    f'UPDATE "{t}" SET doc=?, version=?{set_ix} WHERE id=? AND version=?{keep_ix} '
                    f"AND json_extract(doc, '$.{OUTBOX}') IS ? AND {_SCHEMA} = ?",
                    (
                        jsontext.dumps(new),
                        new["version"],
                        *(() if same else (ix,)),
                        doc["_id"],
                        expected_version,
                        *((ix,) if same else ()),
                        row[1],
                        self._schema,
                    ),
                )
                if cur.rowcount == 1:
                    return True
                self._schema_moved()  # if that was it, the fields it indexes now; then read again

        return await self._run(op)

    async def drop_outbox(self, collection: str, id: str, event_ids: set[str]) -> None:
        """The stored document read and the published events taken out of its outbox, written by an UPDATE
        that holds only while the stored text is still the one read, the version left alone: a writer that
        read the document before is not turned away. Text this store wrote (``jsontext``'s, which reads back
        to the same text) is written anew from here, so SQLite holds the write lock for the write alone
        (``json_set`` with a ``json_extract`` guard parsed a day's schedule twice with the lock held, while
        the API's booking writes waited for it). Other text (``json.dumps``'s of older versions, a lone
        surrogate's escape, an integer beyond 64 bits that orjson would read as a float) is edited in place
        by SQLite's ``json_set``, every other value left as it is; what SQLite's JSON refuses (``NaN``,
        ``Infinity``) is written anew, those values as ``jsontext`` writes them (``null``)."""

        def op() -> None:
            t = self._ensure_table(collection)
            db = self._db()
            while True:
                row = db.execute(f'SELECT doc FROM "{t}" WHERE id=?', (id,)).fetchone()
                if row is None:
                    return
                text = row[0]
                doc = jsontext.loads(text)
                stored = doc.get(OUTBOX) or []
                remaining = [e for e in stored if e["id"] not in event_ids]
                if len(remaining) == len(stored) and bool(doc.get(PENDING)) == bool(remaining):
                    return  # nothing to take out, and the mark says so already
                indexed = self._indexed.get(collection, frozenset())
                guard = f"WHERE id=? AND doc IS ? AND {_SCHEMA} = ?"
                cur = None
                if not _reads_back(doc, text):
                    new = {OUTBOX: jsontext.dumps(remaining), PENDING: jsontext.dumps(bool(remaining))}
                    ix = [f for f in (OUTBOX, PENDING) if f in indexed]  # those the row's ix holds too
                    paths = "".join(f", '$.{f}', json(?)" for f in ix)
                    sets = f"doc=json_set(doc, '$.{OUTBOX}', json(?), '$.{PENDING}', json(?))"
                    sets += f", ix=json_set(COALESCE(ix, '{{}}'){paths})" if ix else ""
                    values = [new[OUTBOX], new[PENDING], *(new[f] for f in ix)]
                    try:
                        cur = db.execute(f'UPDATE "{t}" SET {sets} {guard}', (*values, id, text, self._schema))
                    except sqlite3.OperationalError as e:
                        if "malformed JSON" not in str(e):
                            raise
                        # text SQLite's JSON refuses (json.dumps's NaN and Infinity): written anew, as jsontext
                        # writes those values (null)
                if cur is None:
                    doc[OUTBOX], doc[PENDING] = remaining, bool(remaining)
                    cur = db.execute(
                        f'UPDATE "{t}" SET doc=?, ix=? {guard}',
                        (jsontext.dumps(doc), self._ix(doc, indexed), id, text, self._schema),
                    )
                if cur.rowcount == 1:
                    return
                self._schema_moved()  # if that was it, the fields it indexes now; then read again

        await self._run(op)

    def _atomically(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """``write`` in one transaction that holds the database's write lock from its start (``BEGIN
        IMMEDIATE``: another process's write waits, busy timeout), so what it reads stays true until it commits."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = write(db)
            db.execute("COMMIT")  # a failing COMMIT (busy, full disk) can leave the transaction open
        except BaseException as e:
            if db.in_transaction:  # never leave the connection inside a transaction nobody will end
                db.execute("ROLLBACK")
            if isinstance(e, sqlite3.IntegrityError):
                raise DuplicateKey(str(e)) from e
            raise
        return result

    def _where(self, collection: str, filter: Doc) -> tuple[list[str], list[Any], bool]:
        """SQL conditions every match of ``filter`` meets, their arguments, and whether they are exact
        (then they select the matches and nothing else; otherwise rows are checked in Python too)."""
        indexed = self._indexed.get(collection, frozenset())
        where: list[str] = []
        args: list[Any] = []
        exact = True
        for key, cond in filter.items():
            if key in ("$and", "$or") and isinstance(cond, list):
                parts = [self._where(collection, f) for f in cond if isinstance(f, dict)]
                exact = exact and len(parts) == len(cond) and all(e for _, _, e in parts)
                if key == "$and":
                    for w, a, _ in parts:
                        where += w
                        args += a
                elif parts and all(w for w, _, _ in parts):  # an OR with an unbounded branch bounds nothing
                    where.append("(" + " OR ".join("(" + " AND ".join(w) + ")" for w, _, _ in parts) + ")")
                    args += [x for _, a, _ in parts for x in a]
                else:
                    exact = False
                continue
            if key != "_id" and key not in indexed:  # may hold arrays, or nothing: Python decides
                exact = False
                continue
            column = _column(key, indexed)
            if isinstance(cond, str | int | float) and (key != "_id" or isinstance(cond, str)):
                where.append(f"{column} = ?")
                args.append(_param(cond))
            elif (
                isinstance(cond, dict)
                and list(cond) == ["$in"]
                and isinstance(cond["$in"], list)
                and all(isinstance(v, str | int | float) for v in cond["$in"])
            ):
                values = cond["$in"]
                where.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "0")
                args += [_param(v) for v in values]
            else:
                exact = False
        return where, args, exact

    def _select(self, collection: str, filter: Doc | None) -> list[Doc]:
        t = self._ensure_table(collection)
        filter = filter or {}

        def read(_: frozenset[str]) -> list[Doc]:
            where, args, _exact = self._where(collection, filter)  # by the fields _reading has just read
            sql = f'SELECT doc FROM "{t}"' + (" WHERE " + " AND ".join(where) if where else "")
            return [jsontext.loads(r[0]) for r in self._db().execute(sql, args)]

        return [d for d in self._reading(collection, read) if matches(d, filter)]

    async def page(
        self,
        collection: str,
        filter: Doc | None,
        sort: list[tuple[str, int]],
        after: list[Any] | None,
        limit: int,
    ) -> list[Doc]:
        """Each run of the order after ``after`` (``seek_segments``) is one ordered range query; rows are
        read one by one and the reading stops as soon as ``limit`` matches are in hand."""
        order = check_page(sort, after, limit)
        filter = filter or {}

        def op() -> list[Doc]:
            t = self._ensure_table(collection)
            return self._reading(collection, lambda indexed: read(t, indexed))

        def read(t: str, indexed: frozenset[str]) -> list[Doc]:
            order_by = ", ".join(f"{_column(f, indexed)} {'ASC' if d > 0 else 'DESC'}" for f, d in order)
            where, args, exact = self._where(collection, filter)
            out: list[Doc] = []
            for run in [[]] if after is None else seek_segments(order, after):
                conds, params = list(where), list(args)
                for field, o, v in run:
                    o = "null" if o == "eq" and v is None else o
                    conds.append(_SEEK[o].format(_column(field, indexed)))
                    if o in ("eq", "gt", "lt"):
                        params.append(_param(v))
                sql = f'SELECT doc FROM "{t}"' + (" WHERE " + " AND ".join(conds) if conds else "")
                sql += f" ORDER BY {order_by}"
                if exact:  # SQL alone decides: let it stop (and sort only the top rows, without an index)
                    sql += f" LIMIT {limit - len(out)}"
                cur = self._db().execute(sql, params)
                try:
                    for (text,) in cur:
                        d = jsontext.loads(text)
                        if exact or matches(d, filter):
                            out.append(d)
                            if len(out) == limit:
                                return out
                finally:
                    cur.close()
            return out

        return await self._run(op)

    async def find(
        self,
        collection: str,
        filter: Doc | None = None,
        *,
        sort: list[tuple[str, int]] | None = None,
        limit: int | None = None,
    ) -> list[Doc]:
        def op() -> list[Doc]:
            docs = self._select(collection, filter)
            if sort:
                for field, direction in reversed(sort):
                    docs.sort(key=sort_key([(field, direction)]), reverse=direction < 0)
            return docs[:limit] if limit else docs

        return await self._run(op)

    async def count(self, collection: str, filter: Doc | None = None) -> int:
        return len(await self._run(lambda: self._select(collection, filter)))

    async def delete(self, collection: str, id: str) -> bool:
        def op() -> bool:
            t = self._ensure_table(collection)
            return self._db().execute(f'DELETE FROM "{t}" WHERE id=?', (id,)).rowcount == 1

        return await self._run(op)

    def _index_name(self, collection: str, fields: list[str]) -> str:
        for f in fields:
            if not _NAME.fullmatch(f):
                raise ValueError(f"only top-level fields can be indexed here: {f!r}")
        # the fields in brackets, comma-separated: no two field lists share a name ("a","b" and "a_b" did
        # when the fields were joined by "_", and the second index was then never made)
        return f"ix_{_table(collection)}({','.join(fields)})"

    def _drop_legacy_index(self, collection: str, fields: list[str], unique: bool | None) -> None:
        """Drop the index made before under its old name (fields joined by ``_``) if it is this one: the
        same expressions (and, unless ``unique`` is None, the same uniqueness). Fields a, b and a field
        a_b had one old name; the other's index is left for its own ensure_index or drop_index."""
        legacy = f"ix_{_table(collection)}_{'_'.join(fields)}"
        row = self._db().execute("SELECT sql FROM sqlite_master WHERE type='index' AND name=?", (legacy,)).fetchone()
        if row is None:
            return
        sql = str(row[0] or "")
        same = sql.rstrip().endswith(f"({', '.join(_expr(f) for f in fields)})")
        if same and (unique is None or sql.upper().startswith("CREATE UNIQUE") == unique):
            self._db().execute(f'DROP INDEX "{legacy}"')

    async def ensure_index(self, collection: str, fields: list[str], *, unique: bool = False) -> None:
        """Make the index (on the rows' ``ix``) unless it is there. One transaction: an index of the same
        name made before on the document is dropped, every row's ``ix`` is written anew with the fields
        indexed then (this one's too), and the index is made. When it is there, rows whose ``ix`` is
        missing (written by something other than this store, such as an older version of it) get theirs."""
        name = self._index_name(collection, fields)

        def op() -> None:
            t = self._ensure_table(collection)

            def write(db: sqlite3.Connection) -> None:
                row = db.execute("SELECT sql FROM sqlite_master WHERE type='index' AND name=?", (name,)).fetchone()
                indexed = _indexed_fields(db).get(collection, frozenset())
                missing = " WHERE ix IS NULL"
                if row is None or "json_extract(ix," not in str(row[0] or ""):
                    if row is not None:
                        db.execute(f'DROP INDEX "{name}"')
                    indexed |= set(fields) - {"_id"}
                    missing = ""
                rows = db.execute(f'SELECT id, doc FROM "{t}"{missing}').fetchall() if indexed else []
                db.executemany(
                    f'UPDATE "{t}" SET ix=? WHERE id=?',
                    ((self._ix(jsontext.loads(doc), indexed), id) for id, doc in rows),
                )
                if missing:
                    return  # there, on ix (as is: a uniqueness asked otherwise is not changed here)
                cols = ", ".join(_column(f, indexed) for f in fields)  # the expressions ORDER BY and WHERE use
                db.execute(f'CREATE {"UNIQUE INDEX" if unique else "INDEX"} "{name}" ON "{t}" ({cols})')

            self._atomically(write)
            self._drop_legacy_index(collection, fields, unique)
            self._fields(collection)

        await self._run(op)

    async def drop_index(self, collection: str, fields: list[str]) -> None:
        """Drop the index; the rows' ``ix`` keeps its fields' values until each is written again (unread:
        a query on a field no index has reads the document)."""
        name = self._index_name(collection, fields)

        def op() -> None:
            self._db().execute(f'DROP INDEX IF EXISTS "{name}"')
            self._drop_legacy_index(collection, fields, None)
            self._fields(collection)

        await self._run(op)

    async def ping(self) -> None:
        await self._run(lambda: self._db().execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self._sqlite.close()  # the connection closed on its thread, then the thread ends
