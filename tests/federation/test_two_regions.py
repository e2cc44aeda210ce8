"""Two regions replicated both ways by Kafka MirrorMaker 2 (tests/federation/conftest.py): the event
topics cross in both directions with their retention, each region's federated consumers tell partner
events from their own, MirrorMaker 2 killed (-9) mid-stream loses nothing and, after de-duplication by
event id, applies nothing twice, and a region that stops leaves its partner serving (over HTTP too:
routes, bookings, assessments, its instance started during the outage) and catching up.

Bookings go through the facilities service of each region (its handlers, its outbox and relay, its own
store and broker): an event is "confirmed" once ``book`` returned. Each region's ledger is a federated
consumer that records every partner event once per event id in the region's store (``apply_once``, the
inbox's de-duplication), and counts raw deliveries besides."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from clustergrowth.auth import Principal
from clustergrowth.bus.federation import Origin
from clustergrowth.envelope import CloudEvent
from clustergrowth.inbox import apply_once, run_federated_consumer
from clustergrowth.store.port import Doc
from services.facilities import commands as c
from services.facilities import handlers as h
from services.facilities.app import FacilitiesService
from services.facilities.settings import FacilitiesSettings
from services.mapping.domain.instrument import instrument
from tests.component.test_federated_identity import PartnerIssuer
from tests.conftest import asgi_client
from tests.federation.conftest import Network, Region, instance, token
from tests.helpers import eventually, usage_total, weekday_slots

pytestmark = [pytest.mark.integration, pytest.mark.fault]
TOPIC = "facilities.events"
CORK_DESKS = [f"ork-rubicon-desk-{i}" for i in range(1, 5)]  # a site in IE05
BOLOGNA_DESKS = [f"blq-tecnopolo-desk-{i}" for i in range(1, 5)]  # a site in ITH5
PEOPLE = {"IE05": "Cork", "ITH5": "Bologna"}


@dataclass
class Ledger:
    """A region's federated consumer over facilities.events and its partners' replicas."""

    service: FacilitiesService
    group: str = field(default_factory=lambda: f"ledger-{uuid.uuid4().hex[:6]}")
    deliveries: list[tuple[str, str | None]] = field(default_factory=list)  # (event id, partner), raw
    bookings: dict[str, str] = field(default_factory=dict)  # partner's booking id -> event id
    task: asyncio.Task[None] | None = None

    async def handle(self, event: CloudEvent, origin: Origin) -> None:
        self.deliveries.append((event.id, origin.partner))
        if origin.local or event.name != "DeskBooked":
            return
        self.bookings[event.data["booking_id"]] = event.id

        def count(doc: Doc) -> Doc:
            return {**doc, "applied": doc.get("applied", 0) + 1, "partner": origin.partner}

        await apply_once(self.service.store, "ledger", event.id, event.id, count)

    def start(self) -> None:
        s = self.service.settings
        self.task = asyncio.create_task(
            run_federated_consumer(self.service.bus, self.group, [TOPIC], self.handle, region=s.region)
        )

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def applied(self, booking_ids: set[str]) -> dict[str, int]:
        """booking id -> how many times its event took effect in this region's store."""
        out = {}
        for b in booking_ids:
            doc = await self.service.store.get("ledger", self.bookings[b]) if b in self.bookings else None
            out[b] = doc["applied"] if doc else 0
        return out

    async def has(self, booking_ids: set[str]) -> bool:
        return booking_ids <= set(self.bookings)


async def open_region(region: Region, tmp_path: Path, database: str | None = None) -> FacilitiesService:
    service = FacilitiesService(
        region.settings(tmp_path), FacilitiesSettings(database=database or region.database("facilities"))
    )
    await service.start()
    return service


@pytest.fixture
async def regions(network: Network, tmp_path: Path) -> AsyncIterator[tuple[FacilitiesService, FacilitiesService]]:
    a, b = await asyncio.gather(open_region(network.ie05, tmp_path), open_region(network.ith5, tmp_path))
    yield a, b
    await asyncio.gather(a.stop(), b.stop())


