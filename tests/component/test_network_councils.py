"""Councils across the network (issue 18): one instance forms only its region's councils; partners'
councils and the initiatives they lead with one of ours as co-sponsor arrive as replicated events and are
shown read-only. The demo's expected values come from the seed's table (services/councils/seed.py):
Cork (IE05) is the only council of this region; Bologna (ITH5) names Cork as partner of its initiative,
Málaga's names Alcalá, Istanbul's names Málaga, Alcalá's and Paris's name none."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clustergrowth.auth import person_id
from clustergrowth.bus.federation import Origin
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.context import public
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.inbox import APPLIED
from clustergrowth.settings import DEV_ISSUER, RuntimeSettings
from clustergrowth.store.sqlite import SqliteStore
from contracts import councils as cev
from instance.app import create_app
from services.councils import network
from services.councils.handlers.context import Councils
from services.councils.seed import seed_demo
from services.councils.wire import InitiativeOut
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import applied, eventually

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
    assert doc[APPLIED] == applied(launched.id, proposed.id)  # the launch's second delivery recorded no second effect
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


# A co-sponsor's answer travels back to the lead region -------------------------------------------------------


async def _councils_events(settings: RuntimeSettings, name: str) -> list[CloudEvent]:
    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:
        return [e async for _, e in bus.read([LOCAL]) if e.name == name]
    finally:
        await bus.close()


async def test_cork_confirms_and_withdraws_its_co_sponsorship_of_bolognas_initiative(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    staff = {"Authorization": token("rita", "region_admin")}  # IE05's staff manage every council of IE05
    url = f"{API}/councils/council-cork/partner-initiatives/ITH5/ini-bologna-1/answer"

    async def launched() -> list[dict[str, Any]]:
        return list((await client.get(f"{API}/councils/council-cork/partner-initiatives", headers=staff)).json())

    await eventually(lambda: _state_is(launched, "active"), 30, "Bologna's initiative launched")
    assert (await launched())[0]["answer"] is None
    r = await client.put(url, json={"answer": "confirmed"}, headers=staff)
    assert r.status_code == 200, r.text
    rita = person_id(DEV_ISSUER, "rita")
    assert {k: r.json()[k] for k in ("initiative_id", "region", "answer", "answered_by")} == {
        "initiative_id": "ini-bologna-1",
        "region": "ITH5",
        "answer": "confirmed",
        "answered_by": rita,
    }
    assert (await client.put(url, json={"answer": "confirmed"}, headers=staff)).status_code == 200  # again: no event

    async def published(name: str) -> list[CloudEvent]:
        for _ in range(100):
            found = await _councils_events(settings, name)
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {name} on {LOCAL}")

    (confirmed,) = await published("CoSponsorshipConfirmed")
    assert confirmed.region == "IE05" and confirmed.source == "/regions/IE05/councils"
    assert {k: v for k, v in confirmed.data.items() if k != "confirmed_at"} == {
        "initiative_id": "ini-bologna-1",
        "lead_council_id": "council-bologna",
        "lead_region": "ITH5",
        "council_id": "council-cork",
        "region": "IE05",
        "person": rita,
    }
    r = await client.put(url, json={"answer": "withdrawn"}, headers=staff)
    assert r.status_code == 200 and r.json()["answer"] == "withdrawn"
    (withdrawn,) = await published("CoSponsorshipWithdrawn")
    assert withdrawn.data["withdrawn_at"] >= confirmed.data["confirmed_at"]
    await asyncio.sleep(0.2)  # the relay had time to publish a second confirmation, were there one
    assert len(await _councils_events(settings, "CoSponsorshipConfirmed")) == 1
    assert (await launched())[0]["answer"] == "withdrawn"


async def test_who_may_answer_and_what_is_refused(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    staff = {"Authorization": token("rita", "region_admin")}
    base = f"{API}/councils/council-cork/partner-initiatives"
    ok = {"answer": "confirmed"}
    student = {"Authorization": token("ana", "student")}
    assert (await client.put(f"{base}/ITH5/ini-bologna-1/answer", json=ok, headers=student)).status_code == 403
    not_named = await client.put(f"{base}/ES61/ini-malaga-1/answer", json=ok, headers=staff)  # names Alcalá
    assert not_named.status_code == 404
    no_council = await client.put(f"{API}/councils/council-nowhere/partner-initiatives/ITH5/i/answer", json=ok,
                                  headers=staff)  # fmt: skip
    assert no_council.status_code == 404
    for region, body, field in (
        ("IE05", ok, "region"),  # this region: its own initiatives are not answered over the network
        ("it5x", ok, "region"),
        ("ITH5", {"answer": "maybe"}, "answer"),
        ("ITH5", {"answer": "confirmed", "by": "me"}, "by"),
    ):
        r = await client.put(f"{base}/{region}/ini-bologna-1/answer", json=body, headers=staff)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
        assert [e["field"] for e in r.json()["errors"]] == [field], r.json()
    assert not await _councils_events(settings, "CoSponsorshipConfirmed")


def answer(
    kind: type[cev._CoSponsorship], at: str, *, region: str = "ITH5", council: str = "council-bologna", **over: Any
) -> CloudEvent:
    """Bologna's (ITH5) answer to Cork's initiative ini-cork-1, which names council-bologna as co-sponsor."""
    at_field = "confirmed_at" if kind is cev.CoSponsorshipConfirmed else "withdrawn_at"
    fields = {
        "initiative_id": "ini-cork-1",
        "lead_council_id": "council-cork",
        "lead_region": "IE05",
        "council_id": council,
        "region": region,
        "person": "p-bologna-secretary",
        at_field: at,
        **over,
    }
    return make_event(kind(**fields), key="x", region=region, source=f"/regions/{region}/councils")


async def cork_initiative(store: SqliteStore) -> dict[str, Any]:
    """Cork's seeded initiative: Bologna (ITH5) its co-sponsor, as the seed names it."""
    if await store.get("initiatives", "ini-cork-1") is None:
        await seed_demo(Councils(store, "IE05"))
    doc = await store.get("initiatives", "ini-cork-1")
    assert doc is not None
    (sponsor,) = doc["co_sponsors"]
    return dict(sponsor)


