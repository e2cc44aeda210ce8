"""``clustergrowth rebuild`` after a week-old history still folds everything.

On IE05's broker (tests/federation/conftest.py: its log cleaner checks retention every second instead
of every 5 minutes), an event topic as the services create it and a control topic left at the broker's
default retention (7 days) receive the same ten SMEAssessed events timestamped 8 to 10 days ago, then
one current event each (which closes the old segment: it is more than segment.ms = 7 days younger
than the segment's first record). The cleaner drops the control topic's old records; the mapping
service's rebuild, reading the event topic from its beginning, folds all eleven events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.store.sqlite import SqliteStore
from contracts import mapping as mev
from services.mapping import consumers as mapping
from tests.federation.conftest import Network
from tests.helpers import eventually

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000


def assessed(i: int, when: datetime) -> CloudEvent:
    data = mev.SMEAssessed(
        sme_id=f"s{i}",
        assessment_id=f"a{i}",
        region="IE05",
        nace="C28.29",
        sector="C28",
        size_class="small",
        headcount=12,
        councils=["c1"],
        instrument_version="1",
        scores={"finance": 2.0, "talent": 4.0},
        top_needs=["finance", "talent"],
        assessed_at=when.isoformat(),
    )
    return make_event(data, key=f"s{i}", region="IE05", source="/regions/IE05/mapping")


async def test_rebuild_folds_a_history_older_than_the_brokers_default_retention(
    network: Network, tmp_path: Path
) -> None:
    bootstrap = network.ie05.bootstrap
    events_topic = f"old{uuid.uuid4().hex[:6]}.events"
    control = f"old{uuid.uuid4().hex[:6]}-control"  # not *.events: MirrorMaker leaves it alone
    await KafkaBus(bootstrap, partitions=1).ensure_topics([events_topic])
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(control, 1, 1)])  # the broker's defaults: retention 7 days
    finally:
        await admin.close()
    now = datetime.now(UTC)
    old = [assessed(i, now - timedelta(days=10) + timedelta(hours=4 * i)) for i in range(10)]  # 10 to 8.5 days
    fresh = assessed(10, now)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic in (events_topic, control):
            for e in [*old, fresh]:
                key, value, headers = e.to_kafka()
                stamp = int(datetime.fromisoformat(e.data["assessed_at"]).timestamp() * 1000)
                await producer.send_and_wait(topic, value=value, key=key, headers=headers, timestamp_ms=stamp)
    finally:
        await producer.stop()
    assert int(now.timestamp() * 1000) - stamp < DAY_MS  # the fresh one is current; the others > 7 days old

    await eventually(
        lambda: _first_offset_is(bootstrap, control, 10), 120, "the cleaner to drop the control's old records"
    )
    assert await _first_offset(bootstrap, events_topic) == 0  # the event topic kept its whole history
    store = SqliteStore(tmp_path / "mapping.sqlite")
    try:
        report = await mapping.rebuild(store, KafkaBus(bootstrap), [events_topic])
    finally:
        await store.close()
    assert report["events"] == 11 and report["cells"] == 1


async def _first_offset(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await consumer.beginning_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def _first_offset_is(bootstrap: str, topic: str, n: int) -> bool:
    await asyncio.sleep(0)
    return await _first_offset(bootstrap, topic) == n


async def test_a_retention_set_later_on_a_source_topic_reaches_its_replica(network: Network) -> None:
    """A topic an older release created at the broker's default (7 days) is replicated as such; once
    ensure_topics sets its retention, MirrorMaker 2's topic-config sync carries it to the replica."""
    topic = f"late{uuid.uuid4().hex[:6]}.events"
    replica = f"ie05.{topic}"
    admin = AIOKafkaAdminClient(bootstrap_servers=network.ie05.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    await eventually(lambda: _retention_is(network.ith5.bootstrap, replica, "604800000"), 120, "the 7-day replica")
    await KafkaBus(network.ie05.bootstrap).ensure_topics([topic])
    await eventually(lambda: _retention_is(network.ith5.bootstrap, replica, "-1"), 120, "the replica's new retention")


async def _retention_is(bootstrap: str, topic: str, value: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(error_code, _m, _t, _n, entries)] = response.resources
        return not error_code and any(e[0] == "retention.ms" and e[1] == value for e in entries)
    finally:
        await admin.close()
