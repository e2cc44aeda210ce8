"""A council's managers in the web client (the regional app with its demo data, in-process): scheduling a
meeting in its own time zone, checking members in from 60 minutes before the start, drafting the minutes,
closing the meeting with action items, cancelling one; each refusal next to the field it names, and nothing
written when a form is refused. The councils service's clock is fixed (``freeze``) so that every window's
edge is tested at, just before and just after it."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest

from clustergrowth.auth import person_id
from clustergrowth.settings import DEV_ISSUER, RuntimeSettings
from instance.app import create_app
from services.mapping.domain.instrument import latest
from tests.component.test_web_pages import sign_in
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import eventually

COUNCIL = "/councils/council-cork"
API = "/api/v1/councils/councils/council-cork"
# 2031-07-10 10:00 to 11:30 in Dublin, on Irish summer time (UTC+1): 09:00 to 10:30 UTC, worked out by hand
DAY, START_UTC = "2031-07-10", datetime(2031, 7, 10, 9, 0, tzinfo=UTC)
MEETING = {"title": "Test bench review", "mode": "in_person", "place": "Rubicon Centre, Cork"}
MEETING |= {"timezone": "Europe/Dublin", "day": DAY, "start": "10:00", "end": "11:30", "seats": "12"}


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):
        yield c


def freeze(client: httpx.AsyncClient, at: datetime) -> None:
    """Stop the councils service's clock at ``at``."""
    app = cast(httpx.ASGITransport, client._transport).app
    app.state.councils.clock = lambda: at  # type: ignore[attr-defined]


async def meetings(client: httpx.AsyncClient, token: TokenFactory) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/meetings", headers={"Authorization": token("sec", "council_secretary")})
    return list(r.json())


async def members(client: httpx.AsyncClient, token: TokenFactory) -> dict[str, str]:
    """The council's active members by display name -> person id (the API's own list)."""
    r = await client.get(f"{API}/members", headers={"Authorization": token("sec", "council_secretary")})
    return {m["display_name"]: m["person"] for m in r.json()}


def error(page: str, field: str) -> str:
    """The reason shown next to a field (its id with dots as dashes), and that the field points to it."""
    eid = field.replace(".", "-") + "-error"
    assert f'aria-describedby="{eid}"' in page, f"{field} does not point to its error"
    found = re.search(rf'id="{eid}"><strong>Error:</strong> ([^<]*)</p>', page)
    assert found is not None, f"no error shown at {field}"
    return html.unescape(found.group(1))


async def schedule(client: httpx.AsyncClient, csrf: str, **changes: str) -> httpx.Response:
    return await client.post(f"{COUNCIL}/meetings/new", data={"csrf": csrf, **MEETING, **changes})


async def test_a_secretary_schedules_a_meeting_in_its_time_zone(client: httpx.AsyncClient, token: TokenFactory) -> None:
    freeze(client, START_UTC - timedelta(days=30))
    csrf = await sign_in(client, "demo-secretary")
    assert 'href="/councils/council-cork/meetings/new"' in (await client.get(COUNCIL)).text
    form = (await client.get(f"{COUNCIL}/meetings/new")).text
    assert 'value="Europe/Dublin"' in form  # the council's meetings' zone, offered
    before = len(await meetings(client, token))

    r = await schedule(client, csrf, title="", timezone="Mars/Olympus_Mons", seats="many")
    assert r.status_code == 422
    assert error(r.text, "title") == "Enter a title."
    assert error(r.text, "timezone") == "Enter an IANA time zone such as Europe/Dublin."
    assert error(r.text, "seats") == "Enter the number of seats as a whole number."
    r = await schedule(client, csrf, start="12:00", end="11:00")  # the API's rule: named at its field
    assert r.status_code == 422 and "must be after start" in error(r.text, "end")
    r = await schedule(client, csrf, seats="1001")  # the API's bound on seats
    assert r.status_code == 422 and "at most 1,000" in error(r.text, "seats")
    r = await schedule(client, csrf, mode="online", place="", agenda="x" * 201)  # an agenda item's bound
    assert r.status_code == 422 and "at most 200 " in error(r.text, "agenda")
    assert len(await meetings(client, token)) == before  # nothing written

    r = await schedule(client, csrf, agenda="Access rules\n\n  Next year's budget  \n")
    assert r.status_code == 303
    mid = r.headers["location"].split("/meetings/")[1].split("?")[0]
    assert r.headers["location"] == f"{COUNCIL}/meetings/{mid}?done=scheduled"
    made = {m["id"]: m for m in await meetings(client, token)}[mid]
    assert datetime.fromisoformat(made["start"].replace("Z", "+00:00")) == START_UTC
    assert datetime.fromisoformat(made["end"].replace("Z", "+00:00")) == START_UTC + timedelta(minutes=90)
    assert (made["timezone"], made["seats"], made["mode"]) == ("Europe/Dublin", 12, "in_person")
    assert [a["title"] for a in made["agenda"]] == ["Access rules", "Next year's budget"]
    page = (await client.get(r.headers["location"])).text
    assert "The meeting is scheduled." in page and "<li>Access rules</li>" in page


