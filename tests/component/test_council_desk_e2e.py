"""Issue 14's done-when, end to end in the embedded stack with no event put on the log by hand: a desk
restricted to a council's members refuses a non-member with the reason, accepts her once the councils
service's own ``MemberJoined`` (an invitation accepted through its API) has reached facilities, and
refuses her again after her membership ends (``MemberLeft``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.component.test_councils_api import council
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, pid, weekday_slots

FACILITIES = "/api/v1/facilities"
COUNCILS = "/api/v1/councils"
SITE = "ork-rubicon"  # a seeded site in IE05, the test region


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):
        yield c


async def test_a_council_desk_follows_the_membership_made_in_the_councils_service(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    sec = {"Authorization": token("sec", "council_secretary")}
    admin = {"Authorization": token("admin", "region_admin")}
    carol = {"Authorization": token("carol", "sme_member", org="acme")}

    r = await client.post(f"{COUNCILS}/councils", json=council(), headers=sec)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    desk = {"site_id": SITE, "name": "Council desk", "kind": "hot_desk", "policy": {"member_of_councils": [cid]}}
    r = await client.post(f"{FACILITIES}/resources", json=desk, headers=admin)
    assert r.status_code == 201, r.text
    slots = [{"resource_id": r.json()["id"], "start": s.isoformat(), "end": e.isoformat()} for s, e in weekday_slots(3)]

    refused = await client.post(f"{FACILITIES}/bookings", json=slots[0], headers=carol)
    assert refused.status_code == 403, refused.text
    assert refused.json()["member_of_councils"] == [cid]
    assert "member_of_councils" in refused.json()["detail"] and cid in refused.json()["detail"]

    invite = {"person": pid("carol"), "constituency": "sme", "display_name": "Carol", "organisation": "IE05:acme"}
    r = await client.post(f"{COUNCILS}/councils/{cid}/invitations", json=invite, headers=sec)
    assert r.status_code == 201, r.text
    r = await client.post(f"{COUNCILS}/councils/{cid}/requests/{r.json()['id']}/accept", json={}, headers=carol)
    assert r.status_code == 200, r.text
    member_id = r.json()["member_id"]

    async def accepted() -> bool:
        r = await client.post(f"{FACILITIES}/bookings", json=slots[1], headers=carol)
        assert r.status_code in (201, 403), r.text
        return r.status_code == 201

    await eventually(accepted, what="the desk open to Carol once MemberJoined reached facilities")

    end = f"{COUNCILS}/councils/{cid}/members/{member_id}/end"
    r = await client.post(end, json={"reason": "resigned"}, headers=carol)
    assert r.status_code == 200, r.text

    async def refused_again() -> bool:
        r = await client.post(f"{FACILITIES}/bookings", json=slots[2], headers=carol)
        assert r.status_code in (201, 403), r.text
        if r.status_code == 201:  # MemberLeft not consumed yet: give the slot back and try again
            await client.post(f"{FACILITIES}/bookings/{r.json()['id']}/cancel", headers=carol)
            return False
        return bool(r.json()["member_of_councils"] == [cid])

    await eventually(refused_again, what="the desk closed to Carol once MemberLeft reached facilities")
