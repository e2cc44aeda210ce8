"""Consumers in the unit tier: idempotence under redelivery, bounded retries, dead-lettering, commit order.

No broker and no database server: an in-memory bus (below) that implements the bus port the way
``run_consumer`` uses it, and can redeliver (the same record published twice, or everything after the last
commit when the process "crashes" between handling and committing), and the embedded SQLite store in a
temporary directory. The projections are the services' own (facilities usage, mapping cluster map).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from clustergrowth.bus.port import Delivery
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import EventData, make_event
from clustergrowth.inbox import APPLIED, apply_once, run_consumer
from clustergrowth.store.port import Doc
from clustergrowth.store.sqlite import SqliteStore
from contracts import facilities as fev
from contracts import mapping as mev
from services.facilities import consumers as facilities
from services.mapping import consumers as mapping
from tests.helpers import applied

TOPIC = fev.TOPIC  # facilities.events
DLQ = "facilities.events.dlq"  # written out: dead letters park on <topic>.dlq


class Crash(BaseException):
    """The process dies at this point: not an Exception, so that nothing in the consumer can absorb it."""


class MemoryBus:
    """The event-bus port in memory, with a journal of what the consumer did in which order.

    ``consume`` starts from the group's committed offset and ends when the log does (so ``run_consumer``
    returns); a record is a CloudEvent, or a string for a record that is not one. ``crash_on_commit``
    holds positions whose first commit kills the consumer instead, as a crash between the handler and
    the commit would.
    """

    def __init__(self) -> None:
        self.log: dict[str, list[CloudEvent | str]] = defaultdict(list)
        self.committed: dict[tuple[str, str], int] = {}
        self.journal: list[tuple[str, str]] = []
        self.crash_on_commit: set[str] = set()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> None:
        pass

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        pass

    def seed(self, topic: str, records: Sequence[CloudEvent | str]) -> None:
        """Records already in the log before the consumer starts (not in the journal)."""
        self.log[topic].extend(records)

    async def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        for e in events:
            self.journal.append(("publish", f"{topic}:{e.id}"))
            self.log[topic].append(e)

    async def consume(
        self, group: str, topics: Sequence[str], *, pattern: str | None = None
    ) -> AsyncIterator[Delivery]:
        assert pattern is None, "the memory bus has no pattern subscriptions (the SQLite bus does)"
        for topic in topics:
            offset = self.committed.get((group, topic), 0)
            while offset < len(self.log[topic]):
                record, position = self.log[topic][offset], f"{topic}@{offset}"

                async def commit(topic: str = topic, offset: int = offset, position: str = position) -> None:
                    if position in self.crash_on_commit:
                        self.crash_on_commit.discard(position)
                        raise Crash(position)
                    self.journal.append(("commit", position))
                    key = (group, topic)
                    self.committed[key] = max(self.committed.get(key, 0), offset + 1)

                if isinstance(record, str):
                    yield Delivery(topic, None, record, commit, position)
                else:
                    yield Delivery(topic, record, None, commit, position)
                offset += 1

    async def high_water(self, topics: Sequence[str]) -> dict[str, int]:
        return {t: len(self.log[t]) for t in topics}

    async def read(self, topics: Sequence[str], *, follow: bool = False) -> AsyncIterator[tuple[str, CloudEvent]]:
        for t in topics:
            for record in list(self.log[t]):
                if isinstance(record, CloudEvent):
                    yield t, record


Handler = Callable[[CloudEvent], Awaitable[None]]


def journaled(bus: MemoryBus, handler: Handler) -> Handler:
    """The handler, noting each attempt and each success in the bus's journal."""

    async def handle(event: CloudEvent) -> None:
        bus.journal.append(("attempt", event.id))
        await handler(event)
        bus.journal.append(("handled", event.id))

    return handle


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "unit.sqlite")
    yield s
    await s.close()


def booked(booking: str, start: str, end: str, **over: Any) -> CloudEvent:
    data: dict[str, Any] = {
        "booking_id": booking,
        "resource_id": "desk-1",
        "site_id": "site-1",
        "resource_kind": "hot_desk",
        "person": "alice",
        "organisation": "MTU",
        "person_region": "IE05",
        "region": "IE05",
        "start": start,
        "end": end,
    }
    return event(fev.DeskBooked(**{**data, **over}), booking)


def cancelled(booking: str, start: str, end: str) -> CloudEvent:
    data = fev.BookingCancelled(
        booking_id=booking,
        resource_id="desk-1",
        site_id="site-1",
        person="alice",
        region="IE05",
        start=start,
        end=end,
        cancelled_by="alice",
        reason="cancelled",
    )
    return event(data, booking)


def event(data: EventData, key: str) -> CloudEvent:
    return make_event(data, key=key, region="IE05", source="/regions/IE05/facilities")


B1 = booked("b1", "2026-11-30T09:00:00Z", "2026-11-30T11:00:00Z")  # 120 minutes
B2 = booked("b2", "2026-11-30T14:00:00Z", "2026-11-30T14:30:00Z")  # 30 minutes
USAGE_KEY = "desk-1@2026-11-30"


