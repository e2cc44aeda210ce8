"""Training's peer benchmark over the network, in the one-process demo (issue 18): Cork's instance (IE05)
assesses and publishes only Cork's demo SMEs; the other five regions' assessments arrive as replicated
partner events and fold into the peer groups. Expected values from the seed's table
(services/training/seed.py), by hand: Cork 24 + 12 + 3 = 39 firms; the network 39 + Málaga 24 + 4 +
Alcalá 12 + 2 + Bologna 24 + 5 + Paris 12 + 3 + Istanbul 24 + 3 = 152 firms of 152 organisations, released
every 10 organisations: the 15th release, of 150."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clustergrowth.bus.federation import Origin
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.events import make_event
from clustergrowth.inbox import APPLIED
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.sqlite import SqliteStore
from contracts import training as tev
from instance.app import create_app
from instance.cli import main
from services.training import network
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import applied, eventually

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


# Placements across the network ----------------------------------------------------------------------------


def placement(kind: type[Any], pid: str, time: str, host: str = "IE05", applicant: str = "ITH5", **extra: Any) -> Any:
    """A placement event of Bologna's desk (ITH5), at ``time``."""
    fields = {
        "placement_id": pid, "applicant": "p-giulia", "host_id": "host-cork-1", "applicant_region": applicant,
        "host_region": host, "cross_border": host[:2] != applicant[:2], "weeks": 8, **extra,
    }  # fmt: skip
    e = make_event(kind(**fields), key=pid, region="ITH5", source="/regions/ITH5/training")
    return dataclasses.replace(e, time=time)


BOLOGNA = Origin("ITH5", "ITH5", "ith5.training.events", "training.events")


async def test_bolognas_placements_that_involve_cork_are_kept_latest_first(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    try:
        proposed = placement(tev.PlacementProposed, "pl-1", "2027-01-10T10:00:00+00:00", proposed_at="2027-01-10")
        agreed = placement(
            tev.PlacementAgreed, "pl-1", "2027-01-20T10:00:00+00:00",
            start="2027-03-01", end="2027-04-25", agreed_at="2027-01-20T10:00:00Z",
        )  # fmt: skip
        for e in (agreed, proposed, agreed):  # the proposal replayed after the agreement; the agreement again
            await network.handle(store, "IE05", e, BOLOGNA)
        doc = await store.get(network.PLACEMENTS, "ITH5:pl-1") or {}
        assert (doc["state"], doc["start"], doc["end"], doc["region"]) == ("agreed", "2027-03-01", "2027-04-25", "ITH5")
        assert (doc["host_region"], doc["applicant_region"], doc["cross_border"], doc["weeks"]) == (
            "IE05", "ITH5", True, 8,
        )  # fmt: skip
        assert doc[APPLIED] == applied(agreed.id, proposed.id)
        ended = placement(
            tev.PlacementCompleted, "pl-1", "2027-03-15T10:00:00+00:00",
            outcome="ended_early", reason="family reasons", ended_at="2027-03-15T10:00:00Z",
        )  # fmt: skip
        await network.handle(store, "IE05", ended, BOLOGNA)
        doc = await store.get(network.PLACEMENTS, "ITH5:pl-1") or {}
        assert (doc["state"], doc["ended_at"]) == ("ended_early", "2027-03-15T10:00:00Z") and "reason" not in doc
        # not Cork's: a Paris host for a Bologna applicant; and this region's own event
        elsewhere = placement(tev.PlacementProposed, "pl-2", "2027-01-10T10:00:00+00:00", host="FR10",
                              proposed_at="2027-01-10")  # fmt: skip
        assert await network.handle(store, "IE05", elsewhere, BOLOGNA) is False
        ours = Origin("IE05", None, "training.events", "training.events")
        assert await network.handle(store, "IE05", proposed, ours) is False
        assert await store.count(network.PLACEMENTS) == 1
    finally:
        await store.close()


async def test_corks_intermediaries_list_partner_placements_by_side(tmp_path: Path, token: TokenFactory) -> None:
    settings = RuntimeSettings(data_dir=tmp_path / "data", region="IE05", seed_demo=False, relay_interval_s=0.05)
    app = create_app(settings)
    (training,) = [c for c in app.state.components if c.name == "training"]
    staff = {"Authorization": token("rita", "region_admin")}
    hosted = placement(tev.PlacementProposed, "pl-1", "2027-01-10T10:00:00+00:00", proposed_at="2027-01-10")
    placed = placement(tev.PlacementProposed, "pl-2", "2027-01-11T10:00:00+00:00", host="ITH5", applicant="IE05",
                       proposed_at="2027-01-11")  # fmt: skip
    async for client in asgi_client(app):
        await training.bus.publish("ith5.training.events", [hosted, placed])
        await eventually(functools.partial(_listed, client, staff, 2), 30, "Bologna's two placements projected")
        rows = (await client.get(f"{API}/network/placements", headers=staff)).json()
        assert [(r["placement_id"], r["host_region"], r["applicant_region"]) for r in rows] == [
            ("pl-2", "ITH5", "IE05"),  # newest first
            ("pl-1", "IE05", "ITH5"),
        ]
        for side, expected in (("host", ["pl-1"]), ("applicant", ["pl-2"])):
            r = await client.get(f"{API}/network/placements", params={"side": side}, headers=staff)
            assert [x["placement_id"] for x in r.json()] == expected
        student = {"Authorization": token("ana", "student")}
        assert (await client.get(f"{API}/network/placements", headers=student)).status_code == 403
        bad = await client.get(f"{API}/network/placements", params={"side": "both"}, headers=staff)
        assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["side"]


async def _listed(client: httpx.AsyncClient, who: dict[str, str], n: int) -> bool:
    return len((await client.get(f"{API}/network/placements", headers=who)).json()) == n
