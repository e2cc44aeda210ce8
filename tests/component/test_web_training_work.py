"""The web client's training pages for the region's coordinators (offer a module, change it, its roster,
attendance, completion, revocation) and mobility placements (apply, host, screen, suggest, propose,
accept, report), in-process (``create_app``), with the training service's clock set by the test. Each
form's bad input is shown next to its field and writes nothing; the API's refusals are said in words."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import Clock, pid

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
API = "/api/v1/training"
T0 = datetime(2027, 3, 1, 9, tzinfo=UTC)  # the service's clock at the start of each journey
SME, STUDENT, ADMIN, SECRETARY = pid("demo-sme"), pid("demo-student"), pid("demo-admin"), pid("demo-secretary")


@pytest.fixture
async def app_client(settings: RuntimeSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async for c in asgi_client(app):
        yield app, c


class People:
    """One signed-in browser session per persona (their cookies kept apart), on one client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.jars: dict[str, tuple[httpx.Cookies, str]] = {}

    async def as_(self, persona: str) -> str:
        """Switch to ``persona`` (signing in the first time): its CSRF token."""
        c = self.client
        if persona not in self.jars:
            c.cookies = httpx.Cookies()
            home = await c.get("/")
            csrf = CSRF.search(home.text).group(1)  # type: ignore[union-attr]
            r = await c.post("/sign-in/persona", data={"csrf": csrf, "persona": persona, "next": "/training"})
            assert r.status_code == 303
            self.jars[persona] = (c.cookies, csrf)
        c.cookies, csrf = self.jars[persona]
        return csrf


def text(r: httpx.Response) -> str:
    return html.unescape(r.text)


def error_of(r: httpx.Response, field_id: str, error: str = "Error:") -> str | None:
    """The words shown under a field (``<p class="field-error" id="…-error">``), or None."""
    head = rf'<p class="field-error" id="{re.escape(field_id)}-error"><strong>{error}</strong>'
    m = re.search(rf"{head} (.*?)</p>", r.text)
    return html.unescape(m.group(1)) if m else None


def session_row(i: int, title: str, day: str, start: str, end: str) -> dict[str, str]:
    return {
        f"sessions.{i}.title": title,
        f"sessions.{i}.day": day,
        f"sessions.{i}.start": start,
        f"sessions.{i}.end": end,
    }


def module_form(csrf: str, **over: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf": csrf,
        "title": "Lean for machinists",
        "practices": ["lean_introduction", "lean_rationale"],
        "language": "en",
        "format": "blended",
        "duration_hours": "6",
        "capacity": "1",
        "rows": "4",
        **session_row(0, "Value streams", "2027-03-02", "09:00", "12:00"),
        **session_row(1, "Flow and pull", "2027-03-03", "09:00", "12:00"),
    }
    return form | over


async def modules(client: httpx.AsyncClient, token: TokenFactory) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/modules", headers={"Authorization": token("reader", "analyst")})
    assert r.status_code == 200
    return list(r.json())


