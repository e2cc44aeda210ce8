"""The embedded databases' statement thread (clustergrowth/sqlite_db.py ``Statements``: the store's and the
event log's): what the one-thread executor it replaces guaranteed. One thread, the order asked in,
answers and errors to the caller, work cancelled before it starts never runs, queued work finishes on
close, nothing after it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.sqlite_db import Statements
from clustergrowth.store.sqlite import SqliteStore


async def test_statements_run_on_one_thread_in_the_order_asked() -> None:
    s = Statements("t")
    seen: list[tuple[int, str]] = []

    def step(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        return i * i

    results = await asyncio.gather(*(s.run(lambda i=i: step(i)) for i in range(50)))
    assert results == [i * i for i in range(50)]
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"t"} and "t" != threading.current_thread().name
    s.stop()


async def test_an_error_reaches_the_caller_and_the_thread_goes_on() -> None:
    s = Statements("t")

    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        await s.run(fail)
    assert await s.run(lambda: 7) == 7
    s.stop()


async def test_a_busy_thread_hands_answers_over_together_in_order_and_at_once_when_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """20 statements queued behind one that holds the thread: their 21 answers reach the loop in 3 wake-ups
    (``ANSWERS`` = 8 a time, the rest when the queue is empty), each caller its own answer or error, in
    the order asked; a statement asked when nothing waits is answered by itself at once."""
    loop = asyncio.get_running_loop()
    wakeups: list[int] = []
    handed = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any) -> Any:
        wakeups.append(len(args[0]) if callback.__name__ == "_settle_all" else 1)
        return handed(callback, *args)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counting)
    s = Statements("t")
    gate = threading.Event()
    order: list[int] = []

    def step(i: int) -> int:
        order.append(i)
        if i == 13:
            raise KeyError("thirteen")
        return i

    first = asyncio.ensure_future(s.run(lambda: gate.wait(5)))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(s.run(lambda i=i: step(i))) for i in range(20)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert results[0] is True
    assert [r for r in results[1:] if not isinstance(r, KeyError)] == [i for i in range(20) if i != 13]
    assert isinstance(results[14], KeyError) and order == list(range(20))
    assert wakeups == [8, 8, 5]
    assert await s.run(lambda: "alone") == "alone"
    assert wakeups[-1] == 1
    s.stop()


async def test_work_cancelled_before_it_starts_never_runs() -> None:
    s = Statements("t")
    gate = threading.Event()
    ran: list[str] = []
    first = asyncio.ensure_future(s.run(lambda: gate.wait(5)))  # holds the thread
    await asyncio.sleep(0)
    second = asyncio.ensure_future(s.run(lambda: ran.append("second")))
    await asyncio.sleep(0)
    second.cancel()
    gate.set()
    assert await first is True
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await s.run(lambda: "after") == "after"
    assert ran == []
    s.stop()


async def test_stop_finishes_what_is_queued_and_refuses_what_comes_after() -> None:
    s = Statements("t")
    gate = threading.Event()
    done: list[int] = []
    queued = [asyncio.ensure_future(s.run(lambda i=i: (gate.wait(5), done.append(i)))) for i in range(3)]
    await asyncio.sleep(0)
    stopping = asyncio.get_running_loop().run_in_executor(None, s.stop)
    gate.set()
    await stopping
    await asyncio.gather(*queued)
    assert done == [0, 1, 2]
    with pytest.raises(RuntimeError, match="closed"):
        await s.run(lambda: None)
    s.stop()  # again: nothing to do


async def test_a_store_pings_and_closes_on_its_statement_thread(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store-of-this-test.sqlite")  # a name no other test's store thread has
    await store.insert("things", {"_id": "a", "n": 1})
    await store.ping()
    await store.close()
    assert not any(t.name == "sqlite-store-of-this-test" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("things", "a")


async def test_the_event_log_runs_on_a_statement_thread_too_and_closes_it(tmp_path: Path) -> None:
    bus = SqliteBus(tmp_path / "log-of-this-test.sqlite")  # a name no other test's log thread has
    await bus.start()
    threads: list[str] = []
    await bus._run(lambda: threads.append(threading.current_thread().name))
    await bus.publish("t", [CloudEvent(type="x.y.v1", source="/s", data={}, region="IE05", partitionkey="k")])
    assert [e.type async for _, e in bus.read(["t"])] == ["x.y.v1"]
    await bus.close()
    assert threads == ["sqlite-log-of-this-test"]
    assert not any(t.name == "sqlite-log-of-this-test" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="closed"):
        await bus.high_water(["t"])
