"""Fault tests against a real broker: kill -9 Kafka mid-stream, crash the relay mid-publish."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from clustergrowth.auth import Principal
from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import run_consumer
from clustergrowth.outbox import OutboxRelay
from clustergrowth.settings import RuntimeSettings
from services.facilities import commands as c
from services.facilities import handlers as h
from services.facilities import store as st
from services.facilities.app import FacilitiesService
from services.facilities.consumers import UsageProjection
from services.facilities.settings import FacilitiesSettings
from tests import backends
from tests.helpers import eventually, outbox_empty, read_all, usage_total, weekday_slots

pytestmark = [pytest.mark.integration, pytest.mark.fault]
ALICE = Principal(sub="alice", roles=frozenset({"student"}), region="IE05", org=None)


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[tuple[backends.NativeProcess, str]]:
    """A broker of this test's own, so killing it disturbs nobody else."""
    proc, bootstrap = backends.native_kafka(tmp_path)
    try:
        yield proc, bootstrap
    finally:
        proc.stop()


def settings_for(tmp_path: Path, mongo_url: str, bootstrap: str) -> RuntimeSettings:
    return RuntimeSettings(
        data_dir=tmp_path / "data",
        store="mongo",
        mongo_write_locks=True,
        mongo_url=mongo_url,
        bus="kafka",
        kafka_bootstrap=bootstrap,
        topic_prefix=f"f{uuid.uuid4().hex[:6]}.",
        relay_interval_s=0.05,
    )


async def test_kill_9_the_broker_while_bookings_stream_in(
    tmp_path: Path, mongo_url: str, own_kafka: tuple[backends.NativeProcess, str]
) -> None:
    proc, bootstrap = own_kafka
    settings = settings_for(tmp_path, mongo_url, bootstrap)
    service = FacilitiesService(settings, FacilitiesSettings(database=f"fault_{uuid.uuid4().hex[:8]}"))
    await service.start()
    desks = [f"ork-rubicon-desk-{i}" for i in range(1, 5)]  # an IE05 instance holds Cork's sites only
    slots = weekday_slots(10)
    requests = [(d, s, e) for d in desks for s, e in slots]  # 40 bookings on distinct slots
    booked: list[str] = []
    try:
        for i, (desk, start, end) in enumerate(requests):
            if i == 12:
                proc.kill()  # kill -9 the broker, bookings keep coming
            b = await h.book(service.facilities, c.BookResource(resource_id=desk, start=start, end=end), ALICE)
            booked.append(b.id)
            await asyncio.sleep(0.02)
        assert not await outbox_empty(service.store), "with the broker dead, events wait in the outbox"
        await asyncio.to_thread(proc.start)  # same port, same data directory
        await eventually(lambda: outbox_empty(service.store), timeout_s=120, what="the outbox to drain")
        await eventually(lambda: _usage_is(service, len(booked)), timeout_s=120, what="the usage projection")
        events = await read_all(KafkaBus(bootstrap), service.topic)
        delivered = {e.data["booking_id"] for e in events if e.name == "DeskBooked"}
        assert delivered == set(booked)  # every confirmed booking's event was delivered
        await asyncio.sleep(1)
        assert (await usage_total(service.store))["bookings"] == len(booked)  # and none took effect twice
    finally:
        await service.stop()


async def _usage_is(service: FacilitiesService, n: int) -> bool:
    return (await usage_total(service.store))["bookings"] == n


class RelayCrashed(Exception):
    """Stands for the relay process dying right after the broker acknowledged."""


class CrashAfterPublish:
    """Wraps the real Kafka bus: publishes for real, then 'crashes' before the outbox is cleaned."""

    def __init__(self, bus: KafkaBus) -> None:
        self.bus = bus

    async def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        await self.bus.publish(topic, events)
        raise RelayCrashed


async def test_relay_crash_between_publish_and_removal_republishes_and_effect_happens_once(
    tmp_path: Path, mongo_url: str, kafka_bootstrap: str
) -> None:
    settings = settings_for(tmp_path, mongo_url, kafka_bootstrap)
    own = FacilitiesSettings(database=f"crash_{uuid.uuid4().hex[:8]}", run_relay=False, run_consumers=False)
    service = FacilitiesService(settings.model_copy(update={"seed_demo": True}), own)
    await service.start()
    bus = KafkaBus(kafka_bootstrap)
    try:
        routes = {col: service.topic for col in st.OUTBOX_COLLECTIONS}
        await OutboxRelay("facilities", service.store, bus, routes).run_once()  # the seed's ResourceListed
        (start, end), *_ = weekday_slots(1)
        b = await h.book(
            service.facilities, c.BookResource(resource_id="ork-rubicon-desk-2", start=start, end=end), ALICE
        )
        crashing = OutboxRelay("facilities", service.store, CrashAfterPublish(bus), routes)  # type: ignore[arg-type]
        with pytest.raises(RelayCrashed):
            await crashing.run_once()
        assert not await outbox_empty(service.store)  # the crash left the events in the outbox
        await OutboxRelay("facilities", service.store, bus, routes).run_once()  # a restarted relay
        assert await outbox_empty(service.store)

        copies = [e for e in await read_all(bus, service.topic) if e.data.get("booking_id") == b.id]
        assert len(copies) == 2 and copies[0].id == copies[1].id  # published twice, one event

        projection = UsageProjection(service.store)
        seen: list[str] = []
        enough = asyncio.Event()

        async def handler(e: CloudEvent) -> None:
            await projection.handle(e)
            if e.data.get("booking_id") == b.id:
                seen.append(e.id)
                if len(seen) == 2:
                    enough.set()

        task = asyncio.create_task(run_consumer(bus, f"g{uuid.uuid4().hex[:6]}", [service.topic], handler))
        try:
            await asyncio.wait_for(enough.wait(), 60)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert (await usage_total(service.store))["bookings"] == 1
    finally:
        await bus.close()
        await service.stop()
