"""One SQLite database used from asyncio: a single worker thread owns the connection.

Shared by the embedded store and the embedded event log; WAL journal, NORMAL sync (durable across a
process crash), and a busy timeout for other processes (the CLI) reading the same file. The thread is a
``Statements``: a queue and one ``call_soon_threadsafe`` an answer, not an executor's futures.
"""

from __future__ import annotations

import asyncio
import atexit
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class SqliteDb:
    """A lazily opened connection and the one thread that may touch it."""

    def __init__(self, path: Path, setup: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self.path = Path(path)
        self._setup = setup
        self._statements = Statements(f"sqlite-{self.path.stem}")
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
        return await self._statements.run(fn)

    async def ping(self) -> None:
        await self.run(lambda: self.conn().execute("SELECT 1").fetchone())

    async def close(self) -> None:
        def op() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self.run(op)
        # the thread ends after what is queued (joined off the loop, as an executor's shutdown was)
        await asyncio.get_running_loop().run_in_executor(None, self._statements.stop)


class Statements:
    """The one thread that runs a database's statements, in the order asked, fed by a queue; answers go back
    to the asking loop with ``call_soon_threadsafe``, several in one while the queue is not empty (``_work``:
    each hand-over is a write to the loop's wake-up socket and a wake-up of the loop; under wrk, with
    requests queued for the store, this took 2.4 to 7 % off the split API's CPU a booking in two A/B runs).
    What ``run_in_executor`` on a one-thread ``ThreadPoolExecutor`` did, without its two futures, condition
    variables and callbacks per call (py-spy: ~13 % of the split API's samples in that machinery under
    wrk). As there, work whose caller was cancelled before it started is skipped, and what is queued when
    the interpreter exits still runs."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]] | None]
        self._queue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            self._start()
        with self._lock:  # with stop's: nothing is queued after its end marker
            if self._closed:
                raise RuntimeError("cannot run statements after the store is closed")
            self._queue.put((loop, future, fn))
        return await future

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
                atexit.register(self.stop)

    def _work(self) -> None:
        """Run what is queued, in order. While more waits, answers are kept and handed over together, at
        most ``ANSWERS`` at a time (one wake-up of each asking loop for them all); when nothing more waits
        they go at once, before the thread sleeps."""
        answers: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Any, BaseException | None]] = []
        while True:
            try:
                item = self._queue.get_nowait() if answers else self._queue.get()
            except queue.Empty:
                _answer_all(answers)
                answers = []
                continue
            if item is None:
                break
            loop, future, fn = item
            if future.cancelled():  # read across threads: at worst the work runs, as a started one would
                continue
            try:
                result = fn()
            except BaseException as e:  # noqa: BLE001 - handed to the caller, as an executor does
                answers.append((loop, future, None, e))
            else:
                answers.append((loop, future, result, None))
            if len(answers) >= ANSWERS:
                _answer_all(answers)
                answers = []
        _answer_all(answers)

    def stop(self, timeout: float | None = 30.0) -> None:
        """Let the thread finish what is queued, then end it (idempotent)."""
        with self._lock:
            first = not self._closed
            self._closed = True
            thread = self._thread
            if first and thread is not None:
                self._queue.put(None)  # after everything queued before: run() queues under this lock
        if thread is not None and thread.is_alive():
            thread.join(timeout)
        if thread is None or not thread.is_alive():  # a thread still working (timed out) keeps its queue
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    _answer(item[0], item[1], None, RuntimeError("cannot run statements after the store is closed"))
        atexit.unregister(self.stop)


ANSWERS = 8  # answers a busy statement thread keeps before handing them over


def _answer_all(
    answers: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Any, BaseException | None]],
) -> None:
    """Hand answers over: one ``call_soon_threadsafe`` per asking loop, settling its futures in order."""
    if len(answers) == 1:
        _answer(*answers[0])
        return
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
    for loop, future, result, error in answers:
        by_loop.setdefault(loop, []).append((future, result, error))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_all, settled)
        except RuntimeError:  # the loop is closed: nobody waits for these answers any more
            pass


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in settled:
        _settle(future, result, error)


def _answer(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, error: BaseException | None
) -> None:
    try:
        loop.call_soon_threadsafe(_settle, future, result, error)
    except RuntimeError:  # the loop is closed: nobody waits for this answer any more
        pass


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
