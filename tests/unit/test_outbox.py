"""The outbox relay in the unit tier: what one pass publishes and removes, and how the loop picks its passes.

The embedded SQLite store in a temporary directory and a recording bus (every ``publish`` call, in order).
The loop (``run``) is driven by a relay whose passes are scripted, and by a fake ``asyncio.sleep`` that
only notes the backoff it was asked for: no time passes in these tests.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from clustergrowth import outbox
from clustergrowth.aggregate import OUTBOX, PENDING, save, update
from clustergrowth.envelope import CloudEvent
from clustergrowth.metrics import OUTBOX_PENDING
from clustergrowth.outbox import OutboxRelay
from clustergrowth.store.port import Doc
from clustergrowth.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "outbox.sqlite")
    yield s
    await s.close()


class Bus:
    """Records each publish call; ``during`` runs inside the call (another writer, a broker failure)."""

    def __init__(self, refuse: str | None = None) -> None:
        self.calls: list[tuple[str, list[CloudEvent]]] = []
        self.during: Callable[[], Awaitable[None]] | None = None
        self.refuse = refuse  # a topic the broker refuses

    async def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        if topic == self.refuse:
            raise ConnectionError(f"{topic} refused")
        if self.during is not None:
            during, self.during = self.during, None
            await during()
        self.calls.append((topic, list(events)))


def ev(id: str, time: str) -> CloudEvent:
    return CloudEvent(
        type="eu.smeclustergrowth.test.Thing.v1",
        source="/regions/IE05/test",
        data={"n": id},
        region="IE05",
        partitionkey=f"key-{id}",
        subject=id,
        id=id,
        time=time,
        traceparent=f"00-{'1' * 32}-{'2' * 16}-01",
        requestid=f"req-{id}",
    )


E1 = ev("e1", "2000-03-01T00:00:00+00:00")
E2 = ev("e2", "2000-04-01T00:00:00+00:00")
E3 = ev("e3", "1999-06-01T00:00:00+00:00")  # the oldest: the first event of the second document
E4 = ev("e4", "2001-01-01T00:00:00+00:00")


async def seed(store: SqliteStore) -> None:
    await save(store, "a", {"_id": "a1", "x": 1}, [E1, E2], expected_version=None)
    await save(store, "a", {"_id": "a2", "x": 2}, [E3], expected_version=None)
    await store.insert("a", {"_id": "a3", "x": 3})  # nothing pending
    await store.insert("a", {"_id": "a4", "x": 4, OUTBOX: [], PENDING: True})  # pending, but no event
    await save(store, "b", {"_id": "b1", "x": 5}, [E4], expected_version=None)


def metric(name: str, service: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": service})


def published(service: str) -> float:
    """The relay's counter now (the registry is the process's: compare before and after)."""
    return metric("outbox_published_total", service) or 0.0


ROUTES = {"empty": "t.empty", "a": "t.a", "b": "t.b"}


async def test_a_pass_publishes_each_topic_s_events_in_order_then_empties_the_outboxes(store: SqliteStore) -> None:
    await seed(store)
    bus = Bus()
    relay = OutboxRelay("outbox-pass", store, bus, ROUTES)  # type: ignore[arg-type]
    count = published("outbox-pass")
    OUTBOX_PENDING.labels("outbox-pass").set(99)  # a stale value, to see the pass set it
    before = datetime.now(UTC)
    assert await relay.run_once() == 4
    after = datetime.now(UTC)
    assert bus.calls == [("t.a", [E1, E2, E3]), ("t.b", [E4])]  # one call per topic; "empty" had nothing
    # emptied in place: the SQLite store's drop leaves the version alone (a writer who read it still wins)
    assert await store.get("a", "a1") == {"_id": "a1", "x": 1, OUTBOX: [], PENDING: False, "version": 1}
    assert await store.get("a", "a2") == {"_id": "a2", "x": 2, OUTBOX: [], PENDING: False, "version": 1}
    assert await store.get("a", "a3") == {"_id": "a3", "x": 3, "version": 1}
    assert await store.get("a", "a4") == {"_id": "a4", "x": 4, OUTBOX: [], PENDING: False, "version": 1}
    assert await store.get("b", "b1") == {"_id": "b1", "x": 5, OUTBOX: [], PENDING: False, "version": 1}
    assert published("outbox-pass") - count == 4
    assert metric("outbox_pending", "outbox-pass") == 0
    oldest = datetime.fromisoformat(E3.time)
    age = metric("outbox_oldest_age_seconds", "outbox-pass")
    assert age is not None and (before - oldest).total_seconds() <= age <= (after - oldest).total_seconds()
    # nothing left: a second pass publishes nothing, and the oldest age falls back to 0
    assert await relay.run_once() == 0
    assert len(bus.calls) == 2
    assert published("outbox-pass") - count == 4
    assert metric("outbox_oldest_age_seconds", "outbox-pass") == 0.0


async def test_a_pass_scans_only_the_collections_named(store: SqliteStore) -> None:
    await seed(store)
    bus = Bus()
    relay = OutboxRelay("outbox-only", store, bus, ROUTES)  # type: ignore[arg-type]
    count = published("outbox-only")
    assert await relay.run_once(set()) == 0
    assert await relay.run_once({"b", "elsewhere"}) == 1
    assert bus.calls == [("t.b", [E4])]
    assert await relay.run_once(None) == 3
    assert bus.calls[1:] == [("t.a", [E1, E2, E3])]
    assert published("outbox-only") - count == 4


async def test_a_pass_reads_at_most_a_batch_of_documents(store: SqliteStore) -> None:
    for i in range(3):
        await save(store, "a", {"_id": f"d{i}"}, [ev(f"x{i}", "2000-01-01T00:00:00+00:00")], expected_version=None)
    bus = Bus()
    relay = OutboxRelay("outbox-batch", store, bus, {"a": "t.a"}, batch=2)  # type: ignore[arg-type]
    assert [await relay.run_once() for _ in range(3)] == [2, 1, 0]
    assert [[e.id for e in events] for _, events in bus.calls] == [["x0", "x1"], ["x2"]]


async def test_the_default_batch_is_two_hundred_documents(store: SqliteStore) -> None:
    for i in range(201):
        await save(store, "a", {"_id": f"d{i:03d}"}, [ev(f"x{i}", "2000-01-01T00:00:00+00:00")], expected_version=None)
    relay = OutboxRelay("outbox-default", store, Bus(), {"a": "t.a"})  # type: ignore[arg-type]
    assert (relay.batch, relay.interval_s) == (200, 0.5)
    assert [await relay.run_once() for _ in range(2)] == [200, 1]


async def test_events_written_while_publishing_stay_pending_for_the_next_pass(store: SqliteStore) -> None:
    await save(store, "a", {"_id": "a1"}, [E1, E2], expected_version=None)
    late = ev("late", "2000-05-01T00:00:00+00:00")
    bus = Bus()

    async def another_write() -> None:
        doc = await store.get("a", "a1")
        assert doc is not None
        await save(store, "a", doc, [late], expected_version=doc["version"])

    bus.during = another_write
    relay = OutboxRelay("outbox-late", store, bus, {"a": "t.a"})  # type: ignore[arg-type]
    assert await relay.run_once() == 2
    assert await store.get("a", "a1") == {"_id": "a1", OUTBOX: [late.to_dict()], PENDING: True, "version": 2}
    assert await relay.run_once() == 1
    assert bus.calls == [("t.a", [E1, E2]), ("t.a", [late])]
    assert await store.get("a", "a1") == {"_id": "a1", OUTBOX: [], PENDING: False, "version": 2}


async def test_a_writer_that_read_before_the_relay_published_wins_and_brings_nothing_back(
    store: SqliteStore,
) -> None:
    """The booking's race with the relay: it read the document with E1 pending, the relay published E1 and
    took it out; the booking's write (from what it read) still goes through, with its own event only."""
    await save(store, "a", {"_id": "a1", "x": 1}, [E1], expected_version=None)
    read = await store.get("a", "a1")
    assert read is not None and read[OUTBOX] == [E1.to_dict()]
    bus = Bus()
    assert await OutboxRelay("outbox-race", store, bus, {"a": "t.a"}).run_once() == 1  # type: ignore[arg-type]
    await save(store, "a", {**read, "x": 2}, [E2], expected_version=read["version"])  # no ConcurrentUpdate
    assert await store.get("a", "a1") == {"_id": "a1", "x": 2, OUTBOX: [E2.to_dict()], PENDING: True, "version": 2}
    assert await OutboxRelay("outbox-race", store, bus, {"a": "t.a"}).run_once() == 1  # type: ignore[arg-type]
    assert bus.calls == [("t.a", [E1]), ("t.a", [E2])]  # E1 once


