"""The councils service on FerretDB/MongoDB and Kafka: the issue's done-when scenario through its API, every
step's event on the real bus and valid against its committed schema."""

from __future__ import annotations

import uuid

import pytest

from clustergrowth.auth import DevIssuer
from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings
from services.councils.settings import CouncilsSettings
from services.councils.spec import SPEC
from tests.component.test_councils_api import check_done_when_events, done_when
from tests.conftest import asgi_client
from tests.helpers import eventually, read_all

pytestmark = pytest.mark.integration


async def test_the_done_when_scenario_on_real_backends(real_settings: RuntimeSettings) -> None:
    settings = real_settings.model_copy(update={"seed_demo": False})
    own = CouncilsSettings(database=f"councils_{uuid.uuid4().hex[:10]}")
    issuer = DevIssuer(settings.data_dir)

    def who(sub: str, *roles: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + issuer.mint(settings, sub, list(roles), "IE05")}

    async for client in asgi_client(SPEC.app(settings, own)):  # the service (and its relay) runs inside
        ids = await done_when(client, who)
        found = await _published(settings, {ids["cid"], ids["mid"], ids["iid"]})
    check_done_when_events(found, ids)
    assert all(e.region == "IE05" for e in found)


async def _published(settings: RuntimeSettings, subjects: set[str]) -> list[CloudEvent]:
    """The events about ``subjects`` on Kafka once all eight are there, each once (delivery is at least
    once: an event relayed twice is one id)."""
    bus = KafkaBus(settings.kafka_bootstrap)
    found: dict[str, CloudEvent] = {}

    async def all_there() -> bool:
        for e in await read_all(bus, settings.topic("councils.events")):
            if e.partitionkey in subjects:
                found[e.id] = e
        return len(found) >= 8

    try:
        await eventually(all_there, what="the scenario's eight events on Kafka")
    finally:
        await bus.close()
    return list(found.values())
