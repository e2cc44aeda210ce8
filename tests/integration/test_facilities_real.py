"""The facilities service against FerretDB/MongoDB and Kafka: replicas, events, the usage projection."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clustergrowth.auth import Principal
from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.problems import Conflict
from clustergrowth.settings import RuntimeSettings
from contracts import facilities as ev
from services.facilities import commands as c
from services.facilities import handlers as h
from services.facilities import store as st
from services.facilities.app import FacilitiesService
from services.facilities.handlers import waitlist as wl
from services.facilities.settings import FacilitiesSettings
from tests.helpers import eventually, outbox_empty, read_all, usage_total, weekday_slots

pytestmark = pytest.mark.integration
DESK = "ork-rubicon-desk-1"


def person(i: int) -> Principal:
    return Principal(sub=f"p{i}", roles=frozenset({"student"}), region="IE05", org=None)


async def test_two_replicas_never_double_book_and_publish_one_effect(
    real_settings: RuntimeSettings, own: FacilitiesSettings
) -> None:
    a = FacilitiesService(real_settings, own)
    b = FacilitiesService(real_settings.model_copy(update={"seed_demo": False}), own)
    await a.start()
    await b.start()
    try:
        (start, end), (other_start, other_end), *_ = weekday_slots(2)
        # The day's schedule exists already, so the racers contend on a compare-and-set, not on an insert.
        first = c.BookResource(resource_id="ork-rubicon-desk-1", start=other_start, end=other_end)
        await h.book(a.facilities, first, person(999))
        cmd = c.BookResource(resource_id="ork-rubicon-desk-1", start=start, end=end)

        async def attempt(i: int) -> str:
            replica = a if i % 2 else b
            try:
                await h.book(replica.facilities, cmd, person(i))
                return "booked"
            except Conflict:
                return "conflict"

        outcomes = Counter(await asyncio.gather(*[attempt(i) for i in range(60)]))
        assert outcomes == {"booked": 1, "conflict": 59}
        await eventually(lambda: outbox_empty(a.store), what="the outbox to drain")
        await eventually(lambda: _usage_is(a, 2), what="the usage projection")
        bus = KafkaBus(real_settings.kafka_bootstrap)
        events = await read_all(bus, a.topic)
        desk = {e.id for e in events if e.name == "DeskBooked"}
        assert len(desk) == 2  # the first booking and the single winner (a relayed-twice event is still one id)
        listed = [e for e in events if e.name == "ResourceListed"]
        assert len(listed) >= 8 and {e.region for e in listed} == {"IE05"}  # Cork's own: one region per instance
        record = next(e for e in events if e.name == "DeskBooked")
        assert record.region == "IE05" and record.partitionkey == "ork-rubicon-desk-1"
    finally:
        await b.stop()
        await a.stop()


async def _offered(service: FacilitiesService, start: datetime, end: datetime, holder: int, waiting: int) -> str:
    """``holder`` books [start, end) of the desk, ``waiting`` joins its waitlist, the booking is cancelled:
    the slot is offered to ``waiting``. Returns her entry's id."""
    f = service.facilities
    booking = await h.book(f, c.BookResource(resource_id=DESK, start=start, end=end), person(holder))
    place = await wl.join(f, c.JoinWaitlist(resource_id=DESK, start=start, end=end), person(waiting))
    await h.cancel(f, booking.id, person(holder))
    return place.entry.id


def fixed(t: datetime) -> Callable[[], datetime]:
    return lambda: t


def wall() -> datetime:
    return datetime.now(UTC)


async def _holders(service: FacilitiesService, start: datetime, end: datetime) -> list[str]:
    docs = await service.store.find(st.SCHEDULES, {"resource_id": DESK})
    day = [st.schedule_from_doc(d) for d in docs]
    return [b.person for s in day for b in s.bookings if b.active and b.overlaps(start, end)]


