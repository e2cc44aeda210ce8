"""Embedded document store: one SQLite file per service database, JSON documents, WAL journal.

All statements run on one worker thread (``SqliteDb``), so the event loop never blocks on disk and
SQLite sees a single writer. The compare-and-set of ``replace`` is one ``UPDATE … WHERE id=? AND version=?``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from clustergrowth.sqlite_db import SqliteDb
from clustergrowth.store.port import Doc, DuplicateKey, check_portable, matches, sort_key

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _table(collection: str) -> str:
    if not _NAME.match(collection):
        raise ValueError(f"bad collection name {collection!r}")
    return f"c_{collection}"


class SqliteStore:
    """Document store port over SQLite."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._sqlite = SqliteDb(self.path)
        self._db = self._sqlite.conn
        self._run = self._sqlite.run
        self._tables: set[str] = set()
        self._indexed: dict[str, set[str]] = {}

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
            return json.loads(row[0]) if row else None

        return await self._run(op)

    async def insert(self, collection: str, doc: Doc) -> None:
        check_portable(doc)
        doc = {**doc, "version": 1}

        def op() -> None:
            t = self._ensure_table(collection)
            try:
                self._db().execute(
                    f'INSERT INTO "{t}" (id, version, doc) VALUES (?, 1, ?)', (doc["_id"], json.dumps(doc))
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
                    (json.dumps(doc), expected_version + 1, doc["_id"], expected_version),
                )
            except sqlite3.IntegrityError as e:
                raise DuplicateKey(str(e)) from e
            return cur.rowcount == 1

        return await self._run(op)

    def _select(self, collection: str, filter: Doc | None) -> list[Doc]:
        t = self._ensure_table(collection)
        where, args = [], []
        filter = filter or {}
        if isinstance(filter.get("_id"), str):
            where.append("id=?")
            args.append(filter["_id"])
        for f in self._indexed.get(collection, set()):
            v = filter.get(f)
            if isinstance(v, str | int | float):  # bool is an int: JSON true is 1 in SQLite
                where.append(f"json_extract(doc, '$.{f}')=?")
                args.append(int(v) if isinstance(v, bool) else v)
        sql = f'SELECT doc FROM "{t}"' + (" WHERE " + " AND ".join(where) if where else "")
        docs = [json.loads(r[0]) for r in self._db().execute(sql, args)]
        return [d for d in docs if matches(d, filter)]

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

    async def ensure_index(self, collection: str, fields: list[str], *, unique: bool = False) -> None:
        for f in fields:
            if not _NAME.match(f):
                raise ValueError(f"only top-level fields can be indexed here: {f!r}")

        def op() -> None:
            t = self._ensure_table(collection)
            name = f"ix_{t}_{'_'.join(fields)}"
            cols = ", ".join(f"json_extract(doc, '$.{f}')" for f in fields)
            kind = "UNIQUE INDEX" if unique else "INDEX"
            self._db().execute(f'CREATE {kind} IF NOT EXISTS "{name}" ON "{t}" ({cols})')
            self._indexed.setdefault(collection, set()).update(fields)

        await self._run(op)

    async def ping(self) -> None:
        await self._sqlite.ping()

    async def close(self) -> None:
        await self._sqlite.close()
