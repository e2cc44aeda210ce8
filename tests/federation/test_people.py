"""People across the network, over HTTP: each region's instance (gateway and services, its own broker
and FerretDB) has its own issuer (an OpenID Connect provider served by this test) and trusts the
other's. A person from IE05 books in ITH5 under ITH5's rules, and the booking reaches IE05 as ITH5's
event; with IE05 down (its broker and MirrorMaker stopped), ITH5 still serves its routes, bookings and
assessments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from clustergrowth.bus.kafka import KafkaBus
from clustergrowth.settings import TrustedIssuer
from instance.app import create_app
from services.mapping.domain.instrument import instrument
from tests.backends import free_port
from tests.component.test_federated_identity import PartnerIssuer
from tests.conftest import asgi_client
from tests.federation.conftest import Network, Region
from tests.helpers import eventually

pytestmark = [pytest.mark.integration, pytest.mark.fault]
GRANTS = {"student": ["student"], "staff": ["sme_member"]}


@pytest.fixture
async def issuers() -> AsyncIterator[dict[str, PartnerIssuer]]:
    port = free_port()
    outer = FastAPI()
    out = {}
    for code, realm in (("IE05", "mtu"), ("ITH5", "unibo")):
        out[code] = PartnerIssuer(base=f"http://127.0.0.1:{port}/realms/{realm}")
        out[code].rotate()
        outer.mount(f"/realms/{realm}", out[code].app())
    server = uvicorn.Server(uvicorn.Config(outer, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    yield out
    server.should_exit = True
    await task


def instance(region: Region, partner: Region, issuers: dict[str, PartnerIssuer], tmp_path: Path) -> FastAPI:
    settings = region.settings(
        tmp_path,
        auth_issuer=issuers[region.code].base,
        auth_jwks_min_refresh_s=0,
        auth_partners=[TrustedIssuer(issuer=issuers[partner.code].base, region=partner.code, roles=GRANTS)],
    )
    return create_app(settings)


@pytest.fixture
async def ith5(network: Network, issuers: dict[str, PartnerIssuer], tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(instance(network.ith5, network.ie05, issuers, tmp_path)):
        yield c


def slot(days_ahead: int, hour: int) -> dict[str, str]:
    d = datetime.now(UTC).date() + timedelta(days=days_ahead)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    start = datetime(d.year, d.month, d.day, hour, tzinfo=UTC)
    end = start + timedelta(hours=1)
    return {"resource_id": "blq-tecnopolo-desk-3", "start": start.isoformat(), "end": end.isoformat()}


def token(issuers: dict[str, PartnerIssuer], code: str, sub: str, *roles: str, **claims: str) -> dict[str, str]:
    return issuers[code].token(sub, *roles, region=code, **claims)


async def test_a_person_from_ie05_books_in_ith5_with_ith5s_rules(
    network: Network, issuers: dict[str, PartnerIssuer], ith5: httpx.AsyncClient
) -> None:
    aoife = token(issuers, "IE05", "aoife", "student")
    r = await ith5.post("/api/v1/facilities/bookings", json=slot(3, 10), headers=aoife)
    assert r.status_code == 201, r.text
    booking = r.json()
    assert booking["person_region"] == "IE05"
    # ITH5's rules, not IE05's: its booking horizon (30 days) refuses day 31 for her as for anyone
    r = await ith5.post("/api/v1/facilities/bookings", json=slot(31, 10), headers=aoife)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in r.json()["errors"]] == ["start"]
    # the booking is ITH5's event: it reaches IE05 on ith5.facilities.events, marked ITH5
    ie05_bus = KafkaBus(network.ie05.bootstrap)

    async def arrived() -> bool:
        events = [e async for _, e in ie05_bus.read(["ith5.facilities.events"])]
        return any(e.data.get("booking_id") == booking["id"] and e.region == "ITH5" for e in events)

    await eventually(arrived, 180, "ITH5's booking in IE05's cluster")


async def test_with_ie05_down_ith5_serves_its_routes_bookings_and_assessments(
    network: Network, issuers: dict[str, PartnerIssuer], ith5: httpx.AsyncClient
) -> None:
    network.mirrormaker.stop()
    network.ie05.kafka.stop()
    try:
        giulia = token(issuers, "ITH5", "giulia", "student")
        assert (await ith5.get("/api/v1/facilities/resources", headers=giulia)).status_code == 200
        r = await ith5.post("/api/v1/facilities/bookings", json=slot(4, 11), headers=giulia)
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
        r = await ith5.post("/api/v1/mapping/smes", json=sme, headers=owner)
        assert r.status_code == 201, r.text
        answers = dict.fromkeys(instrument("1").question_ids, 3)
        r = await ith5.post(
            f"/api/v1/mapping/smes/{r.json()['id']}/assessments",
            json={"instrument_version": "1", "answers": answers},
            headers=owner,
        )
        assert r.status_code == 201, r.text
    finally:
        await asyncio.to_thread(network.ie05.kafka.start)
        await asyncio.to_thread(network.mirrormaker.start)
