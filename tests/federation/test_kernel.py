"""The federation kernel without a broker: which region an event comes from, the topics a federated
consumer reads (its own and its partners' replicas, by pattern), and that a consumer which is not
federated never acts on a partner's event. The embedded SQLite bus carries the same pattern semantics
as Kafka (tests/contract/test_bus_contract.py runs the pattern case on both)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from clustergrowth.bus.federation import (
    ForeignEvent,
    Origin,
    heartbeat_pattern,
    origin_of,
    parse_heartbeat,
    partner_pattern,
)
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.inbox import APPLIED, apply_once, run_consumer, run_federated_consumer
from clustergrowth.store.port import Doc
from clustergrowth.store.sqlite import SqliteStore
from contracts import facilities as fev
from services.facilities import consumers as facilities
from tests.helpers import applied

TOPIC = "facilities.events"  # written out: the logical topic of facilities
REPLICA = "ith5.facilities.events"  # MirrorMaker 2's default policy: <source alias>.<topic>


def booked(booking: str, region: str = "IE05") -> CloudEvent:
    data = fev.DeskBooked(
        booking_id=booking,
        resource_id="desk-1",
        site_id="site-1",
        resource_kind="hot_desk",
        person="alice",
        organisation="MTU",
        person_region=region,
        region=region,
        start="2026-11-30T09:00:00Z",
        end="2026-11-30T11:00:00Z",
    )
    return make_event(data, key=booking, region=region, source=f"/regions/{region}/facilities")


def cancelled(booking: str, region: str, source_region: str | None = None) -> CloudEvent:
    data = fev.BookingCancelled(
        booking_id=booking,
        resource_id="desk-1",
        site_id="site-1",
        person="alice",
        region=region,
        start="2026-11-30T09:00:00Z",
        end="2026-11-30T11:00:00Z",
        cancelled_by="alice",
        reason="cancelled",
    )
    return make_event(data, key=booking, region=region, source=f"/regions/{source_region or region}/facilities")


# origin_of and partner_pattern ---------------------------------------------------------------------


def test_an_event_on_the_local_topic_is_local() -> None:
    e = booked("b1")
    assert origin_of(TOPIC, e, [TOPIC], "IE05") == Origin("IE05", None, TOPIC, TOPIC)
    assert origin_of(TOPIC, e, [TOPIC], "IE05").local is True


def test_an_event_on_a_partner_replica_comes_from_that_partner() -> None:
    o = origin_of(REPLICA, cancelled("b1", "ITH5"), [TOPIC], "IE05")
    assert (o.region, o.partner, o.topic, o.local_topic, o.local) == ("ITH5", "ITH5", REPLICA, TOPIC, False)


@pytest.mark.parametrize(
    ("topic", "event", "why"),
    [
        (REPLICA, cancelled("b1", "TR10"), "region 'TR10'"),  # ith5 speaking for TR10
        (REPLICA, cancelled("b1", "ITH5", source_region="IE05"), "source '/regions/IE05/facilities'"),
        (REPLICA, cancelled("b1", "IE05"), "region 'IE05'"),  # our own event claimed by a partner
        ("ie05.facilities.events", cancelled("b1", "IE05"), "not a partner replica"),  # a cycle
        ("ith5.councils.events", cancelled("b1", "ITH5"), "not a partner replica"),  # not subscribed
        ("ITH5.facilities.events", cancelled("b1", "ITH5"), "not a partner replica"),  # not an alias
    ],
)
def test_a_replicated_event_that_is_not_its_partners_is_refused(topic: str, event: CloudEvent, why: str) -> None:
    with pytest.raises(ForeignEvent, match=re.escape(why)):
        origin_of(topic, event, [TOPIC], "IE05")


@pytest.mark.parametrize(
    ("topic", "matches"),
    [
        ("ith5.facilities.events", True),
        ("tr10.facilities.events", True),
        ("facilities.events", False),  # the local topic is named, not matched
        ("ie05.facilities.events", False),  # our own alias: would be a cycle
        ("ith5.facilities.events.dlq", False),
        ("ith5.ie05.facilities.events", False),  # a replica of a replica
        ("ith5.mapping.events", False),
        ("ith5.facilitiesXevents", False),  # the dot is literal
        ("heartbeats", False),
        ("mm2-offset-syncs.ith5.internal", False),
        ("ith5.checkpoints.internal", False),
    ],
)
def test_the_partner_pattern_matches_partners_replicas_only(topic: str, matches: bool) -> None:
    assert bool(re.fullmatch(partner_pattern([TOPIC], "IE05"), topic)) is matches
    assert bool(re.match(partner_pattern([TOPIC], "IE05"), topic)) is matches  # aiokafka uses match


# consumers over the SQLite bus ---------------------------------------------------------------------


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[SqliteBus]:
    b = SqliteBus(tmp_path / "events.sqlite", poll_s=0.02)
    await b.start()
    yield b
    await b.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite")
    yield s
    await s.close()


async def until(check: Callable[[], Awaitable[bool]], limit_s: float = 20) -> None:
    """Wait for a condition (a bound against hanging, not a timing assertion)."""
    async with asyncio.timeout(limit_s):
        while not await check():  # noqa: ASYNC110 - polls another task's effect in the store
            await asyncio.sleep(0.02)


async def running(*coros: Coroutine[object, object, None]) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(c) for c in coros]


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_partners_cancellation_of_a_same_id_booking_does_not_cancel_the_local_one(
    bus: SqliteBus, store: SqliteStore
) -> None:
    seen: list[tuple[str, Origin]] = []

    async def federated(event: CloudEvent, origin: Origin) -> None:
        seen.append((event.id, origin))

    local_b1, partner_c1 = booked("b1"), cancelled("b1", "ITH5")
    usage = facilities.UsageProjection(store)
    tasks = await running(
        run_consumer(bus, "usage", [TOPIC], usage.handle, backoff_s=0),
        run_federated_consumer(bus, "fed", [TOPIC], federated, region="IE05", backoff_s=0),
    )
    try:
        await bus.publish(TOPIC, [local_b1])
        await bus.publish(REPLICA, [partner_c1])  # the replica topic appears after both started
        await until(lambda: _true(len(seen) == 2))
        await until(lambda: _committed(bus, "usage", TOPIC, 1))
    finally:
        await stop(tasks)
    doc = await store.get("usage", facilities.usage_key("desk-1", date(2026, 11, 30)))
    assert doc is not None and (doc["bookings"], doc["booked_minutes"], doc[APPLIED]) == (1, 120, applied(local_b1.id))
    assert dict(seen) == {
        local_b1.id: Origin("IE05", None, TOPIC, TOPIC),
        partner_c1.id: Origin("ITH5", "ITH5", REPLICA, TOPIC),
    }


async def test_a_replica_redelivered_after_failover_is_applied_once_and_a_foreign_one_never(
    bus: SqliteBus, store: SqliteStore
) -> None:
    """MirrorMaker 2 translates a group's offset to before where it was: the same events come again."""
    calls: list[str] = []

    async def count(event: CloudEvent, origin: Origin) -> None:
        calls.append(event.id)

        def add(doc: Doc) -> Doc:
            return {**doc, "n": doc.get("n", 0) + 1}

        await apply_once(store, "partner_cancellations", origin.partner or "local", event.id, add)

    c1, c2, forged = cancelled("b1", "ITH5"), cancelled("b2", "ITH5"), cancelled("b3", "TR10")
    await bus.publish(REPLICA, [c1, c2, forged, c1, c2])
    tasks = await running(run_federated_consumer(bus, "fed", [TOPIC], count, region="IE05", backoff_s=0))
    try:
        await until(lambda: _committed(bus, "fed", REPLICA, 5))
    finally:
        await stop(tasks)
    assert calls == [c1.id, c2.id, c1.id, c2.id]  # the forged TR10 event never reached the handler
    doc = await store.get("partner_cancellations", "ITH5")
    assert doc is not None and (doc["n"], doc[APPLIED]) == (2, applied(c1.id, c2.id))