async def usage(store: SqliteStore) -> tuple[int, int, str]:
    doc = await store.get("usage", USAGE_KEY)
    assert doc is not None
    return doc["bookings"], doc["booked_minutes"], doc[APPLIED]


async def consume(bus: MemoryBus, handler: Handler, *, retries: int = 3) -> None:
    await run_consumer(bus, "g", [TOPIC], journaled(bus, handler), retries=retries, backoff_s=0.0)


async def test_apply_once_applies_an_event_once_and_remembers_it(store: SqliteStore) -> None:
    calls: list[str] = []

    def add(doc: Doc) -> Doc:
        calls.append("x")
        doc["n"] = doc.get("n", 0) + 1
        return doc

    assert await apply_once(store, "p", "d", "e1", add) is True
    assert await apply_once(store, "p", "d", "e1", add) is False
    assert await apply_once(store, "p", "d", "e2", add) is True
    assert await apply_once(store, "p", "d", "e1", add) is False
    doc = await store.get("p", "d")
    assert doc is not None and (doc["n"], doc[APPLIED], len(calls)) == (2, applied("e1", "e2"), 2)


async def test_the_same_booking_event_delivered_twice_counts_once(store: SqliteStore) -> None:
    bus = MemoryBus()
    c1 = cancelled("b1", "2026-11-30T09:00:00Z", "2026-11-30T11:00:00Z")
    bus.seed(TOPIC, [B1, B1, B2, c1, c1])  # an at-least-once producer sent b1 and its cancel twice
    await consume(bus, facilities.UsageProjection(store).handle)
    # by hand: b1 120 min + b2 30 min, then b1 cancelled: 1 booking of 30 minutes
    assert await usage(store) == (1, 30, applied(B1.id, B2.id, c1.id))
    assert bus.committed == {("g", TOPIC): 5}


async def test_a_crash_between_handling_and_commit_redelivers_without_a_second_effect(store: SqliteStore) -> None:
    bus = MemoryBus()
    bus.seed(TOPIC, [B1, B2])
    bus.crash_on_commit.add(f"{TOPIC}@0")
    projection = facilities.UsageProjection(store)
    with pytest.raises(Crash):
        await consume(bus, projection.handle)
    assert bus.committed == {}  # b1 was handled, its offset never committed
    assert await usage(store) == (1, 120, applied(B1.id))
    await consume(bus, projection.handle)  # the restarted consumer starts again at b1
    assert [x for x in bus.journal if x[0] == "attempt"] == [("attempt", B1.id), ("attempt", B1.id), ("attempt", B2.id)]
    assert await usage(store) == (2, 150, applied(B1.id, B2.id))  # 120 + 30, b1 counted once
    assert bus.committed == {("g", TOPIC): 2}


async def test_a_redelivered_assessment_adds_one_history_entry_to_the_cluster_map(store: SqliteStore) -> None:
    common = {"sme_id": "s1", "region": "IE05", "sector": "C28", "size_class": "small", "headcount": 12}
    registered = event(mev.SMERegistered(**common, nuts3="IE051", country="IE", nace="C28.29", councils=["c1"]), "s1")
    assessed = event(
        mev.SMEAssessed(
            **common,
            assessment_id="a1",
            nace="C28.29",
            councils=["c1"],
            instrument_version="1",
            scores={"finance": 2.0, "talent": 4.0},
            top_needs=["finance", "talent"],
            assessed_at="2026-11-26T10:00:00+00:00",
        ),
        "s1",
    )
    bus = MemoryBus()
    bus.seed(mev.TOPIC, [registered, assessed, assessed])
    bus.crash_on_commit.add(f"{mev.TOPIC}@1")
    projection = mapping.ClusterMapProjection(store)
    run = journaled(bus, projection.handle)
    with pytest.raises(Crash):
        await run_consumer(bus, "m", [mev.TOPIC], run, backoff_s=0.0)
    await run_consumer(bus, "m", [mev.TOPIC], run, backoff_s=0.0)
    assert [x[1] for x in bus.journal if x[0] == "handled"] == [registered.id, assessed.id, assessed.id, assessed.id]
    sme = await store.get("mapsmes_g1", "IE05:C28|s1")
    cell = await store.get("mapcells_g1", "IE05:C28")
    assert sme is not None and cell is not None
    # by hand: one assessment, mean of 2.0 and 4.0 = 3.0, in 2026Q4
    assert sme["summary"]["history"] == [{"quarter": "2026Q4", "mean": 3.0}]
    assert (sme["applied"], sme["pending"]) == ([registered.id, assessed.id], None)
    # the cell: one SME of 12, one assessment; 3.0 = 3/1 in the quarter's sum; no event left in flight
    assert (cell["all"]["smes"], cell["all"]["headcount"], cell["all"]["assessments"]) == (1, 12, 1)
    assert cell["all"]["trend"] == {"2026Q4": {"sum": "3/1", "sum_f": 3.0, "n": 1}}
    assert cell["inflight"] == [] and APPLIED not in cell
    assert bus.committed == {("m", mev.TOPIC): 3}


