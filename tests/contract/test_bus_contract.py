"""One contract for the event-bus port, run against every adapter (SQLite log, a real Kafka broker)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.bus.port import EventBus, dlq_topic
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import run_consumer
from tests.backends import free_port


@pytest.fixture(params=["sqlite", pytest.param("kafka", marks=pytest.mark.integration)])
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventBus]:
    if request.param == "sqlite":
        b: EventBus = SqliteBus(tmp_path / "events.sqlite", poll_s=0.05)
    else:
        b = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="contract", partitions=2)
    await b.start()
    try:
        yield b
    finally:
        await b.close()


def ev(key: str, n: int) -> CloudEvent:
    return CloudEvent(
        type="eu.smeclustergrowth.test.Thing.v1",
        source="/test",
        data={"n": n},
        region="IE05",
        partitionkey=key,
    )


def topic() -> str:
    return f"contract-{uuid.uuid4().hex[:8]}.events"


async def _collect(it: AsyncIterator[tuple[str, CloudEvent]]) -> list[CloudEvent]:
    return [e async for _, e in it]


async def test_published_events_are_read_back_in_order_per_key(bus: EventBus) -> None:
    t = topic()
    await bus.ensure_topics([t])
    sent = [ev(f"k{i % 3}", i) for i in range(30)]
    await bus.publish(t, sent[:10])
    await bus.publish(t, sent[10:])
    got = await asyncio.wait_for(_collect(bus.read([t])), 30)
    assert sorted(e.id for e in got) == sorted(e.id for e in sent)
    for k in ("k0", "k1", "k2"):
        assert [e.data["n"] for e in got if e.partitionkey == k] == [e.data["n"] for e in sent if e.partitionkey == k]
    assert got[0] == next(e for e in sent if e.id == got[0].id)  # every attribute survives the trip


async def test_consumer_group_resumes_after_its_last_commit(bus: EventBus) -> None:
    t = topic()
    await bus.ensure_topics([t])
    await bus.publish(t, [ev("k", i) for i in range(6)])
    group = f"g-{uuid.uuid4().hex[:6]}"

    async def take(n: int, commit_upto: int) -> list[int]:
        seen: list[int] = []
        agen = bus.consume(group, [t])
        try:
            async for d in agen:
                assert d.event is not None
                seen.append(d.event.data["n"])
                if len(seen) <= commit_upto:
                    await d.commit()
                if len(seen) == n:
                    break
        finally:
            await agen.aclose()  # type: ignore[attr-defined]
        return seen

    assert await asyncio.wait_for(take(4, commit_upto=3), 60) == [0, 1, 2, 3]
    # 3 was handed out but not committed: it is delivered again
    assert await asyncio.wait_for(take(3, commit_upto=3), 60) == [3, 4, 5]


async def test_failing_handler_is_retried_then_parked_on_the_dead_letter_topic(bus: EventBus) -> None:
    t = topic()
    await bus.ensure_topics([t, dlq_topic(t)])
    await bus.publish(t, [ev("k", 1), ev("k", 2)])
    attempts: dict[int, int] = {}
    handled: list[int] = []
    done = asyncio.Event()

    async def handler(e: CloudEvent) -> None:
        n = e.data["n"]
        attempts[n] = attempts.get(n, 0) + 1
        if n == 1:
            raise RuntimeError("poison")
        handled.append(n)
        done.set()

    task = asyncio.create_task(run_consumer(bus, f"g-{uuid.uuid4().hex[:6]}", [t], handler, retries=2, backoff_s=0))
    try:
        await asyncio.wait_for(done.wait(), 60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert attempts == {1: 3, 2: 1} and handled == [2]
    parked = await asyncio.wait_for(_collect(bus.read([dlq_topic(t)])), 30)
    assert [e.data["n"] for e in parked] == [1]
    assert "poison" in parked[0].data["_dead_letter"]["error"]


async def test_high_water_moves_only_when_something_is_published(bus: EventBus) -> None:
    t = topic()
    await bus.ensure_topics([t])
    empty = await bus.high_water([t])
    await bus.publish(t, [ev("k", 1)])
    one = await bus.high_water([t])
    assert one != empty and await bus.high_water([t]) == one
    await bus.publish(t, [ev("k", 2)])
    assert await bus.high_water([t]) != one


async def test_ping_answers_while_up_and_raises_when_unreachable(bus: EventBus, tmp_path: Path) -> None:
    """Readiness asks ping; it must answer for a live log or broker and raise for one it cannot reach (the
    adapter's own error, or no answer in time: readiness gives up after 3 s), not pass either way."""
    await bus.ping()  # answers (no exception)
    if isinstance(bus, SqliteBus):
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        nowhere: EventBus = SqliteBus(blocker / "events.sqlite", poll_s=0.05)
    else:
        nowhere = KafkaBus(f"127.0.0.1:{free_port()}", client_id="contract-nowhere", partitions=2)
    try:
        with pytest.raises((OSError, RuntimeError, TimeoutError, KafkaError)):
            async with asyncio.timeout(10):
                await nowhere.ping()
    finally:
        await nowhere.close()


async def test_a_pattern_subscription_reads_named_topics_and_matching_ones_created_later(bus: EventBus) -> None:
    """What a federated consumer relies on: its own topic by name, partners' replicas by pattern, also a
    replica that appears only after the consumer started; a topic the pattern does not match never."""
    t = topic()  # contract-<hex>.events
    replica, other = f"ith5.{t}", f"ith5.{t}.dlq"
    await bus.ensure_topics([t])
    await bus.publish(t, [ev("k", 1)])
    got: list[tuple[str, int]] = []
    done = asyncio.Event()

    async def take() -> None:
        async for d in bus.consume(f"g-{uuid.uuid4().hex[:6]}", [t], pattern=rf"^[a-z0-9]+\.{re.escape(t)}$"):
            assert d.event is not None
            got.append((d.topic, d.event.data["n"]))
            await d.commit()
            if len(got) == 3:
                done.set()

    task = asyncio.create_task(take())
    try:
        await bus.ensure_topics([replica, other])  # created after the subscription
        await bus.publish(other, [ev("k", 9)])
        await bus.publish(replica, [ev("k", 2)])
        await bus.publish(t, [ev("k", 3)])
        await asyncio.wait_for(done.wait(), 60)
        await asyncio.sleep(0.5)  # room for a wrongly matched record to arrive before the check
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(got) == [(t, 1), (t, 3), (replica, 2)]


@pytest.mark.integration
async def test_event_topics_keep_their_history_and_dead_letters_thirty_days(kafka_bootstrap: str) -> None:
    """Read back from the broker (DescribeConfigs): the values the Helm chart's KafkaTopics and the
    compose topic job set (retention.ms -1 and 2,592,000,000 ms = 30 x 86,400,000)."""
    t = topic()
    bus = KafkaBus(kafka_bootstrap, client_id="contract", partitions=2)
    await bus.ensure_topics([t, dlq_topic(t)])
    assert await _configs(kafka_bootstrap, t) == {"retention.ms": "-1", "cleanup.policy": "delete"}
    assert await _configs(kafka_bootstrap, dlq_topic(t)) == {"retention.ms": "2592000000", "cleanup.policy": "delete"}


@pytest.mark.integration
async def test_a_topic_created_without_retention_gets_it_and_keeps_its_other_settings(kafka_bootstrap: str) -> None:
    t = topic()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:  # as an older release (or a person) created it: broker defaults, one setting of its own
        await admin.create_topics([NewTopic(t, 1, 1, topic_configs={"max.message.bytes": "500000"})])
    finally:
        await admin.close()
    assert (await _configs(kafka_bootstrap, t, "max.message.bytes"))["retention.ms"] == "604800000"  # 7 days
    await KafkaBus(kafka_bootstrap, client_id="contract", partitions=2).ensure_topics([t])
    assert await _configs(kafka_bootstrap, t, "max.message.bytes") == {
        "retention.ms": "-1",
        "cleanup.policy": "delete",
        "max.message.bytes": "500000",
    }


async def _configs(bootstrap: str, t: str, *extra: str) -> dict[str, str]:
    names = {"retention.ms", "cleanup.policy", *extra}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(50):  # a topic just created may not be described yet
            [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)])
            [(error_code, _msg, _type, _name, entries)] = response.resources
            if not error_code:
                return {e[0]: e[1] for e in entries if e[0] in names}
            await asyncio.sleep(0.2)
        raise AssertionError(f"{t} could not be described: error {error_code}")
    finally:
        await admin.close()
