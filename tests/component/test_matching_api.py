"""The matching service through the embedded gateway: challenges, profiles, rankings, a round, and
every step of the proposal lifecycle with its event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clustergrowth.auth import DevIssuer
from clustergrowth.bus.sqlite import SqliteBus
from clustergrowth.envelope import CloudEvent
from clustergrowth.events import make_event
from clustergrowth.settings import RuntimeSettings
from contracts import mapping as mapping_ev
from contracts import matching as ev
from instance.app import create_app
from services.matching.handlers import Matching
from tests.conftest import asgi_client
from tests.helpers import pid

API = "/api/v1/matching"


@pytest.fixture
def bare(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data", seed_demo=False, relay_interval_s=0.05)


class People:
    """Authorization headers for the cast of the tests."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.issuer, self.settings = DevIssuer(settings.data_dir), settings

    def __call__(self, sub: str, *roles: str, region: str = "IE05", org: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.issuer.mint(self.settings, sub, list(roles), region, org)}


@pytest.fixture
def who(bare: RuntimeSettings) -> People:
    return People(bare)


@pytest.fixture
async def app(
    bare: RuntimeSettings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    monkeypatch.setenv("CG_MATCHING_SWEEP_INTERVAL_S", "0.05")
    a = create_app(bare)
    async for c in asgi_client(a):
        # the supervisor the challenges name offers supervision (an academic profile)
        prof = People(bare)("prof-ucc", "academic")
        r = await c.put(f"{API}/candidates/me", json=profile(kind="academic", supervision_capacity=3), headers=prof)
        assert r.status_code == 200, r.text
        yield a, c


def challenge(**over: Any) -> dict[str, Any]:
    body = {
        "title": "Energy audit of a machining line",
        "scope": "Measure and model the energy use of the CNC line and propose savings.",
        "skills": ["Energy efficiency", "data analysis"],
        "languages": ["en"],
        "region": "IE05",
        "work_mode": "on_site",
        "term": "2027-spring",
        "starts_on": "2027-02-01",
        "ends_on": "2027-05-15",
        "capacity": 2,
        "ip_template": "nda-portfolio-safe",
        "supervisor": pid("prof-ucc"),
    }
    return {**body, **over}


def profile(**over: Any) -> dict[str, Any]:
    body = {
        "kind": "student",
        "skills": ["data analysis"],
        "languages": ["en"],
        "available_from": "2027-01-15",
        "available_until": "2027-06-30",
        "cross_border": False,
    }
    return {**body, **over}


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    return body


def fields(r: httpx.Response) -> set[str]:
    return {e["field"] for e in problem(r, 422)["errors"]}


async def events(settings: RuntimeSettings, topic: str = ev.TOPIC) -> list[CloudEvent]:
    bus = SqliteBus(settings.data_dir / "events.sqlite")
    try:
        return [e async for _, e in bus.read([topic])]
    finally:
        await bus.close()


async def published(settings: RuntimeSettings, name: str, n: int) -> list[CloudEvent]:
    for _ in range(100):
        got = [e for e in await events(settings) if e.type.endswith(f".{name}.v1")]
        if len(got) >= n:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {n} {name}, got {len(got)}")


async def test_challenges_refuse_bad_input_and_privileged_fields_and_write_nothing(
    app: tuple[FastAPI, httpx.AsyncClient], who: People
) -> None:
    _, client = app
    sme = who("aoife", "sme_member", org="rubicon")
    cases = [
        (challenge(supervisor=None), "supervisor"),
        (challenge(languages=["EN"]), "languages.0"),
        (challenge(ends_on="2027-01-01"), "ends_on"),
        (challenge(ends_on="2028-06-01"), "ends_on"),
        (challenge(capacity=0), "capacity"),
        (challenge(term="spring"), "term"),
        (challenge(region="Cork"), "region"),
        (challenge(ip_template="students-give-up-everything"), "ip_template"),
        (challenge(status="open"), "status"),
        (challenge(id="ch-mine"), "id"),
        (challenge(organisation="someone-else"), "organisation"),
        (challenge(version=7), "version"),
    ]
    for body, field in cases:
        assert field in fields(await client.post(f"{API}/challenges", json=body, headers=sme)), field
    assert (await client.get(f"{API}/challenges", headers=sme)).json() == []
    problem(await client.post(f"{API}/challenges", json=challenge(), headers=who("s1", "student")), 403)
    problem(await client.post(f"{API}/challenges", json=challenge()), 401)

    r = await client.post(f"{API}/challenges", json=challenge(), headers=sme)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["organisation"] == "IE05:rubicon" and body["status"] == "open"
    assert body["skills"] == ["data analysis", "energy efficiency"] and "portfolio" in body["ip_terms"]
    problem(await client.get(f"{API}/challenges/nope", headers=sme), 404)


async def test_profiles_and_rankings_validate_each_entry(app: tuple[FastAPI, httpx.AsyncClient], who: People) -> None:
    _, client = app
    sme = who("aoife", "sme_member", org="rubicon")
    cid = (await client.post(f"{API}/challenges", json=challenge(), headers=sme)).json()["id"]
    cop = (
        await client.post(
            f"{API}/challenges", json=challenge(programme="change_of_perspective", supervisor=None), headers=sme
        )
    ).json()["id"]
    s1 = who("s1", "student")
    assert fields(await client.put(f"{API}/candidates/me", json=profile(home_region="ITH5"), headers=s1)) == {
        "home_region"
    }
    assert fields(await client.put(f"{API}/candidates/me", json=profile(available_until="2026-01-01"), headers=s1)) == {
        "available_until"
    }
    problem(await client.put(f"{API}/candidates/me", json=profile(kind="academic"), headers=s1), 403)
    problem(await client.put(f"{API}/candidates/me/preferences", json={"ranking": [cid]}, headers=s1), 404)
    r = await client.put(f"{API}/candidates/me", json=profile(), headers=s1)
    assert r.status_code == 200 and r.json()["home_region"] == "IE05"

    bad = {"ranking": [cid, "ch-missing", cid, cop]}
    assert fields(await client.put(f"{API}/candidates/me/preferences", json=bad, headers=s1)) == {
        "ranking[1]",
        "ranking[2]",
        "ranking[3]",
    }
    assert (await client.get(f"{API}/candidates/me", headers=s1)).json()["preferences"] == []
    ok = await client.put(f"{API}/candidates/me/preferences", json={"ranking": [cid]}, headers=s1)
    assert ok.json()["preferences"] == [cid]

    # a profile is private: 404 to another student, readable by the coordinator
    problem(await client.get(f"{API}/candidates/{pid('s1')}", headers=who("s2", "student")), 404)
    assert (await client.get(f"{API}/candidates/{pid('s1')}", headers=who("co", "region_admin"))).status_code == 200

    # the host ranks applicants; unknown and wrong-kind ids are named; strangers may not rank
    prof = who("prof-ucc", "academic")
    await client.put(f"{API}/candidates/me", json=profile(kind="academic"), headers=prof)
    tag = (await client.get(f"{API}/challenges/{cid}", headers=prof)).headers["etag"]
    bad = {"ranking": [pid("s1"), "nobody", pid("prof-ucc"), pid("s1")]}
    url = f"{API}/challenges/{cid}/ranking"
    assert fields(await client.put(url, json=bad, headers={**prof, "If-Match": tag})) == {
        "ranking[1]",
        "ranking[2]",
        "ranking[3]",
    }
    # a shared object: updates need the ETag that was read (428 without, 412 when stale)
    problem(await client.put(url, json={"ranking": [pid("s1")]}, headers=prof), 428)
    r = await client.put(url, json={"ranking": [pid("s1")]}, headers={**prof, "If-Match": tag})
    assert r.json()["applicant_ranking"] == [pid("s1")] and r.headers["etag"] != tag
    stale = problem(await client.put(url, json={"ranking": []}, headers={**prof, "If-Match": tag}), 412)
    assert stale["current_etag"] == r.headers["etag"]
    assert (await client.get(f"{API}/challenges/{cid}", headers=prof)).json()["applicant_ranking"] == [pid("s1")]
    problem(await client.put(url, json={"ranking": []}, headers={**s1, "If-Match": "*"}), 403)


async def test_a_round_proposes_and_every_step_of_the_lifecycle_publishes_its_event(
    app: tuple[FastAPI, httpx.AsyncClient], who: People, bare: RuntimeSettings
) -> None:
    a, client = app
    sme = who("aoife", "sme_member", org="rubicon")
    prof = who("prof-ucc", "academic")
    coordinator = who("co", "region_admin")
    ch_a = (await client.post(f"{API}/challenges", json=challenge(capacity=1), headers=sme)).json()["id"]
    ch_b = (
        await client.post(
            f"{API}/challenges", json=challenge(title="Digital twin", capacity=2, work_mode="remote"), headers=sme
        )
    ).json()["id"]
    await client.put(f"{API}/candidates/me", json=profile(kind="academic", supervision_capacity=3), headers=prof)
    students = {
        "s1": who("s1", "student"),
        "s2": who("s2", "student"),
        "s3": who("s3", "student", region="ITH5"),  # abroad, unwilling: only the remote challenge fits
        "s4": who("s4", "student"),
    }
    for h in students.values():
        await client.put(f"{API}/candidates/me", json=profile(languages=["en", "it"]), headers=h)
    await client.put(f"{API}/candidates/me/preferences", json={"ranking": [ch_a, ch_b]}, headers=students["s1"])
    await client.put(f"{API}/candidates/me/preferences", json={"ranking": [ch_a, ch_b]}, headers=students["s2"])
    read = (await client.get(f"{API}/challenges/{ch_a}", headers=prof)).headers["etag"]
    await client.put(
        f"{API}/challenges/{ch_a}/ranking", json={"ranking": [pid("s2"), pid("s1")]}, headers={**prof, "If-Match": read}
    )

    run = {"programme": "consultancy", "term": "2027-spring", "mode": "stable", "proposal_ttl_hours": 48}
    problem(await client.post(f"{API}/rounds", json=run, headers=students["s1"]), 403)
    assert fields(await client.post(f"{API}/rounds", json={**run, "mode": "fastest"}, headers=coordinator)) == {"mode"}
    r = await client.post(f"{API}/rounds", json=run, headers=coordinator)
    assert r.status_code == 201, r.text
    rnd = r.json()
    sub = {pid(s): s for s in students}
    pairs = {sub[x["student"]]: x["project"] for x in rnd["assignments"]}
    # s2 is the supervisor's favourite for A (capacity 1); s1 falls back to B; s3 and s4 share B's
    # last place by fit, and s3 is only eligible for the remote B
    assert pairs["s2"] == ch_a and pairs["s1"] == ch_b
    assert rnd["metrics"]["blocking_pairs"] == 0 and rnd["metrics"]["matched"] == 3
    assert rnd["status"] == "proposed" and rnd["candidates"] == 4
    report = (await client.get(f"{API}/rounds/{rnd['id']}", headers=coordinator)).json()
    mine = (await client.get(f"{API}/rounds/{rnd['id']}", headers=students["s1"])).json()["explanation"]
    assert mine["project"] == ch_b and mine["rank"] == 2 and mine["preferences_from"] == "your ranking"
    assert mine["why_not"][0]["reason"].startswith("project full")
    assert len(report["explanations"]) == 4
    problem(await client.get(f"{API}/rounds/{rnd['id']}", headers=who("s9", "student")), 404)
    proposed = await published(bare, "MatchProposed", 3)
    assert {sub[e.data["candidate"]] for e in proposed} == set(pairs)

    def match_of(s: str) -> str:
        return next(e.data["match_id"] for e in proposed if e.data["candidate"] == pid(s))

    # accepted by both sides -> MatchAccepted; one side twice -> 409; a stranger -> 404
    m2 = match_of("s2")
    r = await client.post(f"{API}/matches/{m2}/accept", headers=students["s2"])
    assert r.json()["status"] == "proposed" and r.json()["responses"] == {"candidate": "accepted", "host": None}
    problem(await client.post(f"{API}/matches/{m2}/accept", headers=students["s2"]), 409)
    problem(await client.post(f"{API}/matches/{m2}/accept", headers=who("x", "sme_member", org="other")), 404)
    problem(await client.post(f"{API}/matches/{m2}/accept", headers=students["s1"]), 404)
    assert (await client.post(f"{API}/matches/{m2}/accept", headers=sme)).json()["status"] == "active"
    await published(bare, "MatchAccepted", 1)

    # declined by the candidate -> MatchDeclined
    m1 = match_of("s1")
    assert fields(await client.post(f"{API}/matches/{m1}/decline", json={"reason": "x" * 1001}, headers=sme)) == {
        "reason"
    }
    r = await client.post(f"{API}/matches/{m1}/decline", json={"reason": "exam clash"}, headers=students["s1"])
    assert r.json()["status"] == "declined"
    declined = await published(bare, "MatchDeclined", 1)
    assert declined[0].data["declined_by"] == "candidate"

    # the third proposal lapses: nobody answered in 48 hours -> MatchExpired, its place is free again
    third = next(s for s in pairs if s not in ("s1", "s2"))
    m3 = match_of(third)
    svc: Matching = a.state.matching
    later = datetime.now(UTC) + timedelta(hours=49)
    svc.clock = lambda: later
    problem(await client.post(f"{API}/matches/{m3}/accept", headers=students[third]), 409)
    expired = await published(bare, "MatchExpired", 1)
    assert expired[0].data["match_id"] == m3
    mine3 = (await client.get(f"{API}/matches", params={"status": "expired"}, headers=students[third])).json()
    assert [x["id"] for x in mine3] == [m3]

    # a second round offers the freed places, never the same pair again
    r2 = (await client.post(f"{API}/rounds", json=run, headers=coordinator)).json()
    assert r2["id"].endswith("-r2")
    again = {(sub[x["student"]], x["project"]) for x in r2["assignments"]}
    assert (third, ch_b) not in again and ("s1", ch_b) not in again and again
    assert all(x["student"] != pid("s2") for x in r2["assignments"])  # already engaged

    # nobody answers the second round: the sweeper expires its proposals on its own
    much_later = later + timedelta(days=8)
    svc.clock = lambda: much_later
    await published(bare, "MatchExpired", 1 + len(r2["assignments"]))
    statuses = {x["status"] for x in (await client.get(f"{API}/matches", headers=coordinator)).json()}
    assert statuses == {"active", "declined", "expired"}

    # engagement: milestones by the host, done by either side, completion, two-way ratings
    ms = {"title": "Baseline measurements", "due_on": "2027-03-01"}
    problem(await client.post(f"{API}/matches/{m2}/milestones", json=ms, headers=students["s2"]), 403)
    assert fields(await client.post(f"{API}/matches/{m2}/milestones", json={"title": "x"}, headers=prof)) == {
        "title",
        "due_on",
    }
    assert (await client.post(f"{API}/matches/{m2}/milestones", json=ms, headers=prof)).status_code == 201
    done = await client.post(f"{API}/matches/{m2}/milestones/1/done", headers=students["s2"])
    assert done.json()["milestones"][0]["done_at"] is not None
    problem(await client.post(f"{API}/matches/{m2}/milestones/2/done", headers=students["s2"]), 404)
    problem(await client.post(f"{API}/matches/{m2}/ratings", json={"score": 5}, headers=sme), 409)  # not yet
    assert (await client.post(f"{API}/matches/{m2}/complete", headers=sme)).json()["status"] == "completed"
    completed = await published(bare, "EngagementCompleted", 1)
    assert completed[0].data["milestones"] == 1 and completed[0].data["milestones_done"] == 1
    assert fields(await client.post(f"{API}/matches/{m2}/ratings", json={"score": 6}, headers=sme)) == {"score"}
    assert (await client.post(f"{API}/matches/{m2}/ratings", json={"score": 5}, headers=sme)).status_code == 201
    problem(await client.post(f"{API}/matches/{m2}/ratings", json={"score": 4}, headers=sme), 409)
    r = await client.post(f"{API}/matches/{m2}/ratings", json={"score": 4, "comment": "great"}, headers=students["s2"])
    assert {k: v["score"] for k, v in r.json()["ratings"].items()} == {"candidate": 4, "host": 5}
    assert len(await published(bare, "EngagementRated", 2)) == 2
    posted = await published(bare, "ChallengePosted", 2)
    assert {e.data["challenge_id"] for e in posted} == {ch_a, ch_b}


async def test_a_low_scoring_assessment_suggests_a_draft_only_its_sme_sees_and_can_publish(
    app: tuple[FastAPI, httpx.AsyncClient], who: People, bare: RuntimeSettings
) -> None:
    _, client = app
    bus = SqliteBus(bare.data_dir / "events.sqlite")
    scores = {"finance": 1.5, "talent": 3.0, "innovation": 4.0}
    weak, strong = (
        make_event(
            mapping_ev.SMEAssessed(
                sme_id=sid,
                assessment_id=f"asm-{sid}",
                region="IE05",
                nace="C28.29",
                sector="C28",
                size_class="small",
                headcount=40,
                councils=["Cork"],
                instrument_version="1",
                scores=sc,
                top_needs=sorted(sc, key=sc.__getitem__),
                assessed_at="2026-11-20T10:00:00+00:00",
                organisation="IE05:rubicon",
            ),
            key=sid,
            region="IE05",
            source="/test",
        )
        for sid, sc in (("sme-weak", scores), ("sme-strong", {k: 4.0 for k in scores}))
    )
    try:
        await bus.publish("mapping.events", [weak, weak, strong])  # the weak one twice: one draft
    finally:
        await bus.close()
    sme = who("aoife", "sme_member", org="rubicon")
    for _ in range(100):
        drafts = (await client.get(f"{API}/challenges", params={"status": "draft"}, headers=sme)).json()
        if drafts:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # let the duplicate and the strong one be handled too
    drafts = (await client.get(f"{API}/challenges", params={"status": "draft"}, headers=sme)).json()
    assert [d["suggested_from"] for d in drafts] == ["asm-sme-weak"]
    draft = drafts[0]
    assert draft["need"] == {"dimension": "finance", "score": 1.5} and "finance" in draft["skills"]
    assert (await client.get(f"{API}/challenges", headers=who("s1", "student"))).json() == []
    problem(await client.get(f"{API}/challenges/{draft['id']}", headers=who("x", "sme_member", org="other")), 404)
    problem(
        await client.post(
            f"{API}/challenges/{draft['id']}/publish", json=challenge(), headers=who("x", "sme_member", org="other")
        ),
        404,
    )
    assert "ends_on" in fields(
        await client.post(f"{API}/challenges/{draft['id']}/publish", json=challenge(ends_on="2020-01-01"), headers=sme)
    )
    tag = (await client.get(f"{API}/challenges/{draft['id']}", headers=sme)).headers["etag"]
    r = await client.post(f"{API}/challenges/{draft['id']}/publish", json=challenge(), headers={**sme, "If-Match": tag})
    assert r.status_code == 200 and r.json()["status"] == "open"
    problem(
        await client.post(
            f"{API}/challenges/{draft['id']}/publish", json=challenge(), headers={**sme, "If-Match": r.headers["etag"]}
        ),
        409,
    )
    posted = await published(bare, "ChallengePosted", 1)
    assert posted[0].data["suggested_from"] == "asm-sme-weak"


async def test_bad_query_and_path_input_is_422_naming_the_field(
    app: tuple[FastAPI, httpx.AsyncClient], who: People
) -> None:
    _, client = app
    co = who("co", "region_admin")
    for url, params, field in [
        (f"{API}/challenges", {"programme": "internship"}, "programme"),
        (f"{API}/challenges", {"term": "spring"}, "term"),
        (f"{API}/challenges", {"status": "closed"}, "status"),
        (f"{API}/challenges", {"limit": 0}, "limit"),
        (f"{API}/matches", {"status": "maybe"}, "status"),
        (f"{API}/rounds", {"limit": 201}, "limit"),
    ]:
        r = await client.get(url, params=params, headers=co)
        assert field in fields(r), (url, params)
    student = who("s1", "student")
    r = await client.post(f"{API}/matches/m-x/milestones/0/done", headers=student)
    assert fields(r) == {"n"}


async def test_an_update_needs_the_strong_etag_that_was_read(
    app: tuple[FastAPI, httpx.AsyncClient], who: People
) -> None:
    """If-Match guards a shared object only with the ETag that was read: ``*`` matches any version (428,
    as without If-Match), a weak tag never matches in If-Match's strong comparison and a stale one is
    out of date (412). Nothing is written when the update is refused."""
    _, client = app
    sme = who("aoife", "sme_member", org="rubicon")
    cid = (await client.post(f"{API}/challenges", json=challenge(), headers=sme)).json()["id"]
    s1, s2 = [
        (await client.put(f"{API}/candidates/me", json=profile(), headers=who(s, "student"))).json()["id"]
        for s in ("s1", "s2")
    ]
    url = f"{API}/challenges/{cid}/ranking"

    async def read() -> tuple[str, list[str]]:
        r = await client.get(f"{API}/challenges/{cid}", headers=sme)
        return r.headers["etag"], r.json()["applicant_ranking"]

    tag, _ = await read()
    r = await client.put(url, json={"ranking": [s1]}, headers={**sme, "If-Match": tag})
    assert r.status_code == 200, r.text
    current = r.headers["etag"]
    assert await read() == (current, [s1])
    for if_match, status in [
        ("*", 428),
        (f"{tag}, *", 428),
        (f"W/{current}", 412),
        (tag, 412),
    ]:
        r = await client.put(url, json={"ranking": [s2, s1]}, headers={**sme, "If-Match": if_match})
        refused = problem(r, status)
        assert "ETag you read" in refused["detail"], if_match
        assert await read() == (current, [s1]), if_match  # nothing written
    r = await client.put(url, json={"ranking": [s2, s1]}, headers={**sme, "If-Match": current})
    assert r.status_code == 200 and r.json()["applicant_ranking"] == [s2, s1]