async def test_a_document_deleted_while_publishing_is_let_go(store: SqliteStore) -> None:
    await save(store, "a", {"_id": "a1"}, [E1], expected_version=None)
    await save(store, "a", {"_id": "a2"}, [E3], expected_version=None)
    bus = Bus()

    async def delete() -> None:
        assert await store.delete("a", "a1")

    bus.during = delete
    relay = OutboxRelay("outbox-deleted", store, bus, {"a": "t.a"})  # type: ignore[arg-type]
    assert await relay.run_once() == 2
    assert await store.get("a", "a1") is None
    assert await store.get("a", "a2") == {"_id": "a2", OUTBOX: [], PENDING: False, "version": 1}


async def test_events_the_broker_did_not_take_stay_in_the_outbox(store: SqliteStore) -> None:
    await seed(store)
    bus = Bus()

    async def broker_away() -> None:
        raise ConnectionError("broker away")

    bus.during = broker_away
    relay = OutboxRelay("outbox-away", store, bus, {"a": "t.a"})  # type: ignore[arg-type]
    count = published("outbox-away")
    before = datetime.now(UTC)
    with pytest.raises(ConnectionError):
        await relay.run_once()
    after = datetime.now(UTC)
    assert metric("outbox_pending", "outbox-away") == 3  # e1, e2, e3: found and not published
    oldest = datetime.fromisoformat(E3.time)
    age = metric("outbox_oldest_age_seconds", "outbox-away")
    assert age is not None and (before - oldest).total_seconds() <= age <= (after - oldest).total_seconds()
    doc = await store.get("a", "a1")
    assert doc is not None and (doc[OUTBOX], doc[PENDING], doc["version"]) == ([E1.to_dict(), E2.to_dict()], True, 1)
    assert published("outbox-away") == count


