"""A desk restricted to a council's members, through the facilities API of the embedded stack: refused
to a non-member with the policy named, accepted once MemberJoined has been consumed from the bus, refused
again after MemberLeft; bad input for the policy field is a 422 that names it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.settings import RuntimeSettings
from contracts import councils as cev
from instance.app import create_app
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, pid, weekday_slots

API = "/api/v1/facilities"
CORK = "council-cork"
SITE = "ork-rubicon"  # a seeded site in IE05


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):
        yield c


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    return body


async def publish(settings: RuntimeSettings, event: CloudEvent) -> None:
    """What the councils service's relay does: put the event on councils.events of the embedded log."""
    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:
        await bus.publish(settings.topic(cev.TOPIC), [event])
    finally:
        await bus.close()


def membership(kind: str, person: str) -> CloudEvent:
    common = {"council_id": CORK, "member_id": "m-carol", "person": person, "constituency": "sme", "region": "IE05"}
    data: cev.MemberJoined | cev.MemberLeft
    if kind == "joined":
        data = cev.MemberJoined(
            **common, organisation="IE05:acme", position="member", joined_at="2026-10-01T00:00:00.000000Z"
        )
    else:
        data = cev.MemberLeft(**common, left_at="2026-11-01T00:00:00.000000Z", reason="resigned")
    return make_event(data, key=CORK, region="IE05", source="/regions/IE05/councils")


async def test_a_council_desk_admits_members_only_as_membership_events_arrive(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    admin = {"Authorization": token("admin", "region_admin")}
    carol = {"Authorization": token("carol", "sme_member", org="acme")}
    desk = {"site_id": SITE, "name": "Council desk", "kind": "hot_desk", "policy": {"member_of_councils": [CORK]}}
    r = await client.post(f"{API}/resources", json=desk, headers=admin)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["policy"]["member_of_councils"] == [CORK]
    slots = [{"resource_id": rid, "start": s.isoformat(), "end": e.isoformat()} for s, e in weekday_slots(3)]

    refused = problem(await client.post(f"{API}/bookings", json=slots[0], headers=carol), 403)
    assert "member_of_councils" in refused["detail"] and CORK in refused["detail"]
    assert refused["member_of_councils"] == [CORK]

    await publish(settings, membership("joined", pid("carol")))
    booked: list[httpx.Response] = []

    async def accepted() -> bool:
        r = await client.post(f"{API}/bookings", json=slots[0], headers=carol)
        assert r.status_code in (201, 403), r.text
        booked.append(r)
        return r.status_code == 201

    await eventually(accepted, what="the booking accepted once MemberJoined was consumed")
    assert booked[-1].json()["person"] == pid("carol")

    await publish(settings, membership("left", pid("carol")))

    async def refused_again() -> bool:
        r = await client.post(f"{API}/bookings", json=slots[1], headers=carol)
        assert r.status_code in (201, 403), r.text
        if r.status_code == 201:  # consumed not yet: give the slot back and try the next one
            await client.post(f"{API}/bookings/{r.json()['id']}/cancel", headers=carol)
            return False
        return CORK in r.json()["detail"]

    await eventually(refused_again, what="the booking refused once MemberLeft was consumed")


async def test_a_membership_of_another_council_does_not_open_the_desk(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    admin = {"Authorization": token("admin", "region_admin")}
    dave = {"Authorization": token("dave", "academic")}

    async def listed(name: str, councils: list[str]) -> str:
        desk = {"site_id": SITE, "name": name, "kind": "hot_desk", "policy": {"member_of_councils": councils}}
        r = await client.post(f"{API}/resources", json=desk, headers=admin)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    bologna, cork, anyone = (
        await listed("Bologna desk", ["c-bo"]),
        await listed("Cork desk", [CORK]),
        await listed("Open desk", []),
    )
    s, e = weekday_slots(1)[0]
    slot = {"start": s.isoformat(), "end": e.isoformat()}
    assert (await client.post(f"{API}/bookings", json={**slot, "resource_id": anyone}, headers=dave)).status_code == 201
    await publish(settings, membership("joined", pid("dave")))  # a member of CORK, not of c-bo

    async def member_of_cork() -> bool:
        r = await client.post(f"{API}/bookings", json={**slot, "resource_id": cork}, headers=dave)
        return r.status_code == 201

    await eventually(member_of_cork, what="MemberJoined consumed")
    refused = problem(await client.post(f"{API}/bookings", json={**slot, "resource_id": bologna}, headers=dave), 403)
    assert refused["member_of_councils"] == ["c-bo"]


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("council-cork", "policy.member_of_councils"),  # a string, not a list
        (["council cork"], "policy.member_of_councils.0"),  # not an id
        ([""], "policy.member_of_councils.0"),
        (["c"] * 21, "policy.member_of_councils"),  # one more than the 20 allowed
        ([None], "policy.member_of_councils.0"),
    ],
)
async def test_bad_member_of_councils_is_a_422_naming_the_field(
    client: httpx.AsyncClient, token: TokenFactory, value: object, field: str
) -> None:
    admin = {"Authorization": token("admin", "region_admin")}
    desk = {"site_id": SITE, "name": "Desk", "kind": "hot_desk", "policy": {"member_of_councils": value}}
    body = problem(await client.post(f"{API}/resources", json=desk, headers=admin), 422)
    assert [e["field"] for e in body["errors"]] == [field]


async def test_twenty_councils_are_accepted(client: httpx.AsyncClient, token: TokenFactory) -> None:
    admin = {"Authorization": token("admin", "region_admin")}
    ids = [f"c-{n}" for n in range(20)]
    desk = {"site_id": SITE, "name": "Desk", "kind": "hot_desk", "policy": {"member_of_councils": ids}}
    r = await client.post(f"{API}/resources", json=desk, headers=admin)
    assert r.status_code == 201 and r.json()["policy"]["member_of_councils"] == ids
