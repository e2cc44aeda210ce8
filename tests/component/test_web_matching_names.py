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
from clustergrowth.store.port import put
from instance.app import create_app
from services.matching import handlers as h
from services.matching import store as st
from tests.component.test_web_matching_host import FORM, assessed_sme, challenges, error_at
from tests.component.test_web_pages import sign_in
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, pid

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


def supervisor_options(html: str) -> list[tuple[str, str]]:
    """The post form's list of supervisors: (value, words) of each option after 'None'."""
    found = re.search(r'<select id="supervisor" name="supervisor"[^>]*>(.*?)</select>', html, re.S)
    assert found, "no list of supervisors"
    return re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', found.group(1))


async def test_the_post_form_lists_the_academics_who_offer_supervision_else_asks_for_an_id(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    csrf = await sign_in(client, "demo-sme")
    await assessed_sme(client, csrf, "3", ORG)  # 3 of 5: no draft suggested
    page = (await client.get("/matching/hosting/new")).text
    assert '<input type="text" id="supervisor" name="supervisor"' in page  # nobody offers supervision yet
    assert '<select id="supervisor"' not in page

    deniz = {"kind": "academic", "display_name": "Dr Deniz Yılmaz", "skills": ["Tribology", "CAD"], **SPAN}
    for sub, role, body in (
        ("deniz", "academic", deniz),
        ("prof", "academic", {"kind": "academic", **SPAN}),  # no name, no skills: shown by id
        ("stu", "student", {"kind": "student", "display_name": "Chiara Rossi", "skills": ["cad"], **SPAN}),
    ):
        r = await client.put(f"{API}/candidates/me", json=body, headers={"Authorization": token(sub, role)})
        assert r.status_code == 200, r.text
    page = (await client.get("/matching/hosting/new")).text
    assert '<select id="supervisor" name="supervisor" aria-describedby="supervisor-hint">' in page
    assert 'id="supervisor-hint">The academics who offer supervision here, with their expertise.' in page
    # by name (an unnamed one by id), the student never
    deniz_named = f"Dr Deniz Yılmaz ({pid('deniz')}) · cad, tribology"  # the name with the platform id beside it
    assert supervisor_options(page) == [(pid("deniz"), deniz_named), (pid("prof"), pid("prof"))]
    assert "Chiara Rossi" not in page and '<option value="">None (change of perspective)</option>' in page
    assert 'id="supervisor_id"' not in page  # every one is listed: no id to type

    before = await challenges(client, token)
    form = {"csrf": csrf, **FORM, "programme": "consultancy", "capacity": "2", "sme_id": ""}
    sme_id = re.search(r'<option value="([^"]+)" selected>Cork Precision Tooling</option>', page)
    assert sme_id, "the member's one SME chosen"
    form["sme_id"] = sme_id.group(1)
    # none chosen for a consultancy: the API's reason at the list, nothing chosen
    r = await client.post("/matching/hosting/new", data=form | {"supervisor": ""})
    assert r.status_code == 422 and "needs a supervising academic" in error_at(r.text, "supervisor")
    listed = re.search(r'<select id="supervisor".*?</select>', r.text, re.S)
    assert listed and " selected" not in listed.group(0)

    async def student_refused() -> bool:  # a value the list never offers (a student's id), sent all the same
        r = await client.post("/matching/hosting/new", data=form | {"supervisor": pid("stu")})
        assert r.status_code == 422
        if "is not an academic who offers supervision" not in error_at(r.text, "supervisor"):
            return False  # the SME not yet known to matching (mapping's SMEAssessed): refused at sme_id first
        assert f'<option value="{pid("stu")}" selected>{pid("stu")}</option>' in r.text  # kept, at its field
        return True

    await eventually(student_refused, 30, "the student refused as supervisor")
    assert await challenges(client, token) == before  # nothing written

    r = await client.post("/matching/hosting/new", data=form | {"supervisor": pid("deniz")})
    assert r.status_code == 303, r.text
    cid = r.headers["location"].split("/")[-1].split("?")[0]
    [made] = [c for c in await challenges(client, token) if c["id"] == cid]
    assert (made["supervisor"], made["programme"]) == (pid("deniz"), "consultancy")


async def test_with_more_academics_than_the_list_holds_the_form_also_takes_a_typed_id(
    client: httpx.AsyncClient, token: TokenFactory, app: FastAPI
) -> None:
    store = app.state.matching.store
    ids = sorted(pid(f"acad-{n}") for n in range(201))  # one more than the API's page of 200
    for n, i in enumerate(ids):
        profile = {"_id": i, "kind": "academic", "display_name": f"Academic {n:03}", "skills": [], "languages": ["en"]}
        await put(store, st.CANDIDATES, profile | {"preferences": []})
    student = {"kind": "student", **SPAN}
    assert (
        await client.put(f"{API}/candidates/me", json=student, headers={"Authorization": token("stu", "student")})
    ).is_success
    csrf = await sign_in(client, "demo-sme")
    sme = await assessed_sme(client, csrf, "3", ORG)
    page = (await client.get("/matching/hosting/new")).text
    listed = [value for value, _ in supervisor_options(page)]
    assert listed == ids[:200]  # the first page by id ("Academic 000" ... "Academic 199" by name)
    assert 'id="supervisor_id" name="supervisor_id"' in page
    assert "More academics offer supervision here than the list shows." in page

    before = await challenges(client, token)
    form = {"csrf": csrf, **FORM, "programme": "consultancy", "capacity": "2", "sme_id": sme, "supervisor": ids[0]}

    async def student_refused() -> bool:  # a typed id is sent instead of the list's choice; its reason at it
        r = await client.post("/matching/hosting/new", data=form | {"supervisor_id": pid("stu")})
        assert r.status_code == 422
        if "is not an academic who offers supervision" not in error_at(r.text, "supervisor_id"):
            return False  # the SME not yet known to matching: refused at sme_id first
        assert error_at(r.text, "supervisor") == ""  # the list's choice is not what was refused
        return True

    await eventually(student_refused, 30, "the typed student refused as supervisor")
    assert await challenges(client, token) == before  # nothing written

    r = await client.post("/matching/hosting/new", data=form | {"supervisor_id": f" {ids[200]} "})
    assert r.status_code == 303, r.text
    cid = r.headers["location"].split("/")[-1].split("?")[0]
    [made] = [c for c in await challenges(client, token) if c["id"] == cid]
    assert made["supervisor"] == ids[200]  # the one the list leaves out
