"""Training's peer benchmark over the network, in the one-process demo (issue 18): Cork's instance (IE05)
assesses and publishes only Cork's demo SMEs; the other five regions' assessments arrive as replicated
partner events and fold into the peer groups. Expected values from the seed's table
(services/training/seed.py), by hand: Cork 24 + 12 + 3 = 39 firms; the network 39 + Málaga 24 + 4 +
Alcalá 12 + 2 + Bologna 24 + 5 + Paris 12 + 3 + Istanbul 24 + 3 = 152 firms of 152 organisations, released
every 10 organisations: the 15th release, of 150."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from instance.cli import main
from tests.conftest import TokenFactory, asgi_client

API = "/api/v1/training"


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):  # settings: region IE05, demo seeded (tests/conftest.py)
        yield c


async def group_when(client: httpx.AsyncClient, who: dict[str, str], params: dict[str, str], n: int) -> dict[str, Any]:
    """A peer group's statistics once its release reaches ``n`` firms (the replicas fold in meanwhile)."""
    for _ in range(600):
        b: dict[str, Any] = (await client.get(f"{API}/benchmarks", params=params, headers=who)).json()
        if b["group"]["n"] == n:
            return b
        await asyncio.sleep(0.05)
    raise AssertionError(f"{params} never reached n={n}: {b}")


async def test_cork_publishes_its_own_assessments_and_benchmarks_against_the_network(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    analyst = {"Authorization": token("ana", "analyst")}
    network = await group_when(client, analyst, {"instrument": "wms", "level": "network"}, 150)
    assert network["release"]["no"] == 15 and network["group"]["organisations"] == 150
    assert set(network["overall"]) >= {"mean", "ci95", "quartiles"}

    # a partner's cell is a peer group here like Cork's: Bologna's C28 medium (24 firms, released at 20)
    bologna = {"instrument": "wms", "level": "division_region_size", "nace_division": "C28", "region": "ITH5"}
    b = await group_when(client, analyst, {**bologna, "size_class": "medium"}, 20)
    assert b["release"]["no"] == 2 and b["group"]["organisations"] == 20
    # its C29 small (5 firms): below the threshold, no release, nothing shown
    small = (await client.get(f"{API}/benchmarks", params={**bologna, "nace_division": "C29", "size_class": "small"},
                              headers=analyst)).json()  # fmt: skip
    assert small["group"]["n"] == 0 and small["overall"]["n"] == 0 and "mean" not in small["overall"]

    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:
        ours = [e async for _, e in bus.read(["training.events"]) if e.name == "PracticesAssessed"]
        replicas = [t for t in await bus.topic_names() if t.endswith(".training.events")]
        theirs = {t: [e async for _, e in bus.read([t])] for t in replicas}
    finally:
        await bus.close()
    assert len(ours) == 39 and {(e.region, e.data["region"]) for e in ours} == {("IE05", "IE05")}
    assert all(str(e.data["organisation"]).startswith("IE05:Demo ") for e in ours)
    assert {t: len(es) for t, es in theirs.items()} == {
        "es30.training.events": 14,
        "es61.training.events": 28,
        "fr10.training.events": 15,
        "ith5.training.events": 29,
        "tr10.training.events": 27,
    }
    assert all(e.id.startswith(f"demo-{e.region}-training-") for es in theirs.values() for e in es)


async def test_the_rebuild_command_folds_the_partners_replicas_too(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """``clustergrowth rebuild-benchmarks`` on the demo's data folder: Cork's 39 assessments and the five
    partners' replicas (counts from the seed table, as above), 152 events into a new generation whose
    network group is the live one's (the 15th release, of 150)."""
    analyst = {"Authorization": token("ana", "analyst")}
    live = await group_when(client, analyst, {"instrument": "wms", "level": "network"}, 150)
    monkeypatch.setenv("CG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CG_REGION", "IE05")
    assert await asyncio.to_thread(main, ["rebuild-benchmarks"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (report["generation"], report["events"]) == (2, 152)
    assert report["partners"] == {"ES30": 14, "ES61": 28, "FR10": 15, "ITH5": 29, "TR10": 27}
    rebuilt = (await client.get(f"{API}/benchmarks", params={"instrument": "wms", "level": "network"},
                                headers=analyst)).json()  # fmt: skip
    assert rebuilt["release"] == live["release"] and rebuilt["overall"] == live["overall"]
