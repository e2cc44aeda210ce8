"""``clustergrowth rebuild-partner-resources`` on the one-process demo's data folder (issue 18): the network
catalogue is folded again from the partners' replicas of facilities.events. The oracle is the bus itself,
read here without the catalogue: every event on a ``<alias>.facilities.events`` topic, and every
``ResourceListed`` there, one entry per (region, resource)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from instance.cli import main
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually

API = "/api/v1/facilities/network/resources"


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):  # settings: region IE05, demo seeded (tests/conftest.py)
        yield c


async def test_the_rebuild_command_folds_the_partner_catalogue_from_the_replicas(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:
        replicas = [t for t in await bus.topic_names() if t.endswith(".facilities.events")]
        events = [e for t in replicas async for _, e in bus.read([t])]
    finally:
        await bus.close()
    listed = {(e.region, e.data["resource_id"]) for e in events if e.name == "ResourceListed"}
    assert len(replicas) == 5 and listed  # the demo's five other regions
    who = {"Authorization": token("aoife", "student")}

    async def all_listed() -> bool:
        return len((await client.get(API, params={"limit": 200}, headers=who)).json()) == len(listed)

    await eventually(all_listed, 30, "the demo's partner resources projected")
    before = (await client.get(API, params={"limit": 200}, headers=who)).json()
    monkeypatch.setenv("CG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CG_REGION", "IE05")
    assert await asyncio.to_thread(main, ["rebuild-partner-resources"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    per_partner = {r: sum(1 for e in events if e.region == r) for r in {e.region for e in events}}
    assert (report["events"], report["resources"]) == (per_partner, len(listed))
    assert report["cleared"] == len(listed) + len(replicas)  # the entries and one document per partner
    after = (await client.get(API, params={"limit": 200}, headers=who)).json()
    assert after == before
