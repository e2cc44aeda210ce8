"""A council's dashboard in the embedded stack: the councils service with the dashboards attached the way
the integrator will attach them (its router included, ``attach(component)`` called), beside the real
mapping, facilities and matching services. The dashboard changes when an SME of its region is assessed
(mapping API), a desk at a university site is booked (facilities API) and an engagement completes; a
replay of the log from zero rebuilds the same dashboard. Who may read it, the SVG, and an unknown indicator."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from clustergrowth.auth import Principal
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.events import EventData, make_event
from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.sqlite import SqliteStore
from clustergrowth.web import ServiceComponent
from contracts import councils as cev
from contracts import matching as xev
from gateway.app import GatewaySettings, embedded_app
from instance.registry import specs
from services.councils import dashboard
from services.councils.api import ROUTERS, combined
from services.councils.app import CouncilsService
from services.councils.dashboard.api import load
from services.councils.dashboard.projection import quarter
from tests.component.test_mapping_api import answers, sme
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, pid, weekday_slots

BOARD = "/api/v1/councils/councils/{}/dashboard"
COUNCIL = "council-test-cork"


class CouncilsWithDashboards(CouncilsService):
    """The councils service as it will be once the dashboards are attached (one line in its PARTS)."""

    router = combined([*ROUTERS, dashboard.router])

    def __init__(self, settings: RuntimeSettings, *args: Any, **kw: Any) -> None:
        super().__init__(settings, *args, **kw)
        dashboard.attach(self)


@pytest.fixture
def bare(settings: RuntimeSettings) -> RuntimeSettings:
    return settings.model_copy(update={"seed_demo": False})


@pytest.fixture
async def client(bare: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    components: list[ServiceComponent] = [
        CouncilsWithDashboards(bare) if s.name == "councils" else s.component(bare) for s in specs()
    ]
    async for c in asgi_client(embedded_app(bare, GatewaySettings(rate_limits=False), components)):
        yield c


async def publish(settings: RuntimeSettings, topic: str, data: EventData, key: str) -> None:
    """What another service's relay does: its event on its topic of the embedded log."""
    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:
        await bus.publish(settings.topic(topic), [make_event(data, key=key, region="IE05", source="/test")])
    finally:
        await bus.close()


