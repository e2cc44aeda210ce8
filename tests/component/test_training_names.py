"""People by name in training (issue 21): an enrolment keeps the name its participant gives (optional, 1-100
characters) and a placement applicant the name in the application; the API returns them to those who may
already see the roster, the enrolment, the credential or the application, and the coordinators' roster,
the attendance, the credential and the placement pages show the name, or the platform id for a record
without one. Bad names are refused at their field and nothing is written. In-process (``create_app``),
the training service's clock set by the test."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.component.test_web_training_work import People, error_of, module_form, profile
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import Clock, pid

API = "/api/v1/training"
SUBS = ("demo-sme", "demo-student")
T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)
SESSIONS = [{"title": "Value streams", "start": "2027-03-02T09:00:00Z", "end": "2027-03-02T12:00:00Z"}]


@pytest.fixture
async def app_client(settings: RuntimeSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    app.state.training.clock = Clock(T0)
    async for c in asgi_client(app):
        yield app, c


async def a_module(client: httpx.AsyncClient, staff: dict[str, str], capacity: int = 5) -> str:
    body = {
        "title": "Lean basics",
        "practices": ["lean_introduction"],
        "language": "en",
        "format": "online",
        "duration_hours": 3,
        "capacity": capacity,
        "sessions": SESSIONS,
    }
    r = await client.post(f"{API}/modules", json=body, headers=staff)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def field_named(r: httpx.Response, name: str) -> bool:
    return r.status_code == 422 and any(e["field"].endswith(name) for e in r.json()["errors"])


async def test_an_enrolment_keeps_its_name_for_those_who_see_the_roster(
    app_client: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    _, client = app_client
    staff = {"Authorization": token("co", "region_admin")}
    mid = await a_module(client, staff)
    ann, ben, cat = ({"Authorization": token(sub, "student")} for sub in ("ann", "ben", "cat"))
    enrol = f"{API}/modules/{mid}/enrolments"

    # bad names: empty, blank, 101 characters; each named at display_name, nothing written
    for bad in ("", "   ", "x" * 101, "Ann\u202eyrneH", "1234"):  # a right-to-left override; no letter at all
        r = await client.post(enrol, json={"display_name": bad}, headers=ann)
        assert field_named(r, "display_name"), (bad, r.text)
    assert (await client.post(enrol, json={"name": "Ann"}, headers=ann)).status_code == 422  # unknown field
    assert (await client.get(enrol, headers=staff)).json() == []

    a = await client.post(enrol, json={"display_name": "  Ann Ó Briain "}, headers=ann)
    b = await client.post(enrol, json={"display_name": "b" * 100}, headers=ben)  # at the bound
    c = await client.post(enrol, headers=cat)  # no body at all: no name, as before names
    assert [x.status_code for x in (a, b, c)] == [201, 201, 201]
    assert a.json()["display_name"] == "Ann Ó Briain"  # trimmed
    roster = (await client.get(enrol, headers=staff)).json()
    assert [(e["person"], e["display_name"]) for e in roster] == [
        (pid("ann"), "Ann Ó Briain"),
        (pid("ben"), "b" * 100),
        (pid("cat"), None),
    ]
    mine = (await client.get(f"{API}/enrolments/mine", headers=ann)).json()
    assert [e["display_name"] for e in mine] == ["Ann Ó Briain"]
    # anyone else: no roster, not another's enrolment, and the catalogue carries no enrolments
    assert (await client.get(enrol, headers=ben)).status_code == 403
    assert (await client.get(f"{API}/enrolments/{a.json()['id']}", headers=ben)).status_code == 404
    assert "Ann" not in (await client.get(f"{API}/modules/{mid}", headers=ben)).text


async def test_an_application_keeps_its_name(
    app_client: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    _, client = app_client
    body: dict[str, Any] = {"kind": "sme_staff", "offers": ["welding"], "seeks": ["lean"], "languages": ["en"]}
    ann, ben = {"Authorization": token("ann", "student")}, {"Authorization": token("ben", "student")}
    for bad in ("", " ", "y" * 101, "Eve\u200b"):  # a zero-width space
        r = await client.post(f"{API}/applicants", json=body | {"name": bad}, headers=ann)
        assert field_named(r, "name"), (bad, r.text)
    assert (await client.get(f"{API}/applicants/mine", headers=ann)).status_code == 404  # nothing written
    assert (await client.post(f"{API}/applicants", json=body | {"name": "y" * 100}, headers=ann)).status_code == 201
    assert (await client.post(f"{API}/applicants", json=body, headers=ben)).status_code == 201
    listed = (await client.get(f"{API}/applicants", headers={"Authorization": token("co", "region_admin")})).json()
    assert sorted((x["person"], x["name"]) for x in listed) == sorted([(pid("ann"), "y" * 100), (pid("ben"), None)])
    aid = listed[0]["id"]
    other = next(x["person"] for x in listed if x["id"] != aid)
    assert (
        await client.get(f"{API}/applicants/{aid}", headers={"Authorization": token(other[2:], "student")})
    ).status_code == 404


async def test_the_roster_attendance_and_credential_pages_name_people(
    app_client: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    app, client = app_client
    people = People(client)
    admin = await people.as_("demo-admin")
    made = await client.post("/training/coordinate/new", data=module_form(admin, capacity="5"))
    manage = made.headers["location"].split("?")[0]
    mid = manage.rsplit("/", 1)[1]
    for persona, name in (("demo-sme", "Aoife Murphy"), ("demo-student", "Chiara Rossi")):
        csrf = await people.as_(persona)
        catalogue = (await client.get("/training")).text
        assert f"The coordinators see you on a module's roster as {name}." in catalogue
        assert f'<input type="hidden" name="display_name" value="{name}">' in catalogue
        assert (
            await client.post(f"/training/modules/{mid}/enrol", data={"csrf": csrf, "display_name": name})
        ).status_code == 303
    # a name the API refuses (an invisible character, e.g. from an issuer's claim): enrolled by id all the same
    manager = await people.as_("demo-manager")
    refused = {"csrf": manager, "display_name": "Brendan\u200bWalsh"}
    assert (await client.post(f"/training/modules/{mid}/enrol", data=refused)).status_code == 303
    # an enrolment made without a name (a client that gives none): its id
    assert (
        await client.post(f"{API}/modules/{mid}/enrolments", headers={"Authorization": token("dan", "student")})
    ).status_code == 201

    await people.as_("demo-admin")
    page = (await client.get(manage)).text
    # each by name with the platform id beside it (two people may give one name), the unnamed one by id
    aoife, chiara = (f'<span class="hint">Platform id <code>{pid(p)}</code></span></th>' for p in SUBS)
    assert re.search(rf"<th scope=\"row\"><bdi>Aoife Murphy</bdi><br>{aoife}\s*<td>Cork Precision Tooling</td>", page)
    assert re.search(rf"<th scope=\"row\"><bdi>Chiara Rossi</bdi><br>{chiara}\s*<td>–</td>\s*<td>Confirmed</td>", page)
    assert f'<th scope="row">{pid("dan")}</th>' in page and f'<th scope="row">{pid("demo-manager")}</th>' in page
    assert "Brendan" not in page
    assert f"Complete the enrolment of Aoife Murphy ({pid('demo-sme')})" in page
    label = f'<label for="present-1-1"><bdi>Aoife Murphy</bdi> · <code>{pid("demo-sme")}</code> (Cork Precision'
    assert f'name="present" value="{pid("demo-sme")}"> {label}' in page

    # a name too long from a hand-made form: the page's enrolment takes the first 100 characters
    app.state.training.clock = Clock(T0)
    academic = await people.as_("demo-academic")
    r = await client.post(f"/training/modules/{mid}/enrol", data={"csrf": academic, "display_name": "z" * 150})
    assert r.status_code == 303
    await people.as_("demo-admin")
    assert f'<th scope="row"><bdi>{"z" * 100}</bdi><br>' in (await client.get(manage)).text

    # the credential's page names its holder
    staff = {"Authorization": token("co", "region_admin")}
    for n, day in ((1, 2), (2, 3)):
        app.state.training.clock = Clock(datetime(2027, 3, day, 12, tzinfo=UTC))
        r = await client.put(
            f"{API}/modules/{mid}/sessions/{n}/attendance", json={"present": [pid("demo-sme")]}, headers=staff
        )
        assert r.status_code == 200, r.text
    roster = (await client.get(f"{API}/modules/{mid}/enrolments", headers=staff)).json()
    eid = next(e["id"] for e in roster if e["person"] == pid("demo-sme"))
    done = await client.post(f"{API}/enrolments/{eid}/complete", headers=staff)
    assert done.status_code == 200, done.text
    credential = (await client.get(f"/training/coordinate/credentials/{done.json()['credential_id']}")).text
    assert f"<dd><bdi>Aoife Murphy</bdi> · <code>{pid('demo-sme')}</code></dd>" in credential


async def test_the_placement_pages_name_the_applicant(
    app_client: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    _, client = app_client
    people = People(client)
    student = await people.as_("demo-student")
    form = (await client.get("/placements/apply")).text
    assert re.search(r'id="name" name="name" value="Chiara Rossi"', form)  # offered: the name signed in with
    applied = profile(student, kind="sme_staff", offers="welding", seeks="lean")
    r = await client.post("/placements/apply", data=applied | {"name": "c" * 101})
    assert r.status_code == 422 and error_of(r, "name") == "A name is at most 100 characters."
    assert re.search(r'id="name"[^>]*aria-invalid="true"', r.text)
    invisible = await client.post("/placements/apply", data=applied | {"name": "Chiara\u200bRossi"})
    assert invisible.status_code == 422 and error_of(invisible, "name")  # the API's reason, at the field
    assert 'href="/placements/apply"' in (await client.get("/placements")).text  # nothing written
    assert (await client.post("/placements/apply", data=applied | {"name": "Chiara Rossi"})).status_code == 303
    # an applicant who gives no name: the id
    body = {"kind": "sme_staff", "offers": ["welding"], "seeks": ["lean"], "languages": ["en"]}
    nameless = await client.post(f"{API}/applicants", json=body, headers={"Authorization": token("eve", "student")})
    assert nameless.status_code == 201
    sme = await people.as_("demo-sme")
    host = profile(sme, name="Cork Precision Tooling", kind="sme", years_running="12", places="2", offers="lean")
    assert (await client.post("/placements/host", data=host)).status_code == 303

    admin = await people.as_("demo-admin")
    page = (await client.get("/placements/coordinate")).text
    hint = '<span class="hint">Platform id <code>{}</code></span><br>'
    chiara_id, eve_id = pid("demo-student"), pid("eve")
    assert f'<th scope="row"><bdi>Chiara Rossi</bdi><br>{hint.format(chiara_id)}' in page
    assert f'<th scope="row">{hint.format(eve_id)}' in page
    applicants = re.findall(r'action="/placements/coordinate/applicants/([\w-]+)/screening"', page)
    [host_id] = re.findall(r'action="/placements/coordinate/hosts/([\w-]+)/screening"', page)
    for kind, oid in [*(("applicants", a) for a in applicants), ("hosts", host_id)]:
        r = await client.post(
            f"/placements/coordinate/{kind}/{oid}/screening", data={"csrf": admin, "decision": "accepted"}
        )
        assert r.status_code == 303
    suggested = await client.post("/placements/coordinate/suggestions", data={"csrf": admin, "mode": "stable"})
    assert "2 placements suggested" in suggested.text  # two places, both applicants: by name, or by id
    assert f'<th scope="row"><bdi>Chiara Rossi</bdi> ({chiara_id})</th>' in suggested.text
    assert f'<th scope="row">{eve_id}</th>' in suggested.text
    chiara = next(a for a in applicants if a != nameless.json()["id"])
    propose = (await client.get(f"/placements/propose?applicant_id={chiara}&host_id={host_id}")).text
    assert f'<option value="{chiara}" selected>Chiara Rossi ({chiara_id})</option>' in propose
    data = {"csrf": admin, "applicant_id": chiara, "host_id": host_id, "objectives": "Learn lean"}
    data |= {"activity_plan": "Shadow the lean team.", "parts.0.start": "2027-03-01", "parts.0.weeks": "4"}
    made = await client.post("/placements/propose", data=data)
    assert made.status_code == 303, made.text[-2000:]
    placement = (await client.get(made.headers["location"])).text
    assert f"<dd><bdi>Chiara Rossi</bdi> ({chiara_id}) (" in placement