async def test_an_sme_neither_schedules_nor_runs_a_meeting(client: httpx.AsyncClient, token: TokenFactory) -> None:
    await sign_in(client)
    [i] = (await client.get(f"{API}/initiatives", headers=api_as(token, "sme"))).json()  # the demo's
    page = (await client.get(f"{COUNCIL}/initiatives/{i['id']}")).text
    assert "<h2>Progress</h2>" in page and "Report progress" not in page and "/abandon" not in page
    assert "Invite a person" not in (await client.get(COUNCIL)).text
    assert (await client.get(f"{COUNCIL}/meetings/new")).status_code == 403
    assert 'href="/councils/council-cork/meetings/new"' not in (await client.get(COUNCIL)).text
    page = (await client.get(f"{COUNCIL}/meetings/mtg-cork-2")).text  # the demo's scheduled meeting
    assert "Run the meeting" not in page and "/check-in" not in page


async def test_checking_in_drafting_and_closing_a_meeting(client: httpx.AsyncClient, token: TokenFactory) -> None:
    freeze(client, START_UTC - timedelta(days=30))
    csrf = await sign_in(client, "demo-secretary")
    r = await schedule(client, csrf)
    url = r.headers["location"].split("?")[0]
    people = await members(client, token)
    chair = sorted(people.values())[0]  # any active member
    mid = url.rsplit("/", 1)[1]
    member = {"Authorization": token("seed-cork-sme-2", "sme_member")}  # a seeded member of the council
    r = await client.post(f"{API}/meetings/{mid}/registrations", headers=member)
    assert r.status_code == 201, r.text
    page = (await client.get(url)).text
    assert re.search(r'<th scope="row">[^<]+</th><td>a seat</td>', page)  # registrations, with names
    assert f'<th scope="row">{r.json()["registration"]["person"]}</th>' not in page  # named, not by id
    # check-in opens at 09:00 Dublin time, 60 minutes before 10:00 (in English: "Thursday, July 10, 2031 ...")
    assert "Check-in opens at " in page and "9:00" in page.split("Check-in opens at ")[1][:60]
    assert page.count('<option value="p-') >= len(people)  # members to check in and to own action items

    r = await client.post(f"{url}/check-in", data={"csrf": csrf, "person": ""})
    assert r.status_code == 422 and error(r.text, "person") == "Choose the member who is here."
    freeze(client, START_UTC - timedelta(minutes=60, microseconds=1))  # just before check-in opens
    r = await client.post(f"{url}/check-in", data={"csrf": csrf, "person": chair})
    assert r.status_code == 409 and "Check-in opens at " in r.text and "60 minutes before the meeting starts" in r.text
    assert "No one is checked in yet." in r.text  # nothing written
    freeze(client, START_UTC - timedelta(minutes=60))  # at the moment it opens
    r = await client.post(f"{url}/check-in", data={"csrf": csrf, "person": chair})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=checked_in"
    page = (await client.get(r.headers["location"])).text
    assert "The member is checked in." in page and "No one is checked in yet." not in page
    assert f'<option value="{chair}"' not in page.split('id="person"')[1].split("</select>")[0]  # not offered again

    r = await client.post(f"{url}/minutes", data={"csrf": csrf, "text": "   "})
    assert r.status_code == 422 and error(r.text, "text") == "Write the minutes first."
    r = await client.post(f"{url}/minutes", data={"csrf": csrf, "text": "Bench rules agreed.\nBudget next time."})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=drafted"
    page = (await client.get(url)).text
    assert ">Bench rules agreed.\nBudget next time.</textarea>" in page  # the draft, editable, in both forms

    item = {"action_items.1.title": "Publish the rules", "action_items.1.owner": chair}
    freeze(client, START_UTC - timedelta(microseconds=1))  # just before the start: not yet
    r = await client.post(f"{url}/close", data={"csrf": csrf, **item, "action_items.1.due_on": DAY})
    assert r.status_code == 409 and "The meeting can be closed once it has started" in r.text
    freeze(client, START_UTC)
    r = await client.post(f"{url}/close", data={"csrf": csrf, "action_items.1.title": "Publish the rules"})
    assert r.status_code == 422  # a half-filled row: said at its fields, before asking the API
    assert error(r.text, "action_items.1.owner") == "Choose who does it."
    assert error(r.text, "action_items.1.due_on") == "Enter a date."
    r = await client.post(f"{url}/close", data={"csrf": csrf, **item, "action_items.1.due_on": "2031-07-09"})
    assert r.status_code == 422  # the day before the meeting's day in Dublin: the API names the item's field
    assert "before the meeting's day (2031-07-10)" in error(r.text, "action_items.1.due_on")
    assert "action_items-0-due_on-error" not in r.text  # the second row's, not the first (left empty)
    assert "Run the meeting" in r.text  # nothing written: still scheduled
    r = await client.post(f"{url}/close", data={"csrf": csrf, **item, "action_items.1.due_on": DAY})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=closed"
    page = (await client.get(r.headers["location"])).text
    assert "<p>Bench rules agreed.</p><p>Budget next time.</p>" in page  # the draft became the minutes
    assert '<th scope="row">Publish the rules</th><td>Thursday, July 10, 2031</td><td>open</td>' in page
    assert "<dt>Attendees</dt><dd>1</dd>" in page and "Run the meeting" not in page


