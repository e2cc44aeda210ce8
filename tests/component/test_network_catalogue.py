"""The network-wide facility catalogue (issue 18): partners' ResourceListed, replicated to this region
as ``<alias>.facilities.events``, become read-only entries naming the owning region and where to book;
each shows when it was last updated, and a partner silent for longer than the threshold is shown stale
with the time of its last replicated event. Events are fed as MirrorMaker 2 would deliver them: on the
embedded bus's replica topic, with the partner's region and source. Expected values are written out by
hand from the events the test sends."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.bus.federation import Origin
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.sqlite import SqliteStore
from contracts import facilities as fev
from instance.app import create_app
from services.facilities.network.projection import PARTNERS, RESOURCES, NetworkCatalogue
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import BOLOGNA_API, Clock, cork_with_bologna, eventually, publish_on

API = "/api/v1/facilities/network"
T0 = "2027-02-26T12:00:00+00:00"
REPLICA = "ith5.facilities.events"
LOCAL = "facilities.events"


def listed(resource: str, *, region: str = "ITH5", name: str = "Prototyping lab", kind: str = "lab",
           time: str = T0, **extra: Any) -> CloudEvent:  # fmt: skip
    data = fev.ResourceListed(
        resource_id=resource,
        site_id="blq-tecnopolo",
        resource_name=name,
        kind=kind,  # type: ignore[arg-type]
        capacity=4,
        region=region,
        timezone="Europe/Rome",
    ).to_data()
    data.update(extra)
    e = make_event(fev.ResourceListed.model_validate({**data}), key=resource, region=region,
                   source=f"/regions/{region}/facilities")  # fmt: skip
    return dataclasses.replace(e, data={**e.data, **extra}, time=time)


def partner(region: str = "ITH5") -> Origin:
    return Origin(region, region, f"{region.lower()}.{LOCAL}", LOCAL)


LOCAL_ORIGIN = Origin("IE05", None, LOCAL, LOCAL)


# The projection on its own ---------------------------------------------------------------------------


@pytest.fixture
async def catalogue(tmp_path: Path) -> AsyncIterator[NetworkCatalogue]:
    store = SqliteStore(tmp_path / "store.db")
    yield NetworkCatalogue(store, "IE05", {"ITH5": BOLOGNA_API}, timedelta(seconds=900))
    await store.close()


async def test_a_partners_listing_becomes_an_entry_keyed_by_its_region(catalogue: NetworkCatalogue) -> None:
    await catalogue.handle(listed("blq-lab-1", policy={"eligible_regions": ["ITH5", "IE05"]}), partner())
    d = await catalogue.store.get(RESOURCES, "ITH5:blq-lab-1")
    assert d is not None
    assert (d["region"], d["resource_id"], d["resource_name"], d["kind"], d["capacity"]) == (
        "ITH5", "blq-lab-1", "Prototyping lab", "lab", 4
    )  # fmt: skip
    assert d["updated_at"] == T0
    assert d["policy"] == {"eligible_regions": ["ITH5", "IE05"]}
    assert (await catalogue.store.get(PARTNERS, "ITH5") or {})["last_event_at"] == T0


async def test_the_same_id_in_two_regions_is_two_entries(catalogue: NetworkCatalogue) -> None:
    await catalogue.handle(listed("lab-1", name="Bologna lab"), partner())
    await catalogue.handle(listed("lab-1", name="Paris lab", region="FR10"), partner("FR10"))
    names = {d["_id"]: d["resource_name"] for d in await catalogue.store.find(RESOURCES)}
    assert names == {"ITH5:lab-1": "Bologna lab", "FR10:lab-1": "Paris lab"}


async def test_local_events_are_not_projected(catalogue: NetworkCatalogue) -> None:
    await catalogue.handle(listed("ork-lab-1", region="IE05"), LOCAL_ORIGIN)
    assert await catalogue.store.count(RESOURCES) == 0
    assert await catalogue.store.count(PARTNERS) == 0


async def test_a_redelivered_replica_applies_once(catalogue: NetworkCatalogue) -> None:
    e = listed("blq-lab-1")
    for _ in range(3):  # MirrorMaker 2's offset translation after a failover lands earlier: redelivery
        await catalogue.handle(e, partner())
    assert (await catalogue.store.get(PARTNERS, "ITH5") or {})["events"] == 1
    assert await catalogue.store.count(RESOURCES) == 1


async def test_an_older_listing_after_a_newer_one_keeps_the_newer(catalogue: NetworkCatalogue) -> None:
    await catalogue.handle(listed("blq-lab-1", name="Lab (renamed)", time="2027-02-26T13:00:00+00:00"), partner())
    await catalogue.handle(listed("blq-lab-1", name="Lab", time=T0), partner())
    d = await catalogue.store.get(RESOURCES, "ITH5:blq-lab-1") or {}
    assert (d["resource_name"], d["updated_at"]) == ("Lab (renamed)", "2027-02-26T13:00:00+00:00")
    # the partner's last event is the later of the two, whatever the order they arrived in
    assert (await catalogue.store.get(PARTNERS, "ITH5") or {})["last_event_at"] == "2027-02-26T13:00:00+00:00"


def test_stale_only_past_the_threshold(catalogue: NetworkCatalogue) -> None:
    last = datetime(2027, 2, 26, 12, tzinfo=UTC)
    assert catalogue.stale(T0, last + timedelta(seconds=900)) is False  # at the threshold
    assert catalogue.stale(T0, last + timedelta(seconds=899, microseconds=999_999)) is False
    assert catalogue.stale(T0, last + timedelta(seconds=900, microseconds=1)) is True  # just past it
    assert catalogue.stale(None, last) is True  # never heard from


# MirrorMaker 2's heartbeats: a sign of life --------------------------------------------------------


def heartbeat(source: str, target: str, ms: int, version: bytes = b"\x00\x00") -> tuple[bytes, bytes]:
    """A heartbeat record written out by hand in Kafka's layout (org.apache.kafka.connect.mirror.Heartbeat):
    key = INT16 length + UTF-8 alias, twice; value = INT16 version 0, INT64 timestamp in ms, big-endian."""
    key = len(source).to_bytes(2, "big") + source.encode() + len(target).to_bytes(2, "big") + target.encode()
    return key, version + ms.to_bytes(8, "big")


# 2027-03-01T12:30:00Z in ms: 2027-01-01 is 1798761600 s (2026-01-01's 1767225600 + 365 days x 86400), then 59
# days (January, February) x 86400 = 5097600 and 12.5 h x 3600 = 45000: 1803904200 s
T_HEARTBEAT_MS = 1_803_904_200_000
HEARTBEAT_AT = "2027-03-01T12:30:00+00:00"


class Replicas:
    """The bus as far as heartbeats go: the last record of each partition of each topic it holds."""

    def __init__(self, records: dict[str, tuple[bytes | None, bytes | None]]) -> None:
        self.records = records

    async def latest_records(self, pattern: str) -> dict[str, tuple[bytes | None, bytes | None]]:
        return {k: v for k, v in self.records.items() if re.fullmatch(pattern, k.rsplit("/", 1)[0])}


async def test_a_quiet_partner_whose_heartbeats_arrive_is_not_stale(catalogue: NetworkCatalogue) -> None:
    """Bologna's last event at 12:00 on 1 March, its heartbeats until 12:30; threshold 900 s: fresh until
    12:45 (at it too), stale a microsecond past; Cork's own heartbeats coming back, a record that is not a
    heartbeat and an unknown version count for nothing."""
    await catalogue.handle(listed("blq-lab-1", time="2027-03-01T12:00:00+00:00"), partner())
    bus = Replicas(
        {
            "ith5.heartbeats/0": heartbeat("ie05", "ith5", T_HEARTBEAT_MS - 60_000),
            "ith5.heartbeats/1": heartbeat("ie05", "ith5", T_HEARTBEAT_MS),  # the newest partition's wins
            "ie05.heartbeats/0": heartbeat("ith5", "ie05", T_HEARTBEAT_MS + 3_600_000),  # our own: a cycle
            "heartbeats/0": heartbeat("ith5", "ie05", T_HEARTBEAT_MS + 3_600_000),  # written here, not replicated
            "fr10.heartbeats/0": (b"\x00", b"\x00\x00"),  # not a heartbeat
            "es61.heartbeats/0": heartbeat("ie05", "es61", T_HEARTBEAT_MS, version=b"\x00\x01"),
        }
    )
    assert await catalogue.poll_heartbeats(bus) == {"ITH5": HEARTBEAT_AT}  # type: ignore[arg-type]
    assert await catalogue.poll_heartbeats(bus) is None  # type: ignore[arg-type]  # nothing newer
    assert await catalogue.signs_of_life() == {"ITH5": ("2027-03-01T12:00:00+00:00", HEARTBEAT_AT)}
    at = datetime(2027, 3, 1, 12, 45, tzinfo=UTC)
    (p,) = await catalogue.partners(at)
    assert (p["last_event_at"], p["last_heartbeat_at"], p["stale"]) == (
        "2027-03-01T12:00:00+00:00",
        HEARTBEAT_AT,
        False,
    )
    (p,) = await catalogue.partners(at + timedelta(microseconds=1))
    assert p["stale"] is True
    # an older heartbeat read later (another partition's) does not move it back
    assert await catalogue.heartbeat("ITH5", "2027-03-01T12:29:00+00:00") is False
    # only heartbeats, no event: the heartbeat alone keeps it fresh; neither: stale
    assert catalogue.stale(None, at, HEARTBEAT_AT) is False
    assert catalogue.stale(None, at + timedelta(microseconds=1), HEARTBEAT_AT) is True
    assert catalogue.stale(None, at, None) is True


# Through the API, fed on the replica topic ---------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return cork_with_bologna(tmp_path / "data")


@pytest.fixture
async def app(settings: RuntimeSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async for client in asgi_client(app):
        yield app, client


async def publish(app: FastAPI, topic: str, *events: CloudEvent) -> None:
    await publish_on(app, "facilities", topic, *events)


async def test_a_person_in_cork_finds_bolognas_lab_and_where_to_book_it(
    app: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    a, client = app
    clock = Clock(datetime(2027, 2, 26, 12, 5, tzinfo=UTC))
    a.state.facilities.clock = clock
    await publish(
        a,
        REPLICA,
        listed("blq-tecnopolo-lab-1"),
        listed("blq-tecnopolo-desk-1", name="Hot desk 1", kind="hot_desk", time="2027-02-26T11:00:00+00:00"),
    )
    aoife = {"Authorization": token("aoife", "student")}

    async def both() -> bool:
        r = await client.get(f"{API}/resources", params={"region": "ITH5"}, headers=aoife)
        return r.status_code == 200 and len(r.json()) == 2

    await eventually(both, 30, "the partner's two listings projected")
    r = await client.get(f"{API}/resources", params={"region": "ITH5", "kind": "lab"}, headers=aoife)
    assert r.status_code == 200
    (lab,) = r.json()
    assert lab == {
        "id": "blq-tecnopolo-lab-1",
        "region": "ITH5",
        "site_id": "blq-tecnopolo",
        "site_name": None,
        "city": None,
        "name": "Prototyping lab",
        "kind": "lab",
        "capacity": 4,
        "timezone": "Europe/Rome",
        "policy": None,
        "api_base": "https://bologna.example/api/v1",
        "book_at": "https://bologna.example/api/v1/facilities/bookings",
        "updated_at": "2027-02-26T12:00:00+00:00",
        "stale": False,
        "partner_last_event_at": "2027-02-26T12:00:00+00:00",
        "demo": False,
    }
    # Cork's own catalogue is unchanged: Bologna's resources are not listed as Cork's
    assert (await client.get("/api/v1/facilities/resources", headers=aoife)).json() == []

    # the threshold is 600 s after the last replicated event (12:00): at it fresh, a microsecond past stale
    clock.now = datetime(2027, 2, 26, 12, 10, tzinfo=UTC)
    rows = (await client.get(f"{API}/resources", headers=aoife)).json()
    assert [(x["id"], x["stale"]) for x in rows] == [("blq-tecnopolo-desk-1", False), ("blq-tecnopolo-lab-1", False)]
    clock.now = datetime(2027, 2, 26, 12, 10, 0, 1, tzinfo=UTC)
    rows = (await client.get(f"{API}/resources", headers=aoife)).json()
    assert [(x["stale"], x["partner_last_event_at"]) for x in rows] == [(True, T0), (True, T0)]
    # the desk's own entry still says when it was last updated (11:00), the partner when it was last heard
    assert rows[0]["updated_at"] == "2027-02-26T11:00:00+00:00"
    partners = (await client.get(f"{API}/partners", headers=aoife)).json()
    assert partners == [
        {
            "region": "ITH5",
            "api_base": BOLOGNA_API,
            "last_event_at": T0,
            "last_heartbeat_at": None,
            "stale": True,
            "resources": 2,
        }
    ]


async def test_any_partner_event_is_a_sign_of_life(app: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory) -> None:
    a, client = app
    a.state.facilities.clock = Clock(datetime(2027, 2, 26, 12, 15, tzinfo=UTC))
    booked = fev.DeskBooked(
        booking_id="b-1", resource_id="blq-tecnopolo-desk-1", site_id="blq-tecnopolo", resource_kind="hot_desk",
        person="giulia", organisation=None, person_region="ITH5", region="ITH5",
        start="2027-03-01T09:00:00Z", end="2027-03-01T10:00:00Z",
    )  # fmt: skip
    later = dataclasses.replace(
        make_event(booked, key="b-1", region="ITH5", source="/regions/ITH5/facilities"),
        time="2027-02-26T12:14:00+00:00",
    )
    await publish(a, REPLICA, listed("blq-tecnopolo-lab-1"), later)
    who = {"Authorization": token("aoife", "student")}

    async def heard() -> bool:
        p = (await client.get(f"{API}/partners", headers=who)).json()
        return bool(p) and p[0]["last_event_at"] == "2027-02-26T12:14:00+00:00"

    await eventually(heard, 30, "the booking replicated after the listing")
    (lab,) = (await client.get(f"{API}/resources", headers=who)).json()
    assert (lab["stale"], lab["updated_at"]) == (False, T0)  # 12:15 is 60 s after 12:14


async def test_a_partner_configured_but_never_heard_from_is_stale(
    app: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    _, client = app
    r = await client.get(f"{API}/partners", headers={"Authorization": token("aoife", "student")})
    assert r.json() == [{"region": "ITH5", "api_base": BOLOGNA_API, "last_event_at": None, "last_heartbeat_at": None,
                         "stale": True, "resources": 0}]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"region": "IE05"}, "region", "is this region"),
        ({"region": "Bologna"}, "region", "at most 4 characters"),
        ({"region": "it5"}, "region", "is not a NUTS-2 code"),
        ({"kind": "spaceship"}, "kind", "Input should be"),
        ({"limit": "0"}, "limit", "greater than or equal to 1"),
    ],
)
async def test_bad_filters_are_422_naming_the_field(
    app: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory, params: dict[str, str], field: str, reason: str
) -> None:
    _, client = app
    r = await client.get(f"{API}/resources", params=params, headers={"Authorization": token("aoife", "student")})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"].endswith(field) and reason in e["reason"] for e in r.json()["errors"]), r.json()


async def test_the_partners_route_shows_the_last_heartbeat(
    app: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    """Bologna (configured) never sent an event; a heartbeat at 12:00 keeps it fresh for 600 s."""
    a, client = app
    clock = Clock(datetime(2027, 2, 26, 12, 10, tzinfo=UTC))
    a.state.facilities.clock = clock
    assert await a.state.facilities_network.heartbeat("ITH5", T0) is True
    who = {"Authorization": token("aoife", "student")}
    (p,) = (await client.get(f"{API}/partners", headers=who)).json()
    assert (p["last_event_at"], p["last_heartbeat_at"], p["stale"]) == (None, T0, False)
    clock.now = datetime(2027, 2, 26, 12, 10, 0, 1, tzinfo=UTC)
    (p,) = (await client.get(f"{API}/partners", headers=who)).json()
    assert p["stale"] is True


async def test_a_rebuild_folds_the_catalogue_again_from_the_replicas(
    catalogue: NetworkCatalogue, tmp_path: Path
) -> None:
    """Bologna's replica holds two listings of one lab (renamed at 13:00) and a desk; Paris's replica an
    event that says it is Bologna's (skipped); this region's own topic is not a partner's. The projection
    lost the desk: the rebuild clears both collections (2 entries and 1 partner) and refolds 3 events."""
    bus = SqliteBus(tmp_path / "events.sqlite")
    try:
        renamed = listed("blq-lab-1", name="Lab (renamed)", time="2027-02-26T13:00:00+00:00")
        await bus.publish(REPLICA, [listed("blq-lab-1"), renamed, listed("blq-desk-1", name="Desk", kind="hot_desk")])
        await bus.publish("fr10.facilities.events", [listed("blq-lab-2")])  # says ITH5 on Paris's replica
        await bus.publish(LOCAL, [listed("cork-lab-1", region="IE05")])
        for e in (listed("blq-lab-1"), renamed):
            await catalogue.handle(e, partner())
        await catalogue.heartbeat("ITH5", HEARTBEAT_AT)
        report = await catalogue.rebuild(bus, LOCAL)
    finally:
        await bus.close()
    assert report == {"cleared": 2, "events": {"ITH5": 3}, "resources": 2}
    names = {d["_id"]: d["resource_name"] for d in await catalogue.store.find(RESOURCES, {})}
    assert names == {"ITH5:blq-desk-1": "Desk", "ITH5:blq-lab-1": "Lab (renamed)"}
    assert await catalogue.signs_of_life() == {"ITH5": ("2027-02-26T13:00:00+00:00", HEARTBEAT_AT)}
