"""People across the network, over HTTP: each region's instance (gateway and services, its own broker
and FerretDB) has its own issuer (an OpenID Connect provider served by this test) and trusts the
other's. A person from IE05 books in ITH5 under ITH5's rules, and the booking reaches IE05 as ITH5's
event. (ITH5 serving over HTTP while IE05 is down: test_two_regions.py, in the outage it makes.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from clustergrowth.bus.kafka import KafkaBus
from tests.component.test_federated_identity import PartnerIssuer
from tests.conftest import asgi_client
from tests.federation.conftest import Network, instance, token
from tests.helpers import eventually

pytestmark = [pytest.mark.integration, pytest.mark.fault]


@pytest.fixture
async def ith5(network: Network, issuers: dict[str, PartnerIssuer], tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(instance(network.ith5, network.ie05, issuers, tmp_path)):
        yield c


def slot(days_ahead: int, hour: int) -> dict[str, str]:
    """A one-hour weekday booking of a Bologna desk."""
    d = datetime.now(UTC).date() + timedelta(days=days_ahead)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    start = datetime(d.year, d.month, d.day, hour, tzinfo=UTC)
    end = start + timedelta(hours=1)
    return {"resource_id": "blq-tecnopolo-desk-3", "start": start.isoformat(), "end": end.isoformat()}


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