async def book(service: FacilitiesService, desk: str, slot: tuple[datetime, datetime]) -> str:
    region = service.settings.region
    who = Principal(
        sub=f"{PEOPLE[region].lower()}-{uuid.uuid4().hex[:4]}", roles=frozenset({"student"}), region=region, org=None
    )
    start, end = slot
    b = await h.book(service.facilities, c.BookResource(resource_id=desk, start=start, end=end), who)
    return b.id


async def test_events_replicate_both_ways_as_their_regions_own_with_retention(
    network: Network, regions: tuple[FacilitiesService, FacilitiesService]
) -> None:
    a, b = regions
    ledgers = Ledger(a), Ledger(b)
    for ledger in ledgers:
        ledger.start()
    try:
        slots = weekday_slots(3, days_ahead=3)
        from_a = {await book(a, CORK_DESKS[0], s) for s in slots}
        from_b = {await book(b, BOLOGNA_DESKS[0], s) for s in slots}
        await eventually(lambda: ledgers[1].has(from_a), 180, "IE05's bookings in ITH5")
        await eventually(lambda: ledgers[0].has(from_b), 180, "ITH5's bookings in IE05")
        assert await ledgers[1].applied(from_a) == dict.fromkeys(from_a, 1)
        assert await ledgers[0].applied(from_b) == dict.fromkeys(from_b, 1)
        # each saw the other's under the partner's code, never as its own
        a_events, b_events = set(ledgers[0].bookings.values()), set(ledgers[1].bookings.values())
        assert {p for e, p in ledgers[0].deliveries if e in a_events} == {"ITH5"}
        assert {p for e, p in ledgers[1].deliveries if e in b_events} == {"IE05"}
    finally:
        for ledger in ledgers:
            await ledger.stop()
    # the replicas keep their whole history too (created by MirrorMaker 2 with the source's configs)
    assert await retention(network.ith5.bootstrap, "ie05.facilities.events") == "-1"
    assert await retention(network.ie05.bootstrap, "ith5.facilities.events") == "-1"
    assert await retention(network.ie05.bootstrap, "facilities.events.dlq") == "2592000000"


async def test_mirrormaker_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    network: Network, regions: tuple[FacilitiesService, FacilitiesService]
) -> None:
    a, b = regions
    ledger = Ledger(b)
    ledger.start()
    booked: list[str] = []
    try:
        slots = weekday_slots(24, days_ahead=6)
        desks = iter([(CORK_DESKS[i % 4], s) for i, s in enumerate(slots)])

        async def stream(n: int) -> None:
            for _ in range(n):
                booked.append(await book(a, *next(desks)))
                await asyncio.sleep(0.05)

        await stream(8)
        network.mirrormaker.kill()  # kill -9 mid-stream, bookings keep coming
        await stream(8)
        await asyncio.gather(asyncio.to_thread(network.mirrormaker.start), stream(8))  # back while they go on
        await eventually(lambda: ledger.has(set(booked)), 240, "every IE05 booking in ITH5")
        await asyncio.sleep(2)  # room for a late duplicate to arrive and (not) be applied
    finally:
        await ledger.stop()
    assert len(booked) == 24
    assert await ledger.applied(set(booked)) == dict.fromkeys(booked, 1)  # once each, none lost
    counts = Counter(e for e, p in ledger.deliveries if p == "IE05")
    assert all(counts[ledger.bookings[x]] >= 1 for x in booked)


