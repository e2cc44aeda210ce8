"""ETags survive the outbox relay: a write answers the tag of what it stored, the relay then publishes the
write's events (which rewrites the document's outbox fields; a MongoDB-protocol store bumps its version too,
the embedded one does not), and the next update
with the tag the write answered still goes through; a real change by someone else still makes it stale, and
of two writers holding the same tag only one wins. Through the embedded gateway (SQLite store and log), with
each service's background relay switched off so that the test runs the relay itself, once, at the moment
that matters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.auth import DevIssuer
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.component import ServiceComponent
from clustergrowth.events import make_event
from clustergrowth.settings import RuntimeSettings
from contracts import mapping as mapping_ev
from instance.app import create_app
from tests.component.test_councils_api import council, meeting
from tests.component.test_matching_api import challenge, profile
from tests.conftest import asgi_client
from tests.helpers import pid

MATCHING = "/api/v1/matching"
COUNCILS = "/api/v1/councils"


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RuntimeSettings:
    monkeypatch.setenv("CG_MATCHING_RUN_RELAY", "false")
    monkeypatch.setenv("CG_COUNCILS_RUN_RELAY", "false")
    return RuntimeSettings(data_dir=tmp_path / "data", seed_demo=False, relay_interval_s=0.05)


@pytest.fixture
async def app(bare: RuntimeSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    a = create_app(bare)
    async for c in asgi_client(a):
        yield a, c


def component(a: FastAPI, name: str) -> ServiceComponent:
    found: ServiceComponent = next(c for c in a.state.components if c.name == name)
    assert not found.run_relay  # the test drives it
    return found


def who(settings: RuntimeSettings, sub: str, *roles: str, org: str | None = None) -> dict[str, str]:
    return {"Authorization": "Bearer " + DevIssuer(settings.data_dir).mint(settings, sub, list(roles), "IE05", org)}


async def relay_publishes(c: ServiceComponent, collection: str, id: str) -> None:
    """Run the service's relay once; it must publish this document's events and so rewrite its outbox fields."""
    before = await c.store.get(collection, id)
    assert before is not None and before["outbox_pending"]
    assert await c.relay.run_once() >= 1
    after = await c.store.get(collection, id)
    assert after is not None and not after["outbox_pending"] and after["outbox"] == []
    assert before["outbox"] != []


async def a_draft(client: httpx.AsyncClient, settings: RuntimeSettings, sme: dict[str, str]) -> str:
    """A draft challenge, suggested (as in production) by a low-scoring assessment on the mapping topic."""
    scores = {"finance": 1.5, "talent": 3.0, "innovation": 4.0}
    assessed = mapping_ev.SMEAssessed(
        sme_id="sme-weak",
        assessment_id="asm-sme-weak",
        region="IE05",
        nace="C28.29",
        sector="C28",
        size_class="small",
        headcount=40,
        councils=["Cork"],
        instrument_version="1",
        scores=scores,
        top_needs=sorted(scores, key=scores.__getitem__),
        assessed_at="2026-11-20T10:00:00+00:00",
        organisation="IE05:rubicon",
    )
    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:
        await bus.publish("mapping.events", [make_event(assessed, key="sme-weak", region="IE05", source="/test")])
    finally:
        await bus.close()
    for _ in range(200):
        drafts = (await client.get(f"{MATCHING}/challenges", params={"status": "draft"}, headers=sme)).json()
        if drafts:
            cid: str = drafts[0]["id"]
            return cid
        await asyncio.sleep(0.05)
    raise AssertionError("no draft suggested")


async def test_a_published_challenge_takes_the_etag_its_publication_answered_after_the_relay_ran(
    app: tuple[FastAPI, httpx.AsyncClient], bare: RuntimeSettings
) -> None:
    a, client = app
    matching = component(a, "matching")
    sme = who(bare, "aoife", "sme_member", org="rubicon")
    prof = who(bare, "prof-ucc", "academic")
    assert (await client.put(f"{MATCHING}/candidates/me", json=profile(kind="academic"), headers=prof)).is_success
    for s in ("s1", "s2"):
        assert (
            await client.put(f"{MATCHING}/candidates/me", json=profile(), headers=who(bare, s, "student"))
        ).is_success
    cid = await a_draft(client, bare, sme)
    url = f"{MATCHING}/challenges/{cid}"

    read = (await client.get(url, headers=sme)).headers["etag"]
    r = await client.post(f"{url}/publish", json=challenge(), headers={**sme, "If-Match": read})
    assert r.status_code == 200 and r.json()["status"] == "open", r.text
    answered = r.headers["etag"]
    assert answered != read  # publishing changed the challenge
    assert (await client.get(url, headers=sme)).headers["etag"] == answered  # the tag of what was stored

    await relay_publishes(matching, "challenges", cid)  # ChallengePosted leaves the outbox
    assert (await client.get(url, headers=sme)).headers["etag"] == answered

    r = await client.put(f"{url}/ranking", json={"ranking": [pid("s1")]}, headers={**sme, "If-Match": answered})
    assert r.status_code == 200 and r.json()["applicant_ranking"] == [pid("s1")], r.text
    ranked = r.headers["etag"]
    assert ranked != answered and (await client.get(url, headers=sme)).headers["etag"] == ranked

    # a real change by someone else makes the tag read before it stale
    r = await client.put(f"{url}/ranking", json={"ranking": [pid("s2")]}, headers={**sme, "If-Match": answered})
    assert r.status_code == 412 and r.json()["current_etag"] == ranked, r.text

    # two writers with the same tag at once: one wins, the other is told the object changed
    outcomes = await asyncio.gather(
        *(
            client.put(f"{url}/ranking", json={"ranking": ranking}, headers={**sme, "If-Match": ranked})
            for ranking in ([pid("s1"), pid("s2")], [pid("s2"), pid("s1")])
        )
    )
    assert sorted(r.status_code for r in outcomes) == [200, 412], [r.text for r in outcomes]
    won = next(r for r in outcomes if r.status_code == 200)
    lost = next(r for r in outcomes if r.status_code == 412)
    assert lost.json()["current_etag"] == won.headers["etag"]
    stored = (await client.get(url, headers=sme)).json()["applicant_ranking"]
    assert stored == won.json()["applicant_ranking"]


async def test_councils_meetings_take_the_etag_their_change_answered_after_the_relay_ran(
    app: tuple[FastAPI, httpx.AsyncClient], bare: RuntimeSettings
) -> None:
    a, client = app
    councils = component(a, "councils")
    sec = who(bare, "sec", "council_secretary")

    r = await client.post(f"{COUNCILS}/councils", json=council(), headers=sec)
    assert r.status_code == 201, r.text
    cid, formed = r.json()["id"], r.headers["etag"]
    url = f"{COUNCILS}/councils/{cid}"
    await relay_publishes(councils, "councils", cid)  # CouncilFormed leaves the outbox
    assert (await client.get(url, headers=sec)).headers["etag"] == formed
    r = await client.patch(url, json={"purpose": "New"}, headers={**sec, "If-Match": formed})
    assert r.status_code == 200 and r.json()["purpose"] == "New", r.text
    changed = r.headers["etag"]
    assert changed != formed and (await client.get(url, headers=sec)).headers["etag"] == changed

    # a meeting: each change publishes MeetingScheduled; the answer (the secretary's view, with its private
    # part) carries the tag of the stored meeting, the same tag a stranger's view carries
    r = await client.post(f"{url}/meetings", json=meeting(), headers=sec)
    assert r.status_code == 201, r.text
    mid, scheduled = r.json()["id"], r.headers["etag"]
    murl = f"{url}/meetings/{mid}"
    await relay_publishes(councils, "meetings", mid)
    assert (await client.get(murl, headers=who(bare, "anyone"))).headers["etag"] == scheduled
    r = await client.patch(murl, json={"title": "Moved"}, headers={**sec, "If-Match": scheduled})
    assert r.status_code == 200 and r.json()["sequence"] == 1, r.text
    moved = r.headers["etag"]
    assert moved != scheduled
    await relay_publishes(councils, "meetings", mid)
    assert (await client.get(murl, headers=sec)).headers["etag"] == moved
    r = await client.patch(murl, json={"title": "Moved again"}, headers={**sec, "If-Match": moved})
    assert r.status_code == 200 and r.json()["sequence"] == 2, r.text
    r = await client.patch(murl, json={"title": "Stale"}, headers={**sec, "If-Match": moved})
    assert r.status_code == 412, r.text


async def test_of_two_council_writers_with_the_same_etag_one_is_refused(
    app: tuple[FastAPI, httpx.AsyncClient], bare: RuntimeSettings
) -> None:
    a, client = app
    sec = who(bare, "sec", "council_secretary")
    r = await client.post(f"{COUNCILS}/councils", json=council(), headers=sec)
    cid, read = r.json()["id"], r.headers["etag"]
    await relay_publishes(component(a, "councils"), "councils", cid)
    url = f"{COUNCILS}/councils/{cid}"

    async def write(purpose: str) -> httpx.Response:
        return await client.patch(url, json={"purpose": purpose}, headers={**sec, "If-Match": read})

    outcomes = await asyncio.gather(write("First"), write("Second"))
    assert sorted(r.status_code for r in outcomes) == [200, 412], [r.text for r in outcomes]
    won = next(r for r in outcomes if r.status_code == 200)
    lost: Any = next(r for r in outcomes if r.status_code == 412).json()
    assert lost["current_etag"] == won.headers["etag"]
    assert (await client.get(url, headers=sec)).json()["purpose"] == won.json()["purpose"]
