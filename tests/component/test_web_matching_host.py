"""The web client's host side of matching, in-process: an SME's member posts a challenge for her SME
(each bad field refused at its input, by the form's own checks or in the API's words, and nothing
written), completes and publishes a draft suggested from a weak assessment (a form read before someone
else changed the draft is refused as changed meanwhile, nothing published), the challenges she hosts
are listed for her, and she ranks a challenge's applicants (shown by the display name a candidate gives
on her profile page, else by platform id)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape as html_unescape
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.settings import RuntimeSettings
from clustergrowth.store.port import put
from instance.app import create_app
from services.matching import store as st
from tests.component.test_web_pages import SME_FORM, sign_in
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually, pid

API = "/api/v1/matching"


@pytest.fixture
def app(settings: RuntimeSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(app):
        yield c


def error_at(html: str, field: str) -> str:
    """The error shown at a field (and the field points at it), or '' when there is none."""
    if not re.search(rf'id="{field}"[^>]*aria-invalid="true" aria-describedby="{field}-error"', html):
        return ""
    found = re.search(rf'id="{field}-error"><strong>Error:</strong> ([^<]*)</p>', html)
    return found.group(1) if found else ""


async def assessed_sme(client: httpx.AsyncClient, csrf: str, answer: str, name: str) -> str:
    """An SME of the signed-in member's organisation, assessed with every answer ``answer``: its id."""
    r = await client.post("/assessment/register", data={"csrf": csrf, **SME_FORM, "legal_name": name})
    assert r.status_code == 303, r.text
    sme = r.headers["location"].split("?")[0]
    form = (await client.get(f"{sme}/take")).text
    version = re.search(r'name="instrument_version" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    questions = re.findall(r'name="(answers\.[a-z_]+-[0-9])" value="1"', form)
    r = await client.post(
        f"{sme}/take", data={"csrf": csrf, "instrument_version": version, **dict.fromkeys(questions, answer)}
    )
    assert r.status_code == 303
    return sme.rsplit("/", 1)[1]


FORM = {
    "programme": "change_of_perspective",
    "title": "Visiting researcher: tool wear",
    "scope": "Model tool wear on the CNC line from the spindle data we keep, with our engineers.",
    "skills": "Tribology, data analysis",
    "languages": "en, ga",
    "region": "IE05",
    "work_mode": "on_site",
    "term": "2027-spring",
    "starts_on": "2027-02-01",
    "ends_on": "2027-05-15",
    "capacity": "10",
    "ip_template": "nda-portfolio-safe",
    "supervisor": "",
}


async def challenges(client: httpx.AsyncClient, token: TokenFactory) -> list[dict[str, Any]]:
    admin = {"Authorization": token("co", "region_admin")}
    return list((await client.get(f"{API}/challenges", params={"limit": 200}, headers=admin)).json())


async def test_posting_a_challenge_refuses_each_bad_field_at_its_input_and_writes_nothing(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    csrf = await sign_in(client, "demo-sme")
    empty = (await client.get("/matching/hosting/new")).text
    assert "register your SME and take its growth-needs assessment first" in empty
    assert 'action="/matching/hosting/new"' not in empty  # no form without an SME to offer it
    r = await client.post("/assessment/register", data={"csrf": csrf, **SME_FORM, "legal_name": "Unassessed Ltd"})
    unassessed = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    sme = await assessed_sme(client, csrf, "3", "Cork Precision Tooling")  # 3 of 5: no draft suggested
    page = (await client.get("/matching/hosting/new")).text
    assert f'<option value="{sme}">Cork Precision Tooling</option>' in page
    assert f'<option value="{unassessed}">Unassessed Ltd</option>' in page
    assert 'name="languages" value="en"' in page and 'name="region" value="IE05"' in page  # the defaults
    for key in ("open-results", "nda-portfolio-safe", "ip-assignment-portfolio-safe"):  # GET /ip-templates
        assert f'id="ip-{key}" name="ip_template" value="{key}"' in page
    before = await challenges(client, token)
    form = {"csrf": csrf, **FORM, "sme_id": sme}

    # the form's own checks: the team's size at 0 and 11 (1 to 10), a language that is no code, the term
    for capacity in ("0", "11", "two"):
        r = await client.post("/matching/hosting/new", data=form | {"capacity": capacity})
        assert r.status_code == 422 and error_at(r.text, "capacity") == "Enter a whole number from 1 to 10."
        assert r.text.count('class="field-error"') == 1
    r = await client.post("/matching/hosting/new", data=form | {"languages": "english", "term": "spring", "sme_id": ""})
    assert r.status_code == 422
    assert error_at(r.text, "languages") == "Enter one to 5 two-letter language codes, such as en, es."
    assert error_at(r.text, "term") == "Enter the term as a year and a season, such as 2027-spring."
    assert error_at(r.text, "sme_id") == "Choose the SME that offers the challenge."
    assert 'value="Visiting researcher: tool wear"' in r.text  # what was typed is kept

    # the API's reasons, at the field each names
    r = await client.post("/matching/hosting/new", data=form | {"ends_on": "2027-01-31"})
    assert r.status_code == 422 and error_at(r.text, "ends_on").endswith("is before starts_on")
    r = await client.post("/matching/hosting/new", data=form | {"title": "ab"})
    assert r.status_code == 422 and "at least 3 characters" in error_at(r.text, "title")
    r = await client.post("/matching/hosting/new", data=form | {"programme": "consultancy"})
    assert r.status_code == 422 and "needs a supervising academic" in error_at(r.text, "supervisor")
    student = {"Authorization": token("stu", "student")}
    profile = {"kind": "student", "languages": ["en"], "available_from": "2027-01-01", "available_until": "2027-06-30"}
    assert (await client.put(f"{API}/candidates/me", json=profile, headers=student)).status_code == 200
    by_student = form | {"programme": "consultancy", "supervisor": pid("stu")}

    async def supervisor_refused() -> bool:  # once matching knows the SME (mapping's SMEAssessed), the next check
        r = await client.post("/matching/hosting/new", data=by_student)
        assert r.status_code == 422
        return "is not an academic who offers supervision" in error_at(r.text, "supervisor")

    await eventually(supervisor_refused, 30, "the supervisor refused (the SME known to matching)")
    r = await client.post("/matching/hosting/new", data=form | {"sme_id": unassessed})
    assert r.status_code == 422 and "is not an SME of your organisation" in error_at(r.text, "sme_id")
    assert await challenges(client, token) == before  # nothing was written

    r = await client.post("/matching/hosting/new", data=form)
    assert r.status_code == 303 and re.fullmatch(r"/matching/challenges/ch-\w+\?done=posted", r.headers["location"])
    shown = (await client.get(r.headers["location"])).text
    assert "The challenge is posted: candidates can rank it now." in shown and "<dd>10 people</dd>" in shown
    cid = r.headers["location"].split("/")[-1].split("?")[0]
    [made] = [c for c in await challenges(client, token) if c["id"] == cid]
    assert (made["sme_id"], made["capacity"], made["skills"], made["languages"]) == (
        sme,
        10,
        ["data analysis", "tribology"],
        ["en", "ga"],
    )
    hosting = (await client.get("/matching/hosting")).text
    assert f'<a href="/matching/challenges/{cid}">Visiting researcher: tool wear</a>' in hosting
    assert "1 open challenge you host" in hosting and "0 drafts suggested from assessments" in hosting


async def test_a_suggested_draft_is_published_and_a_form_read_before_a_change_is_refused(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    csrf = await sign_in(client, "demo-sme")
    sme = await assessed_sme(client, csrf, "1", "Weak Tooling Ltd")  # every need at 1 of 5: a draft
    sme_member = {"Authorization": token("demo-sme", "sme_member", org="Cork Precision Tooling")}

    async def drafts() -> list[dict[str, Any]]:
        found = await client.get(f"{API}/challenges", params={"status": "draft"}, headers=sme_member)
        return [d for d in found.json() if d["sme_id"] == sme]

    await eventually(lambda: _any(drafts()), 30, "the suggested draft")
    [draft] = await drafts()
    hosting = (await client.get("/matching/hosting")).text
    url = f"/matching/hosting/drafts/{draft['id']}"
    assert f'<a href="{url}">Complete and publish: {draft["title"]}</a>' in hosting
    assert "need scored 1.0 of 5" in hosting
    page = (await client.get(url)).text
    etag = re.search(r'name="etag" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert f'value="{draft["title"]}"' in page and 'id="sme_id"' not in page  # the draft's SME, not chosen
    form = {"csrf": csrf, "etag": html_unescape(etag), **FORM, "title": "Tool wear model"}

    r = await client.post(url, data=form | {"ends_on": "2026-12-01"})
    assert r.status_code == 422 and error_at(r.text, "ends_on").endswith("is before starts_on")

    # someone changes the draft after the form was read (the coordinator ranks a student on it)
    student = {"Authorization": token("stu", "student")}
    profile = {"kind": "student", "languages": ["en"], "available_from": "2027-01-01", "available_until": "2027-06-30"}
    assert (await client.put(f"{API}/candidates/me", json=profile, headers=student)).status_code == 200
    admin = {"Authorization": token("co", "region_admin")}
    current = (await client.get(f"{API}/challenges/{draft['id']}", headers=admin)).headers["etag"]
    assert current == html_unescape(etag)
    ranked = await client.put(
        f"{API}/challenges/{draft['id']}/ranking",
        json={"ranking": [pid("stu")]},
        headers={**admin, "If-Match": current},
    )
    assert ranked.status_code == 200, ranked.text
    r = await client.post(url, data=form)
    assert r.status_code == 412 and "The challenge was changed meanwhile" in r.text
    assert f'<a href="{url}">Reload the page</a>' in r.text and 'value="Tool wear model"' in r.text
    [still] = await drafts()
    assert still["status"] == "draft" and still["title"] == draft["title"]  # nothing published

    reloaded = (await client.get(url)).text
    fresh = re.search(r'name="etag" value="([^"]+)"', reloaded).group(1)  # type: ignore[union-attr]
    assert html_unescape(fresh) == ranked.headers["etag"]
    r = await client.post(url, data=form | {"etag": html_unescape(fresh)})
    assert r.status_code == 303 and r.headers["location"] == f"/matching/challenges/{draft['id']}?done=published"
    assert "The challenge is published: candidates can rank it now." in (await client.get(r.headers["location"])).text
    published = (await client.get(f"{API}/challenges/{draft['id']}", headers=admin)).json()
    assert (published["status"], published["title"], published["suggested_from"]) == (
        "open",
        "Tool wear model",
        draft["suggested_from"],
    )
    again = await client.post(url, data=form | {"etag": html_unescape(fresh)})  # the same form, sent twice
    assert again.status_code in (409, 412) and "The challenge was changed meanwhile" in again.text
    assert "This challenge is published already." in (await client.get(url)).text


async def _any(read: Any) -> bool:
    return bool(await read)


async def test_the_host_ranks_a_challenges_applicants_shown_by_their_names(
    client: httpx.AsyncClient, token: TokenFactory, app: FastAPI
) -> None:
    span = {"languages": ["en"], "available_from": "2027-01-01", "available_until": "2027-06-30"}
    prof = {"Authorization": token("prof", "academic")}
    assert (await client.put(f"{API}/candidates/me", json={"kind": "academic", **span}, headers=prof)).is_success
    sme_member = {"Authorization": token("demo-sme", "sme_member", org="Cork Precision Tooling")}
    body = {**FORM, "programme": "consultancy", "skills": ["cad"], "languages": ["en"], "capacity": 1}
    made = await client.post(f"{API}/challenges", json=body | {"supervisor": pid("prof")}, headers=sme_member)
    other = await client.post(f"{API}/challenges", json=body | {"supervisor": pid("prof")}, headers=sme_member)
    assert made.status_code == other.status_code == 201, made.text
    cid, other_id = made.json()["id"], other.json()["id"]

    # the student gives her name on her profile page (its bound checked by the API, shown at the field)
    student = await sign_in(client, "demo-student")
    profile = {"csrf": student, "skills": "CAD", "languages": "en", "available_from": "2027-01-01"}
    profile["available_until"] = "2027-06-30"
    r = await client.post("/matching/profile", data=profile | {"display_name": "x" * 101})
    assert r.status_code == 422 and "100 characters" in error_at(r.text, "display_name")
    r = await client.post("/matching/profile", data=profile | {"display_name": "Chiara Rossi"})
    assert r.status_code == 303
    assert 'name="display_name" value="Chiara Rossi"' in (await client.get("/matching/profile")).text
    r = await client.post("/matching/ranking", data={"csrf": student, f"rank.{cid}": "1"})
    assert r.status_code == 303
    s2 = {"Authorization": token("s2", "student")}
    assert (await client.put(f"{API}/candidates/me", json={"kind": "student", **span}, headers=s2)).is_success
    r = await client.put(f"{API}/candidates/me/preferences", json={"ranking": [other_id, cid]}, headers=s2)
    assert r.status_code == 200
    chiara, second = pid("demo-student"), pid("s2")

    client.cookies.clear()
    host = await sign_in(client, "demo-sme")
    url = f"/matching/hosting/{cid}/applicants"
    assert f'<a href="{url}">' in (await client.get("/matching/hosting")).text
    assert f'<a href="{url}">' in (await client.get(f"/matching/challenges/{cid}")).text  # its page offers it too
    page = (await client.get(url)).text
    assert "2 candidates rank this challenge" in page
    # none ranked yet: by the rank each gave the challenge (Chiara's first choice, s2's second)
    assert page.index("Chiara Rossi") < page.index(f"<code>{second}</code>")
    # each by name and platform id (two people may give one name), with the home region
    ids = rf"<bdi>Chiara Rossi</bdi><br><span class=\"hint\">Platform id <code>{chiara}</code> · from IE05</span></th>"
    assert re.search(ids + r"\s*<td>no. 1</td>\s*<td>cad</td>", page)
    assert re.search(rf"Platform id <code>{second}</code> · from IE05</span></th>\s*<td>no. 2</td>", page)
    etag = html_unescape(re.search(r'name="etag" value="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    form = {"csrf": host, "etag": etag}

    async def ranking() -> list[str]:
        return list((await client.get(f"{API}/challenges/{cid}", headers=sme_member)).json()["applicant_ranking"])

    # the form's own checks: 1 to 2 (two applicants), each number once
    for bad in ("0", "3", "first"):
        r = await client.post(url, data=form | {f"rank.{chiara}": bad})
        assert r.status_code == 422
        assert error_at(r.text, f"rank-{chiara}") == "Enter a whole number from 1 to 2, or leave it empty."
    r = await client.post(url, data=form | {f"rank.{chiara}": "1", f"rank.{second}": "1"})
    assert r.status_code == 422 and r.text.count('class="field-error"') == 1
    later = max(chiara, second)  # the page lists (and checks) the applicants in the API's order: by id
    assert error_at(r.text, f"rank-{later}") == "Another applicant has rank 1 too: give each their own number."
    assert await ranking() == []  # nothing written

    r = await client.post(url, data=form | {f"rank.{second}": "1", f"rank.{chiara}": "2"})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=saved"
    assert await ranking() == [second, chiara]
    saved = (await client.get(r.headers["location"])).text
    assert "Your ranking of the applicants is saved." in saved
    assert saved.index(f'name="rank.{second}" value="1"') < saved.index(f'name="rank.{chiara}" value="2"')

    # the supervisor ranks meanwhile: the host's form, read before, is refused and nothing overwritten
    fresh = html_unescape(re.search(r'name="etag" value="([^"]+)"', saved).group(1))  # type: ignore[union-attr]
    r = await client.put(
        f"{API}/challenges/{cid}/ranking", json={"ranking": [chiara]}, headers={**prof, "If-Match": fresh}
    )
    assert r.status_code == 200, r.text
    r = await client.post(url, data={"csrf": host, "etag": fresh, f"rank.{second}": "1"})
    assert r.status_code == 412 and "The ranking was changed meanwhile" in r.text
    assert f'name="rank.{second}" value="1"' in r.text  # what was typed is kept
    assert await ranking() == [chiara]

    # an applicant the API refuses (a stored profile of another kind, as data from before a rule would be):
    # its reason is shown at that applicant
    m = app.state.matching
    academic = await m.store.get(st.CANDIDATES, pid("prof"))
    await put(m.store, st.CANDIDATES, {**academic, "preferences": [cid]})
    page = (await client.get(url)).text
    assert "3 candidates rank this challenge" in page
    etag = html_unescape(re.search(r'name="etag" value="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    r = await client.post(url, data={"csrf": host, "etag": etag, f"rank.{chiara}": "1", f"rank.{pid('prof')}": "2"})
    assert r.status_code == 422 and r.text.count('class="field-error"') == 1
    assert "is not a profile of kind" in error_at(r.text, f"rank-{pid('prof')}")
    assert await ranking() == [chiara]

    client.cookies.clear()
    await sign_in(client, "demo-academic")  # an academic who does not supervise it: as if there were no such page
    r = await client.get(url)
    assert r.status_code == 404 and "Chiara Rossi" not in r.text
    assert url not in (await client.get(f"/matching/challenges/{cid}")).text  # nor offered on the challenge's page
