"""Issue 14's done-when, end to end in the embedded stack with no event put on the log by hand: a desk
restricted to a council's members refuses a non-member with the reason, accepts her once the councils
service's own ``MemberJoined`` (an invitation accepted through its API) has reached facilities, and
refuses her again after her membership ends (``MemberLeft``). After that end no manager can approve her
old request, and her future bookings of the council's desks are withdrawn."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.settings import RuntimeSettings
from contracts import facilities as fev
from instance.app import create_app
from tests.component.test_councils_api import council
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, pid, read_all, weekday_slots

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


async def test_a_former_members_request_cannot_be_approved_and_her_future_bookings_are_withdrawn(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    """The security finding, replayed: a member books a desk that needs approval, resigns, and once her
    new bookings are refused a manager approves the old request. It must not become confirmed; and
    her bookings of the council's desks are withdrawn (published with the cause), not her open-desk one."""
    sec = {"Authorization": token("sec", "council_secretary")}
    admin = {"Authorization": token("admin", "region_admin")}
    carol = {"Authorization": token("carol", "sme_member", org="acme")}

    r = await client.post(f"{COUNCILS}/councils", json=council(), headers=sec)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]

    async def listed(name: str, policy: dict[str, object]) -> str:
        desk = {"site_id": SITE, "name": name, "kind": "hot_desk", "policy": policy}
        r = await client.post(f"{FACILITIES}/resources", json=desk, headers=admin)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    approved_desk = await listed("Council desk (approval)", {"member_of_councils": [cid], "requires_approval": True})
    council_desk = await listed("Council desk", {"member_of_councils": [cid]})
    open_desk = await listed("Open desk", {})
    slots = [{"start": s.isoformat(), "end": e.isoformat()} for s, e in weekday_slots(4)]

    invite = {"person": pid("carol"), "constituency": "sme", "display_name": "Carol", "organisation": "IE05:acme"}
    r = await client.post(f"{COUNCILS}/councils/{cid}/invitations", json=invite, headers=sec)
    assert r.status_code == 201, r.text
    r = await client.post(f"{COUNCILS}/councils/{cid}/requests/{r.json()['id']}/accept", json={}, headers=carol)
    assert r.status_code == 200, r.text
    member_id = r.json()["member_id"]

    made: dict[str, dict[str, str]] = {}

    async def requested() -> bool:
        r = await client.post(f"{FACILITIES}/bookings", json={**slots[0], "resource_id": approved_desk}, headers=carol)
        assert r.status_code in (201, 403), r.text
        if r.status_code == 201:
            made["request"] = r.json()
        return r.status_code == 201

    await eventually(requested, what="the desk open to Carol once MemberJoined reached facilities")
    assert made["request"]["status"] == "pending_approval"
    for name, rid, slot in (("council", council_desk, slots[1]), ("open", open_desk, slots[2])):
        r = await client.post(f"{FACILITIES}/bookings", json={**slot, "resource_id": rid}, headers=carol)
        assert r.status_code == 201 and r.json()["status"] == "confirmed", r.text
        made[name] = r.json()

    r = await client.post(
        f"{COUNCILS}/councils/{cid}/members/{member_id}/end", json={"reason": "resigned"}, headers=carol
    )
    assert r.status_code == 200, r.text

    async def refused_again() -> bool:
        r = await client.post(f"{FACILITIES}/bookings", json={**slots[3], "resource_id": council_desk}, headers=carol)
        assert r.status_code in (201, 403), r.text
        if r.status_code == 201:  # MemberLeft not consumed yet: give the slot back and try again
            await client.post(f"{FACILITIES}/bookings/{r.json()['id']}/cancel", headers=carol)
            return False
        return True

    await eventually(refused_again, what="the desk closed to Carol once MemberLeft reached facilities")

    request_id = made["request"]["id"]
    r = await client.post(f"{FACILITIES}/bookings/{request_id}/approve", headers=admin)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert request_id in r.json()["detail"]

    async def status(name: str) -> str:
        r = await client.get(f"{FACILITIES}/bookings/{made[name]['id']}", headers=carol)
        assert r.status_code == 200, r.text
        return str(r.json()["status"])

    async def withdrawn() -> bool:
        return (await status("request"), await status("council")) == ("cancelled", "cancelled")

    await eventually(withdrawn, what="Carol's council-desk bookings withdrawn after MemberLeft")
    assert await status("open") == "confirmed"

    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:

        async def published() -> list[dict[str, object]]:
            events = await read_all(bus, settings.topic(fev.TOPIC))
            return [e.data for e in events if e.type == fev.BookingCancelled.event_type()]

        async def both_published() -> bool:
            return len([d for d in await published() if d["cause"] == "membership_ended"]) == 2

        await eventually(both_published, what="the two withdrawals published on facilities.events")
        seen = {(d["booking_id"], d["reason"], d["cause"], d["cancelled_by"]) for d in await published()}
    finally:
        await bus.close()
    withdrawals = {x for x in seen if x[2] == "membership_ended"}
    assert withdrawals == {
        (
            made["council"]["id"],
            "cancelled",
            "membership_ended",
            "service:facilities",
        ),  # confirmed: usage gives it back
        (request_id, "rejected", "membership_ended", "service:facilities"),  # never confirmed: nothing to give back
    }
    assert made["open"]["id"] not in {x[0] for x in seen}  # her open-desk booking was not touched
