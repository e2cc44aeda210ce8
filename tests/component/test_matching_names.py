"""People by name across matching: a match (``MatchOut``) and a round's assignments and explanations carry
the candidate's ``display_name`` from her profile (null without one), read when answered in one batched
read of the profiles per answer, for those who may read the match or round at all (anyone else: 404, as
before). And the academics an SME may name as a challenge's supervisor (``GET /supervisors``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from services.matching import handlers as h
from services.matching import store as st
from tests.component.test_matching_api import API, People, app, bare, challenge, fields, problem, profile, who
from tests.helpers import pid

__all__ = ["app", "bare", "who"]  # the fixtures, shared with the matching API's tests

RUN = {"programme": "consultancy", "term": "2027-spring"}


class ProfileReads:
    """Counts the store's reads of candidate profiles (the real store underneath answers them)."""

    def __init__(self, a: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        store = a.state.matching.store
        find: Callable[..., Awaitable[list[dict[str, Any]]]] = store.find
        get: Callable[..., Awaitable[dict[str, Any] | None]] = store.get

        async def counted_find(collection: str, *args: Any, **kw: Any) -> list[dict[str, Any]]:
            self.n += collection == st.CANDIDATES
            return await find(collection, *args, **kw)

        async def counted_get(collection: str, *args: Any, **kw: Any) -> dict[str, Any] | None:
            self.n += collection == st.CANDIDATES
            return await get(collection, *args, **kw)

        monkeypatch.setattr(store, "find", counted_find)
        monkeypatch.setattr(store, "get", counted_get)

    async def during(self, call: Awaitable[httpx.Response]) -> tuple[httpx.Response, int]:
        before = self.n
        r = await call
        return r, self.n - before


async def two_matched(client: httpx.AsyncClient, who: People) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """A challenge with two places, ranked by Chiara (named on her profile) and s2 (no name), allocated to both:
    the round's answer and the headers of the cast."""
    cast: dict[str, dict[str, str]] = {
        "sme": who("aoife", "sme_member", org="rubicon"),
        "co": who("co", "region_admin"),
        "s1": who("s1", "student"),
        "s2": who("s2", "student"),
    }
    cid = (await client.post(f"{API}/challenges", json=challenge(capacity=2), headers=cast["sme"])).json()["id"]
    for s, body in (("s1", profile(display_name="Chiara Rossi")), ("s2", profile())):
        assert (await client.put(f"{API}/candidates/me", json=body, headers=cast[s])).status_code == 200
        r = await client.put(f"{API}/candidates/me/preferences", json={"ranking": [cid]}, headers=cast[s])
        assert r.status_code == 200, r.text
    r = await client.post(f"{API}/rounds", json=RUN, headers=cast["co"])
    assert r.status_code == 201, r.text
    return r.json(), cast


def names_of(rows: list[dict[str, Any]]) -> dict[str, str | None]:
    return {x["student"]: x["display_name"] for x in rows}


async def test_a_matchs_candidate_is_named_for_each_side_and_null_without_a_name(
    app: tuple[FastAPI, httpx.AsyncClient], who: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, client = app
    rnd, cast = await two_matched(client, who)
    assert rnd["status"] == "proposed" and {x["student"] for x in rnd["assignments"]} == {pid("s1"), pid("s2")}
    m1, m2 = h.match_id(rnd["id"], pid("s1")), h.match_id(rnd["id"], pid("s2"))
    reads = ProfileReads(a, monkeypatch)

    # the host side lists both: one read of the profiles for the whole page
    r, n = await reads.during(client.get(f"{API}/matches", headers=cast["sme"]))
    assert r.status_code == 200 and n == 1
    assert {x["id"]: x["display_name"] for x in r.json()} == {m1: "Chiara Rossi", m2: None}
    for side in (cast["s1"], cast["sme"], cast["co"], who("prof-ucc", "academic")):  # candidate, host, readers
        r = await client.get(f"{API}/matches/{m1}", headers=side)
        assert r.status_code == 200 and r.json()["display_name"] == "Chiara Rossi"
    assert (await client.get(f"{API}/matches/{m2}", headers=cast["s2"])).json()["display_name"] is None
    # anyone who is no side of it: as if it did not exist (the name never shown)
    for stranger in (who("x", "sme_member", org="another-sme"), cast["s2"], who("prof-x", "academic")):
        refused = problem(await client.get(f"{API}/matches/{m1}", headers=stranger), 404)
        assert "Chiara" not in str(refused)
    other = await client.get(f"{API}/matches", headers=who("x", "sme_member", org="another-sme"))
    assert other.json() == []

    # the name is read when answered: changed on the profile, the next answer says the new one
    r = await client.put(f"{API}/candidates/me", json=profile(display_name="Chiara R. Bianchi"), headers=cast["s1"])
    assert r.status_code == 200
    r, n = await reads.during(client.post(f"{API}/matches/{m1}/accept", headers=cast["s1"]))
    assert r.status_code == 200 and r.json()["display_name"] == "Chiara R. Bianchi" and n == 1
    r = await client.post(f"{API}/matches/{m2}/decline", json={"reason": "exam clash"}, headers=cast["sme"])
    assert (r.json()["status"], r.json()["display_name"]) == ("declined", None)


async def test_a_rounds_assignments_and_explanations_name_the_candidates_for_its_readers_only(
    app: tuple[FastAPI, httpx.AsyncClient], who: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, client = app
    rnd, cast = await two_matched(client, who)
    named = {pid("s1"): "Chiara Rossi", pid("s2"): None}
    assert names_of(rnd["assignments"]) == named  # the coordinator's answer to running it
    reads = ProfileReads(a, monkeypatch)

    r, n = await reads.during(client.get(f"{API}/rounds/{rnd['id']}", headers=cast["co"]))
    assert r.status_code == 200 and n == 1
    assert names_of(r.json()["assignments"]) == names_of(r.json()["explanations"]) == named
    analyst = who("ana", "analyst")
    listed, n = await reads.during(client.get(f"{API}/rounds", headers=analyst))
    assert n == 1 and [names_of(x["assignments"]) for x in listed.json()] == [named]
    assert names_of((await client.get(f"{API}/rounds/{rnd['id']}", headers=analyst)).json()["explanations"]) == named

    # a candidate reads her own explanation, with her own name only
    mine = (await client.get(f"{API}/rounds/{rnd['id']}", headers=cast["s1"])).json()
    assert set(mine) == {"id", "programme", "term", "mode", "explanation"}
    assert (mine["explanation"]["student"], mine["explanation"]["display_name"]) == (pid("s1"), "Chiara Rossi")
    assert "Chiara" not in (await client.get(f"{API}/rounds/{rnd['id']}", headers=cast["s2"])).text
    # not in the round: 404 as before; not a reader of reports: 403
    problem(await client.get(f"{API}/rounds/{rnd['id']}", headers=who("s9", "student")), 404)
    problem(await client.get(f"{API}/rounds", headers=cast["sme"]), 403)


async def test_those_who_post_challenges_list_the_academics_who_offer_supervision_never_a_student(
    app: tuple[FastAPI, httpx.AsyncClient], who: People
) -> None:
    _, client = app
    # prof-ucc keeps an academic profile (the fixture's, no name); Deniz gives a name and skills; a student
    # gives a name too, and an academic without a profile is no supervisor
    deniz = who("deniz", "academic", region="TR10")
    body = profile(kind="academic", display_name="Dr Deniz Yılmaz", skills=["Tribology", "CAD"], languages=["tr", "en"])
    assert (await client.put(f"{API}/candidates/me", json=body, headers=deniz)).status_code == 200
    s1 = who("s1", "student")
    student = profile(display_name="Chiara Rossi", skills=["tribology"])
    assert (await client.put(f"{API}/candidates/me", json=student, headers=s1)).status_code == 200
    sme, co = who("aoife", "sme_member", org="rubicon"), who("co", "region_admin")
    url = f"{API}/supervisors"

    r = await client.get(url, headers=sme)
    assert r.status_code == 200, r.text
    expected: list[dict[str, Any]] = sorted(
        [
            {
                "id": pid("deniz"),
                "display_name": "Dr Deniz Yılmaz",
                "skills": ["cad", "tribology"],
                "languages": ["tr", "en"],
            },
            {"id": pid("prof-ucc"), "display_name": None, "skills": ["data analysis"], "languages": ["en"]},
        ],
        key=lambda x: str(x["id"]),
    )
    assert r.json() == expected  # by id; exactly these fields (no availability, capacity, region or ranking)
    assert (await client.get(url, headers=co)).json() == expected
    # by skill, in any case: the student who lists it is never among them
    assert [x["id"] for x in (await client.get(url, params={"skill": "TRIBOLOGY"}, headers=sme)).json()] == [
        pid("deniz")
    ]
    assert (await client.get(url, params={"skill": "welding"}, headers=sme)).json() == []
    # each one listed may be named as a consultancy challenge's supervisor
    for x in expected:
        made = await client.post(f"{API}/challenges", json=challenge(supervisor=x["id"]), headers=sme)
        assert made.status_code == 201, made.text

    # pages of at most 200, with their Link
    first = await client.get(url, params={"limit": 1}, headers=sme)
    assert [x["id"] for x in first.json()] == [expected[0]["id"]]
    cursor = parse_qs(urlsplit(first.headers["link"].split(";")[0].strip("<>")).query)["cursor"][0]
    rest = await client.get(url, params={"limit": 1, "cursor": cursor}, headers=sme)
    assert [x["id"] for x in rest.json()] == [expected[1]["id"]] and "link" not in rest.headers
    assert (await client.get(url, params={"limit": 200}, headers=sme)).status_code == 200
    for limit in (0, 201):
        assert fields(await client.get(url, params={"limit": limit}, headers=sme)) == {"limit"}
    for skill in ("", " ", "x" * 61):
        assert fields(await client.get(url, params={"skill": skill}, headers=sme)) == {"skill"}
    assert (await client.get(url, params={"skill": "x" * 60}, headers=sme)).json() == []

    # not for candidates or anyone who does not post challenges
    for other in (s1, deniz, who("ana", "analyst")):
        refused = problem(await client.get(url, headers=other), 403)
        assert refused["required_roles"] == ["region_admin", "sme_member"]
