"""The councils API through the embedded gateway (SQLite store and log), via httpx's ASGI transport: the
issue's done-when scenario with every event checked against its committed schema, the iCalendar feeds
parsed back, who sees what, and a 422 naming the field on every input path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import icalendar
import jsonschema
import pytest

from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings
from instance.app import create_app
from tests.conftest import TokenFactory, asgi_client
from tests.helpers import pid

API = "/api/v1/councils"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "events"


def council(**over: Any) -> dict[str, Any]:
    return {
        "name": "Cluster Growth Council Cork (test)",
        "city": "Cork",
        "host_organisation": "IE05:Munster Technological University",
        "purpose": "Discrete engineering SMEs with the university",
        "themes": [{"key": "finance", "share": 0.38, "source": "growth-needs analysis"}, {"key": "talent"}],
        "success_factors": [{"key": "sme_university"}],
        "composition": {"min_constituencies": 2, "quorum_rule": "majority", "quorum_fraction": 0.5},
        **over,
    }


def meeting(days_ahead: int = 10, **over: Any) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(days=days_ahead)).replace(hour=9, minute=0, second=0, microsecond=0)
    return {
        "title": "Quarterly meeting",
        "mode": "hybrid",
        "place": "Rubicon Centre, Cork",
        "timezone": "Europe/Dublin",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
        "seats": 2,
        "agenda": [{"title": "Growth needs", "minutes": 30}],
        **over,
    }


@pytest.fixture
async def client(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(create_app(settings)):
        yield c


def h(token: TokenFactory, sub: str, *roles: str, org: str | None = None) -> dict[str, str]:
    return {"Authorization": token(sub, *roles, org=org)}


async def events(settings: RuntimeSettings) -> list[Any]:
    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:
        return [e async for _, e in bus.read(["councils.events"])]
    finally:
        await bus.close()


async def published(settings: RuntimeSettings, subject: str, name: str, n: int = 1) -> list[dict[str, Any]]:
    """The events of one type about one aggregate once ``n`` are on the bus, each valid against its
    committed schema."""
    for _ in range(200):
        found = [e for e in await events(settings) if e.name == name and e.partitionkey == subject]
        if len(found) >= n:
            schema = json.loads((SCHEMAS / f"{found[0].type}.json").read_text())
            for e in found:
                jsonschema.validate(e.data, schema)
            return [e.data for e in found]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{n} {name} about {subject} not published")


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    return body


Who = Callable[..., dict[str, str]]  # who(sub, *roles) -> the headers of that person


def set_clock(client: httpx.AsyncClient, at: datetime) -> None:
    """Set the councils service's clock (its handler context's, as the app serves it) to run from ``at``."""
    app = cast(httpx.ASGITransport, client._transport).app
    offset = at - datetime.now(UTC)
    app.state.councils.clock = lambda: datetime.now(UTC) + offset  # type: ignore[attr-defined]


async def done_when(client: httpx.AsyncClient, who: Who) -> dict[str, Any]:
    """The issue's scenario through the API: a secretary forms a council, invites members of three
    constituencies, schedules a meeting; members register (one waitlisted, then promoted on a cancellation);
    attendance is recorded; the council decides; the meeting is closed with minutes and the decision, which
    launches a cross-border initiative with another region's council. Returns the ids it made."""
    sec = who("sec-cork", "council_secretary")
    people = {  # sub: (constituency, position)
        "sme-ann": ("sme", "member"),
        "uni-bea": ("university", "chair"),
        "gov-cal": ("government", "member"),
    }
    r = await client.post(f"{API}/councils", json=council(), headers=sec)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert (
        r.json()["region"] == "IE05" and r.json()["composition"]["quorum"]["label"] == "more than 1/2 of voting members"
    )

    # invitations, accepted by each invited person
    members = {}
    for sub, (constituency, position) in people.items():
        invite = {"person": pid(sub), "constituency": constituency, "position": position, "display_name": sub.title()}
        r = await client.post(f"{API}/councils/{cid}/invitations", json=invite, headers=sec)
        assert r.status_code == 201 and r.json()["status"] == "pending", r.text
        accepted = await client.post(
            f"{API}/councils/{cid}/requests/{r.json()['id']}/accept",
            json={"email": f"{sub}@example.eu"},
            headers=who(sub, "student"),
        )
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text
        members[sub] = accepted.json()["member_id"]
    comp = (await client.get(f"{API}/councils/{cid}/composition", headers=sec)).json()
    assert comp["by_constituency"] == {"sme": 1, "university": 1, "government": 1, "intermediary": 0, "investor": 0}
    assert comp["warnings"] == []

    # a meeting with two seats: the third to register waits, and moves up when a seat frees
    r = await client.post(f"{API}/councils/{cid}/meetings", json=meeting(seats=2), headers=sec)
    assert r.status_code == 201, r.text
    mid, start = r.json()["id"], datetime.fromisoformat(r.json()["start"].replace("Z", "+00:00"))
    got = {}
    for sub in people:
        r = await client.post(f"{API}/councils/{cid}/meetings/{mid}/registrations", headers=who(sub))
        assert r.status_code == 201, r.text
        got[sub] = r.json()["registration"]["status"]
    assert got == {"sme-ann": "registered", "uni-bea": "registered", "gov-cal": "waitlisted"}
    r = await client.delete(f"{API}/councils/{cid}/meetings/{mid}/registrations/mine", headers=who("sme-ann"))
    assert r.status_code == 200 and r.json()["promoted"] == pid("gov-cal"), r.text
    regs = (await client.get(f"{API}/councils/{cid}/meetings/{mid}/registrations", headers=sec)).json()
    assert [(x["person"], x["status"]) for x in regs] == [
        (pid("sme-ann"), "cancelled"),
        (pid("uni-bea"), "registered"),
        (pid("gov-cal"), "registered"),
    ]

    # attendance: two of the three voting members (a majority of 3 is 2); check-in opens 60 minutes before
    check_in = f"{API}/councils/{cid}/meetings/{mid}/check-ins"
    assert problem(await client.post(check_in, json={"person": pid("uni-bea")}, headers=sec), 409)
    set_clock(client, start)  # the meeting starts
    for sub in ("uni-bea", "gov-cal"):
        r = await client.post(f"{API}/councils/{cid}/meetings/{mid}/check-ins", json={"person": pid(sub)}, headers=sec)
        assert r.status_code == 200, r.text
    assert r.json()["private"]["quorum_now"]["met"] is True

    # a member proposes an initiative co-sponsored by Bologna's council (another region: known by id)
    body: dict[str, Any] = {
        "title": "Shared photonics test bench",
        "summary": "Open to SMEs of both clusters",
        "co_sponsors": [{"council_id": "cnl-bologna-7f3a", "region": "ITH5"}],
        "needs": ["technology"],
        "resource_ids": ["ork-rubicon-eq-1"],
    }
    r = await client.post(f"{API}/councils/{cid}/initiatives", json=body, headers=who("sme-ann"))
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    assert (r.json()["regions"], r.json()["cross_border"], r.json()["state"]) == (["IE05", "ITH5"], True, "proposed")

    # the council decides at the meeting: votes (one changed while open), the outcome endorses the launch
    r = await client.post(
        f"{API}/councils/{cid}/decisions", json={"title": "Launch the bench", "initiative_id": iid}, headers=sec
    )
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    vote = f"{API}/councils/{cid}/decisions/{did}/votes/mine"
    for sub, option in (("uni-bea", "object"), ("gov-cal", "endorse"), ("uni-bea", "endorse")):
        r = await client.put(vote, json={"option": option, "reason": "why"}, headers=who(sub))
        assert r.status_code == 200, r.text
    assert r.json()["tally"] == {"endorse": 2, "object": 0, "abstain": 0}
    outcome = {"statement": "Endorsed", "chosen_option": "endorse", "review_on": "2099-01-01"}
    r = await client.post(f"{API}/councils/{cid}/decisions/{did}/close", json=outcome, headers=sec)
    assert r.status_code == 200 and r.json()["state"] == "closed", r.text
    r = await client.put(vote, json={"option": "object"}, headers=who("gov-cal"))
    assert problem(r, 409)

    close = f"{API}/councils/{cid}/meetings/{mid}/close"
    item = {"title": "Book the bench", "owner": pid("uni-bea"), "due_on": "2099-02-01"}
    r = await client.post(close, json={"decisions": [did], "action_items": [item]}, headers=sec)
    assert problem(r, 422)["errors"][0]["field"] == "minutes"
    r = await client.post(
        close, json={"minutes": "Bench endorsed.", "decisions": [did], "action_items": [item]}, headers=sec
    )
    assert r.status_code == 200 and r.json()["status"] == "held" and r.json()["attendees"] == 2, r.text

    r = await client.post(f"{API}/councils/{cid}/initiatives/{iid}/launch", json={"decision_id": did}, headers=sec)
    assert r.status_code == 200 and r.json()["state"] == "active", r.text

    return {"cid": cid, "mid": mid, "did": did, "iid": iid, "members": members}


