"""The inbox, rule by rule: ``apply_once`` under races, what a parked event carries, the consumer's
backoff, commit and metrics, and ``supervise``'s restarts.

The in-memory bus of test_consumers.py (it redelivers from the last commit) and the embedded SQLite store.
Backoffs go to a fake ``asyncio.sleep`` that notes them: no time passes in these tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import types
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from clustergrowth import inbox, logs
from clustergrowth.bus.port import Delivery
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import APPLIED, apply_once, run_consumer, supervise
from clustergrowth.metrics import CONSUMER_LAG
from clustergrowth.store.port import Doc
from clustergrowth.store.sqlite import SqliteStore
from tests.helpers import applied, eventually
from tests.unit.test_consumers import MemoryBus

TOPIC = "things.events"
DLQ = "things.events.dlq"  # written out: dead letters park on <topic>.dlq


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "inbox.sqlite")
    yield s
    await s.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoffs slept by the consumer and by supervise, noted instead of slept."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(inbox, "asyncio", types.SimpleNamespace(CancelledError=asyncio.CancelledError, sleep=sleep))
    return slept


def counts(group: str) -> dict[str, float]:
    """The group's outcome counters now (the registry is the process's: compare before and after)."""
    labels = [{"group": group, "outcome": o} for o in ("handled", "dead_letter")]
    return {x["outcome"]: REGISTRY.get_sample_value("consumer_events_total", x) or 0.0 for x in labels}


def added(before: dict[str, float], group: str) -> dict[str, float]:
    now = counts(group)
    return {k: now[k] - before[k] for k in now}


def lag(group: str) -> float | None:
    return REGISTRY.get_sample_value("consumer_lag_seconds", {"group": group})


def thing(id: str, time: str = "2026-11-30T09:00:00+00:00") -> CloudEvent:
    """An event with every attribute set to a value of its own."""
    return CloudEvent(
        type="eu.smeclustergrowth.test.Thing.v1",
        source="/regions/IE05/test",
        data={"thing": id, "n": 1},
        region="IE05",
        partitionkey=f"pk-{id}",
        subject=f"subject-{id}",
        id=id,
        time=time,
        traceparent="00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
        requestid=f"req-{id}",
    )


# apply_once ----------------------------------------------------------------------------------------


def adder(seen: list[Doc]) -> Any:
    def add(doc: Doc) -> Doc:
        seen.append(dict(doc))
        return {**doc, "n": doc.get("n", 0) + 1}

    return add


async def test_apply_once_creates_the_document_from_its_id_alone(store: SqliteStore) -> None:
    seen: list[Doc] = []
    assert await apply_once(store, "p", "d", "e1", adder(seen)) is True
    assert seen == [{"_id": "d"}]
    assert await store.get("p", "d") == {"_id": "d", "n": 1, APPLIED: applied("e1"), "version": 1}


async def test_apply_once_on_a_document_without_a_record_of_events(store: SqliteStore) -> None:
    await store.insert("p", {"_id": "d", "n": 5})
    seen: list[Doc] = []
    assert await apply_once(store, "p", "d", "e1", adder(seen)) is True
    assert await apply_once(store, "p", "d", "e1", adder(seen)) is False
    assert seen == [{"_id": "d", "n": 5, "version": 1}]
    assert await store.get("p", "d") == {"_id": "d", "n": 6, APPLIED: applied("e1"), "version": 2}


async def test_the_change_never_sees_the_record_of_events(store: SqliteStore) -> None:
    await store.insert("p", {"_id": "d", "n": 1, APPLIED: applied("e0")})
    seen: list[Doc] = []
    assert await apply_once(store, "p", "d", "e1", adder(seen)) is True
    assert seen == [{"_id": "d", "n": 1, "version": 1}]
    assert await store.get("p", "d") == {"_id": "d", "n": 2, APPLIED: applied("e0", "e1"), "version": 2}


@pytest.mark.parametrize("stored_as", ["record", "list of ids"])
@pytest.mark.parametrize(("remembered", "kept"), [(1999, 2000), (2000, 2000)])
async def test_the_record_keeps_the_last_two_thousand_events(
    store: SqliteStore, remembered: int, kept: int, stored_as: str
) -> None:
    old = [f"e{i}" for i in range(remembered)]
    # a document written before the record was a string kept its ids as a list: read as the same events
    await store.insert("p", {"_id": "d", APPLIED: applied(*old) if stored_as == "record" else old})
    assert await apply_once(store, "p", "d", "e0" if remembered < 2000 else "e1", adder([])) is False
    assert await apply_once(store, "p", "d", "new", adder([])) is True
    doc = await store.get("p", "d")
    assert doc is not None
    assert doc[APPLIED] == applied(*[*old, "new"][-kept:])  # the oldest is forgotten only when full
    assert len(doc[APPLIED]) == kept * 11
    assert await apply_once(store, "p", "d", "e0", adder([])) is (remembered == 2000)  # forgotten: applied again


async def test_a_digest_found_across_two_remembered_ones_is_not_remembered(store: SqliteStore) -> None:
    target = applied("mine")
    straddling = "a" * 5 + target + "b" * 6  # two digests' width, "mine" from character 5: no digest's place
    assert len(straddling) == 2 * 11 and straddling.find(target) == 5
    await store.insert("p", {"_id": "d", "n": 0, APPLIED: straddling})
    assert await apply_once(store, "p", "d", "mine", adder([])) is True
    await store.insert("p", {"_id": "e", "n": 0, APPLIED: straddling + target})  # there, and in its place too
    assert await apply_once(store, "p", "e", "mine", adder([])) is False


class Racing:
    """The store, with another writer that gets in first, once: ``first_insert`` stores a document just
    before apply_once's insert; ``first_replace`` changes it just before apply_once's replace."""

    def __init__(self, store: SqliteStore, *, first_insert: Doc | None = None, first_replace: Doc | None = None):
        self.store, self.first_insert, self.first_replace = store, first_insert, first_replace

    async def get(self, collection: str, id: str) -> Doc | None:
        return await self.store.get(collection, id)

    async def insert(self, collection: str, doc: Doc) -> None:
        if self.first_insert is not None:
            other, self.first_insert = self.first_insert, None
            await self.store.insert(collection, other)
        await self.store.insert(collection, doc)

    async def replace(self, collection: str, doc: Doc, expected_version: int) -> bool:
        if self.first_replace is not None:
            other, self.first_replace = self.first_replace, None
            assert await self.store.replace(collection, other, expected_version)
        return await self.store.replace(collection, doc, expected_version)


async def test_a_lost_race_to_create_reloads_and_applies_on_top(store: SqliteStore) -> None:
    racing = Racing(store, first_insert={"_id": "d", "n": 10, APPLIED: applied("other")})
    seen: list[Doc] = []
    assert await apply_once(racing, "p", "d", "mine", adder(seen)) is True  # type: ignore[arg-type]
    assert seen == [{"_id": "d"}, {"_id": "d", "n": 10, "version": 1}]
    assert await store.get("p", "d") == {"_id": "d", "n": 11, APPLIED: applied("other", "mine"), "version": 2}


async def test_a_lost_race_to_create_with_the_same_event_applies_nothing(store: SqliteStore) -> None:
    racing = Racing(store, first_insert={"_id": "d", "n": 10, APPLIED: applied("mine")})
    seen: list[Doc] = []
    assert await apply_once(racing, "p", "d", "mine", adder(seen)) is False  # type: ignore[arg-type]
    assert seen == [{"_id": "d"}]
    assert await store.get("p", "d") == {"_id": "d", "n": 10, APPLIED: applied("mine"), "version": 1}


async def test_a_lost_race_to_update_reloads_and_applies_on_top(store: SqliteStore) -> None:
    await store.insert("p", {"_id": "d", "n": 1, APPLIED: applied("e0")})
    racing = Racing(store, first_replace={"_id": "d", "n": 5, APPLIED: applied("e0", "other")})
    seen: list[Doc] = []
    assert await apply_once(racing, "p", "d", "mine", adder(seen)) is True  # type: ignore[arg-type]
    assert seen == [{"_id": "d", "n": 1, "version": 1}, {"_id": "d", "n": 5, "version": 2}]
    assert await store.get("p", "d") == {"_id": "d", "n": 6, APPLIED: applied("e0", "other", "mine"), "version": 3}


# run_consumer: dead letters and parked records -------------------------------------------------------


async def test_a_dead_letter_is_the_event_whole_with_the_failure_added(sleeps: list[float]) -> None:
    bus = MemoryBus()
    event = thing("ev-1")
    bus.seed(TOPIC, [event])

    async def fail(e: CloudEvent) -> None:
        raise ValueError("bad start")

    before = counts("dl-group")
    await run_consumer(bus, "dl-group", [TOPIC], fail, retries=3, backoff_s=0.5)
    [dead] = bus.log[DLQ]
    assert dead == CloudEvent(
        type="eu.smeclustergrowth.test.Thing.v1",
        source="/regions/IE05/test",
        data={"thing": "ev-1", "n": 1, "_dead_letter": {"group": "dl-group", "error": "ValueError: bad start"}},
        region="IE05",
        partitionkey="pk-ev-1",
        subject="subject-ev-1",
        id="ev-1",
        time="2026-11-30T09:00:00+00:00",
        specversion="1.0",
        traceparent="00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
        requestid="req-ev-1",
    )
    assert event.data == {"thing": "ev-1", "n": 1}  # the original is not changed
    assert sleeps == [0.5, 1.0, 2.0, 4.0]  # after each failed attempt: doubling from backoff_s
    assert bus.journal == [("publish", f"{DLQ}:ev-1"), ("commit", f"{TOPIC}@0")]
    assert added(before, "dl-group") == {"handled": 0, "dead_letter": 1}


async def test_the_consumer_retries_three_times_from_fifty_milliseconds_by_default(sleeps: list[float]) -> None:
    bus = MemoryBus()
    bus.seed(TOPIC, [thing("ev-1")])
    attempts: list[str] = []

    async def fail(e: CloudEvent) -> None:
        attempts.append(e.id)
        raise RuntimeError("down")

    await run_consumer(bus, "default-group", [TOPIC], fail)
    assert attempts == ["ev-1"] * 4
    assert sleeps == pytest.approx([0.05, 0.1, 0.2, 0.4])
    [dead] = bus.log[DLQ]
    assert isinstance(dead, CloudEvent) and dead.data["_dead_letter"]["error"] == "RuntimeError: down"


class RawBus(MemoryBus):
    """The memory bus, where the record "<no reason>" is undecodable without a reason given."""

    async def consume(
        self, group: str, topics: Sequence[str], *, pattern: str | None = None
    ) -> AsyncIterator[Delivery]:
        async for d in super().consume(group, topics):
            yield Delivery(d.topic, None, None, d.commit, d.position) if d.raw_error == "<no reason>" else d


def parked(event: CloudEvent) -> CloudEvent:
    """The parked record with its generated attributes replaced, after checking their form."""
    assert str(uuid.UUID(event.id)) == event.id
    assert datetime.fromisoformat(event.time).tzinfo is not None
    assert event.traceparent.startswith("00-") and len(event.traceparent) == 55
    return dataclasses.replace(event, id="-", time="-", traceparent="-")


def undecodable(source: str, group: str, position: str, error: str) -> CloudEvent:
    return CloudEvent(
        type="eu.smeclustergrowth.runtime.UndecodableRecord.v1",
        source=source,
        data={"group": group, "position": position, "error": error},
        region="",
        partitionkey=position,
        subject=None,
        id="-",
        time="-",
        specversion="1.0",
        traceparent="-",
        requestid=None,
    )


async def test_an_undecodable_record_is_parked_whole_and_committed() -> None:
    bus = RawBus()
    bus.seed(TOPIC, ["<no reason>", "missing headers ['ce_id']", thing("ev-1")])
    handled: list[str] = []

    async def handle(e: CloudEvent) -> None:
        handled.append(e.id)

    before = counts("raw-group")
    await run_consumer(bus, "raw-group", [TOPIC], handle)
    assert [parked(e) for e in bus.log[DLQ] if isinstance(e, CloudEvent)] == [
        undecodable("clustergrowth", "raw-group", f"{TOPIC}@0", ""),
        undecodable("clustergrowth", "raw-group", f"{TOPIC}@1", "missing headers ['ce_id']"),
    ]
    assert handled == ["ev-1"]
    assert [x for x in bus.journal if x[0] == "commit"] == [("commit", f"{TOPIC}@{i}") for i in range(3)]
    assert added(before, "raw-group") == {"handled": 1, "dead_letter": 2}


async def test_an_undecodable_record_is_parked_under_the_consumer_s_source() -> None:
    bus = MemoryBus()
    bus.seed(TOPIC, ["bad record"])

    async def handle(e: CloudEvent) -> None:
        raise AssertionError("not an event: never handled")

    await run_consumer(bus, "src-group", [TOPIC], handle, source="/regions/IE05/facilities")
    [dead] = bus.log[DLQ]
    assert isinstance(dead, CloudEvent)
    assert parked(dead) == undecodable("/regions/IE05/facilities", "src-group", f"{TOPIC}@0", "bad record")


# run_consumer: handling, commit, metrics -------------------------------------------------------------


async def test_handled_events_are_counted_and_the_lag_is_the_age_of_the_last_one() -> None:
    bus = MemoryBus()
    bus.seed(TOPIC, [thing("ev-1", "2000-01-01T00:00:00+00:00"), thing("ev-2", "2010-01-01T00:00:00+00:00")])

    async def handle(e: CloudEvent) -> None:
        pass

    counted = counts("lag-group")
    before = datetime.now(UTC)
    await run_consumer(bus, "lag-group", [TOPIC], handle)
    after = datetime.now(UTC)
    newest = datetime(2010, 1, 1, tzinfo=UTC)
    got = lag("lag-group")
    assert got is not None and (before - newest).total_seconds() <= got <= (after - newest).total_seconds()
    assert added(counted, "lag-group") == {"handled": 2, "dead_letter": 0}
    assert bus.committed == {("lag-group", TOPIC): 2}


async def test_an_event_from_the_future_has_no_lag_and_an_unreadable_time_leaves_it_alone() -> None:
    bus = MemoryBus()
    bus.seed(TOPIC, [thing("ev-1", "2999-01-01T00:00:00+00:00")])

    async def handle(e: CloudEvent) -> None:
        pass

    CONSUMER_LAG.labels("future-group").set(99)  # a stale value, to see the consumer set it
    await run_consumer(bus, "future-group", [TOPIC], handle)
    assert lag("future-group") == 0.0
    bus = MemoryBus()
    bus.seed(TOPIC, [thing("ev-2", "2000-01-01T00:00:00+00:00"), thing("ev-3", "not a time")])
    counted = counts("bad-time-group")
    before = datetime.now(UTC)
    await run_consumer(bus, "bad-time-group", [TOPIC], handle)
    after = datetime.now(UTC)
    old = datetime(2000, 1, 1, tzinfo=UTC)
    got = lag("bad-time-group")  # still ev-2's
    assert got is not None and (before - old).total_seconds() <= got <= (after - old).total_seconds()
    assert added(counted, "bad-time-group") == {"handled": 2, "dead_letter": 0}  # handled all the same
    assert bus.committed == {("bad-time-group", TOPIC): 2}


async def test_the_handler_runs_with_the_event_id_in_the_log_context() -> None:
    bus = MemoryBus()
    bus.seed(TOPIC, [thing("ev-1"), thing("ev-2")])
    ids: list[str | None] = []

    async def handle(e: CloudEvent) -> None:
        ids.append(logs.event_id.get())

    await run_consumer(bus, "ctx-group", [TOPIC], handle)
    assert ids == ["ev-1", "ev-2"]
    assert logs.event_id.get() is None  # reset after each event


class CommitFails(MemoryBus):
    """The memory bus, whose commit of the positions in ``fail`` raises ``error`` once."""

    def __init__(self, fail: set[str], error: BaseException) -> None:
        super().__init__()
        self.fail, self.error = fail, error

    async def consume(
        self, group: str, topics: Sequence[str], *, pattern: str | None = None
    ) -> AsyncIterator[Delivery]:
        async for d in super().consume(group, topics):
            real = d.commit

            async def commit(position: str = d.position, real: Any = real) -> None:
                if position in self.fail:
                    self.fail.discard(position)
                    raise self.error
                await real()

            yield Delivery(d.topic, d.event, d.raw_error, commit, d.position)


async def test_a_failed_commit_only_means_a_redelivery_later() -> None:
    bus = CommitFails({f"{TOPIC}@0"}, ConnectionError("broker away"))
    bus.seed(TOPIC, [thing("ev-1"), thing("ev-2")])
    handled: list[str] = []

    async def handle(e: CloudEvent) -> None:
        handled.append(e.id)

    await run_consumer(bus, "commit-group", [TOPIC], handle)  # goes on after the failed commit
    assert handled == ["ev-1", "ev-2"]
    assert bus.journal == [("commit", f"{TOPIC}@1")]
    assert bus.committed == {("commit-group", TOPIC): 2}


async def test_a_cancelled_commit_ends_the_consumer() -> None:
    bus = CommitFails({f"{TOPIC}@0"}, asyncio.CancelledError())
    bus.seed(TOPIC, [thing("ev-1"), thing("ev-2")])
    handled: list[str] = []

    async def handle(e: CloudEvent) -> None:
        handled.append(e.id)

    with pytest.raises(asyncio.CancelledError):
        await run_consumer(bus, "cancel-commit-group", [TOPIC], handle)
    assert handled == ["ev-1"]


async def test_a_cancelled_handler_is_neither_retried_nor_parked_nor_committed(sleeps: list[float]) -> None:
    bus = MemoryBus()
    bus.seed(TOPIC, [thing("ev-1")])
    attempts: list[str] = []

    async def handle(e: CloudEvent) -> None:
        attempts.append(e.id)
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_consumer(bus, "cancel-group", [TOPIC], handle)
    assert (attempts, sleeps, bus.journal, bus.committed) == (["ev-1"], [], [], {})
    assert logs.event_id.get() is None


# supervise -----------------------------------------------------------------------------------------


class Loop:
    """A long-lived loop that fails its first ``failures`` runs."""

    def __init__(self, failures: int, error: BaseException | None = None) -> None:
        self.failures, self.runs = failures, 0
        self.error = error or RuntimeError("broker away")

    async def __call__(self) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise self.error


async def test_supervise_returns_when_the_loop_does(sleeps: list[float]) -> None:
    loop = Loop(0)
    await supervise("consumer", loop)
    assert (loop.runs, sleeps) == (1, [])


async def test_supervise_restarts_a_failed_loop_with_a_doubling_backoff_up_to_ten_seconds(sleeps: list[float]) -> None:
    loop = Loop(8)
    await supervise("consumer", loop)
    assert loop.runs == 9
    assert sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0])


async def test_supervise_caps_the_backoff_at_the_maximum_given(sleeps: list[float]) -> None:
    await supervise("consumer", Loop(5), max_backoff_s=0.8)
    assert sleeps == pytest.approx([0.2, 0.4, 0.8, 0.8, 0.8])


async def test_supervise_lets_a_cancellation_through(sleeps: list[float]) -> None:
    loop = Loop(1, asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await supervise("consumer", loop)
    assert (loop.runs, sleeps) == (1, [])


# Commits: once a bus batch, or every COMMIT_EVERY ----------------------------------------------------


def delivery(position: str, commits: list[str], *, stream: str = "", batch_end: bool = False) -> Delivery:
    async def commit() -> None:
        commits.append(position)

    return Delivery(TOPIC, None, None, commit, position, stream=stream, batch_end=batch_end)


async def test_commits_wait_for_the_end_of_the_bus_s_batch_and_commit_its_last_only() -> None:
    committed: list[str] = []
    commits = inbox.Commits(every=100)
    await commits.done(delivery("t@1", committed))
    await commits.done(delivery("t@2", committed))
    assert committed == []  # the bus has more at hand
    await commits.done(delivery("t@3", committed, batch_end=True))
    assert committed == ["t@3"]  # one commit, acknowledging t@1 and t@2 too
    await commits.done(delivery("t@4", committed, batch_end=True))
    assert committed == ["t@3", "t@4"]


async def test_commits_go_out_after_every_so_many_deliveries_without_a_batch_end() -> None:
    committed: list[str] = []
    commits = inbox.Commits(every=3)
    for i in (1, 2):
        await commits.done(delivery(f"t@{i}", committed))
    assert committed == []  # 2 of 3
    await commits.done(delivery("t@3", committed))
    assert committed == ["t@3"]  # 3 of 3
    for i in (4, 5):
        await commits.done(delivery(f"t@{i}", committed))
    assert committed == ["t@3"]  # counting starts again after a commit


async def test_commits_acknowledge_the_latest_delivery_of_each_stream() -> None:
    committed: list[str] = []
    commits = inbox.Commits(every=100)
    await commits.done(delivery("a@1", committed, stream="a"))
    await commits.done(delivery("b@1", committed, stream="b"))
    await commits.done(delivery("a@2", committed, stream="a", batch_end=True))
    assert sorted(committed) == ["a@2", "b@1"]  # a commit of a@2 says nothing of stream b


async def test_on_the_embedded_bus_a_consumer_commits_once_a_fetch_and_a_stop_means_redelivery(
    tmp_path: Path,
) -> None:
    """Five events published together are one fetch: the group's offset moves once, after the fifth; a
    consumer stopped in the middle gets the handled ones of that fetch again (handlers are idempotent)."""
    bus = SqliteBus(tmp_path / "events.sqlite")
    await bus.publish(TOPIC, [thing(f"ev-{i}") for i in range(1, 6)])

    def offset() -> int | None:
        with sqlite3.connect(tmp_path / "events.sqlite") as db:
            row = db.execute("SELECT seq FROM offsets WHERE grp='g' AND topic=?", (TOPIC,)).fetchone()
        return None if row is None else int(row[0])

    handled: list[tuple[str, int | None]] = []
    stop_at: str | None = "ev-4"

    async def handle(e: CloudEvent) -> None:
        handled.append((e.id, offset()))
        if e.id == stop_at:
            raise asyncio.CancelledError  # the consumer stops while handling ev-4

    with pytest.raises(asyncio.CancelledError):
        await run_consumer(bus, "g", [TOPIC], handle)
    assert handled == [("ev-1", None), ("ev-2", None), ("ev-3", None), ("ev-4", None)]  # nothing committed

    handled.clear()
    stop_at = None
    consumer = asyncio.ensure_future(run_consumer(bus, "g", [TOPIC], handle))

    async def committed_all() -> bool:
        return offset() == 5

    await eventually(committed_all, 30, "the group's offset at the fifth event")
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert [e for e, _ in handled] == ["ev-1", "ev-2", "ev-3", "ev-4", "ev-5"]  # again from the start
    assert {o for _, o in handled} == {None}  # one commit, after the fetch's last event
    await bus.close()