async def test_the_lead_region_shows_the_latest_answer_once(store: SqliteStore) -> None:
    assert (await cork_initiative(store))["council_id"] == "council-bologna"
    withdrawn = answer(cev.CoSponsorshipWithdrawn, "2027-02-01T10:00:00Z")
    older = answer(cev.CoSponsorshipConfirmed, "2027-01-01T10:00:00Z")
    for e in (withdrawn, older, withdrawn):  # an older confirmation arriving late; the withdrawal redelivered
        await network.handle(store, "IE05", e, PARTNER)
    sponsor = await cork_initiative(store)
    assert {k: sponsor.get(k) for k in ("confirmed", "answer", "answered_by", "answered_at")} == {
        "confirmed": False,
        "answer": "withdrawn",
        "answered_by": "p-bologna-secretary",
        "answered_at": "2027-02-01T10:00:00Z",
    }
    version = (await store.get("initiatives", "ini-cork-1") or {})["version"]
    again = answer(cev.CoSponsorshipConfirmed, "2027-02-01T10:00:01Z")  # a second later: newer
    await network.handle(store, "IE05", again, PARTNER)
    await network.handle(store, "IE05", again, PARTNER)
    sponsor = await cork_initiative(store)
    assert (sponsor["confirmed"], sponsor["answer"], sponsor["answered_at"]) == (
        True,
        "confirmed",
        again.data["confirmed_at"],
    )
    assert (await store.get("initiatives", "ini-cork-1") or {})[
        "version"
    ] == version + 1  # the redelivery wrote nothing
    r = initiative_out(await store.get("initiatives", "ini-cork-1"))
    assert r["co_sponsors"] == [
        {
            "council_id": "council-bologna",
            "region": "ITH5",
            "confirmed": True,
            "answer": "confirmed",
            "answered_by": "p-bologna-secretary",
            "answered_at": "2027-02-01T10:00:01Z",
        }
    ]


def initiative_out(doc: dict[str, Any] | None) -> dict[str, Any]:
    return InitiativeOut.model_validate(public(doc or {})).model_dump()


async def test_an_answer_counts_only_from_the_co_sponsors_region_about_our_initiative(store: SqliteStore) -> None:
    await cork_initiative(store)
    before = await cork_initiative(store)
    paris = Origin("FR10", "FR10", "fr10.councils.events", LOCAL)
    cases = [
        # Paris answering for council-bologna in Paris's name: not Bologna's co-sponsor entry (that is ITH5's)
        (answer(cev.CoSponsorshipWithdrawn, "2027-02-01T10:00:00Z", region="FR10"), paris),
        # Bologna's replica carrying an answer that says it is Paris's: the data's region is not its sender's
        (answer(cev.CoSponsorshipWithdrawn, "2027-02-01T10:00:00Z", region="FR10"), PARTNER),
        # about another region's initiative, or an initiative Cork does not have
        (answer(cev.CoSponsorshipWithdrawn, "2027-02-01T10:00:00Z", lead_region="ES61"), PARTNER),
        (answer(cev.CoSponsorshipWithdrawn, "2027-02-01T10:00:00Z", initiative_id="ini-nowhere"), PARTNER),
        # a council Cork's initiative does not name
        (answer(cev.CoSponsorshipWithdrawn, "2027-02-01T10:00:00Z", council="council-milano"), PARTNER),
        # this region's own event (local topic)
        (answer(cev.CoSponsorshipWithdrawn, "2027-02-01T10:00:00Z"), Origin("IE05", None, LOCAL, LOCAL)),
    ]
    for e, came in cases:
        await network.handle(store, "IE05", e, came)
    assert await cork_initiative(store) == before


async def test_a_rebuild_folds_partner_councils_again_from_their_replicas(
    settings: RuntimeSettings, token: TokenFactory
) -> None:
    """The demo's five partner council regions, each 12 events on its replica (by the seed: CouncilFormed and
    6 MemberJoined, 2 MeetingScheduled and MeetingHeld, InitiativeProposed and InitiativeLaunched; the
    decision publishes nothing): a projection that lost Bologna's council gets all five back, and the five
    initiatives they lead."""
    app = create_app(settings)
    (councils,) = [c for c in app.state.components if c.name == "councils"]
    who = {"Authorization": token("ana", "student")}
    async for client in asgi_client(app):
        await eventually(functools.partial(_partners_are, client, who, 5), 30, "the five partner councils replicated")
        await councils.store.delete(network.COUNCILS, "ITH5:council-bologna")
        report = await councils.rebuild_partners()
        assert report["events"] == {r: 12 for r in ("ES30", "ES61", "FR10", "ITH5", "TR10")}
        assert (report["cleared"], report["councils"], report["initiatives"]) == (4 + 5, 5, 5)
        assert await _partners_are(client, who, 5)
        (bologna,) = (await client.get(f"{API}/network/councils", params={"region": "ITH5"}, headers=who)).json()
        assert (bologna["council_id"], bologna["city"]) == ("council-bologna", "Bologna")


async def _partners_are(client: httpx.AsyncClient, who: dict[str, str], n: int) -> bool:
    return len((await client.get(f"{API}/network/councils", headers=who)).json()) == n