class Flaky:
    """The usage projection behind a handler that fails its first ``failures`` calls."""

    def __init__(self, store: SqliteStore, failures: int) -> None:
        self.projection, self.failures, self.calls = facilities.UsageProjection(store), failures, 0

    async def handle(self, event: CloudEvent) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"store away (call {self.calls})")
        await self.projection.handle(event)


@pytest.mark.parametrize("retries", [0, 2])
async def test_a_handler_that_succeeds_on_its_last_retry_is_not_dead_lettered(store: SqliteStore, retries: int) -> None:
    bus = MemoryBus()
    bus.seed(TOPIC, [B1])
    flaky = Flaky(store, failures=retries)  # fails on the first try and every retry but the last
    await consume(bus, flaky.handle, retries=retries)
    assert flaky.calls == retries + 1
    assert await usage(store) == (1, 120, applied(B1.id))
    assert bus.log[DLQ] == []
    assert bus.journal == [*[("attempt", B1.id)] * (retries + 1), ("handled", B1.id), ("commit", f"{TOPIC}@0")]


@pytest.mark.parametrize("retries", [0, 2])
async def test_a_handler_failing_every_retry_is_parked_intact_and_the_consumer_goes_on(
    store: SqliteStore, retries: int
) -> None:
    bus = MemoryBus()
    bus.seed(TOPIC, [B1, B2])
    flaky = Flaky(store, failures=retries + 1)  # one failure more than there are retries
    await consume(bus, flaky.handle, retries=retries)
    assert flaky.calls == retries + 1 + 1  # B1: the try and its retries; B2: once
    assert bus.journal == [
        *[("attempt", B1.id)] * (retries + 1),
        ("publish", f"{DLQ}:{B1.id}"),
        ("commit", f"{TOPIC}@0"),  # committed only once parked
        ("attempt", B2.id),
        ("handled", B2.id),
        ("commit", f"{TOPIC}@1"),
    ]
    [dead] = bus.log[DLQ]
    assert isinstance(dead, CloudEvent)
    expected = {"group": "g", "error": f"RuntimeError: store away (call {retries + 1})"}
    assert dead.data == {**B1.data, "_dead_letter": expected}
    same = ("id", "type", "source", "region", "partitionkey", "subject", "time", "traceparent", "requestid")
    assert {a: getattr(dead, a) for a in same} == {a: getattr(B1, a) for a in same}
    assert await usage(store) == (1, 30, applied(B2.id))  # only B2 had an effect


async def test_a_poison_event_from_the_projection_itself_is_parked(store: SqliteStore) -> None:
    bus = MemoryBus()
    poison = booked("b9", "2026-11-30T09:00:00Z", "not a time")
    bus.seed(TOPIC, [poison, B2])
    await consume(bus, facilities.UsageProjection(store).handle, retries=1)
    assert [x for x in bus.journal if x[0] == "attempt"] == [("attempt", poison.id)] * 2 + [("attempt", B2.id)]
    [dead] = bus.log[DLQ]
    assert isinstance(dead, CloudEvent) and dead.id == poison.id
    assert dead.data["_dead_letter"]["error"].startswith("ValueError: ")
    assert {k: v for k, v in dead.data.items() if k != "_dead_letter"} == poison.data
    assert await usage(store) == (1, 30, applied(B2.id))


async def test_an_undecodable_record_is_parked_raw_and_committed(store: SqliteStore) -> None:
    bus = MemoryBus()
    bus.seed(TOPIC, ["missing headers ['ce_id']", B1])
    await consume(bus, facilities.UsageProjection(store).handle)
    [dead] = bus.log[DLQ]
    assert isinstance(dead, CloudEvent)
    assert (dead.type, dead.data) == (
        "eu.smeclustergrowth.runtime.UndecodableRecord.v1",
        {"group": "g", "position": f"{TOPIC}@0", "error": "missing headers ['ce_id']"},
    )
    assert [x for x in bus.journal if x[0] == "commit"] == [("commit", f"{TOPIC}@0"), ("commit", f"{TOPIC}@1")]
    assert await usage(store) == (1, 120, applied(B1.id))


async def test_the_fake_bus_redelivers_from_the_last_commit() -> None:
    """The fake's own contract, so that the tests above cannot pass on a bus that never redelivers."""

    async def positions(bus: MemoryBus) -> list[str]:
        out = []
        async for d in bus.consume("g", [TOPIC]):
            out.append(d.position)
            if d.position == f"{TOPIC}@0":
                await d.commit()
        return out

    bus = MemoryBus()
    bus.seed(TOPIC, [B1, B2])
    assert await positions(bus) == [f"{TOPIC}@0", f"{TOPIC}@1"]
    assert await positions(bus) == [f"{TOPIC}@1"]  # @1 was never committed