async def test_cancelling_a_meeting_needs_a_reason(client: httpx.AsyncClient, token: TokenFactory) -> None:
    freeze(client, START_UTC - timedelta(days=30))
    csrf = await sign_in(client, "demo-secretary")
    url = (await schedule(client, csrf)).headers["location"].split("?")[0]
    r = await client.post(f"{url}/cancel", data={"csrf": csrf, "reason": " "})
    assert r.status_code == 422 and error(r.text, "reason") == "Say why the meeting is cancelled."
    r = await client.post(f"{url}/cancel", data={"csrf": csrf, "reason": "x" * 501})  # the API's bound
    assert r.status_code == 422 and "at most 500 " in error(r.text, "reason")
    mid = url.rsplit("/", 1)[1]
    assert {m["id"]: m for m in await meetings(client, token)}[mid]["status"] == "scheduled"  # nothing written
    r = await client.post(f"{url}/cancel", data={"csrf": csrf, "reason": "The venue flooded"})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=cancelled"
    page = (await client.get(r.headers["location"])).text
    assert "<dt>Reason</dt><dd>The venue flooded</dd>" in page and "Run the meeting" not in page
    assert {m["id"]: m for m in await meetings(client, token)}[mid]["status"] == "cancelled"


def api_as(token: TokenFactory, sub: str, role: str = "sme_member") -> dict[str, str]:
    return {"Authorization": token(sub, role)}


async def initiative_of(client: httpx.AsyncClient, token: TokenFactory, iid: str) -> dict[str, Any]:
    r = await client.get(f"{API}/initiatives/{iid}", headers=api_as(token, "sec", "council_secretary"))
    return dict(r.json())


