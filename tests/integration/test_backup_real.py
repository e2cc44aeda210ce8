"""Backup and restore on the MongoDB path (FerretDB here) and Kafka: the documents (with their BSON types),
the indexes and the events come back as they were, into emptied databases and a new topic namespace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from pymongo import AsyncMongoClient

from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.mongo import MongoStore
from clustergrowth.store.port import DuplicateKey
from instance.backup import BackupError, backup, restore

pytestmark = pytest.mark.integration

DOCS = [
    {
        "_id": "s-1",
        "name": "Lab",
        "capacity": 3,
        "big": 2**40,
        "ratio": 0.25,
        "tags": ["a", "b"],
        "nested": {"x": None},
    },
    {"_id": "s-2", "name": "Desk", "capacity": 1, "big": -(2**40), "ratio": 1.5, "tags": [], "nested": {"x": {"y": 1}}},
]


@pytest.fixture
def settings(tmp_path: Path, mongo_url: str, kafka_bootstrap: str) -> RuntimeSettings:
    return RuntimeSettings(
        data_dir=tmp_path / "data",
        region="IE05",
        store="mongo",
        mongo_url=mongo_url,
        mongo_write_locks=True,
        bus="kafka",
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
    )


@pytest.fixture
async def names(mongo_url: str) -> AsyncIterator[list[str]]:
    out = [f"bk_{uuid.uuid4().hex[:10]}", f"bk_{uuid.uuid4().hex[:10]}"]
    yield out
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url)
    for name in out:
        await client.drop_database(name)
    await client.close()


async def drop(settings: RuntimeSettings, name: str) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(settings.mongo_url)
    await client.drop_database(name)
    await client.close()


def event(n: int, key: str) -> CloudEvent:
    return CloudEvent(
        type="eu.smeclustergrowth.facilities.DeskBooked.v1",
        source="/regions/IE05/facilities",
        data={"n": n, "at": datetime(2026, 3, 2, tzinfo=UTC).isoformat()},
        region="IE05",
        partitionkey=key,
        id=f"ev-{n}",
    )


async def records(settings: RuntimeSettings, topic: str) -> list[tuple[str, str]]:
    """(key, event id) of every record of a topic, in each partition's order, partitions in turn."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        from aiokafka import TopicPartition

        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or set())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: dict[int, list[tuple[str, str]]] = {tp.partition: [] for tp in tps}
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            for tp, msgs in (await consumer.getmany(*tps, timeout_ms=1000)).items():
                for m in msgs:
                    e = CloudEvent.from_kafka(m.key, m.value, list(m.headers))
                    out[tp.partition].append((e.partitionkey, e.id))
        return [r for p in sorted(out) for r in out[p]]
    finally:
        await consumer.stop()


async def test_backup_and_restore_on_ferretdb_and_kafka(
    tmp_path: Path, settings: RuntimeSettings, names: list[str]
) -> None:
    store = MongoStore(settings.mongo_url, names[0], write_locks=False)
    for doc in DOCS:
        await store.insert("sites", dict(doc))
    await store.ensure_index("sites", ["name"], unique=True)
    await store.insert("other", {"_id": "o-1", "when": "2026-03-02"})
    bus = KafkaBus(settings.kafka_bootstrap, partitions=3)
    topic = settings.topic("facilities.events")
    await bus.ensure_topics([topic])
    await bus.publish(topic, [event(i, f"k{i % 4}") for i in range(30)])
    await bus.close()
    before = {d["_id"]: d for d in await store.find("sites")}
    log_before = await records(settings, topic)

    summary = await asyncio.to_thread(backup, settings, tmp_path / "bk", names)  # the command runs its own loop
    assert summary.documents == {names[0]: 3, names[1]: 0}
    assert summary.events[topic] == 30

    with pytest.raises(BackupError, match="already holds other, sites"):
        await asyncio.to_thread(restore, settings, tmp_path / "bk")
    await drop(settings, names[0])
    assert await store.find("sites") == []

    elsewhere = settings.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:8]}."})
    again = await asyncio.to_thread(restore, elsewhere, tmp_path / "bk")
    assert again.documents == summary.documents
    assert again.events[elsewhere.topic("facilities.events")] == 30
    assert {d["_id"]: d for d in await store.find("sites")} == before
    assert await store.get("other", "o-1") == {"_id": "o-1", "when": "2026-03-02", "version": 1}
    with pytest.raises(DuplicateKey):  # the unique index came back
        await store.insert("sites", {"_id": "s-3", "name": "Lab"})
    assert await records(elsewhere, elsewhere.topic("facilities.events")) == log_before
    await drop(settings, names[0])
    with pytest.raises(BackupError, match="already hold events"):  # the store emptied, the topics are not
        await asyncio.to_thread(restore, elsewhere, tmp_path / "bk")
    await store.close()