async def test_a_topic_the_broker_refuses_leaves_its_events_pending_and_counted(store: SqliteStore) -> None:
    await seed(store)
    bus = Bus(refuse="t.b")
    relay = OutboxRelay("outbox-half", store, bus, ROUTES)  # type: ignore[arg-type]
    count = published("outbox-half")
    with pytest.raises(ConnectionError):
        await relay.run_once()
    assert bus.calls == [("t.a", [E1, E2, E3])]
    assert published("outbox-half") - count == 3
    assert metric("outbox_pending", "outbox-half") == 1  # e4 in b: found and not published
    assert await store.get("a", "a1") == {"_id": "a1", "x": 1, OUTBOX: [], PENDING: False, "version": 1}
    doc = await store.get("b", "b1")
    assert doc is not None and (doc[OUTBOX], doc[PENDING], doc["version"]) == ([E4.to_dict()], True, 1)


# The loop ------------------------------------------------------------------------------------------

Step = Callable[[OutboxRelay], Awaitable[int]]


class Scripted(OutboxRelay):
    """A relay whose passes are the steps given; notes the collections each pass was asked to scan."""

    def __init__(self, steps: list[Step], interval_s: float = 0) -> None:
        super().__init__("outbox-loop", None, None, {}, interval_s=interval_s)  # type: ignore[arg-type]
        self.steps = steps
        self.passes: list[set[str] | None] = []

    async def run_once(self, only: set[str] | None = None) -> int:
        self.passes.append(None if only is None else set(only))
        return await self.steps.pop(0)(self)


def returns(n: int, notify: list[str | None] | None = None, stop: bool = False) -> Step:
    async def step(relay: OutboxRelay) -> int:
        for c in notify or []:
            relay.notify(c)
        if stop:
            relay.stop()
        return n

    return step


def fails(error: BaseException) -> Step:
    async def step(relay: OutboxRelay) -> int:
        raise error

    return step


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoffs the relay sleeps, noted instead of slept."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    fake = types.SimpleNamespace(
        Event=asyncio.Event,
        gather=asyncio.gather,
        timeout=asyncio.timeout,
        CancelledError=asyncio.CancelledError,
        sleep=sleep,
    )
    monkeypatch.setattr(outbox, "asyncio", fake)
    return slept


async def test_the_loop_scans_what_was_written_to_until_the_interval_passes(sleeps: list[float]) -> None:
    relay = Scripted(
        [
            returns(0, notify=["a"]),  # a write to "a" wakes it: the next pass scans "a"
            returns(2),  # "a" had events: scan it again at once, there may be more
            returns(0),  # nothing more, no write: the interval (0 here) passes -> scan everything
            returns(0, notify=["b"]),
            returns(0, notify=[None]),  # a write that names no collection: scan everything
            fails(RuntimeError("broker away")),  # a failed pass: back off, then scan everything
            fails(RuntimeError("broker away")),
            returns(0, notify=["c"]),  # a pass that works resets the backoff
            fails(RuntimeError("broker away")),
            returns(0, stop=True),
        ]
    )
    await relay.run()
    assert relay.passes == [None, {"a"}, {"a"}, None, {"b"}, None, None, None, {"c"}, None]
    assert sleeps == [0.1, 0.2, 0.1]
    assert relay.steps == []


