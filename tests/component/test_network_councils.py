"""Councils across the network (issue 18): one instance forms only its region's councils; partners'
councils and the initiatives they lead with one of ours as co-sponsor arrive as replicated events and are
shown read-only. The demo's expected values come from the seed's table (services/councils/seed.py):
Cork (IE05) is the only council of this region; Bologna (ITH5) names Cork as partner of its initiative,
Málaga's names Alcalá, Istanbul's names Málaga, Alcalá's and Paris's name none."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clustergrowth.bus.federation import Origin
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.inbox import APPLIED
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.sqlite import SqliteStore
from contracts import councils as cev
from instance.app import create_app
from services.councils import network
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually

API = "/api/v1/councils"
LOCAL = "councils.events"


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):  # settings: region IE05, demo seeded (tests/conftest.py)
        yield c


async def test_one_region_forms_its_councils_and_sees_its_partners(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    who = {"Authorization": token("ana", "student")}
    ours = (await client.get(f"{API}/councils", headers=who)).json()
    assert [(c["id"], c["region"]) for c in ours] == [("council-cork", "IE05")]

    async def five() -> bool:
        return len((await client.get(f"{API}/network/councils", headers=who)).json()) == 5

    await eventually(five, 30, "the five partner councils replicated")
    partners = (await client.get(f"{API}/network/councils", headers=who)).json()
    assert [(p["council_id"], p["region"], p["city"]) for p in partners] == [
        ("council-alcala", "ES30", "Alcalá de Henares"),
        ("council-malaga", "ES61", "Málaga"),
        ("council-paris-evry", "FR10", "Paris (Évry)"),
        ("council-bologna", "ITH5", "Bologna"),
        ("council-istanbul", "TR10", "Istanbul"),
    ]
    ith5 = (await client.get(f"{API}/network/councils", params={"region": "ITH5"}, headers=who)).json()
    assert [p["council_id"] for p in ith5] == ["council-bologna"]

    async def launched() -> list[dict[str, Any]]:
        r = await client.get(f"{API}/councils/council-cork/partner-initiatives", headers=who)
        return list(r.json())

    await eventually(lambda: _state_is(launched, "active"), 30, "Bologna's initiative launched")
    (joint,) = await launched()  # only Bologna's names Cork
    assert {k: joint[k] for k in ("initiative_id", "council_id", "region", "co_sponsors", "regions")} == {
        "initiative_id": "ini-bologna-1",
        "council_id": "council-bologna",
        "region": "ITH5",
        "co_sponsors": ["council-cork"],
        "regions": ["IE05", "ITH5"],
    }
    assert (joint["cross_border"], joint["state"]) == (True, "active")


async def _state_is(read: Any, state: str) -> bool:
    rows = await read()
    return len(rows) == 1 and rows[0]["state"] == state


async def test_bad_input_and_unknown_councils(client: httpx.AsyncClient, token: TokenFactory) -> None:
    who = {"Authorization": token("ana", "student")}
    r = await client.get(f"{API}/councils/council-nowhere/partner-initiatives", headers=who)
    assert r.status_code == 404
    for bad, reason in (("Bologna", "at most 4"), ("it5x", "NUTS-2")):
        r = await client.get(f"{API}/network/councils", params={"region": bad}, headers=who)
        assert r.status_code == 422 and any(reason in e["reason"] for e in r.json()["errors"]), r.json()


# The projection on its own --------------------------------------------------------------------------


def initiative(kind: type[cev._Initiative], time: str, region: str = "ITH5", **extra: Any) -> CloudEvent:
    fields = {
        "initiative_id": "ini-9",
        "council_id": "council-bologna",
        "region": region,
        "co_sponsors": ["council-cork"],
        "regions": sorted({"IE05", region}),
        "cross_border": True,
        **extra,
    }
    e = make_event(kind(**fields), key="ini-9", region="ITH5", source="/regions/ITH5/councils")
    return dataclasses.replace(e, time=time)


PARTNER = Origin("ITH5", "ITH5", "ith5.councils.events", LOCAL)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "s.db")
    yield s
    await s.close()


async def test_the_latest_state_wins_and_a_replica_applies_once(store: SqliteStore) -> None:
    proposed = initiative(cev.InitiativeProposed, "2027-01-01T10:00:00+00:00", proposed_at="2027-01-01T10:00:00Z")
    launched = initiative(
        cev.InitiativeLaunched, "2027-02-01T10:00:00+00:00", decision_id="d-1", launched_at="2027-02-01T10:00:00Z"
    )
    for e in (launched, proposed, launched):  # the proposal replayed after the launch; the launch redelivered
        await network.handle(store, "IE05", e, PARTNER)
    doc = await store.get(network.INITIATIVES, "ITH5:ini-9") or {}
    assert (doc["state"], doc["updated_at"]) == ("active", "2027-02-01T10:00:00+00:00")
    assert doc[APPLIED] == [launched.id, proposed.id]  # the launch's second delivery recorded no second effect
    abandoned = initiative(
        cev.InitiativeCompleted,
        "2027-03-01T10:00:00+00:00",
        outcome="abandoned",
        reason="funding",
        ended_at="2027-03-01",
    )
    await network.handle(store, "IE05", abandoned, PARTNER)
    assert ((await store.get(network.INITIATIVES, "ITH5:ini-9")) or {})["state"] == "abandoned"


async def test_local_events_and_events_for_another_region_are_not_projected(store: SqliteStore) -> None:
    e = initiative(cev.InitiativeProposed, "2027-01-01T10:00:00+00:00", proposed_at="2027-01-01T10:00:00Z")
    await network.handle(store, "IE05", e, Origin("IE05", None, LOCAL, LOCAL))
    foreign = initiative(
        cev.InitiativeProposed, "2027-01-01T10:00:00+00:00", region="TR10", proposed_at="2027-01-01T10:00:00Z"
    )
    await network.handle(store, "IE05", foreign, PARTNER)  # ITH5's replica speaking for a TR10 council
    assert await store.count(network.INITIATIVES) == 0
