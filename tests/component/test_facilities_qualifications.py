"""Expiring qualifications through the embedded gateway: equipment that asks for a training refuses a
booking whose slot ends after the person's training expires (422 on ``end`` naming the date), and a
manager's approval re-checks it against the holder's training as known then (409, stays pending).

Time is the service's injected clock, fixed at Monday 2 March 2026 08:00 UTC; the training expires on
Wednesday 4 March 2026 at 12:00 UTC (Cork is on UTC in March; the site opens 08:00-20:00)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.component.facilities_fixtures import API
from tests.component.facilities_fixtures import alice as alice  # a shared fixture
from tests.component.facilities_fixtures import app as app  # a shared fixture
from tests.component.facilities_fixtures import client as client  # a shared fixture
from tests.component.facilities_fixtures import manager as manager  # a shared fixture
from tests.conftest import TokenFactory
from tests.helpers import pid

EXPIRES = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
EXPIRES_TEXT = "2026-03-04T12:00:00.000000Z"  # the runtime's timestamp format, written by hand
SECOND = timedelta(seconds=1)


async def grant(client: httpx.AsyncClient, manager: dict[str, str], until: datetime) -> None:
    body = {"person": pid("alice"), "training": "laser-safety", "valid_until": until.isoformat()}
    r = await client.post(f"{API}/trainings", json=body, headers=manager)
    assert r.status_code == 201, r.text


def laser(start: datetime, end: datetime, resource: str = "ork-rubicon-eq-1") -> dict[str, Any]:
    return {"resource_id": resource, "start": start.isoformat(), "end": end.isoformat()}


@pytest.mark.parametrize(
    ("end", "status"),
    [
        pytest.param(EXPIRES - SECOND, 201, id="ends one second before expiry"),
        pytest.param(EXPIRES, 201, id="ends exactly at expiry"),
        pytest.param(EXPIRES + SECOND, 422, id="ends one second after expiry"),
    ],
)
async def test_a_slot_must_end_by_the_time_the_training_expires(
    client: httpx.AsyncClient, alice: dict[str, str], manager: dict[str, str], end: datetime, status: int
) -> None:
    await grant(client, manager, EXPIRES)
    r = await client.post(f"{API}/bookings", json=laser(EXPIRES - timedelta(hours=1), end), headers=alice)
    assert r.status_code == status, r.text
    mine = (await client.get(f"{API}/bookings/mine", headers=alice)).json()
    if status == 201:
        assert [b["id"] for b in mine] == [r.json()["id"]]
        return
    p = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert p["errors"] == [{"field": "end", "reason": f"after your training 'laser-safety' expires at {EXPIRES_TEXT}"}]
    assert (p["required_training"], p["valid_until"]) == ("laser-safety", EXPIRES_TEXT)
    assert mine == []


async def test_no_training_is_still_403_and_a_renewal_moves_the_limit(
    client: httpx.AsyncClient, alice: dict[str, str], manager: dict[str, str]
) -> None:
    late = laser(EXPIRES, EXPIRES + timedelta(hours=2))
    r = await client.post(f"{API}/bookings", json=late, headers=alice)
    assert (r.status_code, r.json()["required_training"]) == (403, "laser-safety")
    await grant(client, manager, EXPIRES)
    assert (await client.post(f"{API}/bookings", json=late, headers=alice)).status_code == 422
    await grant(client, manager, EXPIRES + timedelta(hours=2))  # renewed: the same grant, a later expiry
    assert (await client.post(f"{API}/bookings", json=late, headers=alice)).status_code == 201


async def test_the_later_of_an_organisation_and_a_region_wide_grant_counts(
    client: httpx.AsyncClient, alice: dict[str, str], manager: dict[str, str], token: TokenFactory
) -> None:
    admin = {"Authorization": token("adm", "region_admin")}
    await grant(client, manager, EXPIRES)
    await grant(client, admin, EXPIRES + timedelta(hours=1))
    r = await client.post(f"{API}/bookings", json=laser(EXPIRES, EXPIRES + timedelta(hours=1)), headers=alice)
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{API}/bookings",
        json=laser(EXPIRES + timedelta(hours=1), EXPIRES + timedelta(hours=1, seconds=1)),
        headers=alice,
    )
    assert r.status_code == 422 and r.json()["valid_until"] == "2026-03-04T13:00:00.000000Z"


async def test_approval_rechecks_the_expiry_against_the_slot_end(
    client: httpx.AsyncClient, alice: dict[str, str], manager: dict[str, str]
) -> None:
    body = {
        "site_id": "ork-rubicon",
        "name": "Supervised lathe",
        "kind": "equipment",
        "policy": {"required_training": "laser-safety", "requires_approval": True},
    }
    r = await client.post(f"{API}/resources", json=body, headers=manager)
    assert r.status_code == 201, r.text
    lathe = r.json()["id"]
    await grant(client, manager, EXPIRES + timedelta(days=1))
    b = (await client.post(f"{API}/bookings", json=laser(EXPIRES, EXPIRES + SECOND, lathe), headers=alice)).json()
    assert b["status"] == "pending_approval"
    await grant(client, manager, EXPIRES)  # corrected: the training expires as the slot starts
    r = await client.post(f"{API}/bookings/{b['id']}/approve", headers=manager)
    assert r.status_code == 409 and EXPIRES_TEXT in r.json()["detail"], r.text
    assert (await client.get(f"{API}/bookings/{b['id']}", headers=alice)).json()["status"] == "pending_approval"
    await grant(client, manager, EXPIRES + SECOND)  # ends exactly at expiry: approved
    r = await client.post(f"{API}/bookings/{b['id']}/approve", headers=manager)
    assert (r.status_code, r.json()["status"]) == (200, "confirmed")


class ReadCounting:
    """The service's store, noting the collection of every ``find`` (everything else passes through)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.finds = inner, list[str]()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def find(self, collection: str, *args: Any, **kwargs: Any) -> Any:
        self.finds.append(collection)
        return await self.inner.find(collection, *args, **kwargs)


async def test_trainings_are_read_only_for_a_resource_that_asks_for_one(
    app: FastAPI, client: httpx.AsyncClient, alice: dict[str, str], manager: dict[str, str]
) -> None:
    await grant(client, manager, EXPIRES)
    f = app.state.facilities
    f.store = counting = ReadCounting(f.store)
    desk = laser(EXPIRES - timedelta(hours=2), EXPIRES - timedelta(hours=1), "ork-rubicon-desk-1")
    assert (await client.post(f"{API}/bookings", json=desk, headers=alice)).status_code == 201
    assert counting.finds.count("trainings") == 0  # a hot desk asks for no training
    gated = laser(EXPIRES - timedelta(hours=1), EXPIRES)
    assert (await client.post(f"{API}/bookings", json=gated, headers=alice)).status_code == 201
    assert counting.finds.count("trainings") == 1  # the laser cutter does: her grants, read once