async def test_two_replicas_a_claim_and_direct_bookings_of_the_offered_slot_leave_exactly_one(
    real_settings: RuntimeSettings, own: FacilitiesSettings
) -> None:
    """Issue 16: the offer and its claim obey the no-double-booking guarantee on FerretDB with two
    replicas. (1) While the offer holds the slot, a claim on one replica races 30 direct bookings on
    both: the claim alone wins. (2) At the offer's boundary (the claimant's replica one second before it
    lapses, the other replica at the lapse, when the slot is free again for others) a claim races 20
    direct bookings, each side valid on its own: the database's version guard lets exactly one win,
    whichever it is, in each of four rounds."""
    a = FacilitiesService(real_settings, own)
    b = FacilitiesService(real_settings.model_copy(update={"seed_demo": False}), own)
    await a.start()
    await b.start()
    try:
        slots = weekday_slots(5, days_ahead=3)
        (start, end), rounds = slots[0], slots[1:]
        entry = await _offered(a, start, end, holder=900, waiting=901)

        async def claim(replica: FacilitiesService, entry_id: str, who: int) -> str:
            try:
                await wl.claim(replica.facilities, entry_id, person(who))
                return "claimed"
            except Conflict:
                return "conflict"

        async def direct(replica: FacilitiesService, s: datetime, e: datetime, who: int) -> str:
            try:
                await h.book(replica.facilities, c.BookResource(resource_id=DESK, start=s, end=e), person(who))
                return "booked"
            except Conflict:
                return "conflict"

        racers = [claim(a, entry, 901), *[direct(a if i % 2 else b, start, end, 1000 + i) for i in range(30)]]
        assert Counter(await asyncio.gather(*racers)) == {"claimed": 1, "conflict": 30}
        assert await _holders(a, start, end) == [person(901).id]

        winners = []
        for n, (s, e) in enumerate(rounds):
            entry = await _offered(a, s, e, holder=910 + n, waiting=920 + n)
            doc = (await a.store.find(st.SCHEDULES, {"waitlist.id": entry}))[0]
            expires = st.schedule_from_doc(doc).entry(entry).expires_at
            assert expires is not None
            a.facilities.clock = fixed(expires - timedelta(seconds=1))  # the claim: its last second
            b.facilities.clock = fixed(expires)  # the others: the offer has lapsed, the slot is free
            racers = [claim(a, entry, 920 + n), *[direct(b, s, e, 2000 + 100 * n + i) for i in range(20)]]
            outcomes = Counter(await asyncio.gather(*racers))
            assert outcomes["claimed"] + outcomes["booked"] == 1, outcomes
            assert len(await _holders(a, s, e)) == 1
            winners.append("claim" if outcomes["claimed"] else "direct")
            a.facilities.clock = b.facilities.clock = wall
        assert len(winners) == 4  # who wins each round is the database's choice; one wins every time
        await eventually(lambda: outbox_empty(a.store), what="the outbox to drain")
        events = await read_all(KafkaBus(real_settings.kafka_bootstrap), a.topic)
        claimed = [e for e in events if e.name == "OfferClaimed"]
        assert len({e.id for e in claimed}) == 1 + winners.count("claim")
    finally:
        await b.stop()
        await a.stop()


async def _usage_is(service: FacilitiesService, n: int) -> bool:
    return (await usage_total(service.store))["bookings"] == n


async def test_readiness_reports_the_real_backends(real_settings: RuntimeSettings, own: FacilitiesSettings) -> None:
    s = FacilitiesService(real_settings.model_copy(update={"seed_demo": False}), own)
    await s.start()
    try:
        assert await s.check_ready() == {"store": "ok", "bus": "ok"}
    finally:
        await s.stop()
    broken = RuntimeSettings(**{**real_settings.model_dump(), "kafka_bootstrap": "127.0.0.1:1"})
    s2 = FacilitiesService(broken, own)
    report = await s2.check_ready()
    assert report["store"] == "ok" and report["bus"] != "ok"
    await s2.store.close()


async def test_events_command_reads_kafka_in_the_distributed_mode(real_settings: RuntimeSettings) -> None:
    bus = KafkaBus(real_settings.kafka_bootstrap)
    topic = real_settings.topic("facilities.events")
    await bus.ensure_topics([topic])
    sent = [
        CloudEvent(type=t, source="/test", data={"n": i}, region="IE05", partitionkey=f"k{i}")
        for i, t in enumerate([ev.DeskBooked.event_type(), ev.ResourceListed.event_type(), ev.DeskBooked.event_type()])
    ]
    await bus.publish(topic, sent)
    await bus.close()
    env = {
        **os.environ,
        "CG_BUS": "kafka",
        "CG_KAFKA_BOOTSTRAP": real_settings.kafka_bootstrap,
        "CG_TOPIC_PREFIX": real_settings.topic_prefix,
        "CG_DATA_DIR": str(real_settings.data_dir),
    }
    cli = str(Path(sys.executable).parent / "clustergrowth")
    out = await asyncio.to_thread(
        subprocess.run,
        [cli, "events", "--type", "DeskBooked"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert sorted(x["id"] for x in lines) == sorted(e.id for e in sent if e.name == "DeskBooked")