async def test_offering_a_module_names_each_bad_field_and_writes_nothing(
    app_client: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    app, client = app_client
    app.state.training.clock = Clock(T0)
    people = People(client)
    csrf = await people.as_("demo-admin")
    assert "/training/coordinate" in (await client.get("/training")).text
    new = await client.get("/training/coordinate/new")
    assert new.status_code == 200 and new.text.count('name="sessions.') == 4 * 5  # four rows, five fields each
    assert 'id="practice-lean_introduction"' in new.text  # the practices are the instrument's

    # the form's own checks: each at its field, nothing sent
    bad = module_form(csrf, title=" ", capacity="ten", practices=[], **session_row(0, "Value streams", "", "", ""))
    r = await client.post("/training/coordinate/new", data=bad)
    assert r.status_code == 422
    assert error_of(r, "title") == "Give the module a title."
    assert error_of(r, "practices") == "Choose at least one practice the module addresses."
    assert error_of(r, "capacity") == "Enter a whole number."
    assert error_of(r, "sessions-0-day") == "Enter a date."
    assert error_of(r, "sessions-0-start") == "Enter a time as hours and minutes."
    assert error_of(r, "sessions-1-day") is None and error_of(r, "duration_hours") is None
    assert re.search(r'id="capacity"[^>]*aria-invalid="true" aria-describedby="capacity-error"', r.text)
    assert 'value="Flow and pull"' in r.text  # what was entered stays
    empty = await client.post(
        "/training/coordinate/new",
        data=module_form(csrf) | session_row(0, "", "", "", "") | session_row(1, "", "", "", ""),
    )
    assert (
        empty.status_code == 422 and error_of(empty, "sessions") == "Give at least one session with its date and times."
    )

    # the API's refusals, at the form row they came from: row 0 left empty, so the API's session 0 is row 1
    rows = (
        module_form(csrf)
        | session_row(0, "", "", "", "")
        | session_row(1, "Flow and pull", "2027-03-03", "12:00", "09:00")
    )
    r = await client.post("/training/coordinate/new", data=rows)
    assert r.status_code == 422 and error_of(r, "sessions-1-end") and error_of(r, "sessions-0-end") is None
    assert re.search(r'id="sessions-1-end"[^>]*aria-invalid="true"', r.text)
    for capacity, field_error in (("200", False), ("201", True), ("0", True)):  # 1-200 places, at and past the bounds
        r = await client.post(
            "/training/coordinate/new", data=module_form(csrf, capacity=capacity, title=f"Cap {capacity}")
        )
        assert (error_of(r, "capacity") is not None) is field_error, capacity
        assert r.status_code == (422 if field_error else 303)
    assert [m["title"] for m in await modules(client, token)] == ["Cap 200"]  # only the good one was written

    made = await client.post("/training/coordinate/new", data=module_form(csrf))
    assert made.status_code == 303
    page = await client.get(made.headers["location"])
    assert "The module is offered in the catalogue." in page.text and "0 of 1 places taken" in page.text
    [lean] = [m for m in await modules(client, token) if m["title"] == "Lean for machinists"]
    assert [(s["n"], s["title"], s["start"][:16]) for s in lean["sessions"]] == [
        (1, "Value streams", "2027-03-02T09:00"),
        (2, "Flow and pull", "2027-03-03T09:00"),
    ]
    assert lean["practices"] == ["lean_introduction", "lean_rationale"] and lean["format"] == "blended"

    # someone who is not a coordinator is told so
    await people.as_("demo-sme")
    refused = await client.get("/training/coordinate/new")
    assert refused.status_code == 403 and "These pages are for the region's training coordinators." in text(refused)
    assert "/training/coordinate" not in (await client.get("/training")).text


async def test_more_session_rows_keep_what_was_entered_up_to_forty(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = app_client
    people = People(client)
    csrf = await people.as_("demo-secretary")
    for shown, more, expected in ((4, True, 8), (36, True, 40), (37, True, 40), (40, False, 40)):
        form = module_form(csrf, rows=str(shown)) | ({"more": "1"} if more else {})
        r = await client.post("/training/coordinate/new", data=form | {"title": "Kept"} if more else form)
        if not more:
            assert r.status_code == 303  # no "more": the module is offered
            continue
        assert r.status_code == 200 and r.text.count('name="sessions.') == expected * 5, shown
        assert 'value="Kept"' in r.text and 'value="Flow and pull"' in r.text
        assert ('name="more"' in r.text) is (expected < 40)


async def test_roster_attendance_completion_and_revocation(
    app_client: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    app, client = app_client
    clock = Clock(T0)
    app.state.training.clock = clock
    people = People(client)
    admin = await people.as_("demo-admin")
    made = await client.post("/training/coordinate/new", data=module_form(admin))
    manage = made.headers["location"].split("?")[0]
    mid = manage.rsplit("/", 1)[1]
    for persona in ("demo-sme", "demo-student"):  # one place: the student waits
        csrf = await people.as_(persona)
        assert (await client.post(f"/training/modules/{mid}/enrol", data={"csrf": csrf})).status_code == 303

    admin = await people.as_("demo-admin")
    page = await client.get(manage)
    assert re.search(rf"<th scope=\"row\">{SME}</th>\s*<td>Cork Precision Tooling</td>\s*<td>Confirmed</td>", page.text)
    assert re.search(rf"<th scope=\"row\">{STUDENT}</th>\s*<td>–</td>\s*<td>On the waiting list \(1\)</td>", page.text)
    assert page.text.count('name="present"') == 2  # one confirmed participant, two sessions

    # attendance before the session starts: said in words at the session; from its start it is recorded
    attend = f"{manage}/sessions/1/attendance"
    clock.now = datetime(2027, 3, 2, 9, tzinfo=UTC) - timedelta(seconds=1)
    early = await client.post(attend, data={"csrf": admin, "present": SME})
    assert early.status_code == 409
    assert (
        error_of(early, "present-1")
        == "Session 1 starts Mar 2, 2027, 9:00\u202fAM (UTC): its attendance can be recorded from then."
    )
    clock.now = datetime(2027, 3, 2, 9, tzinfo=UTC)  # at its start
    stranger = await client.post(attend, data={"csrf": admin, "present": STUDENT})  # waitlisted, not confirmed
    assert stranger.status_code == 422
    assert error_of(stranger, "present-1") == "Only confirmed participants can be recorded as present."
    ok = await client.post(attend, data={"csrf": admin, "present": SME})
    assert (
        ok.status_code == 303
        and "The attendance of session 1 is recorded." in (await client.get(ok.headers["location"])).text
    )
    page = await client.get(manage)
    assert re.search(r'id="present-1-1" name="present" value="[^"]+" checked', page.text)

    # more places promote the waiting student; fewer than held is the API's 422 at the field; the sessions
    # are fixed once attendance is recorded (said in words)
    keep = {"csrf": admin, "rows": "4"} | session_row(0, "Value streams", "2027-03-02", "09:00", "12:00")
    keep |= session_row(1, "Flow and pull", "2027-03-03", "09:00", "12:00")
    assert (await client.post(manage, data=keep | {"capacity": "2"})).status_code == 303
    page = await client.get(manage)
    assert re.search(rf"<th scope=\"row\">{STUDENT}</th>\s*<td>–</td>\s*<td>Confirmed</td>", page.text)
    fewer = await client.post(manage, data=keep | {"capacity": "1"})
    assert fewer.status_code == 422 and error_of(fewer, "capacity")
    moved = keep | {"capacity": "2"} | session_row(1, "Flow and pull", "2027-03-04", "09:00", "12:00")
    fixed = await client.post(manage, data=moved)
    assert fixed.status_code == 409
    assert error_of(fixed, "sessions") == "Attendance is recorded already: the sessions can no longer change."
    assert [
        e["status"]
        for e in (
            await client.get(f"{API}/modules/{mid}/enrolments", headers={"Authorization": token("co", "region_admin")})
        ).json()
    ] == ["confirmed", "confirmed"]

    # completion: not before the last session ends (said until when), then the missing sessions by name
    rows = re.findall(
        rf'{manage}/enrolments/([\w-]+)/complete"[^>]*>\s*<input[^>]+>\s*<button[^>]+of ([\w-]+)"', page.text
    )
    [sme_row] = [eid for eid, person in rows if person == SME]
    complete = f"{manage}/enrolments/{sme_row}/complete"
    clock.now = datetime(2027, 3, 3, 12, tzinfo=UTC) - timedelta(seconds=1)
    r = await client.post(complete, data={"csrf": admin})
    assert r.status_code == 409
    assert (
        error_of(r, f"complete-{sme_row}")
        == "The module is not over yet: its last session ends Mar 3, 2027, 12:00\u202fPM (UTC)."
    )
    clock.now = datetime(2027, 3, 3, 12, tzinfo=UTC)  # at its end
    r = await client.post(complete, data={"csrf": admin})
    assert r.status_code == 409
    said = "Attended 1 of the 2 sessions required. Not attended: session 2 (Flow and pull, Wednesday, March 3, 2027)."
    assert error_of(r, f"complete-{sme_row}") == said
    r = await client.post(f"{complete}?lang=fr", data={"csrf": admin})  # in French: CLDR's plural and date
    said = "A assisté à 1 des 2 séances requises. Absences : séance 2 (Flow and pull, mercredi 3 mars 2027)."
    assert r.status_code == 409 and error_of(r, f"complete-{sme_row}", "Erreur :") == said
    assert (
        await client.post(f"{manage}/sessions/2/attendance", data={"csrf": admin, "present": SME})
    ).status_code == 303
    r = await client.post(complete, data={"csrf": admin})
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "The enrolment is completed and its credential issued." in page.text
    [credential] = re.findall(r'href="/training/coordinate/credentials/([\w-]+)"', page.text)

    # revocation: a reason is needed (at its field, nothing revoked); then revoked, and a second time refused
    at = f"/training/coordinate/credentials/{credential}"
    shown = await client.get(at)
    assert f"<dd>{SME}</dd>" in shown.text and "<dt>Revoked</dt><dd>No</dd>" in shown.text
    for reason, said in (
        ("  ", "Say why the credential is revoked."),
        ("x" * 501, "A reason is at most 500 characters."),
    ):
        r = await client.post(at, data={"csrf": admin, "reason": reason})
        assert r.status_code == 422 and error_of(r, "reason") == said
    assert "<dt>Revoked</dt><dd>No</dd>" in (await client.get(at)).text
    r = await client.post(at, data={"csrf": admin, "reason": "x" * 500})  # at the bound
    assert r.status_code == 303
    shown = await client.get(r.headers["location"])
    assert (
        "The credential is revoked." in shown.text
        and "Yes, Mar 3, 2027, 12:00\u202fPM (UTC): " + "x" * 500 in shown.text
    )
    again = await client.post(at, data={"csrf": admin, "reason": "twice"})
    assert again.status_code == 409 and error_of(again, "reason") == "The credential is revoked already."
    await people.as_("demo-sme")
    assert "— revoked" in (await client.get("/training")).text  # the holder sees it


def profile(csrf: str, **over: Any) -> dict[str, Any]:
    return {"csrf": csrf, "offers": "Welding", "seeks": "lean, export markets", "languages": ["en", "it"]} | over


async def test_applying_and_hosting_name_each_bad_field_and_write_nothing(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    app.state.training.clock = Clock(T0)
    people = People(client)
    student = await people.as_("demo-student")
    refused = await client.get("/placements/coordinate")
    assert refused.status_code == 403 and "These pages are for the region's intermediaries." in text(refused)
    assert 'href="/placements/apply"' in (await client.get("/placements")).text
    bad = profile(student, offers="Lean!", seeks="", languages=[])
    r = await client.post("/placements/apply", data=bad)
    assert r.status_code == 422
    assert error_of(r, "kind") == "Choose what describes you."
    assert error_of(r, "offers") == "Write topics as words separated by commas, e.g. lean, export markets."
    assert error_of(r, "seeks") == "Name at least one topic."
    assert error_of(r, "languages") == "Choose at least one language."
    # a new entrepreneur's business started within three years of the service's day (2027-03-01): from
    # 2024-03-01 on; the day before is the API's 422 at the field
    late = profile(student, kind="new_entrepreneur", business_started="2024-02-29")
    r = await client.post("/placements/apply", data=late)
    assert r.status_code == 422 and error_of(r, "business_started")
    assert 'href="/placements/apply"' in (await client.get("/placements")).text  # nothing written
    r = await client.post("/placements/apply", data=late | {"business_started": "2024-03-01"})
    assert r.status_code == 303 and r.headers["location"] == "/placements?done=applied"
    mine = await client.get(r.headers["location"])
    assert "Your application is sent" in mine.text and "New entrepreneur · Waiting for screening" in mine.text
    again = await client.post("/placements/apply", data=late | {"business_started": "2024-03-01"})
    assert again.status_code == 409 and "You have applied already: one application each." in text(again)
    assert "/placements/host" not in mine.text  # a student speaks for no organisation

    sme = await people.as_("demo-sme")
    host = profile(sme, name="Cork Precision Tooling", kind="sme", years_running="3", places="1", offers="lean")
    for field, value in (("years_running", "2"), ("places", "6"), ("places", "x"), ("name", " ")):
        r = await client.post("/placements/host", data=host | {field: value})
        assert r.status_code == 422 and error_of(r, field), (field, value)
    assert 'href="/placements/host"' in (await client.get("/placements")).text  # nothing written
    assert (await client.post("/placements/host", data=host | {"places": "5"})).status_code == 303  # at the bound
    mine = await client.get("/placements")
    assert "Cork Precision Tooling · Waiting for screening" in mine.text


async def test_screening_suggestion_proposal_four_acceptances_and_reports(
    app_client: tuple[FastAPI, httpx.AsyncClient], token: TokenFactory
) -> None:
    app, client = app_client
    clock = Clock(T0)
    app.state.training.clock = clock
    people = People(client)
    student = await people.as_("demo-student")
    applied = profile(student, kind="sme_staff", offers="welding", seeks="lean")
    assert (await client.post("/placements/apply", data=applied)).status_code == 303
    sme = await people.as_("demo-sme")
    host = profile(sme, name="Cork Precision Tooling", kind="sme", years_running="12", places="2", offers="lean")
    assert (await client.post("/placements/host", data=host)).status_code == 303

    # the intermediary screens both (a note too long is refused at its field), then asks for suggestions
    admin = await people.as_("demo-admin")
    page = await client.get("/placements/coordinate")
    [applicant] = re.findall(r'action="/placements/coordinate/applicants/([\w-]+)/screening"', page.text)
    [host_id] = re.findall(r'action="/placements/coordinate/hosts/([\w-]+)/screening"', page.text)
    at = f"/placements/coordinate/applicants/{applicant}/screening"
    undecided = await client.post(at, data={"csrf": admin, "note": "Enter pressed in the note"})
    assert undecided.status_code == 422 and error_of(undecided, f"note-{applicant}") == "Choose to accept or not."
    long = await client.post(at, data={"csrf": admin, "decision": "accepted", "note": "n" * 1001})
    assert long.status_code == 422 and error_of(long, f"note-{applicant}") == "A note is at most 1,000 characters."
    assert "/placements/coordinate/applicants/" in long.text  # still waiting for screening
    for kind, oid in (("applicants", applicant), ("hosts", host_id)):
        r = await client.post(
            f"/placements/coordinate/{kind}/{oid}/screening",
            data={"csrf": admin, "decision": "accepted", "note": "n" * 1000},
        )
        assert r.status_code == 303 and r.headers["location"] == "/placements/coordinate?done=accepted"
    suggested = await client.post("/placements/coordinate/suggestions", data={"csrf": admin, "mode": "stable"})
    assert suggested.status_code == 200 and "1 placement suggested" in suggested.text
    link = f"/placements/propose?applicant_id={applicant}&amp;host_id={host_id}"
    assert link in suggested.text
    form = await client.get(html.unescape(link))
    assert f'<option value="{applicant}" selected>' in form.text and f'<option value="{host_id}" selected>' in form.text

    # the proposal: the form's checks and the API's, each at its field (a part's row as the form shows it)
    base = {"csrf": admin, "applicant_id": applicant, "host_id": host_id, "objectives": "Learn lean\n\nRun a kaizen"}
    base |= {"activity_plan": "Shadow the lean team, then run one improvement."}
    r = await client.post("/placements/propose", data=base | {"applicant_id": "", "objectives": " "})
    assert r.status_code == 422 and error_of(r, "applicant_id") == "Choose the applicant."
    assert error_of(r, "objectives") == "Write at least one objective, one a line."
    assert error_of(r, "parts") == "Give at least one part: its first day and its weeks."
    cases = [
        ({"parts.1.start": "2027-03-01", "parts.1.weeks": "27"}, "parts-1-weeks"),  # row 0 empty: the API's part 0
        ({"parts.0.start": "2027-03-01", "parts.0.weeks": "0"}, "parts-0-weeks"),
        ({"parts.0.start": "2027-02-28", "parts.0.weeks": "4"}, "parts-0-start"),  # yesterday
        (
            {"parts.0.start": "2027-03-01", "parts.0.weeks": "20", "parts.1.start": "2027-08-01", "parts.1.weeks": "7"},
            "parts",
        ),
        ({"parts.0.start": "2027-03-01", "parts.0.weeks": "4", "applicant_id": "apl-nobody"}, "applicant_id"),
        (
            {"parts.0.start": "2027-03-01", "parts.0.weeks": "4", "parts.1.start": "2027-03-28", "parts.1.weeks": "1"},
            "parts-1-start",
        ),
    ]
    for parts, field_id in cases:
        r = await client.post("/placements/propose", data=base | parts)
        assert r.status_code == 422 and error_of(r, field_id), (parts, r.text[-3000:])
        assert re.search(rf'id="{field_id}"[^>]*aria-invalid="true"', r.text) or field_id == "parts"
    listed = await client.get(f"{API}/placements", headers={"Authorization": token("demo-admin", "region_admin")})
    assert listed.json() == []  # nothing written
    both = {"parts.0.start": "2027-03-01", "parts.0.weeks": "20", "parts.1.start": "2027-08-01", "parts.1.weeks": "6"}
    made = await client.post("/placements/propose", data=base | both)  # 26 weeks in all: at the bound
    assert made.status_code == 303
    placement = made.headers["location"].split("?")[0]
    page = await client.get(placement)
    assert "The terms (revision 1)" in page.text and "Dates: 26 weeks in all" in page.text
    assert "<li>Learn lean</li><li>Run a kaizen</li>" in page.text
    assert page.text.count('name="party"') == 2  # both intermediaries of one region: the same person
    assert 'id="parts-1-weeks" name="parts.1.weeks" value="6"' in page.text  # the terms, ready to change
    accept = f"{placement}/accept"
    r = await client.post(accept, data={"csrf": admin, "party": "sending_intermediary", "revision": "1"})
    assert r.status_code == 303

    # new terms: the form's check at its field (nothing changed), then revision 2 and every acceptance lapses
    terms = {"csrf": admin, "revision": "1", "objectives": "Learn lean", "activity_plan": "Shadow the lean team."}
    terms |= {"parts.0.start": "2027-03-01", "parts.0.weeks": "4"}
    r = await client.post(f"{placement}/terms", data=terms | {"objectives": ""})
    assert r.status_code == 422 and error_of(r, "objectives") == "Write at least one objective, one a line."
    assert "The terms (revision 1)" in r.text
    r = await client.post(f"{placement}/terms", data=terms | {"parts.0.weeks": "27"})
    assert r.status_code == 422 and error_of(r, "parts-0-weeks")  # the API's reason at the row
    r = await client.post(f"{placement}/terms", data=terms)
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "The terms (revision 2)" in page.text and "Dates: 4 weeks in all" in page.text
    assert page.text.count("<td>Not yet</td>") == 4
    stale = await client.post(f"{placement}/terms", data=terms)  # the form read revision 1
    assert stale.status_code == 409
    assert "The terms changed meanwhile (now revision 2): your changes are not saved." in text(stale)

    # each party accepts for itself; one person, one party; a stale revision said in words
    r = await client.post(accept, data={"csrf": admin, "party": "sending_intermediary", "revision": "2"})
    assert r.status_code == 303
    r = await client.post(accept, data={"csrf": admin, "party": "host_intermediary", "revision": "2"})
    assert r.status_code == 409 and error_of(r, "accept-host_intermediary") == (
        "You accepted for another party already: each party accepts through its own person."
    )
    student = await people.as_("demo-student")
    r = await client.post(accept, data={"csrf": student, "party": "applicant", "revision": "1"})
    assert r.status_code == 409 and error_of(r, "accept-applicant") == (
        "The terms changed meanwhile (now revision 2): read them again before accepting."
    )
    r = await client.post(f"{placement}/reports", data={"csrf": student, "kind": "progress", "text": "Early"})
    assert r.status_code == 409 and "Reports are sent while the placement is active." in text(r)
    r = await client.post(accept, data={"csrf": student, "party": "applicant", "revision": "2"})
    assert r.status_code == 303
    secretary = await people.as_("demo-secretary")
    assert (
        await client.post(accept, data={"csrf": secretary, "party": "host_intermediary", "revision": "2"})
    ).status_code == 303
    sme = await people.as_("demo-sme")
    page = await client.get(placement)
    assert "<dt>Status</dt><dd>Proposed</dd>" in page.text and page.text.count('name="party"') == 1
    assert (await client.post(accept, data={"csrf": sme, "party": "host", "revision": "2"})).status_code == 303
    page = await client.get(placement)
    assert "<dt>Status</dt><dd>Active</dd>" in page.text  # agreed, and its first day is the service's today
    assert page.text.count("Yes, Mar 1, 2027, 9:00\u202fAM (UTC), revision 2") == 4

    # reports while active: the text is needed (at its field); the host's and the applicant's are shown
    r = await client.post(f"{placement}/reports", data={"csrf": sme, "kind": "progress", "text": "  "})
    assert r.status_code == 422 and error_of(r, "text") == "Write the report."
    assert (
        await client.post(f"{placement}/reports", data={"csrf": sme, "kind": "progress", "text": "Settled in"})
    ).status_code == 303
    student = await people.as_("demo-student")
    assert (
        await client.post(f"{placement}/reports", data={"csrf": student, "kind": "final", "text": "Learnt a lot"})
    ).status_code == 303
    page = await client.get(placement)
    assert "Host organisation · Progress report: Settled in" in page.text
    assert "Applicant · Final report: Learnt a lot" in page.text
    mine = await client.get("/placements")
    assert (
        "At Cork Precision Tooling (IE05)" in mine.text
        and "<td>Active</td>" in mine.text
        and "<td>Applicant</td>" in mine.text
    )

    # closing: ending early needs a reason (at its field, nothing ended); completing waits for the last day
    # (2027-03-28: four weeks from 2027-03-01) and for both final reports
    admin = await people.as_("demo-admin")
    r = await client.post(f"{placement}/end", data={"csrf": admin, "reason": " "})
    assert r.status_code == 422 and error_of(r, "reason") == "Say why the placement ends early."
    clock.now = datetime(2027, 3, 27, 23, 59, tzinfo=UTC)
    r = await client.post(f"{placement}/complete", data={"csrf": admin})
    assert r.status_code == 409 and error_of(r, "complete") == (
        "The placement runs until Sunday, March 28, 2027: it is completed from its last day on."
    )
    clock.now = datetime(2027, 3, 28, tzinfo=UTC)
    r = await client.post(f"{placement}/complete", data={"csrf": admin})
    assert (
        r.status_code == 409 and error_of(r, "complete") == "A final report is still missing from: Host organisation."
    )
    sme = await people.as_("demo-sme")
    final = {"csrf": sme, "kind": "final", "text": "A good month"}
    assert (await client.post(f"{placement}/reports", data=final)).status_code == 303
    admin = await people.as_("demo-admin")
    r = await client.post(f"{placement}/complete", data={"csrf": admin})
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "The placement is completed." in page.text and "<dt>Status</dt><dd>Completed</dd>" in page.text