def check_done_when_events(found: list[CloudEvent], ids: dict[str, Any]) -> None:
    """Every step's event of ``done_when`` is in ``found``, valid against its committed schema."""

    def of(subject: str, name: str, n: int = 1) -> list[dict[str, Any]]:
        got = [e for e in found if e.name == name and e.partitionkey == subject]
        assert len(got) == n, f"{len(got)} {name} about {subject}, not {n}"
        schema = json.loads((SCHEMAS / f"{got[0].type}.json").read_text())
        for e in got:
            jsonschema.validate(e.data, schema)
        return [e.data for e in got]

    cid, mid, did, iid = ids["cid"], ids["mid"], ids["did"], ids["iid"]
    (formed,) = of(cid, "CouncilFormed")
    assert formed["themes"] == ["finance", "talent"] and formed["region"] == "IE05"
    joined = of(cid, "MemberJoined", 3)
    assert sorted(j["constituency"] for j in joined) == ["government", "sme", "university"]
    assert {j["member_id"] for j in joined} == set(ids["members"].values())
    assert all("@" not in json.dumps(j) for j in joined)  # no e-mail (nor name) in events
    (scheduled,) = of(mid, "MeetingScheduled")
    assert (scheduled["seats"], scheduled["sequence"], scheduled["mode"]) == (2, 0, "hybrid")
    (held,) = of(mid, "MeetingHeld")
    assert held["attendance"] == {"government": 1, "university": 1}
    assert (held["attendees"], held["quorum_met"], held["decisions"], held["action_items"]) == (2, True, [did], 1)
    (prop,) = of(iid, "InitiativeProposed")
    (launched,) = of(iid, "InitiativeLaunched")
    assert prop["co_sponsors"] == launched["co_sponsors"] == ["cnl-bologna-7f3a"]
    assert (launched["cross_border"], launched["decision_id"], launched["regions"]) == (True, did, ["IE05", "ITH5"])