async def test_a_region_down_leaves_its_partner_serving_and_then_catches_up(
    network: Network,
    regions: tuple[FacilitiesService, FacilitiesService],
    issuers: dict[str, PartnerIssuer],
    tmp_path: Path,
) -> None:
    a, b = regions
    a_database = a.own.database
    ledger_a, ledger_b = Ledger(a), Ledger(b)
    ledger_a.start()
    ledger_b.start()
    slots = iter(weekday_slots(12, days_ahead=12))
    try:
        network.mirrormaker.kill()  # IE05's MirrorMaker goes first: what IE05 books now waits in its broker
        before = {await book(a, CORK_DESKS[1], next(slots)) for _ in range(3)}
        await eventually(lambda: _published(a), 60, "IE05's outbox to drain")
        await ledger_a.stop()
        await a.stop()
        network.ie05.kafka.stop()  # the whole region is down: broker, services, MirrorMaker
        # ITH5 serves its own bookings, and its own consumers keep its projections current
        usage_before = (await usage_total(b.store))["bookings"]
        during = {await book(b, BOLOGNA_DESKS[1], next(slots)) for _ in range(3)}
        await eventually(lambda: _usage_at_least(b, usage_before + 3), 60, "ITH5's usage projection")
        # and its whole instance starts and serves over HTTP: routes, bookings, assessments
        async for client in asgi_client(instance(network.ith5, network.ie05, issuers, tmp_path)):
            await serves_its_routes_bookings_and_assessments(client, issuers)
        # IE05 comes back: same broker data, same database, same ledger group
        await asyncio.to_thread(network.ie05.kafka.start)
        await asyncio.to_thread(network.mirrormaker.start)
        a2 = await open_region(network.ie05, tmp_path, a_database)
        ledger_a2 = Ledger(a2, group=ledger_a.group)
        ledger_a2.start()
        try:
            await eventually(lambda: ledger_b.has(before), 240, "IE05's bookings from before the stop in ITH5")
            await eventually(lambda: ledger_a2.has(during), 240, "ITH5's bookings during the outage in IE05")
            await asyncio.sleep(2)
            assert await ledger_b.applied(before) == dict.fromkeys(before, 1)
            assert await ledger_a2.applied(during) == dict.fromkeys(during, 1)
        finally:
            await ledger_a2.stop()
            await a2.stop()
    finally:
        await ledger_b.stop()
        if network.ie05.kafka.proc is None or network.ie05.kafka.proc.poll() is not None:
            await asyncio.to_thread(network.ie05.kafka.start)
        if network.mirrormaker.proc is None or network.mirrormaker.proc.poll() is not None:
            await asyncio.to_thread(network.mirrormaker.start)


async def serves_its_routes_bookings_and_assessments(
    client: httpx.AsyncClient, issuers: dict[str, PartnerIssuer]
) -> None:
    giulia = token(issuers, "ITH5", "giulia", "student")
    assert (await client.get("/api/v1/facilities/resources", headers=giulia)).status_code == 200
    start = datetime.combine(weekday_slots(1, days_ahead=14)[0][0].date(), time(15), UTC)
    body = {
        "resource_id": "blq-tecnopolo-desk-3",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }
    r = await client.post("/api/v1/facilities/bookings", json=body, headers=giulia)
    assert r.status_code == 201, r.text
    owner = token(issuers, "ITH5", "marco", "sme_member", org="tecnopolo-lab")
    sme = {
        "legal_name": "Officine Emilia Srl",
        "country": "IT",
        "region": "ITH5",
        "nuts3": "ITH55",
        "nace_primary": "C28.29",
        "headcount": 40,
        "turnover_eur": 6e6,
        "balance_sheet_eur": 4e6,
        "founded": 2009,
        "councils": ["Bologna"],
        "contact": {"name": "Marco Example", "email": "marco@example.org"},
        "consent": {"lawful_basis": "consent"},
    }
    r = await client.post("/api/v1/mapping/smes", json=sme, headers=owner)
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/mapping/smes/{r.json()['id']}/assessments",
        json={"instrument_version": "1", "answers": dict.fromkeys(instrument("1").question_ids, 3)},
        headers=owner,
    )
    assert r.status_code == 201, r.text


async def _published(service: FacilitiesService) -> bool:
    from tests.helpers import outbox_empty

    return await outbox_empty(service.store)


async def _usage_at_least(service: FacilitiesService, n: int) -> bool:
    return bool((await usage_total(service.store))["bookings"] >= n)


async def retention(bootstrap: str, topic: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(error_code, _m, _t, _n, entries)] = response.resources
        assert error_code == 0, f"{topic}: {error_code}"
        return str(next(e[1] for e in entries if e[0] == "retention.ms"))
    finally:
        await admin.close()