async def put_and_close(
    client: httpx.AsyncClient, token: TokenFactory, csrf: str, url: str, votes: dict[str, str]
) -> str:
    """Put the initiative's launch to the council from its page, let seeded members vote through the API,
    close the decision on the decisions page as endorsed; returns the decision's id."""
    r = await client.post(f"{url}/put", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=put"
    page = (await client.get(r.headers["location"])).text
    [did] = re.findall(r'href="/councils/council-cork/decisions#d-([\w-]+)">Open for votes: ', page)
    for sub, option in votes.items():  # the demo's seeded members of the Cork council
        r = await client.put(f"{API}/decisions/{did}/votes/mine", json={"option": option}, headers=api_as(token, sub))
        assert r.status_code == 200, r.text
    form = {"csrf": csrf, "decision": did, "statement": "Endorsed", "chosen_option": "endorse"}
    r = await client.post(f"{COUNCIL}/decisions/{did}/close", data=form)
    assert r.status_code == 303 and r.headers["location"] == f"{COUNCIL}/decisions?done=closed#d-{did}"
    return did


async def test_closing_a_decision_and_launching_an_initiative_by_it(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    """Launching needs a closed decision with at least one vote and more for than against: none (refused),
    1 for 1 against (a tie, refused), 1 for 0 against (launched); each refusal said in words, nothing
    launched."""
    csrf = await sign_in(client, "demo-secretary")
    form = {"csrf": csrf, "title": "Shared metrology days", "summary": "Lab days for SMEs of the cluster."}
    r = await client.post(f"{COUNCIL}/initiatives/new", data=form)
    iid = r.headers["location"].split("#initiative-")[1]
    url = f"{COUNCIL}/initiatives/{iid}"
    assert (
        f'<a href="{url}">Shared metrology days: its state, co-sponsors and progress</a>'
        in (await client.get(COUNCIL)).text
    )
    page = (await client.get(url)).text
    assert "proposed: waiting for the council&#39;s decision" in page and "Launch the initiative</button>" not in page

    r = await client.post(f"{url}/put", data={"csrf": csrf})
    did = re.findall(r"#d-([\w-]+)\">Open for votes", (await client.get(url)).text)[0]
    bad = {"csrf": csrf, "decision": did, "statement": " ", "chosen_option": ""}
    r = await client.post(f"{COUNCIL}/decisions/{did}/close", data=bad)
    assert r.status_code == 422 and error(r.text, f"statement-{did}") == "Say what the council decided."
    assert error(r.text, f"chosen_option-{did}") == "Choose the outcome."
    past = bad | {"statement": "Endorsed", "chosen_option": "endorse", "review_on": "2001-01-01"}
    r = await client.post(f"{COUNCIL}/decisions/{did}/close", data=past)  # the API's rule, at its field
    assert r.status_code == 422 and "must not be in the past" in error(r.text, f"review_on-{did}")
    r = await client.post(f"{COUNCIL}/decisions/{did}/close", data=past | {"review_on": ""})
    assert r.status_code == 303  # closed without a single vote

    r = await client.post(f"{url}/launch", data={"csrf": csrf, "decision_id": ""})
    assert r.status_code == 422 and error(r.text, "decision_id") == "Choose the decision that launches it."
    r = await client.post(f"{url}/launch", data={"csrf": csrf, "decision_id": did})
    assert r.status_code == 409 and "The decision was closed without a single vote" in r.text
    tie = await put_and_close(client, token, csrf, url, {"seed-cork-chair": "endorse", "seed-cork-sme-1": "object"})
    r = await client.post(f"{url}/launch", data={"csrf": csrf, "decision_id": tie})
    assert r.status_code == 409 and "does not support the launch: 1 for, 1 against" in r.text
    assert (await initiative_of(client, token, iid))["state"] == "proposed"  # nothing launched
    one = await put_and_close(client, token, csrf, url, {"seed-cork-chair": "endorse"})
    r = await client.post(f"{url}/launch", data={"csrf": csrf, "decision_id": one})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=launched"
    assert (await initiative_of(client, token, iid))["decision_id"] == one
    page = (await client.get(r.headers["location"])).text
    assert "The initiative is launched." in page and '<span class="badge">active</span>' in page


async def test_progress_with_its_etag_then_the_end_of_an_initiative(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    """The demo's active Cork initiative: progress saved with the page's ETag; the same ETag again after
    that change is stale (“changed meanwhile”), nothing saved; bad rows at their fields; abandoned with a
    reason. The co-sponsors are listed confirmed or not."""
    csrf = await sign_in(client, "demo-secretary")
    listed = (await client.get(f"{API}/initiatives", headers=api_as(token, "sec", "council_secretary"))).json()
    [i] = [x for x in listed if x["state"] == "active"]
    url = f"{COUNCIL}/initiatives/{i['id']}"
    assert i["co_sponsors"], "the demo's Cork initiative is co-sponsored"
    cities: dict[str, str] = {}

    async def partners_known() -> bool:  # the partners' replicated councils, projected here
        network = (await client.get("/api/v1/councils/network/councils", headers=api_as(token, "a"))).json()
        cities.update({c["council_id"]: c["city"] for c in network})
        return all(c["council_id"] in cities or c["region"] == "IE05" for c in i["co_sponsors"])

    await eventually(partners_known, 30, "the co-sponsoring partner councils")
    page = (await client.get(url)).text
    for c in i["co_sponsors"]:  # named by the partner's city when it is known here, else by its id
        word = "confirmed" if c["confirmed"] else "not confirmed yet"
        name = cities.get(c["council_id"], c["council_id"])
        assert re.search(rf'<th scope="row">{name}</th><td>{c["region"]}</td><td>{word}', page), name
    [etag] = [html.unescape(e) for e in re.findall(r'name="etag" value="([^"]+)"', page)]
    rows = {"milestones.0.title": "Bench installed", "milestones.0.due_on": "2031-03-01", "milestones.0.done": "yes"}
    rows |= {"kpis.0.key": "smes_served", "kpis.0.unit": "SMEs", "kpis.0.target": "12", "kpis.0.value": "5"}
    good = {"csrf": csrf, "etag": etag, "progress": "40", **rows}

    r = await client.post(f"{url}/progress", data=good | {"progress": "101", "kpis.0.target": ""})
    assert r.status_code == 422 and error(r.text, "progress") == "Enter a whole number from 0 to 100."
    assert error(r.text, "kpis.0.target") == "Enter a number."
    r = await client.post(f"{url}/progress", data=good | {"kpis.0.key": "SMEs served"})  # the API's key pattern
    assert r.status_code == 422 and error(r.text, "kpis.0.key")
    assert (await initiative_of(client, token, i["id"]))["progress"] == i["progress"]  # nothing written
    r = await client.post(f"{url}/progress", data=good)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=progress"
    saved = await initiative_of(client, token, i["id"])
    assert (saved["progress"], saved["kpis"]) == (
        40,
        [{"key": "smes_served", "unit": "SMEs", "target": 12.0, "value": 5.0}],
    )
    assert saved["milestones"] == [{"title": "Bench installed", "due_on": "2031-03-01", "done": True}]
    page = (await client.get(url)).text
    assert "40 % done" in page and 'name="kpis.0.key" value="smes_served"' in page
    r = await client.post(f"{url}/progress", data=good | {"progress": "90"})  # the ETag read before the change
    assert r.status_code == 412 and "The initiative was changed meanwhile, so nothing was saved." in r.text
    assert (await initiative_of(client, token, i["id"]))["progress"] == 40

    r = await client.post(f"{url}/abandon", data={"csrf": csrf, "reason": ""})
    assert r.status_code == 422 and error(r.text, "reason") == "Say why the initiative is abandoned."
    r = await client.post(f"{url}/abandon", data={"csrf": csrf, "reason": "The bench supplier closed"})
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=abandoned"
    ended = await initiative_of(client, token, i["id"])
    assert (ended["state"], ended["end_reason"]) == ("abandoned", "The bench supplier closed")
    r = await client.post(f"{url}/complete", data={"csrf": csrf})  # an ended one: the API's 409
    assert r.status_code == 409 and 'class="problem"' in r.text
    assert "Report progress" not in r.text


async def test_a_manager_invites_a_person(client: httpx.AsyncClient, token: TokenFactory) -> None:
    csrf = await sign_in(client, "demo-secretary")
    sec = api_as(token, "sec", "council_secretary")
    before = (await client.get(f"{API}/requests", params={"status": "pending"}, headers=sec)).json()
    form = {"csrf": csrf, "invite.person": "", "invite.display_name": "", "invite.constituency": ""}
    r = await client.post(f"{COUNCIL}/invite", data=form)
    assert r.status_code == 422 and error(r.text, "invite.person").startswith("Enter the person's platform id")
    assert error(r.text, "invite.display_name") == "Enter the name the council shows."
    assert error(r.text, "invite.constituency") == "Choose the constituency the person would represent."
    form |= {"invite.person": "p-not-an-id", "invite.display_name": "Siobhán", "invite.constituency": "investor"}
    r = await client.post(f"{COUNCIL}/invite", data=form)  # the API's pattern for a person's id
    assert r.status_code == 422 and error(r.text, "invite.person")
    assert (await client.get(f"{API}/requests", params={"status": "pending"}, headers=sec)).json() == before
    person = (await client.get("/api/v1/councils/requests/mine", headers=api_as(token, "siobhan"))).status_code
    assert person == 200
    pid = person_id(DEV_ISSUER, "siobhan")
    r = await client.post(f"{COUNCIL}/invite", data=form | {"invite.person": pid, "invite.position": "observer"})
    assert r.status_code == 303 and r.headers["location"] == f"{COUNCIL}?done=invited#invite-title"
    mine = (await client.get("/api/v1/councils/requests/mine", headers=api_as(token, "siobhan"))).json()
    assert [(x["kind"], x["constituency"], x["position"], x["display_name"]) for x in mine] == [
        ("invitation", "investor", "observer", "Siobhán")
    ]


def assessed_sme(n: int) -> dict[str, Any]:
    """An SME of Cork naming the council by its id (the demo's SMEs name it by its city)."""
    return {
        "legal_name": f"Spotlight Tooling {n} Ltd", "country": "IE", "region": "IE05", "nuts3": "IE053",
        "nace_primary": "C28.29", "headcount": 12, "turnover_eur": 1e6, "balance_sheet_eur": 1e6, "founded": 2012,
        "councils": ["council-cork"], "contact": {"name": "Owner", "email": f"owner{n}@example.org"},
        "consent": {"lawful_basis": "consent"},
    }  # fmt: skip


def answers(**by_dimension: int) -> dict[str, int]:
    """Every question of a dimension answered alike (its weighted mean is that answer); others 4."""
    return {q: by_dimension.get(q.rsplit("-", 1)[0], 4) for q in latest().question_ids}


async def spotlight_of(client: httpx.AsyncClient, token: TokenFactory, n: int) -> dict[str, Any]:
    # as the region's staff, who see its small samples (fewer than 10 SMEs are withheld from others)
    r = await client.get(
        "/api/v1/mapping/spotlight", params={"council": "council-cork"}, headers=api_as(token, "a", "council_secretary")
    )
    spot: dict[str, Any] = r.json()
    assert spot["assessed_smes"] <= n
    return spot


async def test_the_councils_spotlight(client: httpx.AsyncClient, token: TokenFactory) -> None:
    """Two SMEs naming the council: talent 1 and 2, finance 2 and 2, every other need 4 and 5, so the
    council's means (hand-computed) are talent 1.5, finance 2.0, the others 4.5, ranked weakest first (ties
    in the instrument's order); each SME's three greatest needs are talent, finance and innovation (ties in
    the instrument's order), so those three are named by 100 % of them. The small-sample warning shows with
    4 SMEs (below 5) and not with 5."""
    for n, (talent, finance, rest) in enumerate([(1, 2, 4), (2, 2, 5)]):
        org = token(f"owner{n}", "sme_member", org=f"spotlight-{n}")
        sid = (await client.post("/api/v1/mapping/smes", json=assessed_sme(n), headers={"Authorization": org})).json()
        others = {d.id: rest for d in latest().dimensions}
        body = {
            "instrument_version": latest().version,
            "answers": answers(**others | {"talent": talent, "finance": finance}),
        }
        r = await client.post(
            f"/api/v1/mapping/smes/{sid['id']}/assessments", json=body, headers={"Authorization": org}
        )
        assert r.status_code == 201, r.text

    async def counted(n: int) -> bool:
        return int((await spotlight_of(client, token, n))["assessed_smes"]) == n

    await eventually(lambda: counted(2), 30, "two SMEs in the council's spotlight")
    csrf = await sign_in(client, "demo-secretary")  # the region's staff: the figures of 2 SMEs are theirs to see
    assert 'href="/councils/council-cork/spotlight"' in (await client.get(COUNCIL)).text
    page = (await client.get(f"{COUNCIL}/spotlight")).text
    assert "(as “council-cork”)" in page and "Sample: 2 SMEs assessed" in page
    assert "Fewer than 5 SMEs are assessed here" in page
    rows = re.findall(r'<tr>\s*<th scope="row">([^<]+)</th>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>', page)
    api = {n["dimension"]: n for n in (await spotlight_of(client, token, 2))["needs"]}
    names = {  # the English names of the needs, as the instrument's owners wrote them
        "innovation": "Innovation and technology adoption",
        "digitalisation": "Digitalisation",
        "internationalisation": "Internationalisation and market access",
        "talent": "Talent and skills",
        "finance": "Access to finance",
        "rnd_facilities": "R&D and facilities access",
        "collaboration": "Collaboration and networking",
        "sustainability": "Sustainability",
    }
    expected = [("talent", "1.5"), ("finance", "2.0")] + [
        (d, "4.5")
        for d in names
        if d not in ("talent", "finance")  # the others tie: the instrument's order
    ]
    assert [(html.unescape(r[0]), r[1]) for r in rows[: len(expected)]] == [(names[d], m) for d, m in expected]
    for d, _mean in expected:  # the network's column is the API's network mean, to one decimal
        assert f"<td>{api[d]['network_mean_maturity']:.1f}</td>" in page
    shares = re.findall(r"<td>(100%|0%)</td>\s*<td>", page)
    assert shares.count("100%") == 3 and shares.count("0%") == len(expected) - 3
    chart = (await client.get(f"{COUNCIL}/spotlight.svg")).text
    network_n = sum(
        c["assessed_smes"] for c in (await client.get("/api/v1/mapping/cluster-map", headers=api_as(token, "a"))).json()
    )
    assert "Cork" in chart and "(n = 2)" in chart and f"Network (n = {network_n})" in chart
    assert ">1.0<" in chart and ">5.0<" in chart and ">1.5<" in chart  # the 1-5 axis, talent's mean
    await client.post("/language", data={"csrf": csrf, "lang": "fr", "next": "/"})
    chart = (await client.get(f"{COUNCIL}/spotlight.svg")).text  # the decimal comma, the words in French
    assert ">1,0<" in chart and ">1,5<" in chart and f"Réseau (n = {network_n})" in chart
    await client.post("/language", data={"csrf": csrf, "lang": "en", "next": "/"})
    csv_rows = (await client.get(f"{COUNCIL}/spotlight.csv")).text.splitlines()
    assert csv_rows[0].startswith("region,council,dimension") and csv_rows[1].startswith(",council-cork,talent,1.5,")

    for n in (2, 3):  # a third and a fourth: still fewer than 5
        org = token(f"owner{n}", "sme_member", org=f"spotlight-{n}")
        sid = (await client.post("/api/v1/mapping/smes", json=assessed_sme(n), headers={"Authorization": org})).json()
        body = {"instrument_version": latest().version, "answers": answers()}
        await client.post(f"/api/v1/mapping/smes/{sid['id']}/assessments", json=body, headers={"Authorization": org})
    await eventually(lambda: counted(4), 30, "four SMEs")
    assert "Fewer than 5 SMEs are assessed here" in (await client.get(f"{COUNCIL}/spotlight")).text
    org = token("owner4", "sme_member", org="spotlight-4")
    sid = (await client.post("/api/v1/mapping/smes", json=assessed_sme(4), headers={"Authorization": org})).json()
    body = {"instrument_version": latest().version, "answers": answers()}
    await client.post(f"/api/v1/mapping/smes/{sid['id']}/assessments", json=body, headers={"Authorization": org})
    await eventually(lambda: counted(5), 30, "five SMEs")
    page = (await client.get(f"{COUNCIL}/spotlight")).text
    assert "Sample: 5 SMEs assessed" in page and "Fewer than 5 SMEs" not in page


async def test_a_council_spotlight_falls_back_to_its_city(client: httpx.AsyncClient, token: TokenFactory) -> None:
    """The demo's SMEs name their council by its city: with none naming its id, the page asks by the city
    and says so; its sample is the API's for that key."""
    await sign_in(client)
    page = (await client.get(f"{COUNCIL}/spotlight")).text
    spot = (
        await client.get("/api/v1/mapping/spotlight", params={"council": "Cork"}, headers=api_as(token, "a"))
    ).json()
    assert spot["assessed_smes"] > 0 and "(as “Cork”)" in page
    assert f"Sample: {spot['assessed_smes']} SMEs assessed" in page