async def test_a_secretary_forms_a_council_and_it_meets_decides_and_launches_a_cross_border_initiative(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    ids = await done_when(client, lambda sub, *roles: h(token, sub, *roles))
    for _ in range(200):  # the relay publishes what the writes put in their outboxes
        found = [e for e in await events(settings) if e.partitionkey in {ids["cid"], ids["mid"], ids["iid"]}]
        if len(found) >= 8:
            break
        await asyncio.sleep(0.05)
    check_done_when_events(found, ids)


async def test_the_calendar_feeds_parse_back_with_sequence_and_cancellation(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    sec = h(token, "sec", "council_secretary")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    body = {"person": pid("ann"), "constituency": "sme", "display_name": "Ann"}
    rid = (await client.post(f"{API}/councils/{cid}/invitations", json=body, headers=sec)).json()["id"]
    await client.post(f"{API}/councils/{cid}/requests/{rid}/accept", json={}, headers=h(token, "ann"))
    r = await client.post(f"{API}/councils/{cid}/meetings", json=meeting(), headers=sec)
    mid, etag = r.json()["id"], r.headers["etag"]
    url = f"{API}/councils/{cid}/meetings/{mid}"

    # a change without the ETag read is refused; with it, the meeting's SEQUENCE goes up
    assert problem(await client.patch(url, json={"title": "Moved"}, headers=sec), 428)
    assert problem(await client.patch(url, json={"title": "Moved"}, headers={**sec, "If-Match": '"v9"'}), 412)
    later = meeting(days_ahead=11)
    change = {"title": "Moved", "start": later["start"], "end": later["end"]}
    r = await client.patch(url, json=change, headers={**sec, "If-Match": etag})
    assert r.status_code == 200 and r.json()["sequence"] == 1, r.text

    def vevents(text: bytes) -> list[Any]:
        return [c for c in icalendar.Calendar.from_ical(text).walk("VEVENT") if str(c["UID"]).startswith(mid)]

    feed = await client.get(f"{API}/councils/{cid}/calendar.ics", headers=h(token, "anyone"))
    assert feed.headers["content-type"].startswith("text/calendar")
    (ev,) = vevents(feed.content)
    start = datetime.fromisoformat(later["start"])
    assert (str(ev["SUMMARY"]).endswith("Moved"), int(ev["SEQUENCE"]), str(ev["STATUS"])) == (True, 1, "CONFIRMED")
    assert ev.decoded("DTSTART") == start and str(ev.decoded("DTSTART").tzinfo) == "Europe/Dublin"
    assert str(ev["LOCATION"]) == "Rubicon Centre, Cork"

    r = await client.post(f"{url}/cancel", json={"reason": "venue closed"}, headers=sec)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    mine = await client.get(f"{API}/me/calendar.ics", headers=h(token, "ann"))
    (ev,) = vevents(mine.content)
    assert (int(ev["SEQUENCE"]), str(ev["STATUS"])) == (2, "CANCELLED")
    other = await client.get(f"{API}/me/calendar.ics", headers=h(token, "stranger"))
    assert vevents(other.content) == []


async def test_another_councils_private_items_are_not_found_and_analysts_see_counts(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    staff = h(token, "adm", "region_admin")
    a = (await client.post(f"{API}/councils", json=council(name="A"), headers=staff)).json()["id"]
    b = (await client.post(f"{API}/councils", json=council(name="B"), headers=staff)).json()["id"]
    for cid, sub in ((a, "ann"), (b, "bob")):
        body = {"person": pid(sub), "constituency": "sme", "position": "secretary", "display_name": sub}
        rid = (await client.post(f"{API}/councils/{cid}/invitations", json=body, headers=staff)).json()["id"]
        await client.post(f"{API}/councils/{cid}/requests/{rid}/accept", json={}, headers=h(token, sub))
    did = (await client.post(f"{API}/councils/{b}/decisions", json={"title": "x"}, headers=staff)).json()["id"]
    mid = (await client.post(f"{API}/councils/{b}/meetings", json=meeting(), headers=staff)).json()["id"]
    ann = h(token, "ann", "sme_member")  # secretary of A, nothing of B
    for path in (
        "members",
        "requests",
        "composition",
        "decisions",
        f"decisions/{did}",
        f"meetings/{mid}/registrations",
    ):
        assert problem(await client.get(f"{API}/councils/{b}/{path}", headers=ann), 404), path
        assert (await client.get(f"{API}/councils/{b}/{path}", headers=h(token, "bob"))).status_code == 200, path
    # public: the profile, the meetings (without their private part), the initiatives
    assert (await client.get(f"{API}/councils/{b}", headers=ann)).status_code == 200
    r = await client.get(f"{API}/councils/{b}/meetings/{mid}", headers=ann)
    assert r.status_code == 200 and r.json()["private"] is None
    assert (await client.get(f"{API}/councils/{b}/meetings/{mid}", headers=h(token, "bob"))).json()["private"]
    # the secretary of A manages A, not B
    assert (await client.post(f"{API}/councils/{a}/meetings", json=meeting(), headers=ann)).status_code == 201
    assert problem(await client.post(f"{API}/councils/{b}/meetings", json=meeting(), headers=ann), 403)
    # analysts: counts, not names
    analyst = h(token, "ana", "analyst")
    assert (await client.get(f"{API}/councils/{b}/composition", headers=analyst)).json()["members"] == 1
    assert problem(await client.get(f"{API}/councils/{b}/members", headers=analyst), 404)
    # the e-mail of a member: for managers and herself, not for other members
    names = (await client.get(f"{API}/councils/{b}/members", headers=h(token, "bob"))).json()
    assert [m["display_name"] for m in names] == ["bob"]


async def test_an_application_approved_and_one_rejected(client: httpx.AsyncClient, token: TokenFactory) -> None:
    sec = h(token, "sec", "council_secretary")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    apply = {"council_id": cid, "constituency": "investor", "display_name": "Ivo", "motivation": "seed fund"}
    ivo = h(token, "ivo", "sme_member", org="Fund")
    r = await client.post(f"{API}/applications", json=apply, headers=ivo)
    assert r.status_code == 201 and r.json()["organisation"] == "IE05:Fund", r.text
    rid = r.json()["id"]
    assert problem(await client.post(f"{API}/applications", json=apply, headers=ivo), 409)  # pending already
    assert problem(await client.post(f"{API}/councils/{cid}/requests/{rid}/approve", headers=ivo), 403)
    r = await client.post(f"{API}/councils/{cid}/requests/{rid}/approve", headers=sec)
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["member_id"], r.text
    mine = (await client.get(f"{API}/requests/mine", headers=ivo)).json()
    assert [(x["id"], x["status"]) for x in mine] == [(rid, "approved")]
    zoe = h(token, "zoe")
    rid = (await client.post(f"{API}/applications", json={**apply, "display_name": "Zoe"}, headers=zoe)).json()["id"]
    r = await client.post(f"{API}/councils/{cid}/requests/{rid}/reject", json={"reason": "full"}, headers=sec)
    assert (r.json()["status"], r.json()["reason"], r.json()["member_id"]) == ("rejected", "full", None)
    members = (await client.get(f"{API}/councils/{cid}/members", headers=sec)).json()
    assert [m["person"] for m in members] == [pid("ivo")]


async def test_a_member_exports_her_data_and_erasure_forgets_it(
    client: httpx.AsyncClient, settings: RuntimeSettings, token: TokenFactory
) -> None:
    sec = h(token, "sec", "council_secretary")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    body = {"person": pid("ann"), "constituency": "sme", "display_name": "Ann Lee", "email": "ann@example.eu"}
    rid = (await client.post(f"{API}/councils/{cid}/invitations", json=body, headers=sec)).json()["id"]
    mem = (await client.post(f"{API}/councils/{cid}/requests/{rid}/accept", json={}, headers=h(token, "ann"))).json()
    mid = mem["member_id"]
    did = (await client.post(f"{API}/councils/{cid}/decisions", json={"title": "x"}, headers=sec)).json()["id"]
    vote = {"option": "endorse", "reason": "my own words"}
    await client.put(f"{API}/councils/{cid}/decisions/{did}/votes/mine", json=vote, headers=h(token, "ann"))
    export = f"{API}/councils/{cid}/members/{mid}/export"
    assert problem(await client.get(export, headers=h(token, "bob")), 404)
    r = await client.get(export, headers=h(token, "ann"))
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    held = r.json()
    assert (held["membership"]["display_name"], held["membership"]["email"]) == ("Ann Lee", "ann@example.eu")
    assert [v["reason"] for v in held["votes"]] == ["my own words"]

    assert problem(await client.delete(f"{API}/councils/{cid}/members/{mid}", headers=sec), 404)  # not an eraser
    assert (await client.delete(f"{API}/councils/{cid}/members/{mid}", headers=h(token, "ann"))).status_code == 204
    held = (await client.get(export, headers=h(token, "ann"))).json()
    assert (held["membership"]["display_name"], held["membership"]["email"]) == (None, None)
    assert held["membership"]["end_reason"] == "erased" and held["requests"][0]["display_name"] is None
    assert [v["reason"] for v in held["votes"]] == [None]
    left = await published(settings, cid, "MemberLeft")
    assert left[0]["reason"] == "erased" and left[0]["member_id"] == mid


async def test_the_profile_changes_only_with_the_etag_read(client: httpx.AsyncClient, token: TokenFactory) -> None:
    sec = h(token, "sec", "council_secretary")
    r = await client.post(f"{API}/councils", json=council(), headers=sec)
    url, etag = f"{API}/councils/{r.json()['id']}", r.headers["etag"]
    assert problem(await client.patch(url, json={"purpose": "New"}, headers={**sec, "If-Match": "*"}), 428)
    r = await client.patch(url, json={"purpose": "New"}, headers={**sec, "If-Match": etag})
    assert r.status_code == 200 and r.json()["purpose"] == "New" and r.headers["etag"] != etag
    assert problem(await client.patch(url, json={"purpose": "Old"}, headers={**sec, "If-Match": etag}), 412)
    assert problem(await client.patch(url, json={"purpose": "x"}, headers=h(token, "nobody")), 403)


async def test_a_partial_composition_is_merged_into_the_stored_one(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    sec = h(token, "sec", "council_secretary")
    rules = {"min_constituencies": 3, "quorum_rule": "at_least", "quorum_fraction": 0.75}
    r = await client.post(f"{API}/councils", json=council(composition=rules), headers=sec)
    url, etag = f"{API}/councils/{r.json()['id']}", r.headers["etag"]
    r = await client.patch(url, json={"composition": {"quorum_fraction": "3/5"}}, headers={**sec, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["composition"] == {
        "min_constituencies": 3,
        "quorum": {"rule": "at_least", "fraction": 0.6, "exact": "3/5", "label": "at least 3/5 of voting members"},
    }
    # only the rule, to majority: the stored fraction (3/5) is kept; then a fraction of 1 with it is refused
    to_majority = {"composition": {"quorum_rule": "majority"}}
    r = await client.patch(url, json=to_majority, headers={**sec, "If-Match": r.headers["etag"]})
    assert r.status_code == 200 and r.json()["composition"]["quorum"]["label"] == "more than 3/5 of voting members"
    all_of_them = {"composition": {"quorum_fraction": 1}}
    r = await client.patch(url, json=all_of_them, headers={**sec, "If-Match": r.headers["etag"]})
    assert problem(r, 422)["errors"][0]["field"] == "composition.quorum_fraction"


async def test_a_co_sponsor_known_here_is_confirmed_and_another_regions_is_not(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    staff = h(token, "adm", "region_admin")
    cid = (await client.post(f"{API}/councils", json=council(), headers=staff)).json()["id"]
    other = (await client.post(f"{API}/councils", json=council(city="Limerick"), headers=staff)).json()["id"]
    sponsors = [{"council_id": other, "region": "IE05"}, {"council_id": "cnl-made-up", "region": "TR10"}]
    body = {"title": "T", "summary": "S", "co_sponsors": sponsors}
    r = await client.post(f"{API}/councils/{cid}/initiatives", json=body, headers=staff)
    assert r.status_code == 201, r.text
    assert [(s["council_id"], s["confirmed"]) for s in r.json()["co_sponsors"]] == [
        (other, True),
        ("cnl-made-up", False),
    ]
    forged = {
        **body,
        "co_sponsors": [{"council_id": "cnl-made-up", "region": "TR10"}, {"council_id": other, "region": "FR10"}],
    }
    r = await client.post(f"{API}/councils/{cid}/initiatives", json=forged, headers=staff)
    assert [e["field"] for e in problem(r, 422)["errors"]] == ["co_sponsors.1.council_id"]


async def test_a_proposer_reports_progress_only_while_she_is_a_member(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    sec = h(token, "sec", "council_secretary")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    mem = await member(client, token, cid, "ann")
    ann = h(token, "ann")
    base = f"{API}/councils/{cid}/initiatives"
    iid = (await client.post(base, json={"title": "T", "summary": "S"}, headers=ann)).json()["id"]
    did = (
        await client.post(f"{API}/councils/{cid}/decisions", json={"title": "Go?", "initiative_id": iid}, headers=sec)
    ).json()["id"]
    await client.put(f"{API}/councils/{cid}/decisions/{did}/votes/mine", json={"option": "endorse"}, headers=ann)
    closed = {"statement": "Go", "chosen_option": "endorse"}
    await client.post(f"{API}/councils/{cid}/decisions/{did}/close", json=closed, headers=sec)
    assert (await client.post(f"{base}/{iid}/launch", json={"decision_id": did}, headers=sec)).status_code == 200
    etag = (await client.get(f"{base}/{iid}", headers=ann)).headers["etag"]
    r = await client.put(f"{base}/{iid}/progress", json={"progress": 10}, headers={**ann, "If-Match": etag})
    assert r.status_code == 200, r.text
    await client.post(f"{API}/councils/{cid}/members/{mem}/end", json={"reason": "removed"}, headers=sec)
    r = await client.put(
        f"{base}/{iid}/progress", json={"progress": 99}, headers={**ann, "If-Match": r.headers["etag"]}
    )
    assert problem(r, 403)


async def test_members_registering_leave_the_meetings_etag_and_another_managers_change_does_not(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    sec, adm = h(token, "sec", "council_secretary"), h(token, "adm", "region_admin")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    await member(client, token, cid, "ann")
    r = await client.post(f"{API}/councils/{cid}/meetings", json=meeting(seats=2), headers=sec)
    url, etag = f"{API}/councils/{cid}/meetings/{r.json()['id']}", r.headers["etag"]
    assert (await client.post(f"{url}/registrations", headers=h(token, "ann"))).status_code == 201
    r = await client.patch(url, json={"title": "Moved"}, headers={**sec, "If-Match": etag})  # read before it
    assert r.status_code == 200 and r.json()["seats_taken"] == 1, r.text
    seen_by_sec = r.headers["etag"]
    r = await client.patch(url, json={"seats": 3}, headers={**adm, "If-Match": seen_by_sec})  # another manager
    assert r.status_code == 200, r.text
    assert problem(await client.patch(url, json={"title": "Again"}, headers={**sec, "If-Match": seen_by_sec}), 412)


async def test_initiatives_move_only_along_their_states(client: httpx.AsyncClient, token: TokenFactory) -> None:
    sec = h(token, "sec", "council_secretary")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    base = f"{API}/councils/{cid}/initiatives"
    iid = (await client.post(base, json={"title": "T", "summary": "S"}, headers=sec)).json()["id"]
    assert problem(await client.post(f"{base}/{iid}/complete", headers=sec), 409)
    open_ = {"title": "Go?", "initiative_id": iid}
    did = (await client.post(f"{API}/councils/{cid}/decisions", json=open_, headers=sec)).json()["id"]
    r = await client.post(f"{base}/{iid}/launch", json={"decision_id": did}, headers=sec)  # still open
    assert problem(r, 422)["errors"][0]["field"] == "decision_id"
    closed = {"statement": "Go", "chosen_option": "endorse"}
    await client.post(f"{API}/councils/{cid}/decisions/{did}/close", json=closed, headers=sec)
    r = await client.post(f"{base}/{iid}/launch", json={"decision_id": did}, headers=sec)  # closed without votes
    assert "without a single vote" in problem(r, 409)["detail"]
    for sub in ("ann", "bob"):
        await member(client, token, cid, sub)
    tied = (await client.post(f"{API}/councils/{cid}/decisions", json=open_, headers=sec)).json()["id"]
    for sub, option in (("ann", "endorse"), ("bob", "object")):
        await client.put(
            f"{API}/councils/{cid}/decisions/{tied}/votes/mine", json={"option": option}, headers=h(token, sub)
        )
    await client.post(f"{API}/councils/{cid}/decisions/{tied}/close", json=closed, headers=sec)
    r = await client.post(f"{base}/{iid}/launch", json={"decision_id": tied}, headers=sec)  # 1 for, 1 against
    assert "1 for 'endorse', 1 against" in problem(r, 409)["detail"]
    did = (await client.post(f"{API}/councils/{cid}/decisions", json=open_, headers=sec)).json()["id"]
    await client.put(
        f"{API}/councils/{cid}/decisions/{did}/votes/mine", json={"option": "endorse"}, headers=h(token, "ann")
    )
    await client.post(f"{API}/councils/{cid}/decisions/{did}/close", json=closed, headers=sec)
    r = await client.post(f"{base}/{iid}/launch", json={"decision_id": did}, headers=sec)  # 1 for, 0 against
    assert r.json()["state"] == "active"
    etag = (await client.get(f"{base}/{iid}", headers=sec)).headers["etag"]
    assert problem(await client.put(f"{base}/{iid}/progress", json={"progress": 1}, headers=sec), 428)
    progress = {"milestones": [{"title": "Bench installed", "due_on": "2099-01-01"}], "progress": 30}
    r = await client.put(f"{base}/{iid}/progress", json=progress, headers={**sec, "If-Match": etag})
    assert r.status_code == 200 and r.json()["progress"] == 30, r.text
    assert (
        problem(await client.post(f"{base}/{iid}/abandon", json={}, headers=sec), 422)["errors"][0]["field"] == "reason"
    )
    r = await client.post(f"{base}/{iid}/abandon", json={"reason": "no funds"}, headers=sec)
    assert r.status_code == 200 and r.json()["state"] == "abandoned" and r.json()["end_reason"] == "no funds"
    assert problem(await client.post(f"{base}/{iid}/complete", headers=sec), 409)


INVITE = {"person": "{p}", "constituency": "sme", "display_name": "A"}
IDEA = {"title": "T", "summary": "S"}
BAD: list[tuple[str, str, dict[str, Any], str]] = [  # method, path under the council, body, the field named
    ("POST", "", council(composition={"min_constituencies": 1}), "composition.min_constituencies"),
    ("POST", "", council(composition={"quorum_rule": "majority", "quorum_fraction": 1}), "composition.quorum_fraction"),
    ("POST", "", council(composition={"quorum_rule": "at_least", "quorum_fraction": "3/2"}),
     "composition.quorum_fraction"),
    ("POST", "", council(composition={"quorum_rule": "at_least", "quorum_fraction": 0}), "composition.quorum_fraction"),
    ("POST", "", council(host_organisation="MTU"), "host_organisation"),
    ("POST", "", council(themes=[{"key": "finance"}, {"key": "finance"}]), "themes"),
    ("POST", "", council(themes=[{"key": "finance", "share": 1.5}]), "themes.0.share"),
    ("POST", "", council(purpose="x" * 4001), "purpose"),
    ("POST", "", council(themes=[{"key": f"t{i}"} for i in range(21)]), "themes"),
    ("PATCH", "{c}", {"success_factors": [{"key": "fame"}]}, "success_factors.0.key"),
    ("POST", "{c}/invitations", {"person": "alice", "constituency": "sme", "display_name": "A"}, "person"),
    ("POST", "{c}/invitations", {"person": "{p}", "constituency": "press", "display_name": "A"}, "constituency"),
    ("POST", "{c}/invitations", {"person": "{p}", "constituency": "sme", "display_name": "A", "email": "no"}, "email"),
    ("POST", "{c}/invitations", {**INVITE, "position": "king"}, "position"),
    ("POST", "/applications", {"council_id": "{c}", "constituency": "sme", "display_name": ""}, "display_name"),
    ("POST", "{c}/requests/zz/reject", {"reason": "x" * 501}, "reason"),
    ("POST", "{c}/members/zz/end", {"reason": "bored"}, "reason"),
    ("POST", "{c}/meetings", meeting(mode="in_person", place=None), "place"),
    ("POST", "{c}/meetings", meeting(timezone="Europe/Atlantis"), "timezone"),
    ("POST", "{c}/meetings", meeting(seats=0), "seats"),
    ("POST", "{c}/meetings", meeting(start="2027-03-01T09:00:00"), "start"),
    ("POST", "{c}/meetings", meeting(days_ahead=-3), "start"),
    ("POST", "{c}/meetings", meeting(end=meeting()["start"]), "end"),
    ("POST", "{c}/meetings", meeting(agenda=[{"title": "a"}] * 51), "agenda"),
    ("PATCH", "{c}/meetings/{m}", {"seats": 1001}, "seats"),
    ("POST", "{c}/meetings/{m}/cancel", {"reason": ""}, "reason"),
    ("POST", "{c}/meetings/{m}/check-ins", {"person": "{q}"}, "person"),  # not a member
    ("PUT", "{c}/meetings/{m}/minutes", {"text": ""}, "text"),
    ("POST", "{c}/meetings/{m}/close", {"minutes": "M", "decisions": ["dec-nope"]}, "decisions"),
    ("POST", "{c}/meetings/{m}/close", {"minutes": "M", "action_items": [{"title": "t", "owner": "{p}"}]},
     "action_items.0.due_on"),
    ("POST", "{c}/decisions", {"title": "T", "method": "vote", "options": ["yes"]}, "options"),
    ("POST", "{c}/decisions", {"title": "T", "options": ["Yes!"]}, "options.0"),
    ("POST", "{c}/decisions", {"title": "T", "initiative_id": "ini-nope"}, "initiative_id"),
    ("PUT", "{c}/decisions/{d}/votes/mine", {"option": "maybe"}, "option"),
    ("POST", "{c}/decisions/{d}/close", {"statement": "s", "chosen_option": "maybe"}, "chosen_option"),
    ("POST", "{c}/decisions/{d}/close", {"statement": "s", "chosen_option": "endorse", "review_on": "2001-01-01"},
     "review_on"),
    ("POST", "{c}/initiatives", {**IDEA, "co_sponsors": [{"council_id": "x", "region": "Italy"}]},
     "co_sponsors.0.region"),
    ("POST", "{c}/initiatives", {**IDEA, "co_sponsors": [{"council_id": "cnl-nope", "region": "IE05"}]},
     "co_sponsors.0.council_id"),
    ("POST", "{c}/initiatives", {**IDEA, "co_sponsors": [{"council_id": "{c}", "region": "ITH5"}]},
     "co_sponsors.0.council_id"),  # a council known here, named under another region
    ("POST", "{c}/initiatives", {**IDEA, "needs": ["a", "a"]}, "needs"),
    ("POST", "{c}/initiatives", {**IDEA, "challenge_ids": ["c"] * 51}, "challenge_ids"),
    ("POST", "{c}/initiatives/{i}/launch", {"decision_id": "dec-nope"}, "decision_id"),
    ("PUT", "{c}/initiatives/{i}/progress", {"progress": 101}, "progress"),
    ("POST", "{c}/initiatives/{i}/abandon", {"reason": ""}, "reason"),
    # control characters: none in a single line, tab and line breaks only in multi-line text
    ("POST", "", council(name="Cork\x00"), "name"),
    ("POST", "", council(purpose="a\x1b[2Jb"), "purpose"),
    ("POST", "{c}/invitations", {**INVITE, "display_name": "Ann\tLee"}, "display_name"),
    ("POST", "/applications", {"council_id": "{c}", "constituency": "sme", "display_name": "A", "motivation": "a\x07"},
     "motivation"),
    ("POST", "{c}/requests/zz/reject", {"reason": "full\nsorry"}, "reason"),
    ("POST", "{c}/meetings", meeting(place="Room\x7f1"), "place"),
    ("POST", "{c}/meetings/{m}/cancel", {"reason": "strike\r\nat the venue"}, "reason"),
    ("PUT", "{c}/meetings/{m}/minutes", {"text": "line one\rline two"}, "text"),
    ("PUT", "{c}/decisions/{d}/votes/mine", {"option": "endorse", "reason": "a\x1fb"}, "reason"),
    ("POST", "{c}/initiatives", {**IDEA, "summary": "a\x0bb"}, "summary"),
    # an application names a council of this region (a field of the body: 422, not 404)
    ("POST", "/applications", {"council_id": "cnl-nope", "constituency": "sme", "display_name": "A"}, "council_id"),
    # a hybrid meeting's place cleared with null: it needs one
    ("PATCH", "{c}/meetings/{m}", {"place": None}, "place"),
]  # fmt: skip


async def test_bad_input_on_every_input_path_is_422_naming_the_field(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    sec = h(token, "sec", "council_secretary")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    body = {"person": pid("ann"), "constituency": "sme", "position": "secretary", "display_name": "Ann"}
    rid = (await client.post(f"{API}/councils/{cid}/invitations", json=body, headers=sec)).json()["id"]
    await client.post(f"{API}/councils/{cid}/requests/{rid}/accept", json={}, headers=h(token, "ann"))
    r = await client.post(f"{API}/councils/{cid}/meetings", json=meeting(), headers=sec)
    mid, etag = r.json()["id"], r.headers["etag"]
    did = (await client.post(f"{API}/councils/{cid}/decisions", json={"title": "x"}, headers=sec)).json()["id"]
    iid = (
        await client.post(f"{API}/councils/{cid}/initiatives", json={"title": "T", "summary": "S"}, headers=sec)
    ).json()["id"]
    names = {"{c}": cid, "{m}": mid, "{d}": did, "{i}": iid, "{p}": pid("ann"), "{q}": pid("stranger")}

    def fill(x: Any) -> Any:
        if isinstance(x, str):
            for k, v in names.items():
                x = x.replace(k, v)
            return x
        if isinstance(x, list):
            return [fill(v) for v in x]
        return {k: fill(v) for k, v in x.items()} if isinstance(x, dict) else x

    ann = h(token, "ann")  # a voting member who is also the council's secretary
    for method, path, bad, field in BAD:
        url = f"{API}{fill(path)}" if path.startswith("/") else f"{API}/councils/{fill(path)}".rstrip("/")
        headers = {**(ann if path else sec), "If-Match": etag}  # forming a council is for the region's staff
        r = await client.request(method, url, json=fill(bad), headers=headers)
        named = [e["field"] for e in problem(r, 422)["errors"]]
        assert field in named, (method, path, field, named)
    # nothing was written by the refused requests: still one meeting, one decision, one initiative
    for kind in ("meetings", "decisions", "initiatives"):
        assert len((await client.get(f"{API}/councils/{cid}/{kind}", headers=ann)).json()) == 1, kind


async def member(client: httpx.AsyncClient, token: TokenFactory, cid: str, sub: str, **over: Any) -> str:
    """``sub`` invited by the region's staff and accepting: her membership id."""
    staff = h(token, "adm", "region_admin")
    body = {"person": pid(sub), "constituency": "sme", "display_name": sub.title(), **over}
    r = await client.post(f"{API}/councils/{cid}/invitations", json=body, headers=staff)
    assert r.status_code == 201, r.text
    r = await client.post(f"{API}/councils/{cid}/requests/{r.json()['id']}/accept", json={}, headers=h(token, sub))
    assert r.status_code == 200, r.text
    mid: str = r.json()["member_id"]
    return mid


async def test_a_former_member_holds_no_seat_is_not_promoted_and_leaves_the_calendar(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    sec = h(token, "sec", "council_secretary")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    mem = {sub: await member(client, token, cid, sub) for sub in ("ann", "cat", "bob", "eve")}
    mid = (await client.post(f"{API}/councils/{cid}/meetings", json=meeting(seats=1), headers=sec)).json()["id"]
    url = f"{API}/councils/{cid}/meetings/{mid}"
    for sub in ("ann", "cat", "bob"):  # ann sits; cat, then bob wait
        assert (await client.post(f"{url}/registrations", headers=h(token, sub))).status_code == 201
    r = await client.post(f"{API}/councils/{cid}/members/{mem['cat']}/end", json={"reason": "resigned"}, headers=sec)
    assert r.status_code == 200, r.text
    r = await client.delete(f"{url}/registrations/mine", headers=h(token, "ann"))
    assert r.status_code == 200 and r.json()["promoted"] == pid("bob"), r.text
    assert mid in (await client.get(f"{API}/me/calendar.ics", headers=h(token, "bob"))).text
    # bob erases his data: his seat frees and eve, registering now, takes it
    assert (
        await client.delete(f"{API}/councils/{cid}/members/{mem['bob']}", headers=h(token, "bob"))
    ).status_code == 204
    assert (await client.get(url, headers=sec)).json()["seats_taken"] == 0
    r = await client.post(f"{url}/registrations", headers=h(token, "eve"))
    assert r.status_code == 201 and r.json()["registration"]["status"] == "registered", r.text
    regs = (await client.get(f"{url}/registrations", headers=sec)).json()
    assert [(x["person"], x["status"]) for x in regs] == [
        (pid("ann"), "cancelled"),
        (pid("cat"), "lapsed"),
        (pid("bob"), "lapsed"),
        (pid("eve"), "registered"),
    ]
    assert mid not in (await client.get(f"{API}/me/calendar.ics", headers=h(token, "cat"))).text


async def test_a_person_who_never_joined_exports_and_erases_her_requests(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    """Ann applies to one council and is invited to another; she never joins. She downloads both requests
    with every field; nobody else gets them. Erasing one blanks her name, e-mail and motivation, keeps its
    id and kind, and withdraws it while pending (she may apply again); a decided one keeps its status."""
    staff = h(token, "adm", "region_admin")
    a = (await client.post(f"{API}/councils", json=council(name="A"), headers=staff)).json()["id"]
    b = (await client.post(f"{API}/councils", json=council(name="B", city="Limerick"), headers=staff)).json()["id"]
    ann = h(token, "ann", "sme_member", org="Ann Ltd")
    applied = {"council_id": a, "constituency": "sme", "display_name": "Ann Lee", "email": "ann@example.eu"}
    applied["motivation"] = "We build\tsensors"
    app = (await client.post(f"{API}/applications", json=applied, headers=ann)).json()
    invite = {"person": pid("ann"), "constituency": "sme", "display_name": "Dr Ann Lee", "email": "a.lee@example.eu"}
    inv = (await client.post(f"{API}/councils/{b}/invitations", json=invite, headers=staff)).json()
    r = await client.post(f"{API}/councils/{b}/requests/{inv['id']}/decline", headers=ann)
    assert r.status_code == 200 and r.json()["status"] == "declined", r.text

    export = f"{API}/requests/mine/export"
    r = await client.get(export, headers=ann)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"], r.text
    held = r.json()
    assert held["person"] == pid("ann")
    got = {x["id"]: x for x in held["requests"]}
    assert set(got) == {app["id"], inv["id"]}
    mine = got[app["id"]]
    assert (mine["council_id"], mine["kind"], mine["status"], mine["organisation"]) == (
        a,
        "application",
        "pending",
        "IE05:Ann Ltd",
    )
    given = ("Ann Lee", "ann@example.eu", "We build\tsensors")
    assert (mine["display_name"], mine["email"], mine["motivation"]) == given
    theirs = got[inv["id"]]
    assert (theirs["council_id"], theirs["display_name"], theirs["email"], theirs["status"]) == (
        b,
        "Dr Ann Lee",
        "a.lee@example.eu",
        "declined",
    )
    assert theirs["created_by"] == pid("adm") and theirs["decided_by"] == pid("ann")
    assert (await client.get(export, headers=h(token, "bob"))).json()["requests"] == []

    # only she erases: another person, the council's managers, an unknown id are all 404
    one = f"{API}/requests/mine/{app['id']}"
    for other in (h(token, "bob"), staff, h(token, "sec", "council_secretary")):
        assert problem(await client.delete(one, headers=other), 404)
    assert problem(await client.delete(f"{API}/requests/mine/req-nope", headers=ann), 404)
    assert (await client.delete(one, headers=ann)).status_code == 204
    assert (await client.delete(f"{API}/requests/mine/{inv['id']}", headers=ann)).status_code == 204
    got = {x["id"]: x for x in (await client.get(export, headers=ann)).json()["requests"]}
    for rid, status in ((app["id"], "withdrawn"), (inv["id"], "declined")):
        x = got[rid]
        assert (x["display_name"], x["email"], x["motivation"], x["status"]) == (None, None, None, status), x
    assert got[app["id"]]["decided_by"] == pid("ann") and got[app["id"]]["kind"] == "application"
    listed = (await client.get(f"{API}/councils/{a}/requests", headers=staff)).json()
    assert [(x["id"], x["status"], x["display_name"]) for x in listed] == [(app["id"], "withdrawn", None)]
    assert problem(await client.post(f"{API}/councils/{a}/requests/{app['id']}/approve", headers=staff), 409)
    assert (await client.delete(one, headers=ann)).status_code == 204  # again: nothing more to forget
    r = await client.post(f"{API}/applications", json=applied, headers=ann)  # no pending request any more
    assert r.status_code == 201, r.text


def freeze_clock(client: httpx.AsyncClient, at: datetime) -> None:
    """Stop the councils service's clock at ``at`` (each request reads exactly that instant)."""
    app = cast(httpx.ASGITransport, client._transport).app
    app.state.councils.clock = lambda: at  # type: ignore[attr-defined]


async def test_an_invitation_expires_after_30_days_and_a_manager_withdraws_one_pending(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    """Invitations made at T: at T + 30 days - 1 µs one is accepted; at T + 30 days exactly (and after) the
    other is expired: accepting is 409, it is listed as expired and no longer as pending, and the person may
    be invited again. A manager withdraws a pending invitation; the invitee cannot, a stranger sees nothing."""
    t = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)
    freeze_clock(client, t)
    sec = h(token, "sec", "council_secretary")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    rids = {}
    for sub in ("ann", "bob", "cat"):
        body = {"person": pid(sub), "constituency": "sme", "display_name": sub.title()}
        r = await client.post(f"{API}/councils/{cid}/invitations", json=body, headers=sec)
        assert r.status_code == 201 and r.json()["expires_at"] == "2031-06-03T12:00:00.000000Z", r.text
        rids[sub] = r.json()["id"]
    req = f"{API}/councils/{cid}/requests"

    # withdrawn by a manager (not by the invitee, and a stranger does not see it)
    assert problem(await client.post(f"{req}/{rids['cat']}/withdraw", headers=h(token, "cat")), 403)
    assert problem(await client.post(f"{req}/{rids['cat']}/withdraw", headers=h(token, "eve")), 404)
    r = await client.post(f"{req}/{rids['cat']}/withdraw", headers=sec)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
    assert problem(await client.post(f"{req}/{rids['cat']}/accept", json={}, headers=h(token, "cat")), 409)
    assert problem(await client.post(f"{req}/{rids['cat']}/withdraw", headers=sec), 409)

    freeze_clock(client, t + timedelta(days=30) - timedelta(microseconds=1))
    r = await client.post(f"{req}/{rids['ann']}/accept", json={}, headers=h(token, "ann"))
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    for at in (t + timedelta(days=30), t + timedelta(days=30, microseconds=1)):
        freeze_clock(client, at)
        assert problem(await client.post(f"{req}/{rids['bob']}/accept", json={}, headers=h(token, "bob")), 409)
        mine = (await client.get(f"{API}/requests/mine", headers=h(token, "bob"))).json()
        assert [(x["id"], x["status"]) for x in mine] == [(rids["bob"], "expired")]
        expired = (await client.get(req, params={"status": "expired"}, headers=sec)).json()
        assert [x["id"] for x in expired] == [rids["bob"]]
        assert (await client.get(req, params={"status": "pending"}, headers=sec)).json() == []
    assert problem(await client.post(f"{req}/{rids['bob']}/withdraw", headers=sec), 409)
    body = {"person": pid("bob"), "constituency": "sme", "display_name": "Bob"}
    r = await client.post(f"{API}/councils/{cid}/invitations", json=body, headers=sec)  # invited anew
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text


async def test_held_minutes_are_for_members_and_a_members_export_has_her_action_items(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    """A held meeting: a stranger sees that it was held, its attendee count and the decisions' ids, not its
    minutes; members and managers read them. Ann's export lists the action item she owns, not Bob's."""
    sec = h(token, "sec", "council_secretary")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    mem = {sub: await member(client, token, cid, sub) for sub in ("ann", "bob")}
    r = await client.post(f"{API}/councils/{cid}/meetings", json=meeting(), headers=sec)
    mid, start = r.json()["id"], datetime.fromisoformat(r.json()["start"])
    did = (await client.post(f"{API}/councils/{cid}/decisions", json={"title": "x"}, headers=sec)).json()["id"]
    set_clock(client, start)
    await client.post(f"{API}/councils/{cid}/meetings/{mid}/check-ins", json={"person": pid("ann")}, headers=sec)
    items = [
        {"title": "Book the bench", "owner": pid("ann"), "due_on": "2099-02-01"},
        {"title": "Ask the bank", "owner": pid("bob"), "due_on": "2099-03-01", "status": "done"},
    ]
    close = {"minutes": "Ann reported on the bench.", "decisions": [did], "action_items": items}
    r = await client.post(f"{API}/councils/{cid}/meetings/{mid}/close", json=close, headers=sec)
    assert r.status_code == 200, r.text

    one, every = f"{API}/councils/{cid}/meetings/{mid}", f"{API}/councils/{cid}/meetings"
    for stranger in (h(token, "eve"), h(token, "ana", "analyst")):
        seen = (await client.get(one, headers=stranger)).json()
        assert (seen["status"], seen["attendees"], seen["decisions"], seen["minutes"]) == ("held", 1, [did], None)
        assert seen["private"] is None
        assert [m["minutes"] for m in (await client.get(every, headers=stranger)).json()] == [None]
    for insider in (h(token, "bob"), sec):
        assert (await client.get(one, headers=insider)).json()["minutes"] == "Ann reported on the bench."
        assert [m["minutes"] for m in (await client.get(every, headers=insider)).json()] == [close["minutes"]]

    held = (await client.get(f"{API}/councils/{cid}/members/{mem['ann']}/export", headers=h(token, "ann"))).json()
    assert held["action_items"] == [
        {"meeting_id": mid, "title": "Book the bench", "owner": pid("ann"), "due_on": "2099-02-01", "status": "open"}
    ]


async def test_a_place_is_cleared_with_null_and_action_items_are_members_due_from_the_meetings_day(
    client: httpx.AsyncClient, token: TokenFactory
) -> None:
    sec = h(token, "sec", "council_secretary")
    cid = (await client.post(f"{API}/councils", json=council(), headers=sec)).json()["id"]
    mem = {sub: await member(client, token, cid, sub) for sub in ("ann", "bob")}
    await client.post(f"{API}/councils/{cid}/members/{mem['bob']}/end", json={"reason": "resigned"}, headers=sec)
    r = await client.post(f"{API}/councils/{cid}/meetings", json=meeting(), headers=sec)  # hybrid, with a place
    url, etag, start = f"{API}/councils/{cid}/meetings/{r.json()['id']}", r.headers["etag"], r.json()["start"]
    r = await client.patch(url, json={"mode": "online", "place": None}, headers={**sec, "If-Match": etag})
    assert r.status_code == 200 and (r.json()["mode"], r.json()["place"]) == ("online", None), r.text
    feed = await client.get(f"{API}/councils/{cid}/calendar.ics", headers=sec)
    (ev,) = icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
    assert "LOCATION" not in ev

    # meeting() starts at 09:00 UTC, 09:00 or 10:00 in Dublin: the same day there
    day = datetime.fromisoformat(start.replace("Z", "+00:00")).date()
    set_clock(client, datetime.fromisoformat(start.replace("Z", "+00:00")))
    items = [
        {"title": "a", "owner": pid("ann"), "due_on": (day - timedelta(days=1)).isoformat()},
        {"title": "b", "owner": pid("bob"), "due_on": day.isoformat()},  # resigned
        {"title": "c", "owner": pid("eve"), "due_on": day.isoformat()},  # never a member
    ]
    r = await client.post(f"{url}/close", json={"minutes": "M", "action_items": items}, headers=sec)
    named = [e["field"] for e in problem(r, 422)["errors"]]
    assert named == ["action_items.0.due_on", "action_items.1.owner", "action_items.2.owner"]
    ok = [{"title": "a", "owner": pid("ann"), "due_on": day.isoformat()}]  # the meeting's day itself
    r = await client.post(f"{url}/close", json={"minutes": "M", "action_items": ok}, headers=sec)
    assert r.status_code == 200 and r.json()["status"] == "held", r.text
