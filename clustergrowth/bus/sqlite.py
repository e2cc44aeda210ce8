"""Embedded durable event log in SQLite: one table of records, one of consumer-group offsets.

Each topic is a single partition ordered by an autoincrement sequence. Publishers in this process
wake consumers at once; other processes (the CLI's ``--follow``) poll.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from clustergrowth import jsontext
from clustergrowth.bus.port import Delivery
from clustergrowth.envelope import CloudEvent
from clustergrowth.sqlite_db import SqliteDb

POLL_S = 0.2


class SqliteBus:
    """Event-bus port over SQLite."""

    def __init__(self, path: Path, poll_s: float = POLL_S) -> None:
        self.path = Path(path)
        self.poll_s = poll_s
        self._sqlite = SqliteDb(self.path, _schema)
        self._db = self._sqlite.conn
        self._run = self._sqlite.run
        self._waiters: set[asyncio.Event] = set()

    async def start(self) -> None:
        await self._run(self._db)

    async def close(self) -> None:
        await self._sqlite.close()

    async def ping(self) -> None:
        await self._sqlite.ping()

    async def topic_names(self) -> list[str]:
        def op() -> list[str]:
            return [str(r[0]) for r in self._db().execute("SELECT DISTINCT topic FROM log ORDER BY topic")]

        return await self._run(op)

    async def latest_records(self, pattern: str) -> dict[str, tuple[bytes | None, bytes | None]]:
        rx = re.compile(pattern)

        def op() -> dict[str, tuple[bytes | None, bytes | None]]:
            out: dict[str, tuple[bytes | None, bytes | None]] = {}
            for (topic,) in self._db().execute("SELECT DISTINCT topic FROM log").fetchall():
                if rx.fullmatch(topic):
                    row = (
                        self._db()
                        .execute("SELECT key, event FROM log WHERE topic=? ORDER BY seq DESC LIMIT 1", (topic,))
                        .fetchone()
                    )
                    out[f"{topic}/0"] = (row[0].encode() if row[0] is not None else None, row[1].encode())
            return out

        return await self._run(op)

    async def high_water(self, topics: Sequence[str]) -> dict[str, int]:
        def op() -> dict[str, int]:
            out = {}
            for t in topics:
                row = self._db().execute("SELECT COALESCE(MAX(seq), 0) FROM log WHERE topic=?", (t,)).fetchone()
                out[t] = int(row[0])
            return out

        return await self._run(op)

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        return None  # topics exist as soon as a record names them

    async def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        rows = [(topic, e.partitionkey, jsontext.dumps(e.to_dict())) for e in events]

        def op() -> None:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO log (topic, key, event) VALUES (?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        await self._run(op)
        for w in list(self._waiters):
            w.set()

    async def _wait(self) -> None:
        ev = asyncio.Event()
        self._waiters.add(ev)
        try:
            async with asyncio.timeout(self.poll_s):  # not wait_for: it can swallow a cancellation
                await ev.wait()
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(ev)

    def _fetch(self, topics: Sequence[str], after: dict[str, int], limit: int = 200) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for t in topics:
            out += (
                self._db()
                .execute(
                    "SELECT seq, topic, event FROM log WHERE topic=? AND seq>? ORDER BY seq LIMIT ?",
                    (t, after.get(t, 0), limit),
                )
                .fetchall()
            )
        return sorted(out)

    async def consume(
        self, group: str, topics: Sequence[str], *, pattern: str | None = None
    ) -> AsyncIterator[Delivery]:
        def committed() -> dict[str, int]:
            rows = self._db().execute("SELECT topic, seq FROM offsets WHERE grp=?", (group,)).fetchall()
            return {t: s for t, s in rows}

        matcher = re.compile(pattern) if pattern else None

        def subscribed() -> list[str]:
            if matcher is None:
                return list(topics)
            names = [r[0] for r in self._db().execute("SELECT DISTINCT topic FROM log").fetchall()]
            return sorted({*topics, *(t for t in names if matcher.fullmatch(t))})

        position = await self._run(committed)
        current = await self._run(subscribed)
        while True:
            rows = await self._run(functools.partial(self._fetch, current, position))
            if not rows:
                await self._wait()
                if matcher is not None:
                    current = await self._run(subscribed)  # topics that appeared meanwhile
                continue
            last = len(rows) - 1
            for i, (seq, topic, raw) in enumerate(rows):
                event, err = _decode(raw)

                async def commit(topic: str = topic, seq: int = seq) -> None:
                    await self._run(
                        lambda: self._db().execute(
                            "INSERT INTO offsets (grp, topic, seq) VALUES (?, ?, ?) ON CONFLICT (grp, topic)"
                            " DO UPDATE SET seq=excluded.seq WHERE excluded.seq > offsets.seq",
                            (group, topic, seq),
                        )
                    )

                position[topic] = seq
                yield Delivery(
                    topic=topic,
                    event=event,
                    raw_error=err,
                    commit=commit,
                    position=f"{topic}@{seq}",
                    stream=topic,
                    batch_end=i == last,
                )

    async def read(self, topics: Sequence[str], *, follow: bool = False) -> AsyncIterator[tuple[str, CloudEvent]]:
        position: dict[str, int] = {}
        while True:
            rows = await self._run(lambda: self._fetch(topics, position, 1000))
            for seq, topic, raw in rows:
                position[topic] = seq
                event, _ = _decode(raw)
                if event is not None:
                    yield topic, event
            if not rows:
                if not follow:
                    return
                await self._wait()


def _schema(c: sqlite3.Connection) -> None:
    c.execute(
        "CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
        " key TEXT, event TEXT NOT NULL)"
    )
    c.execute("CREATE INDEX IF NOT EXISTS log_topic ON log (topic, seq)")
    c.execute(
        "CREATE TABLE IF NOT EXISTS offsets (grp TEXT NOT NULL, topic TEXT NOT NULL,"
        " seq INTEGER NOT NULL, PRIMARY KEY (grp, topic))"
    )


def _decode(raw: str) -> tuple[CloudEvent | None, str | None]:
    try:
        return CloudEvent.from_dict(jsontext.loads(raw)), None
    except (ValueError, KeyError, TypeError) as e:
        return None, f"undecodable record: {e}"