async def board_when(client: httpx.AsyncClient, headers: dict[str, str], check: Any, what: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def ready() -> bool:
        r = await client.get(BOARD.format(COUNCIL), headers=headers)
        if r.status_code != 200:
            return False
        seen.update(r.json())
        return bool(check(seen))

    await eventually(ready, what=what)
    return seen


def row(board: dict[str, Any], q: str) -> dict[str, Any]:
    return next((r for r in board["activity"] if r["quarter"] == q), {})


def value(board: dict[str, Any], key: str, q: str) -> int:
    return next((r["value"] for r in board["indicators"][key]["by_quarter"] if r["quarter"] == q), 0)


async def test_the_dashboard_follows_the_other_services_and_a_replay_rebuilds_it(
    client: httpx.AsyncClient, bare: RuntimeSettings, token: TokenFactory
) -> None:
    analyst = {"Authorization": token("ana", "analyst")}
    sam = {"Authorization": token("sam", "sme_member", org="acme")}
    admin = {"Authorization": token("adm", "region_admin")}
    assert (await client.get(BOARD.format(COUNCIL), headers=analyst)).status_code == 404  # not formed yet
    formed = cev.CouncilFormed(
        council_id=COUNCIL,
        city="Cork",
        region="IE05",
        host_organisation="IE05:MTU",
        themes=["finance"],
        formed_at="2026-01-05T00:00:00.000000Z",
    )
    await publish(bare, cev.TOPIC, formed, COUNCIL)
    empty = await board_when(client, analyst, lambda b: True, "CouncilFormed consumed")
    assert empty["quarters"] == [] and empty["region"] == "IE05"

    # an SME of the region (registered as a member of the Cork council) is assessed through mapping
    r = await client.post("/api/v1/mapping/smes", json=sme(councils=["Cork"]), headers=sam)
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/mapping/smes/{r.json()['id']}/assessments",
        json={"instrument_version": "1", "answers": answers(3)},
        headers=sam,
    )
    assert r.status_code == 201, r.text
    q = quarter(r.json()["assessed_at"])
    board = await board_when(client, analyst, lambda b: row(b, q).get("smes_assessed") == 1, "SMEAssessed")
    assert row(board, q)["smes_of_council_assessed"] == 1 and len(row(board, q)["region_top_needs"]) == 3

    # the SME's person books an access point at a university site through facilities
    site = {
        "name": "MTU Bishopstown",
        "kind": "university",
        "city": "Cork",
        "address": "Rossa Ave",
        "timezone": "UTC",
        "opening_hours": {d: [{"open": "08:00", "close": "18:00"}] for d in ("mon", "tue", "wed", "thu", "fri")},
    }
    site_id = (await client.post("/api/v1/facilities/sites", json=site, headers=admin)).json()["id"]
    point = {"site_id": site_id, "name": "Access point", "kind": "university_access_point"}
    rid = (await client.post("/api/v1/facilities/resources", json=point, headers=admin)).json()["id"]
    start, end = weekday_slots(1)[0]
    slot = {"resource_id": rid, "start": start.isoformat(), "end": end.isoformat()}
    assert (await client.post("/api/v1/facilities/bookings", json=slot, headers=sam)).status_code == 201
    bq = quarter(start.isoformat())
    board = await board_when(
        client, analyst, lambda b: value(b, "sme_university", bq) >= 1, "a booking by an SME at a university site"
    )
    assert row(board, bq)["bookings"]["by_smes_at_university_sites"] == 1

    # an engagement with a candidate from another region completes (matching's event)
    done = xev.EngagementCompleted(
        match_id="m-1",
        round_id="r-1",
        challenge_id="ch-1",
        candidate="stu",
        programme="consultancy",
        region="IE05",
        candidate_region="ITH5",
        completed_at=start.isoformat(),
        milestones=2,
        milestones_done=2,
    )
    await publish(bare, xev.TOPIC, done, "m-1")
    before = value(board, "sme_university", bq)
    board = await board_when(
        client, analyst, lambda b: row(b, bq).get("engagements_completed") == 1, "EngagementCompleted"
    )
    assert value(board, "sme_university", bq) == before + 1
    assert value(board, "cluster_cluster", bq) == 1  # the candidate is from ITH5

    # replaying the log from zero into an empty store gives the same dashboard
    bus, fresh = SqliteBus(bare.data_dir / "events.sqlite"), SqliteStore(bare.data_dir / "replayed.sqlite")
    try:
        await dashboard.rebuild(fresh, bus, [bare.topic(t) for t in dashboard.TOPICS])
        assert await load(fresh, COUNCIL, Principal("ana", frozenset({"analyst"}), "IE05"), "IE05") == board
    finally:
        await bus.close()
        await fresh.close()

    # the chart of an indicator
    r = await client.get(BOARD.format(COUNCIL) + "/sme_university.svg", headers=analyst)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    texts = [t.text for t in ET.fromstring(r.content).iter("{http://www.w3.org/2000/svg}text")]
    assert bq in texts and "interactions per quarter" in texts and "engagements completed" in texts


async def test_members_the_regions_staff_and_analysts_read_it_others_get_404(
    client: httpx.AsyncClient, bare: RuntimeSettings, token: TokenFactory
) -> None:
    formed = cev.CouncilFormed(
        council_id=COUNCIL,
        city="Cork",
        region="IE05",
        host_organisation="IE05:MTU",
        themes=[],
        formed_at="2026-01-05T00:00:00Z",
    )
    await publish(bare, cev.TOPIC, formed, COUNCIL)
    joined = cev.MemberJoined(
        council_id=COUNCIL,
        member_id="mm-1",
        person=pid("mary"),
        organisation=None,
        constituency="university",
        position="member",
        region="IE05",
        joined_at="2026-01-10T00:00:00Z",
    )
    await publish(bare, cev.TOPIC, joined, COUNCIL)
    mary = {"Authorization": token("mary", "academic")}
    await board_when(client, mary, lambda b: True, "MemberJoined consumed")
    for who, status in [
        (token("ana", "analyst", region="FR10"), 200),
        (token("sec", "council_secretary"), 200),
        (token("eve", "academic"), 404),
        (token("fm", "facility_manager", org="MTU"), 404),
        (token("sec", "council_secretary", region="ITH5"), 404),  # staff of another region
    ]:
        r = await client.get(BOARD.format(COUNCIL), headers={"Authorization": who})
        assert r.status_code == status, (who, r.text)
        if status == 404:
            assert r.headers["content-type"] == "application/problem+json" and COUNCIL in r.json()["detail"]
    r = await client.get(
        BOARD.format(COUNCIL) + "/sme_university.svg", headers={"Authorization": token("eve", "academic")}
    )
    assert r.status_code == 404
    assert (await client.get(BOARD.format(COUNCIL))).status_code == 401
    r = await client.get(BOARD.format("council-nowhere"), headers=mary)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = await client.get(BOARD.format(COUNCIL) + "/happiness.svg", headers=mary)
    assert r.status_code == 404 and r.json()["indicators"] == [
        "sme_university",
        "cluster_cluster",
        "cluster_specific",
        "national_impact",
    ]