async def test_writes_to_several_collections_are_scanned_together(sleeps: list[float]) -> None:
    relay = Scripted(
        [returns(0, notify=["a"]), returns(1, notify=["b"]), returns(0, notify=["c"]), returns(0, stop=True)]
    )
    await relay.run()
    assert relay.passes == [None, {"a"}, {"a", "b"}, {"c"}]
    assert sleeps == []


async def test_the_backoff_doubles_up_to_five_seconds(sleeps: list[float]) -> None:
    relay = Scripted([*[fails(OSError("down"))] * 8, returns(0, stop=True)])
    await relay.run()
    assert sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])
    assert relay.passes == [None] * 9


async def test_a_cancelled_pass_ends_the_loop_without_a_retry(sleeps: list[float]) -> None:
    relay = Scripted([fails(asyncio.CancelledError()), returns(0, stop=True)])
    with pytest.raises(asyncio.CancelledError):
        await relay.run()
    assert (relay.passes, sleeps) == ([None], [])


async def test_a_stopped_relay_makes_no_pass() -> None:
    relay = Scripted([returns(0)])
    relay.notify("a")  # a write before the loop starts is no error
    relay.stop()
    await relay.run()
    assert relay.passes == []


async def test_stop_and_notify_wake_a_waiting_relay() -> None:
    waiting = asyncio.Event()

    async def then_wait(relay: OutboxRelay) -> int:
        waiting.set()
        return 0

    relay = Scripted([then_wait, then_wait, returns(0)], interval_s=3600)  # the interval never passes here
    task = asyncio.create_task(relay.run())
    await waiting.wait()
    waiting.clear()
    relay.notify("a")  # wakes it: a pass over "a"
    await waiting.wait()
    relay.stop()  # wakes it: it stops
    await asyncio.wait_for(task, 30)  # a guard against a hang, not a measurement
    assert relay.passes == [None, {"a"}]
    assert len(relay.steps) == 1


async def test_a_relay_over_the_real_store_publishes_what_a_write_notifies(store: SqliteStore) -> None:
    bus = Bus()
    relay = OutboxRelay("outbox-run", store, bus, {"a": "t.a"}, interval_s=3600)  # type: ignore[arg-type]
    published = asyncio.Event()
    real_publish = bus.publish

    async def publish(topic: str, events: Sequence[CloudEvent]) -> None:
        await real_publish(topic, events)
        published.set()

    bus.publish = publish  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    await save(store, "a", {"_id": "a1"}, [E1], expected_version=None, on_saved=relay.notify)
    await asyncio.wait_for(published.wait(), 30)
    relay.stop()
    await asyncio.wait_for(task, 30)
    assert bus.calls == [("t.a", [E1])]
    doc: Doc | None = await store.get("a", "a1")
    assert doc is not None and (doc[OUTBOX], doc[PENDING]) == ([], False)


# Lost races, counted ------------------------------------------------------------------------------


def conflicts(collection: str) -> float:
    return REGISTRY.get_sample_value("aggregate_write_conflicts_total", {"collection": collection}) or 0.0


async def test_a_write_another_writer_got_in_before_is_decided_again_and_counted(store: SqliteStore) -> None:
    await save(store, "lost", {"_id": "a1", "n": 0}, [], expected_version=None)
    before = conflicts("lost")
    seen: list[int] = []

    async def change(doc: Doc | None) -> tuple[Doc, list[CloudEvent], int]:
        assert doc is not None
        seen.append(doc["n"])
        if len(seen) == 1:  # another writer gets in between this read and this write
            await save(store, "lost", {**doc, "n": 10}, [], expected_version=doc["version"])
        return {**doc, "n": doc["n"] + 1}, [E1], doc["n"] + 1

    assert await update(store, "lost", "a1", change) == 11
    assert seen == [0, 10]
    assert conflicts("lost") - before == 1
    doc = await store.get("lost", "a1")
    assert doc is not None and (doc["n"], doc[OUTBOX], doc["version"]) == (11, [E1.to_dict()], 3)
