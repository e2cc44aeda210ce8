"""The web client names people across matching, in-process: proposals, an engagement and a round's report
show a candidate by the display name of her profile, else by platform id (the API's ``display_name``); a
person who is no side of a match never sees it. And the post-a-challenge form offers the academics who
offer supervision as a list (``GET /supervisors``), a typed platform id while there are none."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from services.matching import handlers as h
from tests.component.test_web_pages import sign_in
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import pid

API = "/api/v1/matching"
ORG = "Cork Precision Tooling"  # the demo SME member's organisation
SPAN = {"languages": ["en"], "available_from": "2027-01-01", "available_until": "2027-06-30"}


@pytest.fixture
def app(settings: RuntimeSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(app):
        yield c


def challenge(**over: Any) -> dict[str, Any]:
    return {
        "programme": "consultancy",
        "title": "Fixture redesign for the CNC line",
        "scope": "Redesign the fixtures of the CNC line so that a change of part takes minutes.",
        "skills": ["cad"],
        "languages": ["en"],
        "region": "IE05",
        "work_mode": "on_site",
        "term": "2027-spring",
        "starts_on": "2027-02-01",
        "ends_on": "2027-05-15",
        "capacity": 2,
        "ip_template": "nda-portfolio-safe",
        "supervisor": pid("prof"),
    } | over


async def allocated(client: httpx.AsyncClient, token: TokenFactory) -> str:
    """Chiara (the demo student, named on her profile) and s2 (no name) allocated to the demo SME's
    challenge by a round: the round's id."""
    prof = {"Authorization": token("prof", "academic")}
    assert (await client.put(f"{API}/candidates/me", json={"kind": "academic", **SPAN}, headers=prof)).is_success
    sme = {"Authorization": token("demo-sme", "sme_member", org=ORG)}
    made = await client.post(f"{API}/challenges", json=challenge(), headers=sme)
    assert made.status_code == 201, made.text
    for sub, name in (("demo-student", "Chiara Rossi"), ("s2", None)):
        who = {"Authorization": token(sub, "student")}
        body = {"kind": "student", "display_name": name, **SPAN}
        assert (await client.put(f"{API}/candidates/me", json=body, headers=who)).is_success
        r = await client.put(f"{API}/candidates/me/preferences", json={"ranking": [made.json()["id"]]}, headers=who)
        assert r.status_code == 200, r.text
    admin = {"Authorization": token("co", "region_admin")}
    r = await client.post(f"{API}/rounds", json={"programme": "consultancy", "term": "2027-spring"}, headers=admin)
    assert r.status_code == 201 and len(r.json()["assignments"]) == 2, r.text
    return str(r.json()["id"])


async def test_proposals_an_engagement_and_the_round_report_name_the_candidate_else_her_id(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    rid = await allocated(client, token)
    chiara, second = pid("demo-student"), pid("s2")

    await sign_in(client, "demo-sme")  # the host side
    page = (await client.get("/matching/matches")).text
    assert page.count("<dt>Candidate</dt><dd>Chiara Rossi (IE05)") == 1
    assert f"<dt>Candidate</dt><dd><code>{second}</code> (IE05)" in page  # no name given: the id
    assert f"<code>{chiara}</code>" not in page
    engagement = (await client.get(f"/matching/matches/{h.match_id(rid, chiara)}")).text
    assert "<dt>Candidate</dt><dd>Chiara Rossi (IE05)</dd>" in engagement

    client.cookies.clear()
    await sign_in(client, "demo-admin")  # the coordinator's report: every candidate's explanation
    report = (await client.get(f"/matching/rounds/{rid}")).text
    assert re.search(r'<h3 id="e-\d">Chiara Rossi</h3>', report)
    assert re.search(rf'<h3 id="e-\d"><code>{second}</code></h3>', report)

    client.cookies.clear()
    await sign_in(client, "demo-student")  # her own explanation, as "You"
    assert re.search(r'<h3 id="e-1">You</h3>', (await client.get(f"/matching/rounds/{rid}")).text)

    client.cookies.clear()
    await sign_in(client, "demo-academic")  # no side of these matches: neither listed nor readable
    assert "Chiara Rossi" not in (await client.get("/matching/matches")).text
    r = await client.get(f"/matching/matches/{h.match_id(rid, chiara)}")
    assert r.status_code == 404 and "Chiara Rossi" not in r.text
