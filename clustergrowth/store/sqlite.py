"""Embedded document store: one SQLite file per service database, JSON documents, WAL journal.

All statements run on one worker thread (``SqliteDb``'s ``Statements``, which owns the connection), so the event
loop never blocks on disk and SQLite sees a single writer. The compare-and-set of ``replace`` is one
``UPDATE … WHERE id=? AND version=?``; ``replace_with_outbox`` and ``drop_outbox`` read the stored outbox
and write in one ``BEGIN IMMEDIATE`` transaction each (another process on the file waits). The JSON text
is orjson's (``clustergrowth.jsontext``).

Queries: the parts of a filter SQL can answer exactly (``_id``, and indexed fields, which hold scalars)
become a WHERE clause; every row read is checked against the whole filter in Python. A ``page`` sorts
and seeks in SQL (``json_extract`` of the sort fields, the same expressions as an index's) and reads
rows only until the page is full: with an index on the sort fields, a page costs O(limit).
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


def _param(v: Any) -> Any:
    return int(v) if isinstance(v, bool) else v  # JSON true is 1 in SQLite


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
        self._indexed: dict[str, set[str]] = {}  # a collection's fields in one of its indexes (hold scalars)
        self._indexes: dict[str, dict[str, list[str]]] = {}  # a collection's indexes made here: name -> fields

    def _ensure_table(self, collection: str) -> str:
        t = _table(collection)
        if t not in self._tables:
            self._db().execute(
                f'CREATE TABLE IF NOT EXISTS "{t}" (id TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)'
            )
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

        def op() -> None:
            t = self._ensure_table(collection)
            try:
                self._db().execute(
                    f'INSERT INTO "{t}" (id, version, doc) VALUES (?, 1, ?)', (doc["_id"], jsontext.dumps(doc))
                )
            except sqlite3.IntegrityError as e:
                raise DuplicateKey(str(e)) from e

        await self._run(op)

    async def replace(self, collection: str, doc: Doc, expected_version: int) -> bool:
        check_portable(doc)
        doc = {**doc, "version": expected_version + 1}

        def op() -> bool:
            t = self._ensure_table(collection)
            try:
                cur = self._db().execute(
                    f'UPDATE "{t}" SET doc=?, version=? WHERE id=? AND version=?',
                    (jsontext.dumps(doc), expected_version + 1, doc["_id"], expected_version),
                )
            except sqlite3.IntegrityError as e:
                raise DuplicateKey(str(e)) from e
            return cur.rowcount == 1

        return await self._run(op)

    async def replace_with_outbox(self, collection: str, doc: Doc, events: list[Doc], expected_version: int) -> bool:
        """One transaction: the version checked and the stored outbox read, then the new state written with
        that outbox and ``events`` after it. ``drop_outbox`` does not change the version here."""
        check_portable({**doc, OUTBOX: events})
        new = {**doc, "version": expected_version + 1}

        def op() -> bool:
            t = self._ensure_table(collection)

            def write(db: sqlite3.Connection) -> bool:
                row = db.execute(
                    f"SELECT version, json_extract(doc, '$.{OUTBOX}') FROM \"{t}\" WHERE id=?", (doc["_id"],)
                ).fetchone()
                if row is None or row[0] != expected_version:
                    return False
                outbox = (jsontext.loads(row[1]) if row[1] is not None else []) + events
                new[OUTBOX], new[PENDING] = outbox, bool(outbox)
                db.execute(
                    f'UPDATE "{t}" SET doc=?, version=? WHERE id=?', (jsontext.dumps(new), new["version"], doc["_id"])
                )
                return True

            return self._atomically(write)

        return await self._run(op)

    async def drop_outbox(self, collection: str, id: str, event_ids: set[str]) -> None:
        """One transaction: the stored outbox read, the published events taken out of it in place
        (``json_set``), the version left alone, so a writer that read the document before is not turned away."""

        def op() -> None:
            t = self._ensure_table(collection)

            def write(db: sqlite3.Connection) -> None:
                row = db.execute(
                    f"SELECT json_extract(doc, '$.{OUTBOX}'), json_extract(doc, '$.{PENDING}') FROM \"{t}\" WHERE id=?",
                    (id,),
                ).fetchone()
                if row is None:
                    return
                stored = jsontext.loads(row[0]) if row[0] is not None else []
                remaining = [e for e in stored if e["id"] not in event_ids]
                if len(remaining) == len(stored) and bool(row[1]) == bool(remaining):
                    return  # nothing to take out, and the mark says so already
                db.execute(
                    f"UPDATE \"{t}\" SET doc=json_set(doc, '$.{OUTBOX}', json(?), '$.{PENDING}', json(?)) WHERE id=?",
                    (jsontext.dumps(remaining), jsontext.dumps(bool(remaining)), id),
                )

            self._atomically(write)

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
        indexed = self._indexed.get(collection, set())
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
            column = _expr(key)
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
        where, args, _ = self._where(collection, filter)
        sql = f'SELECT doc FROM "{t}"' + (" WHERE " + " AND ".join(where) if where else "")
        docs = [jsontext.loads(r[0]) for r in self._db().execute(sql, args)]
        return [d for d in docs if matches(d, filter)]

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
        order_by = ", ".join(f"{_expr(f)} {'ASC' if d > 0 else 'DESC'}" for f, d in order)

        def op() -> list[Doc]:
            t = self._ensure_table(collection)
            where, args, exact = self._where(collection, filter)
            out: list[Doc] = []
            for run in [[]] if after is None else seek_segments(order, after):
                conds, params = list(where), list(args)
                for field, o, v in run:
                    o = "null" if o == "eq" and v is None else o
                    conds.append(_SEEK[o].format(_expr(field)))
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
        name = self._index_name(collection, fields)

        def op() -> None:
            t = self._ensure_table(collection)
            cols = ", ".join(_expr(f) for f in fields)  # the expressions ORDER BY and WHERE use
            kind = "UNIQUE INDEX" if unique else "INDEX"
            self._db().execute(f'CREATE {kind} IF NOT EXISTS "{name}" ON "{t}" ({cols})')
            self._drop_legacy_index(collection, fields, unique)
            self._indexes.setdefault(collection, {})[name] = list(fields)
            self._indexed[collection] = {f for fs in self._indexes[collection].values() for f in fs}

        await self._run(op)

    async def drop_index(self, collection: str, fields: list[str]) -> None:
        name = self._index_name(collection, fields)

        def op() -> None:
            self._db().execute(f'DROP INDEX IF EXISTS "{name}"')
            self._drop_legacy_index(collection, fields, None)
            self._indexes.setdefault(collection, {}).pop(name, None)  # a field another index covers stays indexed
            self._indexed[collection] = {f for fs in self._indexes[collection].values() for f in fs}

        await self._run(op)

    async def ping(self) -> None:
        await self._run(lambda: self._db().execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self._sqlite.close()  # the connection closed on its thread, then the thread ends
