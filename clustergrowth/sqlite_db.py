"""One SQLite database used from asyncio: a single worker thread owns the connection.

Shared by the embedded store and the embedded event log; WAL journal, NORMAL sync (durable across a
process crash), and a busy timeout for other processes (the CLI) reading the same file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SqliteDb:
    """A lazily opened connection and the one thread that may touch it."""

    def __init__(self, path: Path, setup: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self.path = Path(path)
        self._setup = setup
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{self.path.stem}")
        self._conn: sqlite3.Connection | None = None

    def conn(self) -> sqlite3.Connection:
        """The connection; call only from inside ``run``."""
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            c = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA busy_timeout=5000")
            if self._setup:
                self._setup(c)
            self._conn = c
        return self._conn

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def ping(self) -> None:
        await self.run(lambda: self.conn().execute("SELECT 1").fetchone())

    async def close(self) -> None:
        def op() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self.run(op)
        self._pool.shutdown(wait=True)