async def _true(value: bool) -> bool:
    return value


async def _committed(bus: SqliteBus, group: str, topic: str, n: int) -> bool:
    """The group's commit reached the n-th record of the topic (seq counts every topic of the log)."""
    rows = await bus._run(
        lambda: (
            bus._db()
            .execute(
                "SELECT COUNT(*) FROM log l JOIN offsets o ON o.topic=l.topic AND o.grp=?"
                " WHERE l.topic=? AND l.seq<=o.seq",
                (group, topic),
            )
            .fetchone()
        )
    )
    return int(rows[0]) >= n


# MirrorMaker 2's heartbeats (Kafka's layout, written out by hand) and the raw last records ------------------


def test_a_heartbeat_is_read_in_kafkas_layout() -> None:
    """Key: INT16 length + "ie05", INT16 length + "ith5"; value: INT16 version 0, INT64 1767225600000 ms
    (2026-01-01T00:00:00Z: 56 years of 365 days and 14 leap days, 20454 days x 86400 s), big-endian."""
    key = b"\x00\x04ie05\x00\x04ith5"
    value = b"\x00\x00" + b"\x00\x00\x01\x9b\x76\xda\xa8\x00"  # 0x019B76DAA800 = 1767225600000
    beat = parse_heartbeat(key, value)
    assert (beat.source, beat.target, beat.at) == ("ie05", "ith5", datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        (b"\x00\x04ie05\x00\x04ith5", b"\x00\x01" + bytes(8), "version 1 is not known"),
        (b"\x00\x04ie05\x00\x04ith5", b"\x00\x00\x00\x00", "not a MirrorMaker 2 heartbeat"),  # 2 of 8 bytes
        (b"\x00\x09ie05", b"\x00\x00" + bytes(8), "not a MirrorMaker 2 heartbeat"),  # says 9, has 4
        (None, b"\x00\x00" + bytes(8), "a key and a value"),
        (b'{"specversion": "1.0"}', b"{}", "not a MirrorMaker 2 heartbeat"),  # a CloudEvent's JSON
    ],
)
def test_what_is_not_a_heartbeat_is_refused(key: bytes | None, value: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_heartbeat(key, value)


@pytest.mark.parametrize(
    ("topic", "matches"),
    [("ith5.heartbeats", True), ("ie05.heartbeats", False), ("heartbeats", False), ("ith5.heartbeats.x", False)],
)
def test_the_heartbeat_pattern_is_partners_replicas_only(topic: str, matches: bool) -> None:
    assert bool(re.fullmatch(heartbeat_pattern("IE05"), topic)) is matches


async def test_the_embedded_bus_gives_the_last_record_of_each_matching_topic(bus: SqliteBus) -> None:
    await bus.publish("ith5.facilities.events", [booked("b-1", "ITH5"), booked("b-2", "ITH5")])
    await bus.publish("ie05.facilities.events", [booked("b-3")])
    last = await bus.latest_records(r"^(?!ie05\.)[a-z0-9]+\.facilities\.events$")
    assert list(last) == ["ith5.facilities.events/0"]
    key, value = last["ith5.facilities.events/0"]
    assert key == b"b-2" and value is not None and b'"booking_id": "b-2"' in value.replace(b'":"', b'": "')
    assert await bus.topic_names() == ["ie05.facilities.events", "ith5.facilities.events"]
